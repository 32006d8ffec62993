MODEL (
  name analytics.technician_performance,
  kind FULL,
  grain (account, employee_id),
  owner analytics,
  description 'What each pro did, from the jobs'' assigned employees (jobs__assigned_employees). GET /employees lists active pros only, so pros who left appear too (is_active false, named from the jobs that carry them), and active pros without jobs appear with zeros. A job with two pros counts fully for each in jobs and job_revenue; revenue_share splits it evenly.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    employee_id = 'HCP employee id (pro_...)',
    full_name = 'first and last name (from /employees, else from the jobs)',
    role = 'field tech, office staff or admin',
    is_active = 'listed by GET /employees at the last sync (and not flagged deleted since)',
    jobs_assigned = 'jobs the pro was assigned to, deleted jobs excluded',
    jobs_completed = 'of those, completed',
    jobs_canceled = 'of those, canceled',
    job_revenue = 'revenue of their completed jobs (subtotal minus discounts), each job counted in full for every assigned pro, dollars',
    revenue_share = 'the same revenue split evenly between a job''s assigned pros, dollars (adds up to the jobs'' revenue, up to cents)',
    avg_job_size = 'job_revenue / jobs_completed, dollars (NULL when none completed)',
    last_completed_at = 'when their latest completed job was completed (UTC)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, employee_id)),
    not_null(columns := (account, employee_id, is_active, jobs_assigned, jobs_completed, job_revenue, revenue_share))
  )
);

WITH raw_jobs AS (
  SELECT * FROM @source(hcp.jobs, account VARCHAR, _dlt_id VARCHAR, id VARCHAR)
),
assigned AS (
  SELECT * FROM @source(
    hcp.jobs__assigned_employees,
    _dlt_parent_id VARCHAR, id VARCHAR, first_name VARCHAR, last_name VARCHAR, role VARCHAR
  )
),
listed AS (
  SELECT * FROM @source(hcp.employees, account VARCHAR, id VARCHAR, _hcp_deleted_at TIMESTAMPTZ)
),
crew AS (
  SELECT DISTINCT
    r.account,
    r.id AS job_id,
    a.id AS employee_id,
    a.first_name,
    a.last_name,
    a.role
  FROM assigned AS a
  JOIN raw_jobs AS r ON r._dlt_id = a._dlt_parent_id
  WHERE a.id IS NOT NULL
),
crew_size AS (
  SELECT account, job_id, count(*) AS pros FROM crew GROUP BY 1, 2
),
work AS (
  SELECT
    c.account,
    c.employee_id,
    any_value(nullif(trim(concat_ws(' ', c.first_name, c.last_name)), '')) AS embedded_name,
    any_value(c.role) AS embedded_role,
    count(*) FILTER (WHERE NOT j.is_deleted) AS jobs_assigned,
    count(*) FILTER (WHERE j.is_completed) AS jobs_completed,
    count(*) FILTER (WHERE j.is_canceled) AS jobs_canceled,
    coalesce(sum(j.job_revenue) FILTER (WHERE j.is_completed), 0) AS job_revenue,
    coalesce(sum(j.job_revenue / s.pros) FILTER (WHERE j.is_completed), 0) AS revenue_share,
    max(j.completed_at) FILTER (WHERE j.is_completed) AS last_completed_at
  FROM crew AS c
  JOIN analytics.jobs AS j ON j.account = c.account AND j.job_id = c.job_id
  JOIN crew_size AS s ON s.account = c.account AND s.job_id = c.job_id
  GROUP BY 1, 2
),
people AS (
  SELECT account, employee_id FROM analytics.employees
  UNION
  SELECT account, employee_id FROM work
)
SELECT
  p.account,
  p.employee_id,
  coalesce(nullif(e.full_name, ''), w.embedded_name) AS full_name,
  coalesce(e.role, w.embedded_role) AS role,
  (e.employee_id IS NOT NULL AND l._hcp_deleted_at IS NULL) AS is_active,
  coalesce(w.jobs_assigned, 0) AS jobs_assigned,
  coalesce(w.jobs_completed, 0) AS jobs_completed,
  coalesce(w.jobs_canceled, 0) AS jobs_canceled,
  CAST(coalesce(w.job_revenue, 0) AS DECIMAL(18, 2)) AS job_revenue,
  CAST(coalesce(w.revenue_share, 0) AS DECIMAL(18, 2)) AS revenue_share,
  CAST(w.job_revenue / nullif(w.jobs_completed, 0) AS DECIMAL(18, 2)) AS avg_job_size,
  w.last_completed_at
FROM people AS p
LEFT JOIN analytics.employees AS e ON e.account = p.account AND e.employee_id = p.employee_id
LEFT JOIN listed AS l ON l.account = p.account AND l.id = p.employee_id
LEFT JOIN work AS w ON w.account = p.account AND w.employee_id = p.employee_id
ORDER BY p.account, job_revenue DESC, p.employee_id
