"""Reverse ETL: the outbox engine (`engine`) and the pushes of HCP objects built on it."""
