MODEL (
  name analytics.estimates,
  kind FULL,
  grain (account, estimate_id),
  owner analytics,
  description 'HCP estimates with their options rolled up: an estimate is won when any option was approved (by the customer or the pro).',
  column_descriptions (
    account = 'HCP account name (default with one key)',
    estimate_id = 'HCP estimate id (csr_...)',
    estimate_number = 'estimate number shown in HCP',
    customer_id = 'the customer the estimate is for',
    work_status = 'HCP work status of the estimate visit',
    estimate_lead_source = 'lead source on the estimate itself (attribution uses the customer''s)',
    created_at = 'when the estimate was created (UTC)',
    option_count = 'number of options offered',
    approved_options = 'options with approval_status approved or pro approved',
    is_won = 'at least one option approved',
    won_amount = 'total of the approved options, dollars (0 when not won)'
  ),
  audits (
    unique_combination_of_columns(columns := (account, estimate_id)),
    not_null(columns := (account, estimate_id, option_count, is_won, won_amount))
  )
);

WITH est AS (
  SELECT *
  FROM @source(
    hcp.estimates,
    account VARCHAR, _dlt_id VARCHAR, id VARCHAR, estimate_number VARCHAR, customer__id VARCHAR,
    work_status VARCHAR, lead_source VARCHAR, created_at TIMESTAMPTZ
  )
),
opts AS (
  SELECT
    _dlt_parent_id,
    count(*) AS option_count,
    count(*) FILTER (WHERE lower(approval_status) IN ('approved', 'pro approved')) AS approved_options,
    coalesce(sum(total_amount) FILTER (WHERE lower(approval_status) IN ('approved', 'pro approved')), 0) AS won_cents
  FROM @source(hcp.estimates__options, _dlt_parent_id VARCHAR, approval_status VARCHAR, total_amount BIGINT)
  GROUP BY 1
)
SELECT
  e.account,
  e.id AS estimate_id,
  e.estimate_number,
  e.customer__id AS customer_id,
  e.work_status,
  nullif(trim(e.lead_source), '') AS estimate_lead_source,
  e.created_at,
  coalesce(o.option_count, 0) AS option_count,
  coalesce(o.approved_options, 0) AS approved_options,
  coalesce(o.approved_options, 0) > 0 AS is_won,
  dollars(coalesce(o.won_cents, 0)) AS won_amount
FROM est AS e
LEFT JOIN opts AS o ON o._dlt_parent_id = e._dlt_id
