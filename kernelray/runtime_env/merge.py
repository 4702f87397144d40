"""How a task's or actor's runtime_env combines with its parent's, as Ray 2.x does.

The parent is the job's runtime_env for work a driver submits, and the running task's or
actor's (already merged) runtime_env for work submitted from a worker.  A child without a
runtime_env inherits the parent's whole.  A child with one overrides the parent per field,
except ``env_vars``, merged per variable (the child's value wins).
"""

from __future__ import annotations

import hashlib
import json


def merge(parent: dict | None, child: dict | None) -> dict | None:
    parent = parent or {}
    if not child:
        return dict(parent) or None
    merged = {**parent, **child}
    env_vars = {**(parent.get("env_vars") or {}), **(child.get("env_vars") or {})}
    if env_vars:
        merged["env_vars"] = env_vars
    else:
        merged.pop("env_vars", None)
    return merged or None


def env_key(env: dict | None) -> str:
    """Workers are dedicated per distinct env: the key of what makes two envs different."""
    if not env:
        return ""
    relevant = {k: v for k, v in env.items() if k not in ("config", "excludes") and v}
    if not relevant:
        return ""
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
