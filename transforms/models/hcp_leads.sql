MODEL (
  name analytics.hcp_leads,
  kind FULL,
  grain (account, lead_id),
  owner analytics,
  description 'HCP''s own leads (GET /leads; not the leads this tool pushes, which are analytics.lead_funnel): each with its status (open, won, lost), what it was converted to, its Lead Source bucket and its assigned pro. Leads HCP no longer lists (flagged _hcp_deleted_at) are left out.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    lead_id = 'HCP lead id (lea_...)',
    lead_number = 'lead number shown in HCP',
    customer_id = 'the lead''s customer',
    customer_name = 'the customer''s first and last name, as embedded in the lead',
    lead_source = 'Lead Source, spaces trimmed; ''No lead source'' when unset',
    lead_source_bucket = 'bucket from analytics.lead_source_map (''Other'' when unmapped)',
    status = 'open, won or lost',
    pipeline_status = 'the pipeline stage name in HCP',
    is_won = 'status is won',
    is_lost = 'status is lost',
    lost_at = 'when it was marked lost (UTC)',
    created_at = 'when it was created (UTC; NULL when HCP sends no timestamp, which its spec allows)',
    assigned_employee_id = 'the pro the lead is assigned to',
    assigned_employee_name = 'that pro''s name',
    job_type = 'job type on the lead',
    total_amount = 'the lead''s line items total, dollars',
    converted_jobs = 'conversions of type Job',
    converted_estimates = 'conversions of type Estimate'
  ),
  audits (
    unique_combination_of_columns(columns := (account, lead_id)),
    not_null(columns := (account, lead_id, lead_source, lead_source_bucket, is_won, is_lost, converted_jobs, converted_estimates)),
    accepted_values(column := status, is_in := ('open', 'won', 'lost'))
  )
);

WITH src AS (
  SELECT * FROM @source(
    hcp.leads,
    account VARCHAR, _dlt_id VARCHAR, id VARCHAR, number VARCHAR, customer__id VARCHAR,
    customer__first_name VARCHAR, customer__last_name VARCHAR, lead_source VARCHAR,
    status VARCHAR, pipeline_status VARCHAR, lost_at TIMESTAMPTZ, created_at TIMESTAMPTZ,
    assigned_employee__id VARCHAR, assigned_employee__first_name VARCHAR,
    assigned_employee__last_name VARCHAR, job_fields__job_type__name VARCHAR,
    total_amount BIGINT, _hcp_deleted_at TIMESTAMPTZ
  )
),
conversions AS (
  SELECT
    _dlt_parent_id,
    count(*) FILTER (WHERE lower(type) = 'job') AS jobs,
    count(*) FILTER (WHERE lower(type) = 'estimate') AS estimates
  FROM @source(hcp.leads__conversions, _dlt_parent_id VARCHAR, type VARCHAR)
  GROUP BY 1
),
buckets AS (
  SELECT lower(trim(lead_source)) AS key, any_value(bucket) AS bucket
  FROM analytics.lead_source_map
  GROUP BY 1
)
SELECT
  l.account,
  l.id AS lead_id,
  l.number AS lead_number,
  l.customer__id AS customer_id,
  nullif(trim(concat_ws(' ', l.customer__first_name, l.customer__last_name)), '') AS customer_name,
  coalesce(nullif(trim(l.lead_source), ''), 'No lead source') AS lead_source,
  CASE
    WHEN nullif(trim(l.lead_source), '') IS NULL THEN 'No lead source'
    ELSE coalesce(b.bucket, 'Other')
  END AS lead_source_bucket,
  lower(l.status) AS status,
  l.pipeline_status,
  coalesce(lower(l.status) = 'won', false) AS is_won,
  coalesce(lower(l.status) = 'lost', false) AS is_lost,
  l.lost_at,
  l.created_at,
  l.assigned_employee__id AS assigned_employee_id,
  nullif(trim(concat_ws(' ', l.assigned_employee__first_name, l.assigned_employee__last_name)), '') AS assigned_employee_name,
  l.job_fields__job_type__name AS job_type,
  dollars(l.total_amount) AS total_amount,
  coalesce(c.jobs, 0) AS converted_jobs,
  coalesce(c.estimates, 0) AS converted_estimates
FROM src AS l
LEFT JOIN conversions AS c ON c._dlt_parent_id = l._dlt_id
LEFT JOIN buckets AS b ON b.key = lower(trim(l.lead_source))
WHERE l.id IS NOT NULL AND l._hcp_deleted_at IS NULL
