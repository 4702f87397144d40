"""``RuntimeEnv`` and ``RuntimeEnvConfig``, as ``ray.runtime_env`` offers them: dicts checked when made."""

from __future__ import annotations

from .validation import problem_of


class RuntimeEnvConfig(dict):
    """Options of a runtime_env's setup: Ray's three keys and defaults."""

    def __init__(self, setup_timeout_seconds: int = 600, eager_install: bool = True, log_files: list | None = None):
        super().__init__(setup_timeout_seconds=setup_timeout_seconds, eager_install=eager_install,
                         log_files=list(log_files or []))
        problem = problem_of({"config": dict(self)})
        if problem:
            raise ValueError(problem)


class RuntimeEnv(dict):
    """A runtime_env given by keywords; a field kernelray does not apply is refused here, by name."""

    def __init__(self, *, py_modules=None, working_dir=None, pip=None, uv=None, env_vars=None, config=None,
                 excludes=None, **kwargs):
        fields = dict(py_modules=py_modules, working_dir=working_dir, pip=pip, uv=uv, env_vars=env_vars,
                      config=dict(config) if config is not None else None, excludes=excludes, **kwargs)
        super().__init__({k: v for k, v in fields.items() if v is not None})
        problem = problem_of(self)
        if problem:
            raise ValueError(problem)

    def to_dict(self) -> dict:
        return dict(self)
