"""HCP -> warehouse: the sync that `hcp sync` and the `hcp-sync` flow run.

`run` is the run itself, `destination` where it writes and keeps dlt state, `upkeep` the
warehouse repairs around a load, `results` what a run reports. Import from here; this file
must never hold logic of its own (it only names the public API).
"""

from pipelines.sync.destination import DATASET
from pipelines.sync.results import SyncResult, summarize
from pipelines.sync.run import parse_objects, sync, sync_account
from sources.housecallpro.figures import ObjectFigures

__all__ = [
    "DATASET",
    "ObjectFigures",
    "SyncResult",
    "parse_objects",
    "summarize",
    "sync",
    "sync_account",
]
