"""The reverse step: staged leads -> HCP customers, exactly once (DESIGN.md, "Contract of the
reverse step"). One module per job: `outbox` (tables and every status change), `mapping`,
`profiles`, `load`, `plan` (dry run), `push`, `hcp`, `status`, `smoke`."""
