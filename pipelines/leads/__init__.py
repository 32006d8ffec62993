"""The reverse step: staged leads -> HCP customers, exactly once (DESIGN.md, "Contract of the
reverse step"). One module per job: `outbox` (tables, lead selection and every status change),
`mapping` (pure lead -> customer), `profiles` (mapping profiles: `leads_routes.toml`), `load`
(CSV -> outbox), `plan` (dry run), `push` (run loop, the single DuckDB writer), `send` (HTTP
only: one lead to an outcome), `hcp` (customer search, Lead Sources), `status`, `smoke`."""
