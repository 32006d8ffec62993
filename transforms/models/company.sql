MODEL (
  name analytics.company,
  kind FULL,
  grain (account),
  owner analytics,
  description 'One row per synced HCP account: the company behind it and its time zone, which every month-level model uses.',
  column_descriptions (
    account = 'HCP account name in hcp-sync config (default with one key)',
    company_id = 'HCP company id (a UUID)',
    company_name = 'company name as set in HCP',
    time_zone = 'IANA time zone from GET /company (UTC when HCP sends none)'
  ),
  audits (unique_combination_of_columns(columns := (account)), not_null(columns := (account, time_zone)))
);

SELECT
  account,
  any_value(id) AS company_id,
  any_value(name) AS company_name,
  coalesce(any_value(nullif(trim(time_zone), '')), 'UTC') AS time_zone
FROM @source(hcp.company, account VARCHAR, id VARCHAR, name VARCHAR, time_zone VARCHAR)
GROUP BY account
