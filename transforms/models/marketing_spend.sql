MODEL (
  name analytics.marketing_spend,
  kind SEED (path '../seeds/marketing_spend.csv'),
  grain (account, lead_source, month),
  owner analytics,
  description 'What you spent per channel or lead source and month, for cost per customer, cost per job and ROAS. Ships empty: put your own marketing_spend.csv in a folder and run `hcp transform --seeds DIR` (or set [transform] seeds_dir). lead_source names a bucket of the lead-source map (agencies budget per channel: "Facebook") or one Lead Source as HCP spells it ("Google Ads"); analytics.marketing_spend_matched says which. month may be 2026-07 or any day of the month; amount may be written 1200, 1,200.00 or $1,200.00; a blank or missing account means default.',
  columns (lead_source VARCHAR, month DATE, amount DECIMAL(18, 2), account VARCHAR),
  column_descriptions (
    lead_source = 'a bucket name (Facebook) or a Lead Source spelled as in HCP (Google Ads) the money was spent on',
    month = 'the month the money was spent in: 2026-07, or any day of it (truncated to the 1st)',
    amount = 'spend in dollars (1200, 1,200.00 and $1,200.00 all read as 1200.00)',
    account = 'HCP account the spend belongs to; blank = default'
  ),
  audits (not_null(columns := (lead_source, month, amount)))
);
