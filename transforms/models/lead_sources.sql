MODEL (
  name analytics.lead_sources,
  kind FULL,
  grain (account, lead_source_id),
  owner analytics,
  description 'The Lead Source picklist of each account (GET /lead_sources) with its bucket from analytics.lead_source_map.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    lead_source_id = 'HCP lead source id',
    lead_source = 'the picklist entry, spaces trimmed',
    lead_source_bucket = 'bucket from analytics.lead_source_map; Other when unmapped',
    editable = 'false for HCP''s built-in entries'
  ),
  audits (
    unique_combination_of_columns(columns := (account, lead_source_id)),
    not_null(columns := (account, lead_source_id, lead_source, lead_source_bucket))
  )
);

SELECT
  s.account,
  s.id AS lead_source_id,
  trim(s.name) AS lead_source,
  coalesce(m.bucket, 'Other') AS lead_source_bucket,
  s.editable
FROM @source(hcp.lead_sources, account VARCHAR, id VARCHAR, name VARCHAR, editable BOOLEAN) AS s
LEFT JOIN (
  SELECT lower(trim(lead_source)) AS key, any_value(bucket) AS bucket
  FROM analytics.lead_source_map
  GROUP BY 1
) AS m ON m.key = lower(trim(s.name))
WHERE s.id IS NOT NULL
