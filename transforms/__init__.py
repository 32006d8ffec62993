"""SQL models (one a file, `MODEL (...)` headers), audits and the runner that builds schema `analytics` all-or-nothing."""
