"""The raylet: per-node scheduler and worker pool (the object store joins it)."""
