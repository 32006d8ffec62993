MODEL (
  name analytics.lead_source_map,
  kind SEED (path '../seeds/lead_source_map.csv'),
  grain (lead_source),
  owner analytics,
  description 'Which bucket (channel) each raw Lead Source string belongs to. Your own map: a lead_source_map.csv in the folder of `hcp transform --seeds DIR` replaces the shipped one; strings are matched lower-cased with spaces trimmed, so "Google Ads", "google ads " and "GOOGLE ADS" are one row.',
  columns (lead_source VARCHAR, bucket VARCHAR),
  column_descriptions (
    lead_source = 'a raw Lead Source string as it appears in HCP (any case)',
    bucket = 'the channel it rolls up to (Google, Facebook, Referral, ...)'
  ),
  audits (not_null(columns := (lead_source, bucket)))
);
