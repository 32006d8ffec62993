MODEL (
  name analytics.lead_source_performance,
  kind FULL,
  grain (account, lead_source, month),
  owner analytics,
  description 'Which lead sources make money. Attribution by customer, as HCP''s Marketing ROI table does: every figure belongs to the cohort of customers created in `month` (company time zone) with that Lead Source, whenever their jobs happened. Spend is the source spend of analytics.marketing_spend_matched (rows naming this exact Lead Source); spend given per bucket is in analytics.lead_source_bucket_performance only. Spend rows with no customers appear too (new_customers 0).',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    lead_source = 'the customer''s Lead Source, spaces trimmed; ''No lead source'' when unset',
    lead_source_bucket = 'bucket from analytics.lead_source_map (''Other'' when unmapped)',
    month = 'first day of the month the customers were created, in the company''s time zone',
    new_customers = 'customers created that month with that lead source',
    new_jobs = 'their jobs, deleted jobs excluded',
    jobs_scheduled = 'of those, jobs put on the calendar (a scheduled start), completed and canceled ones included',
    jobs_completed = 'of those, jobs whose work_status starts with "complete"',
    job_revenue = 'completed jobs: subtotal minus discounts, excluding tax and tips, dollars',
    avg_job_size = 'job_revenue / jobs_completed, dollars (NULL when none completed)',
    amount_paid = 'payments with status succeeded or paid on the invoices of their (non-deleted) jobs, refunds netted, dollars',
    new_estimates = 'their estimates',
    estimates_won = 'of those, estimates with an approved option',
    estimate_close_rate = 'estimates_won / new_estimates, 0..1 (NULL without estimates)',
    marketing_spend = 'source spend (a seed row naming this exact Lead Source, not a bucket) for this month, dollars (NULL when none recorded)',
    cost_per_customer = 'marketing_spend / new_customers, dollars (NULL without spend or customers)',
    cost_per_job = 'marketing_spend / new_jobs, dollars (NULL without spend or jobs)',
    roas = 'return on ad spend: job_revenue / marketing_spend, e.g. 3.00 = $3 of revenue per $1 spent (NULL without spend)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, lead_source, month)),
    not_null(columns := (account, lead_source, lead_source_bucket, month, new_customers, new_jobs, jobs_completed, job_revenue, amount_paid))
  )
);

WITH jobs_by_customer AS (
  SELECT
    account,
    customer_id,
    count(*) FILTER (WHERE NOT is_deleted) AS new_jobs,
    count(*) FILTER (WHERE is_scheduled) AS jobs_scheduled,
    count(*) FILTER (WHERE is_completed) AS jobs_completed,
    sum(job_revenue) FILTER (WHERE is_completed) AS job_revenue,
    sum(amount_paid) FILTER (WHERE NOT is_deleted) AS amount_paid
  FROM analytics.jobs
  GROUP BY 1, 2
),
estimates_by_customer AS (
  SELECT
    account,
    customer_id,
    count(*) AS new_estimates,
    count(*) FILTER (WHERE is_won) AS estimates_won
  FROM analytics.estimates
  GROUP BY 1, 2
),
cohorts AS (
  SELECT
    c.account,
    c.lead_source,
    any_value(c.lead_source_bucket) AS lead_source_bucket,
    c.created_month AS month,
    count(*) AS new_customers,
    coalesce(sum(j.new_jobs), 0) AS new_jobs,
    coalesce(sum(j.jobs_scheduled), 0) AS jobs_scheduled,
    coalesce(sum(j.jobs_completed), 0) AS jobs_completed,
    coalesce(sum(j.job_revenue), 0) AS job_revenue,
    coalesce(sum(j.amount_paid), 0) AS amount_paid,
    coalesce(sum(e.new_estimates), 0) AS new_estimates,
    coalesce(sum(e.estimates_won), 0) AS estimates_won
  FROM analytics.customers AS c
  LEFT JOIN jobs_by_customer AS j ON j.account = c.account AND j.customer_id = c.customer_id
  LEFT JOIN estimates_by_customer AS e ON e.account = c.account AND e.customer_id = c.customer_id
  GROUP BY c.account, c.lead_source, c.created_month
),
spend AS (
  SELECT account, lead_source, month, any_value(lead_source_bucket) AS bucket, sum(amount) AS amount
  FROM analytics.marketing_spend_matched
  WHERE spend_level = 'lead_source'
  GROUP BY 1, 2, 3
),
joined AS (
  SELECT
    coalesce(c.account, s.account) AS account,
    coalesce(c.lead_source, s.lead_source) AS lead_source,
    coalesce(c.lead_source_bucket, s.bucket, 'Other') AS lead_source_bucket,
    coalesce(c.month, s.month) AS month,
    coalesce(c.new_customers, 0) AS new_customers,
    coalesce(c.new_jobs, 0) AS new_jobs,
    coalesce(c.jobs_scheduled, 0) AS jobs_scheduled,
    coalesce(c.jobs_completed, 0) AS jobs_completed,
    CAST(coalesce(c.job_revenue, 0) AS DECIMAL(18, 2)) AS job_revenue,
    CAST(coalesce(c.amount_paid, 0) AS DECIMAL(18, 2)) AS amount_paid,
    coalesce(c.new_estimates, 0) AS new_estimates,
    coalesce(c.estimates_won, 0) AS estimates_won,
    CAST(s.amount AS DECIMAL(18, 2)) AS marketing_spend
  FROM cohorts AS c
  FULL OUTER JOIN spend AS s
    ON s.account = c.account AND s.lead_source = c.lead_source AND s.month = c.month
)
SELECT
  account,
  lead_source,
  lead_source_bucket,
  month,
  new_customers,
  new_jobs,
  jobs_scheduled,
  jobs_completed,
  job_revenue,
  CAST(job_revenue / nullif(jobs_completed, 0) AS DECIMAL(18, 2)) AS avg_job_size,
  amount_paid,
  new_estimates,
  estimates_won,
  CAST(estimates_won / nullif(new_estimates, 0) AS DECIMAL(6, 4)) AS estimate_close_rate,
  marketing_spend,
  CAST(marketing_spend / nullif(new_customers, 0) AS DECIMAL(18, 2)) AS cost_per_customer,
  CAST(marketing_spend / nullif(new_jobs, 0) AS DECIMAL(18, 2)) AS cost_per_job,
  CAST(job_revenue / nullif(marketing_spend, 0) AS DECIMAL(18, 2)) AS roas
FROM joined
ORDER BY account, month, lead_source
