"""katib."""
