MODEL (
  name analytics.unbilled_jobs,
  kind FULL,
  grain (account, job_id),
  owner analytics,
  description 'Completed jobs with no live invoice: none at all, or only voided and canceled ones. Money earned and not yet billed; the oldest first.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    job_id = 'HCP job id (job_...)',
    customer_id = 'the customer the job is for',
    customer_name = 'the customer''s name (analytics.customers.full_name)',
    invoice_number = 'job number shown in HCP',
    job_type = 'job type name',
    work_status = 'complete rated or complete unrated',
    completed_at = 'when the work was completed (UTC)',
    days_since_completed = 'whole days from completed_at to as_of',
    void_invoices = 'voided or canceled invoices the job has (0: never invoiced)',
    subtotal = 'line items before discounts and tax, dollars',
    total_amount = 'job total with tax, dollars: what an invoice would bill',
    as_of = 'the date the model was built, in the company''s time zone'
  ),
  audits (
    unique_combination_of_columns(columns := (account, job_id)),
    not_null(columns := (account, job_id, void_invoices, as_of))
  )
);

WITH invoices_by_job AS (
  SELECT
    account,
    job_id,
    count(*) FILTER (WHERE NOT is_void) AS live,
    count(*) FILTER (WHERE is_void) AS void
  FROM analytics.invoices
  WHERE job_id IS NOT NULL
  GROUP BY 1, 2
),
today AS (
  SELECT account, CAST(timezone(time_zone, now()) AS DATE) AS as_of FROM analytics.company
)
SELECT
  j.account,
  j.job_id,
  j.customer_id,
  c.full_name AS customer_name,
  j.invoice_number,
  j.job_type,
  j.work_status,
  j.completed_at,
  date_diff('day', CAST(timezone(coalesce(co.time_zone, 'UTC'), j.completed_at) AS DATE), coalesce(t.as_of, current_date)) AS days_since_completed,
  coalesce(i.void, 0) AS void_invoices,
  j.subtotal,
  j.total_amount,
  coalesce(t.as_of, current_date) AS as_of
FROM analytics.jobs AS j
LEFT JOIN invoices_by_job AS i ON i.account = j.account AND i.job_id = j.job_id
LEFT JOIN analytics.customers AS c ON c.account = j.account AND c.customer_id = j.customer_id
LEFT JOIN analytics.company AS co ON co.account = j.account
LEFT JOIN today AS t ON t.account = j.account
WHERE j.is_completed AND coalesce(i.live, 0) = 0
ORDER BY j.account, j.completed_at
