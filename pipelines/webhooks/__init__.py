"""HCP webhooks: a receiver that verifies every delivery and spools it durably (`spool`), and the
drain that lands spooled events in the warehouse."""
