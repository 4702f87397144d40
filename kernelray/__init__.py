"""kernelray: a Ray-compatible distributed runtime that lives in Jupyter.

``import kernelray as ray`` and a Ray program runs unchanged: ``ray.init()`` starts a
real local cluster (a GCS process, a raylet with its worker pool), ``@ray.remote`` makes
tasks, and ``get``/``put``/``wait``/``cancel`` behave as Ray documents them.
"""

from __future__ import annotations

# Everything is imported on first use (PEP 562): `import kernelray` costs a few ms, and so
# does starting a server with `python -m kernelray.raylet` (which imports this package first).
_FROM_API = ("available_resources", "cancel", "cluster_resources", "get", "get_runtime_context", "init",
             "is_initialized", "nodes", "put", "shutdown", "timeline", "wait")
_FROM_OBJECT_REF = ("ObjectRef", "ObjectRefGenerator", "DynamicObjectRefGenerator")
_LAZY_MODULES = ("actor", "util", "widgets", "cluster_utils", "exceptions", "api", "cloudpickle", "runtime_context")
_LAZY_FROM_ACTOR = ("exit_actor", "get_actor", "kill", "method")
_FROM_IDS = ("ActorClassID", "ActorID", "FunctionID", "JobID", "NodeID", "PlacementGroupID", "TaskID", "UniqueID",
             "WorkerID")
_FROM_RUNTIME_CONTEXT = ("get_gpu_ids",)
SCRIPT_MODE, WORKER_MODE = 0, 1  # Ray's worker modes (RuntimeContext.worker_mode names them)


def __getattr__(name):
    import importlib

    if name in _FROM_API:
        value = getattr(importlib.import_module(".api", __name__), name)
    elif name in _FROM_OBJECT_REF:
        value = getattr(importlib.import_module(".object_ref", __name__), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _LAZY_FROM_ACTOR:
        value = getattr(importlib.import_module(".actor", __name__), name)
    elif name in _FROM_IDS:
        value = getattr(importlib.import_module(".ids", __name__), name)
    elif name in _FROM_RUNTIME_CONTEXT:
        value = getattr(importlib.import_module(".runtime_context", __name__), name)
    elif name == "ObjectID":  # Ray's alias
        value = importlib.import_module(".object_ref", __name__).ObjectRef
    else:
        raise AttributeError(f"module 'kernelray' has no attribute {name!r}")
    globals()[name] = value
    return value


__version__ = "0.1.0"


def remote(*args, **kwargs):
    """``@remote`` or ``@remote(num_cpus=..., ...)`` on a function (or, with actors, a class)."""
    from .remote_function import RemoteFunction

    def make(obj, options):
        if isinstance(obj, type):
            try:
                from .actor import ActorClass
            except ImportError as exc:  # pragma: no cover - until actors land
                raise TypeError("@remote on a class needs actor support") from exc
            return ActorClass(obj, options)
        return RemoteFunction(obj, options)

    if len(args) == 1 and not kwargs and callable(args[0]):
        return make(args[0], {})
    if args or not kwargs:  # Ray asserts: '@remote()' with empty parentheses is refused too
        from .options import ACTOR_OPTIONS, TASK_OPTIONS

        raise AssertionError(
            "The @kernelray.remote decorator must be applied either with no arguments and no parentheses, for "
            "example '@kernelray.remote', or it must be applied using some of the arguments in the list "
            f"{sorted(TASK_OPTIONS.keys() | ACTOR_OPTIONS.keys())}, for example "
            "'@kernelray.remote(num_returns=2, resources={\"CustomResource\": 1})'."
        )
    return lambda obj: make(obj, kwargs)




def dashboard(max_rows: int = 15):
    """A live Jupyter dashboard of the cluster's tasks, objects, actors, placement groups and nodes."""
    from .widgets import dashboard as _dashboard

    return _dashboard(max_rows=max_rows)


def load_ipython_extension(ip):
    """``%load_ext kernelray``: the ``%%remote`` magics and cell output routing."""
    from .extension import load_ipython_extension as load

    load(ip)


def unload_ipython_extension(ip):
    """``%unload_ext kernelray``: remove the magics; shut down a cluster they started."""
    from .extension import unload_ipython_extension as unload

    unload(ip)


def _jupyter_autoattach():
    import sys

    if "ipykernel" in sys.modules:  # inside a Jupyter kernel: route output to cells on connect
        from .extension import auto_attach

        auto_attach()


_jupyter_autoattach()

__all__ = [
    "ActorClassID",
    "ActorID",
    "FunctionID",
    "JobID",
    "NodeID",
    "ObjectID",
    "PlacementGroupID",
    "SCRIPT_MODE",
    "TaskID",
    "UniqueID",
    "WORKER_MODE",
    "WorkerID",
    "cloudpickle",
    "cluster_utils",
    "get_gpu_ids",
    "runtime_context",
    "ObjectRef",
    "ObjectRefGenerator",
    "DynamicObjectRefGenerator",
    "available_resources",
    "cancel",
    "cluster_resources",
    "dashboard",
    "exceptions",
    "exit_actor",
    "get",
    "get_actor",
    "get_runtime_context",
    "init",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "put",
    "remote",
    "shutdown",
    "timeline",
    "util",
    "wait",
]
