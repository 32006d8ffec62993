"""Prefect flows over `pipelines/` (sync -> transform, lead push) and `serve`, which serves the deployments of prefect.yaml; thin by design: the work is in `pipelines/`."""
