MODEL (
  name analytics.revenue_by_month,
  kind FULL,
  grain (account, month),
  owner analytics,
  description 'Revenue as the books see it: completed jobs by the month the work was completed (company time zone), whoever the customer is. Revenue is HCP''s job revenue (subtotal minus discounts, no tax or tips), as in analytics.jobs; deleted jobs are left out, and so is a completed job without any timestamp (only possible in a partial first sync).',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    month = 'first day of the month the work was completed (work_timestamps.completed_at, else the scheduled start, else created_at), company time zone',
    jobs_completed = 'jobs completed that month',
    customers = 'distinct customers of those jobs',
    job_revenue = 'their revenue: subtotal minus discounts, excluding tax and tips, dollars',
    avg_job_size = 'job_revenue / jobs_completed, dollars',
    total_amount = 'their totals with tax, dollars (what was billed, for comparison)',
    amount_paid = 'payments collected on their invoices so far, refunds netted, dollars'
  ),
  audits (
    unique_combination_of_columns(columns := (account, month)),
    not_null(columns := (account, month, jobs_completed, job_revenue, amount_paid))
  )
);

SELECT
  j.account,
  CAST(date_trunc('month', timezone(coalesce(co.time_zone, 'UTC'), coalesce(j.completed_at, j.scheduled_start, j.created_at))) AS DATE) AS month,
  count(*) AS jobs_completed,
  count(DISTINCT j.customer_id) AS customers,
  CAST(sum(j.job_revenue) AS DECIMAL(18, 2)) AS job_revenue,
  CAST(sum(j.job_revenue) / count(*) AS DECIMAL(18, 2)) AS avg_job_size,
  CAST(coalesce(sum(j.total_amount), 0) AS DECIMAL(18, 2)) AS total_amount,
  CAST(sum(j.amount_paid) AS DECIMAL(18, 2)) AS amount_paid
FROM analytics.jobs AS j
LEFT JOIN analytics.company AS co ON co.account = j.account
WHERE j.is_completed AND coalesce(j.completed_at, j.scheduled_start, j.created_at) IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
