AUDIT (
  name marketing_spend_known_source,
  model analytics.marketing_spend,
  blocking false,
  description 'Warns about spend on a lead source no customer has (a typo in the seed?): its ROI row will show spend and no customers.'
);

SELECT s.lead_source, s.month, s.amount
FROM analytics.marketing_spend AS s
WHERE NOT EXISTS (
  SELECT 1 FROM analytics.customers AS c WHERE c.lead_source = trim(s.lead_source)
)
