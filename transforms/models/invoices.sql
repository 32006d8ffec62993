MODEL (
  name analytics.invoices,
  kind FULL,
  grain (account, invoice_id),
  owner analytics,
  description 'HCP invoices in dollars, with their discounts (discounts[], else discount line items) and the payments actually collected (refunds netted) rolled up from the invoices__discounts, invoices__items and invoices__payments child tables.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    invoice_id = 'HCP invoice id',
    job_id = 'the job the invoice bills',
    invoice_number = 'invoice number (from the job''s number in HCP; distinct for each invoice of a job)',
    status = 'open, pending_payment, paid, voided, uncollectible or canceled',
    is_void = 'true for voided and canceled invoices (never the invoice analytics.jobs takes discounts from)',
    subtotal = 'line items before discounts and tax, dollars; every invoice of a job repeats the job''s: never sum it per job',
    discount_amount = 'sum of discounts[] (or, when it is empty, of discount line items), dollars; repeated on each invoice of a job: never sum it per job',
    amount = 'invoice total (after discounts, with tax), dollars',
    due_amount = 'still due, dollars',
    amount_paid = 'payments with status succeeded or paid, refunds subtracted, dollars; different money on each invoice, so it adds up per job',
    invoice_date = 'invoice date (UTC)',
    due_at = 'when payment is due (UTC; the invoice date for due-on-receipt)',
    paid_at = 'when it was paid in full (UTC)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, invoice_id)),
    not_null(columns := (account, invoice_id, status, discount_amount, amount_paid))
  )
);

WITH inv AS (
  SELECT *
  FROM @source(
    hcp.invoices,
    account VARCHAR, _dlt_id VARCHAR, id VARCHAR, job_id VARCHAR, invoice_number VARCHAR,
    status VARCHAR, subtotal BIGINT, amount BIGINT, due_amount BIGINT,
    invoice_date TIMESTAMPTZ, due_at TIMESTAMPTZ, paid_at TIMESTAMPTZ
  )
),
listed_discounts AS (
  SELECT _dlt_parent_id, sum(abs(amount)) AS cents
  FROM @source(hcp.invoices__discounts, _dlt_parent_id VARCHAR, amount BIGINT)
  GROUP BY 1
),
item_discounts AS (
  -- Some invoices carry discounts as line items (kind "fixed discount" / "percent discount")
  -- instead of discounts[]; used only when discounts[] is empty, so nothing counts twice.
  SELECT _dlt_parent_id, sum(abs(amount)) AS cents
  FROM @source(hcp.invoices__items, _dlt_parent_id VARCHAR, type VARCHAR, amount BIGINT)
  WHERE lower(type) IN ('fixed discount', 'percent discount')
  GROUP BY 1
),
discounts AS (
  SELECT i._dlt_id AS _dlt_parent_id, coalesce(l.cents, d.cents) AS cents
  FROM inv AS i
  LEFT JOIN listed_discounts AS l ON l._dlt_parent_id = i._dlt_id
  LEFT JOIN item_discounts AS d ON d._dlt_parent_id = i._dlt_id
),
payments AS (
  -- HCP records a refund as a payment of category "refund" (the sandbox: a positive amount);
  -- other feeds send it negative. -abs() nets both the same way.
  SELECT
    _dlt_parent_id,
    sum(CASE WHEN lower(category) = 'refund' THEN -abs(amount) ELSE amount END) AS cents
  FROM @source(hcp.invoices__payments, _dlt_parent_id VARCHAR, status VARCHAR, amount BIGINT, category VARCHAR)
  WHERE lower(status) IN ('succeeded', 'paid')
  GROUP BY 1
)
SELECT
  i.account,
  i.id AS invoice_id,
  i.job_id,
  i.invoice_number,
  i.status,
  coalesce(lower(i.status) IN ('voided', 'canceled'), false) AS is_void,
  dollars(i.subtotal) AS subtotal,
  dollars(coalesce(d.cents, 0)) AS discount_amount,
  dollars(i.amount) AS amount,
  dollars(i.due_amount) AS due_amount,
  dollars(coalesce(p.cents, 0)) AS amount_paid,
  i.invoice_date,
  i.due_at,
  i.paid_at
FROM inv AS i
LEFT JOIN discounts AS d ON d._dlt_parent_id = i._dlt_id
LEFT JOIN payments AS p ON p._dlt_parent_id = i._dlt_id
