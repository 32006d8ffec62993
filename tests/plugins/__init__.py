"""pytest plugins: session-scoped sandbox and Prefect test-server fixtures."""
