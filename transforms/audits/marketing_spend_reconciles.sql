AUDIT (
  name marketing_spend_reconciles,
  model analytics.lead_source_bucket_performance,
  blocking true,
  description 'Every dollar of the spend seed lands exactly once per level: all of it in lead_source_bucket_performance, the source spend (rows not naming a bucket) in lead_source_performance.'
);

WITH seed AS (
  SELECT coalesce(nullif(trim(account), ''), 'default') AS account, sum(amount) AS amount
  FROM analytics.marketing_spend
  GROUP BY 1
),
source_level AS (
  SELECT account, sum(amount) AS amount
  FROM analytics.marketing_spend_matched
  WHERE spend_level = 'lead_source'
  GROUP BY 1
),
by_bucket AS (
  SELECT account, sum(marketing_spend) AS amount FROM analytics.lead_source_bucket_performance GROUP BY 1
),
by_source AS (
  SELECT account, sum(marketing_spend) AS amount FROM analytics.lead_source_performance GROUP BY 1
)
SELECT s.account, s.amount AS seed, b.amount AS in_buckets, l.amount AS source_spend, p.amount AS in_sources
FROM seed AS s
LEFT JOIN by_bucket AS b ON b.account = s.account
LEFT JOIN source_level AS l ON l.account = s.account
LEFT JOIN by_source AS p ON p.account = s.account
WHERE b.amount IS DISTINCT FROM s.amount OR p.amount IS DISTINCT FROM l.amount
