"""Local modules and ``%autoreload``: what code workers run after you edit a file.

A *local module* is one imported from the notebook's directory (the kernel's working
directory when the extension attached), outside site-packages and kernelray itself:
the ``helpers.py`` next to a notebook.  Libraries are never local.

* By default (no autoreload) kernelray does what Ray does: functions and classes of a
  module travel *by reference* and a worker imports the module from its file the first
  time it needs it, then keeps that copy.
* While ``%autoreload`` is on, local modules are registered with
  ``cloudpickle.register_pickle_by_value``: their functions and classes (and the module
  itself when a cell's function uses ``helpers.f``) travel *by value*, so a worker runs
  exactly the code the notebook has now.
* Before each cell, when a local module's file changed, remote functions defined in the
  notebook forget their cached pickle, so the next ``.remote()`` ships the new code.
"""

from __future__ import annotations

import os
import sys

_SKIP_PARTS = ("site-packages", "dist-packages")


class LocalModules:
    def __init__(self, root: str | None = None):
        self.root = os.path.realpath(root or os.getcwd())
        self._prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
        self._verdict: dict = {}  # module name -> file (local) or None
        self.mtimes: dict = {}
        self.by_value: set = set()

    def _local_file(self, name: str, module) -> str | None:
        verdict = self._verdict.get(name, False)
        if verdict is not False:
            return verdict
        path = getattr(module, "__file__", None)
        result = None
        if isinstance(path, str) and name != "__main__" and not name.startswith("kernelray"):
            real = os.path.realpath(path)
            if (real.startswith(self.root + os.sep) and not any(part in real for part in _SKIP_PARTS)
                    and not any(real.startswith(p + os.sep) for p in self._prefixes if p != self.root
                                and not self.root.startswith(p + os.sep))):
                result = real
        self._verdict[name] = result
        return result

    def local_modules(self) -> dict:
        out = {}
        for name, module in list(sys.modules.items()):
            if module is None:
                continue
            path = self._local_file(name, module)
            if path is not None:
                out[name] = path
        return out

    @staticmethod
    def autoreload_enabled(shell) -> bool:
        try:
            magics = shell.magics_manager.registry.get("AutoreloadMagics")
            return bool(magics is not None and magics._reloader.enabled)
        except Exception:  # noqa: BLE001
            return False

    def check(self, shell) -> bool:
        """Before a cell: track local files, follow %autoreload; True if one changed."""
        local = self.local_modules()
        changed = False
        for name, path in local.items():
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                continue
            old = self.mtimes.get(name)
            if old is not None and old != mtime:
                changed = True
            self.mtimes[name] = mtime
        if self.autoreload_enabled(shell):
            self._register_by_value(local)
        if changed and shell is not None:
            forget_pickled_functions(shell.user_ns.values())
        return changed

    def _register_by_value(self, local: dict) -> None:
        import cloudpickle

        for name in local:
            top = name.split(".")[0]
            if top in self.by_value or top not in sys.modules:
                continue
            try:
                cloudpickle.register_pickle_by_value(sys.modules[top])
                self.by_value.add(top)
            except (ValueError, TypeError):
                pass

    def unregister(self) -> None:
        import cloudpickle

        for top in list(self.by_value):
            try:
                cloudpickle.unregister_pickle_by_value(sys.modules[top])
            except (KeyError, ValueError):
                pass
        self.by_value.clear()


def forget_pickled_functions(values) -> int:
    """Drop the cached pickle of remote functions among ``values``; how many."""
    from ..remote_function import RemoteFunction, _BoundOptions

    n = 0
    for v in list(values):
        if isinstance(v, _BoundOptions):
            v = v._fn
        if isinstance(v, RemoteFunction) and getattr(v, "_blob", None) is not None:
            v._blob = None
            v._fn_id = None
            n += 1
    return n
