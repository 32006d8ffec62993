"""Shared test set-up: offline, quiet, and every state folder inside a temp dir."""

pytest_plugins = ["tests.plugins.sandbox_fixtures"]
