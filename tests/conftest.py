"""Shared test set-up: offline, quiet, and every state folder inside a temp dir.

Set before anything imports dlt or prefect, so no test reads the developer's own keys,
writes to ~/.dlt or ~/.prefect, or phones home.
"""

from __future__ import annotations

import os
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
