"""``runtime_env``: validation, merging and inheritance, packages for working_dir and py_modules.

validation.py  which keys are applied, and the checks at ``init`` and ``.remote()``
merge.py       job/parent and task/actor envs combined as Ray combines them
packaging.py   local folders zipped, content-addressed, uploaded once to the GCS KV
worker_setup.py  a dedicated worker fetches (once per node), unpacks and applies them
pip_env.py     pip/uv: a venv per requirement set, built once per node; py_modules wheels
classes.py     RuntimeEnv and RuntimeEnvConfig, as ``ray.runtime_env`` offers them
"""

from __future__ import annotations

from .classes import RuntimeEnv, RuntimeEnvConfig
from .merge import env_key, merge
from .validation import problem_of


def prepare(env: dict | None, core, what: str) -> dict | None:
    """Check ``env`` and replace its local paths by package URIs (ValueError naming the problem)."""
    if not env:
        return env
    problem = problem_of(env)
    if problem:
        raise ValueError(f"{what}: {problem}")
    from .packaging import resolve_local_paths

    return resolve_local_paths(env, core)


__all__ = ["RuntimeEnv", "RuntimeEnvConfig", "env_key", "merge", "prepare", "problem_of"]
