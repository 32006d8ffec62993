MODEL (
  name analytics.estimate_conversion,
  kind FULL,
  grain (account, estimate_id),
  owner analytics,
  description 'Estimate -> job: each estimate with the jobs copied from it. A job names its estimate by original_estimate_id (an option id, est_...) and original_estimate_uuids[] (the estimates or options it was created from); either links it. Deleted jobs are left out.',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    estimate_id = 'HCP estimate id (csr_...)',
    estimate_number = 'estimate number shown in HCP',
    customer_id = 'the customer the estimate is for',
    job_type = 'the estimate''s job type (estimate_fields.job_type)',
    created_at = 'when the estimate was created (UTC)',
    created_month = 'first day of the creation month, company time zone',
    option_count = 'options offered',
    is_won = 'at least one option approved',
    won_amount = 'total of the approved options, dollars',
    jobs = 'jobs created from the estimate (deleted excluded)',
    is_converted = 'at least one such job',
    first_job_id = 'the earliest of those jobs',
    days_to_job = 'whole days from the estimate to its first job (NULL without one)',
    jobs_completed = 'of those jobs, completed',
    job_revenue = 'their revenue (subtotal minus discounts of completed ones), dollars'
  ),
  audits (
    unique_combination_of_columns(columns := (account, estimate_id)),
    not_null(columns := (account, estimate_id, is_won, jobs, is_converted, jobs_completed, job_revenue))
  )
);

WITH est AS (
  SELECT * FROM @source(
    hcp.estimates, account VARCHAR, _dlt_id VARCHAR, id VARCHAR, estimate_fields__job_type__name VARCHAR
  )
),
options AS (
  SELECT e.account, e.id AS estimate_id, o.id AS option_id
  FROM @source(hcp.estimates__options, _dlt_parent_id VARCHAR, id VARCHAR) AS o
  JOIN est AS e ON e._dlt_id = o._dlt_parent_id
),
raw_jobs AS (
  SELECT * FROM @source(hcp.jobs, account VARCHAR, _dlt_id VARCHAR, id VARCHAR, original_estimate_id VARCHAR)
),
refs AS (
  -- every id a job names: its option id and each of its original_estimate_uuids
  SELECT account, id AS job_id, original_estimate_id AS ref FROM raw_jobs WHERE original_estimate_id IS NOT NULL
  UNION
  SELECT r.account, r.id, u.value
  FROM @source(hcp.jobs__original_estimate_uuids, _dlt_parent_id VARCHAR, value VARCHAR) AS u
  JOIN raw_jobs AS r ON r._dlt_id = u._dlt_parent_id
),
links AS (
  SELECT DISTINCT e.account, e.id AS estimate_id, f.job_id
  FROM refs AS f
  JOIN est AS e ON e.account = f.account AND e.id = f.ref
  UNION
  SELECT DISTINCT o.account, o.estimate_id, f.job_id
  FROM refs AS f
  JOIN options AS o ON o.account = f.account AND o.option_id = f.ref
),
by_estimate AS (
  SELECT
    l.account,
    l.estimate_id,
    count(*) AS jobs,
    arg_min(j.job_id, j.created_at) AS first_job_id,
    min(j.created_at) AS first_job_at,
    count(*) FILTER (WHERE j.is_completed) AS jobs_completed,
    coalesce(sum(j.job_revenue) FILTER (WHERE j.is_completed), 0) AS job_revenue
  FROM links AS l
  JOIN analytics.jobs AS j ON j.account = l.account AND j.job_id = l.job_id
  WHERE NOT j.is_deleted
  GROUP BY 1, 2
)
SELECT
  a.account,
  a.estimate_id,
  a.estimate_number,
  a.customer_id,
  r.estimate_fields__job_type__name AS job_type,
  a.created_at,
  CAST(date_trunc('month', timezone(coalesce(co.time_zone, 'UTC'), a.created_at)) AS DATE) AS created_month,
  a.option_count,
  a.is_won,
  a.won_amount,
  coalesce(b.jobs, 0) AS jobs,
  coalesce(b.jobs, 0) > 0 AS is_converted,
  b.first_job_id,
  date_diff('day', a.created_at, b.first_job_at) AS days_to_job,
  coalesce(b.jobs_completed, 0) AS jobs_completed,
  CAST(coalesce(b.job_revenue, 0) AS DECIMAL(18, 2)) AS job_revenue
FROM analytics.estimates AS a
LEFT JOIN est AS r ON r.account = a.account AND r.id = a.estimate_id
LEFT JOIN by_estimate AS b ON b.account = a.account AND b.estimate_id = a.estimate_id
LEFT JOIN analytics.company AS co ON co.account = a.account
