"""The Global Control Store: nodes, jobs, KV, pub/sub (actors and placement groups join)."""
