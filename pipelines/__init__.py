"""Pipelines: the AutoML pipeline, its compiled YAML and the `python -m pipelines` CLI."""
