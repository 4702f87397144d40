"""Which ``runtime_env`` keys kernelray applies, and the checks at ``init`` and ``.remote()``.

Nothing is ignored silently: a key Ray knows but kernelray does not apply, and a key nobody
knows, are both refused with a message naming the key.
"""

from __future__ import annotations

SUPPORTED = ("env_vars", "working_dir", "py_modules", "pip", "uv", "excludes", "config")
# Ray's other fields: refused by name (kernelray cannot apply them)
RAY_ONLY = ("conda", "container", "image_uri", "py_executable", "java_jars",
            "worker_process_setup_hook", "_nsight", "_rocprof_sys", "nsight", "rocprof_sys")
CONFIG_KEYS = ("setup_timeout_seconds", "eager_install", "log_files")


def problem_of(env: dict) -> str | None:
    """The first thing wrong with ``env`` as a runtime_env, or None."""
    for key in env:
        if key in RAY_ONLY:
            return (f"the runtime_env field {key!r} is not supported by kernelray "
                    f"(supported: {', '.join(SUPPORTED)}); nothing was submitted")
        if key not in SUPPORTED and not key.startswith("_ray_"):
            return f"unknown runtime_env field {key!r} (supported: {', '.join(SUPPORTED)})"
    for check in (_env_vars, _working_dir, _py_modules, _pip, _excludes, _config):
        problem = check(env)
        if problem:
            return problem
    return None


def _env_vars(env):
    v = env.get("env_vars") or {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        return "runtime_env['env_vars'] must map str to str"
    return None


def _working_dir(env):
    v = env.get("working_dir")
    if v is not None and not isinstance(v, str):
        return f"runtime_env['working_dir'] must be a str (a local folder or a package URI), got {type(v).__name__}"
    return _remote_uri(v, "working_dir")


def _remote_uri(value, key: str):
    if isinstance(value, str) and "://" in value and not value.startswith("gcs://"):
        return (f"runtime_env[{key!r}] {value!r}: kernelray fetches packages only from the cluster's GCS "
                "(gcs://); download it and give the local folder instead")
    return None


def _py_modules(env):
    v = env.get("py_modules")
    if v is not None and (not isinstance(v, (list, tuple)) or not all(isinstance(p, str) for p in v)):
        return "runtime_env['py_modules'] must be a list of str (folders, .py files, wheels or package URIs)"
    for m in v or ():
        problem = _remote_uri(m, "py_modules")
        if problem:
            return problem
    return None


def _pip(env):
    if env.get("pip") is not None and env.get("uv") is not None:
        return "The 'pip' field and 'uv' field of runtime_env cannot be specified at the same time"
    for key in ("pip", "uv"):
        v = env.get(key)
        if v is None or isinstance(v, str):  # (a requirements file: read at submission)
            continue
        packages = v.get("packages") if isinstance(v, dict) else v
        if not isinstance(packages, (list, tuple)) or not all(isinstance(p, str) for p in packages):
            return f"runtime_env[{key!r}] must be a list of requirement strings or a dict with 'packages'"
    return None


def _excludes(env):
    v = env.get("excludes")
    if v is not None and (not isinstance(v, (list, tuple)) or not all(isinstance(p, str) for p in v)):
        return "runtime_env['excludes'] must be a list of str patterns"
    return None


def _config(env):
    v = env.get("config")
    if v is None:
        return None
    if not isinstance(v, dict):
        return f"runtime_env['config'] must be a dict, got {type(v).__name__}"
    unknown = set(v) - set(CONFIG_KEYS)
    if unknown:
        return f"unknown runtime_env['config'] entries {sorted(unknown)} (known: {', '.join(CONFIG_KEYS)})"
    timeout = v.get("setup_timeout_seconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or
                                (timeout <= 0 and timeout != -1)):
        return "runtime_env['config']['setup_timeout_seconds'] must be a positive int or -1"
    return None
