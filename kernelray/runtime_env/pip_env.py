"""``pip`` and ``uv``: one virtualenv per distinct requirement set, built once per node.

The venv is made with ``--system-site-packages`` (kernelray and what the node has stay
importable) and ``--without-pip`` (the node's own pip installs into it through
``pip --python``, saving the ensurepip step).  A lock file makes the workers of one node
build it once; a ``.ready`` marker says it is complete, so later workers only add its
site-packages to ``sys.path``.  A failed install raises with pip's own message.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

DEFAULT_TIMEOUT_S = 600  # Ray's default setup_timeout_seconds


def packages_of(spec) -> list:
    if isinstance(spec, dict):
        return list(spec.get("packages") or [])
    return list(spec or [])


def site_packages_for(env: dict, cache: str) -> str | None:
    """The site-packages folder of the env's venv (built now if this node has none yet), or None."""
    tool = "uv" if env.get("uv") else "pip" if env.get("pip") else None
    if tool is None:
        return None
    packages = packages_of(env[tool])
    digest = hashlib.sha1(json.dumps([tool, packages]).encode()).hexdigest()[:16]
    venv = os.path.join(cache, "pip", digest)
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    if not os.path.exists(os.path.join(venv, ".ready")):
        with open(venv + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(os.path.join(venv, ".ready")):
                _build(venv, tool, packages, _timeout(env))
    found = glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))
    return found[0] if found else None


def _timeout(env: dict) -> float | None:
    t = (env.get("config") or {}).get("setup_timeout_seconds", DEFAULT_TIMEOUT_S)
    return None if t == -1 else float(t)


def _build(venv: str, tool: str, packages: list, timeout: float | None) -> None:
    shutil.rmtree(venv, ignore_errors=True)  # a build that died half-way
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], timeout, "python -m venv")
    python = os.path.join(venv, "bin", "python")
    if tool == "uv":
        uv = shutil.which("uv")
        if uv is None:
            raise RuntimeError("runtime_env['uv'] needs the 'uv' command on this node's PATH; it is not there")
        cmd = [uv, "pip", "install", "--python", python, *packages]
    else:
        cmd = [sys.executable, "-m", "pip", "--python", python, "install", "--disable-pip-version-check",
               "--no-input", *packages]
    if packages:
        _run(cmd, timeout, f"{tool} install")
    open(os.path.join(venv, ".ready"), "w").close()


def _run(cmd: list, timeout: float | None, what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} did not finish within setup_timeout_seconds={timeout:g}") from None
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout or "").strip()
        raise RuntimeError(f"{what} failed (exit code {proc.returncode}):\n{output[-3000:]}")


def install_wheel(blob: bytes, name: str, target: str) -> None:
    """A ``py_modules`` wheel, installed (without its dependencies, as Ray does) into ``target``."""
    os.makedirs(target, exist_ok=True)
    wheel = os.path.join(target, ".wheels", _wheel_file_name(blob, name))
    os.makedirs(os.path.dirname(wheel), exist_ok=True)
    with open(wheel, "wb") as fh:
        fh.write(blob)
    _run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps",
          "--target", target, wheel], DEFAULT_TIMEOUT_S, "pip install of a py_modules wheel")


def _wheel_file_name(blob: bytes, fallback: str) -> str:
    """pip insists on a wheel's own file name: read it back from the wheel's .dist-info."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        for entry in zf.namelist():
            head = entry.split("/", 1)[0]
            if head.endswith(".dist-info") and entry.endswith("/WHEEL"):
                dist = head[: -len(".dist-info")]
                tag = next((ln.split(":", 1)[1].strip() for ln in zf.read(entry).decode().splitlines()
                            if ln.startswith("Tag:")), "py3-none-any")
                return f"{dist}-{tag}.whl"
    return fallback


def activate(site_packages: str) -> None:
    """What running inside the venv changes for a worker: its packages first, VIRTUAL_ENV and PATH."""
    venv = site_packages.rsplit(os.sep + "lib" + os.sep, 1)[0]
    os.environ["VIRTUAL_ENV"] = venv
    os.environ["PATH"] = os.path.join(venv, "bin") + os.pathsep + os.environ.get("PATH", "")
