"""Local folders and files of a runtime_env, zipped, content-addressed and kept in the GCS KV.

The driver (or a worker submitting with a local path) zips ``working_dir`` and each local
``py_modules`` entry, names the zip by the hash of its content (``gcs://_kr_pkg_<sha1>.zip``,
as Ray's ``gcs://_ray_pkg_<hash>.zip``) and uploads it once; the runtime_env then carries
the URI.  Nodes fetch a URI once and keep it unpacked (see node_cache.py).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import zipfile
import zlib

KV_NAMESPACE = "runtime_env_packages"
URI_PREFIX = "gcs://"
MAX_PACKAGE_BYTES = 500 * 1024 * 1024  # Ray's GCS_STORAGE_MAX_SIZE default is 500 MiB
ALWAYS_EXCLUDED = ("__pycache__", ".git")
_uploaded: dict = {}  # (path, excludes, fingerprint) -> uri, in this process


def is_uri(value: str) -> bool:
    return "://" in value


def resolve_local_paths(env: dict, core) -> dict:
    """``env`` with working_dir and local py_modules replaced by uploaded package URIs."""
    if not env:
        return env
    env = dict(env)
    for key in ("pip", "uv"):
        if isinstance(env.get(key), str):  # a requirements file, read here as Ray reads it
            with open(env[key]) as fh:
                env[key] = [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    if not (env.get("working_dir") or env.get("py_modules")):
        return env
    excludes = tuple(env.get("excludes") or ())
    wd = env.get("working_dir")
    if wd and not is_uri(wd):
        if not os.path.isdir(wd):
            raise ValueError(f"runtime_env['working_dir'] {wd!r} is not an existing local folder")
        env["working_dir"] = _upload(core, os.path.abspath(wd), excludes, top_level=False)
    if env.get("py_modules"):
        env["py_modules"] = [m if is_uri(m) else _upload_module(core, m, excludes) for m in env["py_modules"]]
    env.pop("excludes", None)  # applied: the packages hold what is left
    return env


def _upload_module(core, path: str, excludes: tuple) -> str:
    if not os.path.exists(path):
        raise ValueError(f"runtime_env['py_modules'] entry {path!r} does not exist")
    if path.endswith(".whl"):  # shipped as it is; each node pip-installs it once (worker_setup.py)
        with open(path, "rb") as fh:
            blob = fh.read()
        return _put(core, f"_kr_pkg_{hashlib.sha1(blob).hexdigest()}.whl", blob)
    return _upload(core, os.path.abspath(path), excludes, top_level=True)


def _upload(core, path: str, excludes: tuple, top_level: bool) -> str:
    key = (path, excludes, top_level, _fingerprint(path))
    uri = _uploaded.get(key)
    if uri is not None:
        return uri
    blob = zip_path(path, excludes, top_level)
    if len(blob) > MAX_PACKAGE_BYTES:
        raise ValueError(f"the runtime_env package for {path!r} is {len(blob) / 2**20:.0f} MiB, over the "
                         f"{MAX_PACKAGE_BYTES // 2**20} MiB limit; use 'excludes' to leave files out")
    uri = _put(core, f"_kr_pkg_{hashlib.sha1(blob).hexdigest()}.zip", blob)
    _uploaded[key] = uri
    return uri


def _put(core, name: str, blob: bytes) -> str:
    """Upload ``blob`` under its content-addressed ``name`` unless the GCS has it already."""
    exists = core.call(core.gcs, "kv_exists_request", {"namespace": KV_NAMESPACE, "key": name}, timeout=30)
    if not exists.content.get("exists"):
        core.call(core.gcs, "kv_put_request", {"namespace": KV_NAMESPACE, "key": name, "value": None,
                                               "overwrite": False}, timeout=60, buffers=[blob])
    return URI_PREFIX + name


def _fingerprint(path: str) -> tuple:
    """Cheap: every file's relative path, size and mtime (the zip is rebuilt when one changes)."""
    if os.path.isfile(path):
        st = os.stat(path)
        return ((os.path.basename(path), st.st_size, st.st_mtime_ns),)
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            st = os.stat(os.path.join(root, f))
            out.append((os.path.relpath(os.path.join(root, f), path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _excluded(rel: str, excludes: tuple) -> bool:
    parts = rel.split(os.sep)
    if any(p in ALWAYS_EXCLUDED for p in parts):
        return True
    for pattern in excludes:
        pat = pattern.strip("/")
        if fnmatch.fnmatch(rel, pat) or any(fnmatch.fnmatch(p, pat) for p in parts) \
                or rel.startswith(pat + os.sep):
            return True
    return False


def zip_path(path: str, excludes: tuple = (), top_level: bool = False) -> bytes:
    """A deterministic zip of a folder (or one file); ``top_level`` keeps the folder's name in it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        base = os.path.dirname(path) if top_level else path
        if os.path.isfile(path):
            _add(zf, path, os.path.basename(path))
        for root, dirs, files in os.walk(path):  # (nothing to walk for a file)
            dirs[:] = sorted(d for d in dirs if not _excluded(os.path.relpath(os.path.join(root, d), path), excludes))
            for f in sorted(files):
                full = os.path.join(root, f)
                if not _excluded(os.path.relpath(full, path), excludes):
                    _add(zf, full, os.path.relpath(full, base))
    return buf.getvalue()


def _add(zf: zipfile.ZipFile, full: str, arcname: str) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (os.stat(full).st_mode & 0xFFFF) << 16
    with open(full, "rb") as fh:
        data = fh.read()
    info.compress_type = zipfile.ZIP_DEFLATED if _compresses(data) else zipfile.ZIP_STORED
    zf.writestr(info, data, compresslevel=1)


def _compresses(data: bytes) -> bool:
    """Deflate what gains from it: a 64 KiB sample tells (data already compressed is stored as is)."""
    sample = data[:65536]
    return len(sample) < 4096 or len(zlib.compress(sample, 1)) < 0.9 * len(sample)
