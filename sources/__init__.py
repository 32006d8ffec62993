"""dlt sources; `housecallpro/` is the read side of hcp-sync (one HTTP client, the object table, resources)."""
