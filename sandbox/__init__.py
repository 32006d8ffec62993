"""A local Housecall Pro imitation (seeded data, rate limits, faults, admin API) for the demo, tests and benchmarks; follows HCP_API.md, never a real account."""
