MODEL (
  name analytics.job_type_performance,
  kind FULL,
  grain (account, job_type, month),
  owner analytics,
  description 'Which kinds of work pay: jobs by job type and the month they were created (company time zone), with how many were scheduled, completed and canceled and what the completed ones earned. Deleted jobs are left out.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    job_type = 'job type name (job_fields.job_type); ''No job type'' when unset',
    month = 'first day of the month the jobs were created, company time zone',
    jobs = 'jobs created that month with that type',
    jobs_scheduled = 'of those, put on the calendar',
    jobs_completed = 'of those, completed',
    jobs_canceled = 'of those, canceled',
    job_revenue = 'revenue of the completed ones (subtotal minus discounts, no tax or tips), dollars',
    avg_job_size = 'job_revenue / jobs_completed, dollars (NULL when none completed)',
    amount_paid = 'payments collected on their invoices, refunds netted, dollars'
  ),
  audits (
    unique_combination_of_columns(columns := (account, job_type, month)),
    not_null(columns := (account, job_type, month, jobs, jobs_completed, job_revenue, amount_paid))
  )
);

SELECT
  j.account,
  coalesce(nullif(trim(j.job_type), ''), 'No job type') AS job_type,
  CAST(date_trunc('month', timezone(coalesce(co.time_zone, 'UTC'), j.created_at)) AS DATE) AS month,
  count(*) AS jobs,
  count(*) FILTER (WHERE j.is_scheduled) AS jobs_scheduled,
  count(*) FILTER (WHERE j.is_completed) AS jobs_completed,
  count(*) FILTER (WHERE j.is_canceled) AS jobs_canceled,
  CAST(sum(j.job_revenue) AS DECIMAL(18, 2)) AS job_revenue,
  CAST(sum(j.job_revenue) / nullif(count(*) FILTER (WHERE j.is_completed), 0) AS DECIMAL(18, 2)) AS avg_job_size,
  CAST(sum(j.amount_paid) AS DECIMAL(18, 2)) AS amount_paid
FROM analytics.jobs AS j
LEFT JOIN analytics.company AS co ON co.account = j.account
WHERE NOT j.is_deleted AND j.created_at IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY 1, 3, 2
