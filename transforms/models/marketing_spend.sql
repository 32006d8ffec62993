MODEL (
  name analytics.marketing_spend,
  kind SEED (path '../seeds/marketing_spend.csv'),
  grain (account, lead_source, month),
  owner analytics,
  description 'What you spent per lead source and month, for cost per job and ROI. Ships empty: add rows to transforms/seeds/marketing_spend.csv (or load your own table over it) and run `hcp transform`. lead_source must equal the customers'' Lead Source as HCP spells it (outer spaces ignored) so no dollar is counted twice; a blank account means default.',
  columns (lead_source VARCHAR, month DATE, amount DECIMAL(18, 2), account VARCHAR),
  column_descriptions (
    lead_source = 'the Lead Source the money was spent on, spelled as in HCP',
    month = 'any day of the month the money was spent in (truncated to the 1st)',
    amount = 'spend in dollars',
    account = 'HCP account the spend belongs to; blank = default'
  ),
  audits (not_null(columns := (lead_source, month, amount)))
);
