AUDIT (
  name lead_source_performance_reconciles,
  model analytics.lead_source_performance,
  blocking true,
  description 'Summed over lead sources and months, the table holds every customer and every attributable job and dollar exactly once (no fan-out from the joins, nothing dropped).'
);

WITH perf AS (
  SELECT
    account,
    sum(new_customers) AS customers,
    sum(new_jobs) AS jobs,
    sum(jobs_completed) AS completed,
    sum(job_revenue) AS revenue,
    sum(amount_paid) AS paid
  FROM analytics.lead_source_performance
  GROUP BY 1
),
truth AS (
  SELECT
    c.account,
    count(DISTINCT c.customer_id) AS customers,
    count(j.job_id) FILTER (WHERE NOT j.is_deleted) AS jobs,
    count(j.job_id) FILTER (WHERE j.is_completed) AS completed,
    coalesce(sum(j.job_revenue), 0) AS revenue,
    coalesce(sum(j.amount_paid) FILTER (WHERE NOT j.is_deleted), 0) AS paid
  FROM analytics.customers AS c
  LEFT JOIN analytics.jobs AS j ON j.account = c.account AND j.customer_id = c.customer_id
  GROUP BY 1
)
SELECT t.account, p.customers, t.customers, p.jobs, t.jobs, p.revenue, t.revenue, p.paid, t.paid
FROM truth AS t
LEFT JOIN perf AS p ON p.account = t.account
WHERE p.customers IS DISTINCT FROM t.customers
   OR p.jobs IS DISTINCT FROM t.jobs
   OR p.completed IS DISTINCT FROM t.completed
   OR p.revenue IS DISTINCT FROM t.revenue
   OR p.paid IS DISTINCT FROM t.paid
