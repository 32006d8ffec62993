MODEL (
  name analytics.marketing_spend_matched,
  kind FULL,
  grain (account, spent_on, month),
  owner analytics,
  description 'Each row of analytics.marketing_spend matched to what it was spent on. Agencies budget per channel, so a row may name a bucket of analytics.lead_source_map ("Facebook": every customer whose Lead Source maps to Facebook, "FB Ads" included) or one raw Lead Source ("Google Ads"). A name that is a bucket (any case) is bucket spend, counted only in analytics.lead_source_bucket_performance; any other name is source spend, counted on that exact Lead Source in analytics.lead_source_performance and in its bucket.',
  column_descriptions (
    account = 'HCP account the spend belongs to (blank in the seed = default)',
    spent_on = 'the seed''s lead_source value, outer spaces trimmed',
    month = 'first day of the month the money was spent in',
    amount = 'spend in dollars (rows with the same name and month added up)',
    spend_level = 'bucket when spent_on names a bucket of the lead-source map (any case), else lead_source',
    lead_source = 'the Lead Source it is matched to, spelled as in HCP (NULL for bucket spend)',
    lead_source_bucket = 'the bucket it counts for: the bucket it names, else the map''s bucket for that Lead Source, else Other'
  ),
  audits (
    unique_combination_of_columns(columns := (account, spent_on, month)),
    not_null(columns := (account, spent_on, month, amount, spend_level, lead_source_bucket)),
    accepted_values(column := spend_level, is_in := ('bucket', 'lead_source'))
  )
);

WITH spend AS (
  SELECT
    coalesce(nullif(trim(account), ''), 'default') AS account,
    trim(lead_source) AS spent_on,
    CAST(date_trunc('month', month) AS DATE) AS month,
    sum(amount) AS amount
  FROM analytics.marketing_spend
  GROUP BY 1, 2, 3
),
bucket_names AS (
  SELECT lower(trim(bucket)) AS key, any_value(trim(bucket)) AS bucket
  FROM analytics.lead_source_map
  GROUP BY 1
),
buckets AS (
  SELECT lower(trim(lead_source)) AS key, any_value(bucket) AS bucket
  FROM analytics.lead_source_map
  GROUP BY 1
)
SELECT
  s.account,
  s.spent_on,
  s.month,
  CAST(s.amount AS DECIMAL(18, 2)) AS amount,
  CASE WHEN n.bucket IS NOT NULL THEN 'bucket' ELSE 'lead_source' END AS spend_level,
  CASE WHEN n.bucket IS NULL THEN s.spent_on END AS lead_source,
  coalesce(n.bucket, b.bucket, 'Other') AS lead_source_bucket
FROM spend AS s
LEFT JOIN bucket_names AS n ON n.key = lower(s.spent_on)
LEFT JOIN buckets AS b ON b.key = lower(s.spent_on)
