"""Live Jupyter widgets for kernelray (ipywidgets is imported only when one is made).

    kernelray.dashboard()                   tasks, objects, actors, placement groups, nodes, output-history pins
    kernelray.widgets.progress(refs)        a bar of ready / total while you get or wait
    kernelray.widgets.history_pins()        ObjectRefs kept alive by Out[N] / _N
    kernelray.widgets.release_history_pins()

One background thread (``kernelray.widgets.poller``, in _poller.py) updates every open widget.
"""

from __future__ import annotations

from .pins import history_pins, release_history_pins
from ._poller import poller


def dashboard(max_rows: int = 15):
    """A live dashboard of the cluster; shown when it is a cell's last expression (or with ``display``)."""
    from ..api import _connected_core
    from ._views import Dashboard

    _connected_core()
    return Dashboard(max_rows=max_rows)


def progress(refs, description: str = "", display: bool = True):
    """A progress bar over ``refs`` (ready / total), like tqdm.notebook; ``.get()`` returns their values.

    Shown at once when running under IPython (``display=False`` to place it yourself).
    """
    from ._views import ProgressBar

    bar = ProgressBar(refs, description=description)
    if display:
        try:
            from IPython import get_ipython

            if get_ipython() is not None:
                bar._ipython_display_()
        except ImportError:  # pragma: no cover
            pass
    return bar


__all__ = ["dashboard", "progress", "history_pins", "release_history_pins", "poller"]
