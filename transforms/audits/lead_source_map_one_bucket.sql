AUDIT (
  name lead_source_map_one_bucket,
  model analytics.lead_source_map,
  blocking true,
  description 'A raw string (compared lower-cased and trimmed) must map to one bucket, or customers would land in either at random.'
);

SELECT lower(trim(lead_source)) AS lead_source, list(DISTINCT bucket) AS buckets
FROM analytics.lead_source_map
GROUP BY 1
HAVING count(DISTINCT bucket) > 1
