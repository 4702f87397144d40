"""Import ``jupyter_client.session.Session`` without ``jupyter_client/__init__``.

The package's ``__init__`` imports the kernel managers and asyncio clients (about 100 ms);
cluster processes need only the Session.  When ``jupyter_client`` is not imported yet we
load ``jupyter_client.session`` under a temporary package stub and drop the stub, so a
later ``import jupyter_client`` runs the real ``__init__`` (which reuses the loaded
submodule).  Inside a Jupyter kernel the package is already imported and this is a no-op.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def _load_session_class():
    if "jupyter_client" in sys.modules:
        from jupyter_client.session import Session

        return Session
    spec = importlib.util.find_spec("jupyter_client")
    if spec is None:
        raise ImportError("kernelray needs jupyter_client (pip install jupyter_client)")
    stub = types.ModuleType("jupyter_client")
    stub.__path__ = list(spec.submodule_search_locations or [])
    stub.__spec__ = spec
    sys.modules["jupyter_client"] = stub
    try:
        module = importlib.import_module("jupyter_client.session")
    finally:
        if sys.modules.get("jupyter_client") is stub:
            del sys.modules["jupyter_client"]
    return module.Session


Session = _load_session_class()
