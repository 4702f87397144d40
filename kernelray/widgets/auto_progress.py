"""The compact progress bar shown under a cell whose ``get``/``wait`` blocks > 1 s on many refs.

``api.get`` and ``api.wait`` enter ``watch(refs)``; when running in an IPython kernel with at
least ``MIN_REFS`` refs, a timer shows a ``ProgressBar`` after ``AFTER_S`` if the call still
blocks.  Opt out: ``kernelray.widgets.auto_progress.ENABLED = False`` or the environment
variable ``KERNELRAY_AUTO_PROGRESS=0``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

ENABLED = os.environ.get("KERNELRAY_AUTO_PROGRESS", "1") not in ("0", "false", "no")
AFTER_S = 1.0
MIN_REFS = 8
_local = threading.local()  # .quiet: a get() of a visible progress bar shows no second bar


@contextlib.contextmanager
def quiet():
    """No automatic bar inside (``ProgressBar.get`` already shows one)."""
    before = getattr(_local, "quiet", False)
    _local.quiet = True
    try:
        yield
    finally:
        _local.quiet = before


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


@contextlib.contextmanager
def watch(refs):
    if not ENABLED or len(refs) < MIN_REFS or getattr(_local, "quiet", False) or not _in_kernel():
        yield
        return
    shown = []
    parent = _current_parent()

    def show():
        from ._views import ProgressBar

        bar = ProgressBar(refs, description="get")
        bar.add_class("kr-auto-progress")
        shown.append(bar)
        with _parent(parent):
            bar._ipython_display_()

    timer = threading.Timer(AFTER_S, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        for bar in shown:
            bar.poll(type("T", (), {"core": _core()})())


def _core():
    from ..core import context

    return context.core


def _current_parent():
    try:
        from IPython import get_ipython

        return get_ipython().kernel.get_parent()
    except Exception:  # noqa: BLE001
        return None


@contextlib.contextmanager
def _parent(parent):
    """The bar's display goes to the cell that called get(), from the timer thread."""
    out = sys.stdout
    if parent is not None and hasattr(out, "set_thread_parent"):
        out.set_thread_parent(parent)
        try:
            yield
        finally:
            out.set_thread_parent(None)
    else:
        yield


__all__ = ["watch", "quiet", "ENABLED", "AFTER_S", "MIN_REFS"]
