MODEL (
  name analytics.jobs,
  kind FULL,
  grain (account, job_id),
  owner analytics,
  description 'HCP jobs in dollars with status flags and revenue by HCP''s definition: over completed jobs, subtotal minus discounts, excluding tax and tips. Discounts come from the job''s non-void invoices.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    job_id = 'HCP job id (job_...)',
    customer_id = 'the customer the job is for',
    invoice_number = 'job / invoice number shown in HCP',
    description = 'job description',
    job_type = 'job type name (job_fields.job_type)',
    work_status = 'HCP work status: needs scheduling, scheduled, in progress, complete rated, complete unrated, user canceled, pro canceled',
    job_lead_source = 'the lead source on the job itself (can differ from the customer''s; attribution uses the customer''s)',
    created_at = 'when the job was created (UTC)',
    scheduled_start = 'first scheduled start (UTC); NULL when never scheduled',
    completed_at = 'when the work was completed (UTC)',
    canceled_at = 'when the job was canceled (UTC)',
    deleted_at = 'when the job was deleted in HCP (UTC)',
    is_deleted = 'deleted in HCP: excluded from every count',
    is_scheduled = 'not deleted and has a scheduled start (was put on the calendar)',
    is_completed = 'not deleted and work_status starts with "complete"',
    is_canceled = 'not deleted and work_status ends with "canceled" or canceled_at is set',
    subtotal = 'line items before discounts and tax, dollars',
    discount_amount = 'discounts on the job''s non-void invoices, dollars',
    total_amount = 'job total with tax, dollars',
    job_revenue = 'subtotal minus discounts for completed jobs, else 0, dollars (HCP''s job revenue)',
    amount_paid = 'payments collected on the job''s invoices, refunds netted, dollars'
  ),
  audits (
    unique_combination_of_columns(columns := (account, job_id)),
    not_null(columns := (account, job_id, is_deleted, is_scheduled, is_completed, job_revenue, amount_paid))
  )
);

WITH src AS (
  SELECT *
  FROM @source(
    hcp.jobs,
    account VARCHAR, id VARCHAR, customer__id VARCHAR, invoice_number VARCHAR,
    description VARCHAR, job_fields__job_type__name VARCHAR, work_status VARCHAR,
    lead_source VARCHAR, created_at TIMESTAMPTZ, schedule__scheduled_start TIMESTAMPTZ,
    work_timestamps__completed_at TIMESTAMPTZ, canceled_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ,
    subtotal BIGINT, total_amount BIGINT
  )
),
by_job AS (
  SELECT
    account,
    job_id,
    sum(discount_amount) FILTER (WHERE NOT is_void) AS discount_amount,
    sum(amount_paid) AS amount_paid
  FROM analytics.invoices
  WHERE job_id IS NOT NULL
  GROUP BY 1, 2
),
flagged AS (
  SELECT
    j.*,
    j.deleted_at IS NOT NULL AS is_deleted,
    coalesce(lower(j.work_status), '') AS status_lc
  FROM src AS j
)
SELECT
  j.account,
  j.id AS job_id,
  j.customer__id AS customer_id,
  j.invoice_number,
  j.description,
  j.job_fields__job_type__name AS job_type,
  j.work_status,
  nullif(trim(j.lead_source), '') AS job_lead_source,
  j.created_at,
  j.schedule__scheduled_start AS scheduled_start,
  j.work_timestamps__completed_at AS completed_at,
  j.canceled_at,
  j.deleted_at,
  j.is_deleted,
  NOT j.is_deleted AND j.schedule__scheduled_start IS NOT NULL AS is_scheduled,
  NOT j.is_deleted AND starts_with(j.status_lc, 'complete') AS is_completed,
  NOT j.is_deleted AND (ends_with(j.status_lc, 'canceled') OR j.canceled_at IS NOT NULL) AS is_canceled,
  dollars(j.subtotal) AS subtotal,
  coalesce(b.discount_amount, 0) AS discount_amount,
  dollars(j.total_amount) AS total_amount,
  CASE
    WHEN NOT j.is_deleted AND starts_with(j.status_lc, 'complete')
      THEN dollars(coalesce(j.subtotal, 0)) - coalesce(b.discount_amount, 0)
    ELSE 0
  END AS job_revenue,
  coalesce(b.amount_paid, 0) AS amount_paid
FROM flagged AS j
LEFT JOIN by_job AS b ON b.account = j.account AND b.job_id = j.id
