MODEL (
  name analytics.lead_funnel,
  kind FULL,
  grain (account, lead_id),
  owner analytics,
  description 'What the leads we pushed became: staging.leads -> HCP customer (by hcp_customer_id, once a sync has brought it back) -> jobs -> revenue. Empty (with a note from the runner) until leads were staged.',
  column_descriptions (
    account = 'HCP account the lead was pushed to',
    lead_id = 'the lead''s id in staging.leads',
    lead_name = 'name as staged (or first + last)',
    email = 'email as staged, lower-cased',
    lead_source = 'Lead Source as staged, spaces trimmed; ''No lead source'' when unset',
    lead_source_bucket = 'bucket from analytics.lead_source_map (''Other'' when unmapped)',
    push_status = 'staging.leads.status: pending, sending, sent, linked, skipped, failed_retryable, failed_permanent',
    error_reason = 'why the push failed, when it did',
    staged_at = 'when the lead was staged',
    hcp_customer_id = 'the HCP customer the push created or linked, or that made it skip the lead (it existed)',
    in_hcp = 'that customer is in the synced data (a sync ran after the push)',
    customer_created_at = 'when HCP created the customer (UTC)',
    jobs = 'the customer''s jobs, deleted excluded',
    jobs_completed = 'of those, completed',
    job_revenue = 'completed jobs: subtotal minus discounts, dollars',
    amount_paid = 'payments collected on their invoices, refunds netted, dollars',
    estimates = 'the customer''s estimates',
    estimates_won = 'of those, with an approved option',
    funnel_stage = 'furthest stage reached: failed, staged, pushed, customer, job booked, job completed, paid'
  ),
  audits (
    unique_combination_of_columns(columns := (account, lead_id)),
    not_null(columns := (account, lead_id, funnel_stage, jobs, job_revenue)),
    accepted_values(column := funnel_stage, is_in := ('failed', 'staged', 'pushed', 'customer', 'job booked', 'job completed', 'paid'))
  )
);

WITH leads AS (
  SELECT *
  FROM @source(
    staging.leads,
    account VARCHAR, lead_id VARCHAR, name VARCHAR, first_name VARCHAR, last_name VARCHAR,
    email VARCHAR, lead_source VARCHAR, status VARCHAR, error_reason VARCHAR,
    hcp_customer_id VARCHAR, created_at TIMESTAMPTZ
  )
),
jobs_by_customer AS (
  SELECT
    account,
    customer_id,
    count(*) FILTER (WHERE NOT is_deleted) AS jobs,
    count(*) FILTER (WHERE is_completed) AS jobs_completed,
    sum(job_revenue) FILTER (WHERE is_completed) AS job_revenue,
    sum(amount_paid) FILTER (WHERE NOT is_deleted) AS amount_paid
  FROM analytics.jobs
  GROUP BY 1, 2
),
estimates_by_customer AS (
  SELECT account, customer_id, count(*) AS estimates, count(*) FILTER (WHERE is_won) AS estimates_won
  FROM analytics.estimates
  GROUP BY 1, 2
),
buckets AS (
  SELECT lower(trim(lead_source)) AS key, any_value(bucket) AS bucket
  FROM analytics.lead_source_map
  GROUP BY 1
),
funnel AS (
  SELECT
    coalesce(nullif(trim(l.account), ''), 'default') AS account,
    l.lead_id,
    coalesce(nullif(trim(l.name), ''), nullif(trim(concat_ws(' ', l.first_name, l.last_name)), '')) AS lead_name,
    lower(trim(l.email)) AS email,
    coalesce(nullif(trim(l.lead_source), ''), 'No lead source') AS lead_source,
    CASE
      WHEN nullif(trim(l.lead_source), '') IS NULL THEN 'No lead source'
      ELSE coalesce(b.bucket, 'Other')
    END AS lead_source_bucket,
    coalesce(l.status, 'pending') AS push_status,
    l.error_reason,
    l.created_at AS staged_at,
    l.hcp_customer_id,
    c.customer_id IS NOT NULL AS in_hcp,
    c.created_at AS customer_created_at,
    coalesce(j.jobs, 0) AS jobs,
    coalesce(j.jobs_completed, 0) AS jobs_completed,
    CAST(coalesce(j.job_revenue, 0) AS DECIMAL(18, 2)) AS job_revenue,
    CAST(coalesce(j.amount_paid, 0) AS DECIMAL(18, 2)) AS amount_paid,
    coalesce(e.estimates, 0) AS estimates,
    coalesce(e.estimates_won, 0) AS estimates_won
  FROM leads AS l
  LEFT JOIN analytics.customers AS c
    ON c.account = coalesce(nullif(trim(l.account), ''), 'default') AND c.customer_id = l.hcp_customer_id
  LEFT JOIN jobs_by_customer AS j ON j.account = c.account AND j.customer_id = c.customer_id
  LEFT JOIN estimates_by_customer AS e ON e.account = c.account AND e.customer_id = c.customer_id
  LEFT JOIN buckets AS b ON b.key = lower(trim(l.lead_source))
)
SELECT
  *,
  CASE
    WHEN amount_paid > 0 THEN 'paid'
    WHEN jobs_completed > 0 THEN 'job completed'
    WHEN jobs > 0 THEN 'job booked'
    WHEN in_hcp THEN 'customer'
    WHEN push_status IN ('sent', 'linked', 'skipped') THEN 'pushed'
    WHEN push_status = 'failed_permanent' THEN 'failed'
    ELSE 'staged'
  END AS funnel_stage
FROM funnel
