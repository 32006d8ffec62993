"""HCP -> warehouse: the sync that `hcp sync` and the `hcp-sync` flow run (see `run`)."""

from pipelines.sync.run import (
    DATASET,
    ObjectResult,
    SyncResult,
    parse_objects,
    summarize,
    sync,
    sync_account,
)

__all__ = [
    "DATASET",
    "ObjectResult",
    "SyncResult",
    "parse_objects",
    "summarize",
    "sync",
    "sync_account",
]
