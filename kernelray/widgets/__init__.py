"""Live Jupyter widgets for kernelray (ipywidgets is imported only when one is made).

    kernelray.dashboard()                   tasks, objects, actors, placement groups, nodes, output-history pins
    kernelray.widgets.progress(refs)        a bar of ready / total while you get or wait
    kernelray.widgets.task_stream()         the live task stream (one lane per worker, a bar per task)
    kernelray.widgets.function_progress()   progress per function
    kernelray.widgets.memory()              object store per node over time, the largest objects
    kernelray.widgets.cluster()             nodes' resources, placement-group bundles, actors
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


def task_stream(max_bars: int = 10_000, refresh_s: float = 1.0):
    """The live task stream (anywidget): one lane per worker grouped by node, a bar per task execution."""
    from ..api import _connected_core
    from .stream import TaskStream

    _connected_core()
    return TaskStream(max_bars=max_bars, refresh_s=refresh_s)


def function_progress():
    """Progress bars per function (finished, failed, running, pending), live."""
    from .pictures import FunctionProgress

    return FunctionProgress()


def memory():
    """Object-store use per node over time and the largest objects, with how to release them."""
    from .pictures import MemoryView

    return MemoryView()


def cluster():
    """Nodes with resources used/total, placement-group bundles on their nodes, actors with state and restarts."""
    from .pictures import ClusterView

    return ClusterView()


__all__ = ["dashboard", "progress", "task_stream", "function_progress", "memory", "cluster", "history_pins", "release_history_pins", "poller"]
