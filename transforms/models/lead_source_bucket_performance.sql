MODEL (
  name analytics.lead_source_bucket_performance,
  kind FULL,
  grain (account, lead_source_bucket, month),
  owner analytics,
  description 'analytics.lead_source_performance rolled up to buckets (channels), with all spend: a spend row naming a bucket counts for that bucket, one naming a Lead Source for that source''s bucket. This is where ROAS per channel is read: $900 on "Facebook" meets the revenue of "FB Ads", "Instagram" and "facebook" customers. Same customer-cohort attribution as lead_source_performance; bucket-month rows with spend and no customers appear too.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    lead_source_bucket = 'bucket from analytics.lead_source_map (''Other'' when unmapped, ''No lead source'' when unset)',
    month = 'first day of the month the customers were created, in the company''s time zone',
    lead_sources = 'distinct Lead Source spellings with customers that month in this bucket',
    new_customers = 'customers created that month with a Lead Source in this bucket',
    new_jobs = 'their jobs, deleted jobs excluded',
    jobs_scheduled = 'of those, jobs put on the calendar',
    jobs_completed = 'of those, jobs whose work_status starts with "complete"',
    job_revenue = 'completed jobs: subtotal minus discounts, excluding tax and tips, dollars',
    avg_job_size = 'job_revenue / jobs_completed, dollars (NULL when none completed)',
    amount_paid = 'payments collected on their (non-deleted) jobs, refunds netted, dollars',
    new_estimates = 'their estimates',
    estimates_won = 'of those, estimates with an approved option',
    estimate_close_rate = 'estimates_won / new_estimates, 0..1 (NULL without estimates)',
    marketing_spend = 'bucket spend plus the source spend of its Lead Sources (analytics.marketing_spend_matched), dollars (NULL when none recorded)',
    cost_per_customer = 'marketing_spend / new_customers, dollars (NULL without spend or customers)',
    cost_per_job = 'marketing_spend / new_jobs, dollars (NULL without spend or jobs)',
    roas = 'return on ad spend: job_revenue / marketing_spend (NULL without spend)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, lead_source_bucket, month)),
    not_null(columns := (account, lead_source_bucket, month, new_customers, new_jobs, jobs_completed, job_revenue, amount_paid))
  )
);

WITH cohorts AS (
  SELECT
    account,
    lead_source_bucket,
    month,
    count(*) FILTER (WHERE new_customers > 0) AS lead_sources,
    sum(new_customers) AS new_customers,
    sum(new_jobs) AS new_jobs,
    sum(jobs_scheduled) AS jobs_scheduled,
    sum(jobs_completed) AS jobs_completed,
    sum(job_revenue) AS job_revenue,
    sum(amount_paid) AS amount_paid,
    sum(new_estimates) AS new_estimates,
    sum(estimates_won) AS estimates_won
  FROM analytics.lead_source_performance
  GROUP BY 1, 2, 3
),
spend AS (
  SELECT account, lead_source_bucket, month, sum(amount) AS amount
  FROM analytics.marketing_spend_matched
  GROUP BY 1, 2, 3
),
joined AS (
  SELECT
    coalesce(c.account, s.account) AS account,
    coalesce(c.lead_source_bucket, s.lead_source_bucket) AS lead_source_bucket,
    coalesce(c.month, s.month) AS month,
    coalesce(c.lead_sources, 0) AS lead_sources,
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
    ON s.account = c.account AND s.lead_source_bucket = c.lead_source_bucket AND s.month = c.month
)
SELECT
  account,
  lead_source_bucket,
  month,
  lead_sources,
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
ORDER BY account, month, lead_source_bucket
