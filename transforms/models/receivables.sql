MODEL (
  name analytics.receivables,
  kind FULL,
  grain (account, invoice_id),
  owner analytics,
  description 'Receivables aging: every invoice with money still due (status open or pending_payment, due_amount > 0), aged from its due date to as_of. Uncollectible invoices are written off in HCP and left out; voided, canceled and paid ones owe nothing.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    invoice_id = 'HCP invoice id',
    invoice_number = 'invoice number shown in HCP',
    job_id = 'the job the invoice bills',
    customer_id = 'the job''s customer',
    customer_name = 'the customer''s name',
    status = 'open or pending_payment',
    invoice_date = 'invoice date (UTC)',
    due_at = 'when payment is due (UTC; the invoice date when HCP sends none)',
    amount = 'invoice total with tax, dollars',
    due_amount = 'still due, dollars',
    days_past_due = 'whole days from the due date (company time zone) to as_of; 0 or less is not yet due',
    aging_bucket = 'current (not yet due), 1-30, 31-60, 61-90 or 90+ days past due',
    as_of = 'the date the model was built, in the company''s time zone'
  ),
  audits (
    unique_combination_of_columns(columns := (account, invoice_id)),
    not_null(columns := (account, invoice_id, due_amount, days_past_due, aging_bucket, as_of)),
    accepted_values(column := aging_bucket, is_in := ('current', '1-30', '31-60', '61-90', '90+'))
  )
);

WITH open_invoices AS (
  SELECT
    i.*,
    coalesce(co.time_zone, 'UTC') AS time_zone,
    CAST(timezone(coalesce(co.time_zone, 'UTC'), now()) AS DATE) AS as_of
  FROM analytics.invoices AS i
  LEFT JOIN analytics.company AS co ON co.account = i.account
  WHERE lower(i.status) IN ('open', 'pending_payment') AND i.due_amount > 0
),
aged AS (
  SELECT
    o.*,
    date_diff('day', CAST(timezone(o.time_zone, coalesce(o.due_at, o.invoice_date)) AS DATE), o.as_of) AS days_past_due
  FROM open_invoices AS o
)
SELECT
  a.account,
  a.invoice_id,
  a.invoice_number,
  a.job_id,
  j.customer_id,
  c.full_name AS customer_name,
  a.status,
  a.invoice_date,
  coalesce(a.due_at, a.invoice_date) AS due_at,
  a.amount,
  a.due_amount,
  coalesce(a.days_past_due, 0) AS days_past_due,
  CASE
    WHEN coalesce(a.days_past_due, 0) <= 0 THEN 'current'
    WHEN a.days_past_due <= 30 THEN '1-30'
    WHEN a.days_past_due <= 60 THEN '31-60'
    WHEN a.days_past_due <= 90 THEN '61-90'
    ELSE '90+'
  END AS aging_bucket,
  a.as_of
FROM aged AS a
LEFT JOIN analytics.jobs AS j ON j.account = a.account AND j.job_id = a.job_id
LEFT JOIN analytics.customers AS c ON c.account = j.account AND c.customer_id = j.customer_id
ORDER BY a.account, days_past_due DESC, a.invoice_id
