MODEL (
  name analytics.customers,
  kind FULL,
  grain (account, customer_id),
  owner analytics,
  description 'HCP customers, cleaned: lead source trimmed and bucketed, creation month in the company''s time zone (the cohort lead_source_performance attributes by).',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    customer_id = 'HCP customer id (cus_...)',
    first_name = 'first name',
    last_name = 'last name',
    full_name = 'first and last name, or the company when both are empty',
    email = 'email, lower-cased',
    mobile_number = 'mobile number as HCP stores it (digits)',
    company = 'company name for business customers',
    lead_source_raw = 'Lead Source exactly as in HCP (NULL when unset)',
    lead_source = 'Lead Source with spaces trimmed; ''No lead source'' when unset or blank',
    lead_source_bucket = 'bucket from analytics.lead_source_map; ''No lead source'' when unset, ''Other'' when unmapped',
    created_at = 'when the customer was created in HCP (UTC)',
    created_month = 'first day of the creation month in the company''s time zone',
    updated_at = 'last change in HCP (UTC)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, customer_id)),
    not_null(columns := (account, customer_id, lead_source, lead_source_bucket, created_at, created_month))
  )
);

WITH src AS (
  SELECT *
  FROM @source(
    hcp.customers,
    account VARCHAR, id VARCHAR, first_name VARCHAR, last_name VARCHAR, email VARCHAR,
    mobile_number VARCHAR, company VARCHAR, lead_source VARCHAR,
    created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ
  )
),
buckets AS (
  SELECT lower(trim(lead_source)) AS key, any_value(bucket) AS bucket
  FROM analytics.lead_source_map
  GROUP BY 1
)
SELECT
  c.account,
  c.id AS customer_id,
  c.first_name,
  c.last_name,
  coalesce(nullif(trim(concat_ws(' ', c.first_name, c.last_name)), ''), c.company) AS full_name,
  lower(trim(c.email)) AS email,
  c.mobile_number,
  c.company,
  c.lead_source AS lead_source_raw,
  coalesce(nullif(trim(c.lead_source), ''), 'No lead source') AS lead_source,
  CASE
    WHEN nullif(trim(c.lead_source), '') IS NULL THEN 'No lead source'
    ELSE coalesce(b.bucket, 'Other')
  END AS lead_source_bucket,
  c.created_at,
  CAST(date_trunc('month', timezone(coalesce(co.time_zone, 'UTC'), c.created_at)) AS DATE) AS created_month,
  c.updated_at
FROM src AS c
LEFT JOIN analytics.company AS co ON co.account = c.account
LEFT JOIN buckets AS b ON b.key = lower(trim(c.lead_source))
