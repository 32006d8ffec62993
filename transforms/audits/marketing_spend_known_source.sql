AUDIT (
  name marketing_spend_known_source,
  model analytics.marketing_spend_matched,
  blocking false,
  description 'Warns about spend naming neither a bucket nor a Lead Source any customer has (a typo in the seed?): it shows spend and no customers, in bucket Other unless the map knows the name.'
);

SELECT s.account, s.spent_on, s.month, s.amount
FROM analytics.marketing_spend_matched AS s
WHERE s.spend_level = 'lead_source'
  AND NOT EXISTS (
    SELECT 1 FROM analytics.customers AS c WHERE c.account = s.account AND c.lead_source = s.lead_source
  )
