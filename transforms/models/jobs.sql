MODEL (
  name analytics.jobs,
  kind FULL,
  grain (account, job_id),
  owner analytics,
  description 'HCP jobs in dollars with status flags and revenue by HCP''s definition: over completed jobs, subtotal minus discounts, excluding tax and tips. A job often has several invoices (a deposit and a final one), each repeating the job''s subtotal and discounts, so discounts come from one invoice, the newest non-void one, and are never summed across invoices; payments are.',
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
    -- from the job, never from its invoices: each invoice repeats it
    subtotal = 'line items before discounts and tax, dollars (the job''s own, not a sum over its invoices)',
    -- one invoice's, never a sum: deposit and final invoices repeat the same discounts[]
    discount_amount = 'discounts of the job''s newest non-void invoice (latest invoice_date, then invoice_number, then invoice id; voided and canceled skipped), dollars; 0 without one',
    total_amount = 'job total with tax, dollars',
    job_revenue = 'subtotal minus discounts for completed jobs, else 0, dollars (HCP''s job revenue)',
    -- a sum: a deposit payment and a final payment are both money received
    amount_paid = 'payments collected on all the job''s invoices (deposit and final add up), refunds netted, dollars'
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
newest_invoice AS (
  -- Live HCP: most jobs have a deposit and a final invoice, and every invoice repeats the job's
  -- subtotal and discounts[]; summing them counted a discount once per invoice. The newest
  -- non-void invoice is the job's current billing; later date wins, then the higher number
  -- ("1042-2" after "1042-1"), then the id, so the pick is deterministic.
  SELECT
    account,
    job_id,
    discount_amount,
    row_number() OVER (
      PARTITION BY account, job_id
      ORDER BY invoice_date DESC NULLS LAST, invoice_number DESC NULLS LAST, invoice_id DESC
    ) AS recency
  FROM analytics.invoices
  WHERE job_id IS NOT NULL AND NOT is_void
),
paid_by_job AS (
  -- Payments are money received on each invoice, so they do add up across a job's invoices.
  SELECT account, job_id, sum(amount_paid) AS amount_paid
  FROM analytics.invoices
  WHERE job_id IS NOT NULL
  GROUP BY 1, 2
),
by_job AS (
  SELECT p.account, p.job_id, n.discount_amount, p.amount_paid
  FROM paid_by_job AS p
  LEFT JOIN newest_invoice AS n
    ON n.account = p.account AND n.job_id = p.job_id AND n.recency = 1
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
