MODEL (
  name analytics.employees,
  kind FULL,
  grain (account, employee_id),
  owner analytics,
  description 'Active HCP employees (GET /employees lists active ones only; jobs may reference deactivated pros missing here).',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    employee_id = 'HCP employee id (pro_...)',
    first_name = 'first name',
    last_name = 'last name',
    full_name = 'first and last name',
    email = 'email, lower-cased',
    role = 'field tech, office staff or admin',
    is_admin = 'has the admin permission',
    created_at = 'when the employee was added (UTC)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, employee_id)),
    not_null(columns := (account, employee_id))
  )
);

SELECT
  account,
  id AS employee_id,
  first_name,
  last_name,
  trim(concat_ws(' ', first_name, last_name)) AS full_name,
  lower(trim(email)) AS email,
  role,
  coalesce(permissions__is_admin, false) AS is_admin,
  created_at
FROM @source(
  hcp.employees,
  account VARCHAR, id VARCHAR, first_name VARCHAR, last_name VARCHAR, email VARCHAR,
  role VARCHAR, permissions__is_admin BOOLEAN, created_at TIMESTAMPTZ
)
