"""One Prefect test server for the whole session (it takes ~9 s to start).

`prefect_harness` runs a temporary Prefect API on a temporary SQLite database; flows called in
tests record their runs, task runs, logs and artifacts there, and tests read them back with
`prefect_client`. Requested only by the flow tests, so the rest of the suite never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """Start the temporary Prefect server; yields its API URL (for subprocess flows)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())
