"""Reusable KFP v2 components: thin wrappers over the `nac` and `katib` libraries."""
