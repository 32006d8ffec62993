"""Shared test set-up: offline, quiet, and every state folder inside a temp dir.

Set before anything imports dlt or prefect, so no test reads the developer's own keys,
writes to ~/.dlt or ~/.prefect, or phones home.
"""

from __future__ import annotations

import os
import sys
import tempfile

_STATE = tempfile.mkdtemp(prefix="hcp-sync-tests-")
os.environ.update(
    {
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DLT_DATA_DIR": os.path.join(_STATE, "dlt"),
        "PREFECT_HOME": os.path.join(_STATE, "prefect"),
        "MPLBACKEND": "Agg",
        # dlt reads .dlt/ from here: an empty folder, so a developer's secrets.toml is never used.
        "DLT_PROJECT_DIR": os.path.join(_STATE, "project"),
        "HCP_LOCK_TIMEOUT": os.environ.get("HCP_LOCK_TIMEOUT", "120"),
    }
)
for _key in list(os.environ):
    if _key.startswith(("SOURCES__HOUSECALLPRO", "DESTINATION__")):
        del os.environ[_key]

pytest_plugins = ["tests.plugins.sandbox_fixtures", "tests.plugins.prefect_fixtures"]


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ANN001 - pytest hook
    session.config._hcp_exitstatus = int(exitstatus)


def pytest_unconfigure(config) -> None:  # noqa: ANN001 - pytest hook
    """Leave right after pytest's summary, with its exit status.

    DuckDB 2.0's bindings (nanobind) print pages of "leaked instance" warnings while the
    interpreter shuts down, burying the closing "N passed" line a reader (and CI) looks for.
    Fixtures have already torn down by now; only that shutdown chatter is skipped.
    """
    status = getattr(config, "_hcp_exitstatus", None)
    if status is not None and os.environ.get("HCP_TESTS_FAST_EXIT", "1") == "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
