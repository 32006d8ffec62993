"""The warehouse names the webhook drain writes, shared by the drain and the job refresh."""

EVENTS_TABLE = "webhook_events"
"""`hcp.webhook_events`: one row per delivery."""
EVENT_AT_COLUMN = "_hcp_event_at"
"""On a raw row an event wrote: that event's `event_occurred_at` (NULL on rows a read wrote)."""
