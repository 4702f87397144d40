"""A worker dedicated to a runtime_env applies it before it takes any task.

The raylet starts the worker with the (merged, URI-only) runtime_env in ``KERNELRAY_RUNTIME_ENV``.
The worker fetches each package once per node from the GCS KV into the node's cache
(``<session>/runtime_resources/<node>/``, unpacked to a temporary folder and renamed, so two
workers never see half a package), puts ``py_modules`` and ``working_dir`` first on
``sys.path`` and makes ``working_dir`` its current directory.  If that fails, every task
the worker is given fails with ``RuntimeEnvSetupError``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import zipfile

from . import pip_env
from .packaging import KV_NAMESPACE, URI_PREFIX

RUNTIME_ENV_VAR = "KERNELRAY_RUNTIME_ENV"


class AppliedEnv:
    """What a worker did with its runtime_env: the env itself, its folders, or the setup error."""

    def __init__(self, env: dict | None):
        self.env = env or {}
        self.cwd: str | None = None
        self.paths: list = []
        self.error: str | None = None

    def reapply_paths(self) -> None:
        """After the job's own paths are added: ours come first again, and the working dir is the cwd."""
        for p in reversed(self.paths):
            if p in sys.path:
                sys.path.remove(p)
            sys.path.insert(0, p)
        if self.cwd:
            os.chdir(self.cwd)


def from_environ() -> dict | None:
    raw = os.environ.pop(RUNTIME_ENV_VAR, None)
    return json.loads(raw) if raw else None


def apply(core, env: dict | None, session_dir: str) -> AppliedEnv:
    applied = AppliedEnv(env)
    if not env:
        return applied
    cache = os.path.join(session_dir, "runtime_resources", core.node_id.hex()[:12])
    try:
        for uri in env.get("py_modules") or ():
            applied.paths.append(fetch(core, uri, cache))
        if env.get("working_dir"):
            applied.cwd = fetch(core, env["working_dir"], cache)
            applied.paths.insert(0, applied.cwd)
        site = pip_env.site_packages_for(env, cache)
        if site is not None:
            pip_env.activate(site)
            applied.paths.append(site)
    except Exception as exc:  # noqa: BLE001 - reported to every task this worker is given
        applied.error = (f"Failed to set up runtime environment.\nruntime_env {json.dumps(env)}: "
                         f"{type(exc).__name__}: {exc}")
        return applied
    applied.reapply_paths()
    return applied


def fetch(core, uri: str, cache: str) -> str:
    """The local folder holding the package ``uri``, downloaded and unpacked once per node."""
    if not uri.startswith(URI_PREFIX):
        raise ValueError(f"unsupported package URI {uri!r}: kernelray fetches only {URI_PREFIX} packages")
    name = uri[len(URI_PREFIX):]
    target = os.path.join(cache, name.rsplit(".", 1)[0])
    if os.path.isdir(target):
        return target
    reply = core.call(core.gcs, "kv_get_request", {"namespace": KV_NAMESPACE, "key": name}, timeout=120)
    if not reply.buffers:
        raise FileNotFoundError(f"the package {uri} is not in the GCS (was it uploaded by this cluster?)")
    os.makedirs(cache, exist_ok=True)
    tmp = f"{target}.tmp-{os.getpid()}"
    if name.endswith(".whl"):
        pip_env.install_wheel(bytes(reply.buffers[0]), name, tmp)
    else:
        with zipfile.ZipFile(io.BytesIO(bytes(reply.buffers[0]))) as zf:
            zf.extractall(tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # another worker on this node unpacked it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
