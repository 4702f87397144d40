"""The Jupyter face of kernelray: ``%load_ext kernelray``.

Loading the extension

* registers the ``%%remote`` / ``%remote`` magics (``magics.py``);
* attaches the bridge (``bridge.py``): output of work submitted from a cell is shown in
  that cell, an interrupt cancels the cell's tasks, local modules follow ``%autoreload``;
* puts a task-aware ``display`` in the notebook namespace (``taskdisplay.py``).

It does not start anything: the first ``%%remote`` starts a local cluster (or connects to
``KERNELRAY_ADDRESS``), and ``%unload_ext kernelray`` shuts down what it started.  A
cluster started with ``kernelray.init()`` is hooked as soon as it connects.

Inside a Jupyter kernel the bridge attaches by itself when kernelray connects (set
``KERNELRAY_JUPYTER=0`` to keep Ray's plain prefixed output), so plain
``kernelray.init()`` notebooks get cell routing and interrupts without the extension.

This package is imported by workers too (``cellexec``, ``display``): keep this module
free of IPython imports.
"""

from __future__ import annotations

import os

_magics = None
_display_injected = None


def load_ipython_extension(ip) -> None:
    global _magics, _display_injected
    from .bridge import bridge
    from .taskdisplay import display
    from .magics import KernelrayMagics

    bridge.attach(ip)
    _magics = KernelrayMagics(ip, bridge)
    ip.register_magics(_magics)
    if "display" not in ip.user_ns:
        ip.user_ns["display"] = display
        ip.user_ns_hidden["display"] = display
        _display_injected = display


def unload_ipython_extension(ip) -> None:
    global _magics, _display_injected
    import kernelray
    from .. import api
    from .bridge import bridge

    if _magics is not None:
        for kind in ("line", "cell"):
            ip.magics_manager.magics[kind].pop("remote", None)
        ip.magics_manager.magics["line"].pop("kernelray", None)
        _magics = None
    if _display_injected is not None and ip.user_ns.get("display") is _display_injected:
        del ip.user_ns["display"]
        ip.user_ns_hidden.pop("display", None)
    _display_injected = None
    started = bridge.started_job_id
    bridge.started_job_id = None
    if started is not None and kernelray.is_initialized() and api._driver.info.get("job_id") == started:
        kernelray.shutdown()
    if bridge.modules is not None:
        bridge.modules.unregister()
    bridge.detach()


def _attach_on_connect(core) -> None:
    """``api._on_connect`` hook registered on import inside a kernel: attach the bridge."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    from .bridge import bridge

    if not bridge.attached:
        bridge.attach(shell)  # hooks ``core`` too: it is connected already


def auto_attach() -> None:
    """Called on ``import kernelray`` in a process that has ipykernel loaded."""
    if os.environ.get("KERNELRAY_JUPYTER", "1").lower() in ("0", "false", "no", "off"):
        return
    from .. import api

    if _attach_on_connect not in api._on_connect:
        api._on_connect.append(_attach_on_connect)


def display(*objs, **kwargs):
    """Task-aware ``display``: see :mod:`kernelray.extension.taskdisplay`."""
    from .taskdisplay import display as _display

    return _display(*objs, **kwargs)
