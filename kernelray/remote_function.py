"""``@remote`` on a function: RemoteFunction, ``.options()``, ``.remote()``."""

from __future__ import annotations

import inspect

from .core import context as _context
from .core.serialization import export_code
from .options import TASK_OPTIONS, resources_of, validate
from . import submit_checks


class RemoteFunction:
    """A function that runs as a task: call ``.remote(...)`` to get ObjectRefs."""

    def __init__(self, function, options: dict):
        if not callable(function):
            raise TypeError(f"@remote expects a function or a class, got {type(function).__name__}")
        submit_checks.refuse_async_function(function)
        self._function = function
        self._options = validate(dict(options), TASK_OPTIONS, "remote functions")
        self._name = getattr(function, "__name__", "function")
        self._qualname = f"{getattr(function, '__module__', '__main__')}.{getattr(function, '__qualname__', self._name)}"
        self._blob = None
        self._fn_id = None
        self.__name__ = self._name
        self.__qualname__ = getattr(function, "__qualname__", self._name)
        self.__doc__ = function.__doc__
        self.__wrapped__ = function

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Remote functions cannot be called directly. Instead of running '{self._qualname}()', "
            f"try '{self._qualname}.remote()'."
        )

    def __repr__(self) -> str:
        return f"<kernelray remote function {self._qualname}>"

    def options(self, **options) -> "_BoundOptions":
        validate(options, TASK_OPTIONS, "remote functions")
        return _BoundOptions(self, {**self._options, **options})

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._options)

    def bind(self, *args, **kwargs):
        """A DAG node for this call (``kernelray.dag``); ``.execute()`` submits it."""
        from .dag import FunctionNode

        return FunctionNode(self, args, kwargs, self._options)

    def _export(self):
        if self._blob is None:
            self._fn_id, self._blob = export_code(
                self._function, "function", self._qualname,
                "Functions are shipped by value with cloudpickle; move what it captures (locks, sockets, open "
                "files) inside the function.")
        submit_checks.check_pickled_size(self._blob, self._qualname, "remote function")
        return self._fn_id, self._blob

    def _remote(self, args, kwargs, opts):
        submit_checks.check_task(self, args, kwargs, opts)
        core = _context.core or _api()._connected_core()
        fn_id, blob = self._export()
        return core.submit_task(
            name=opts.get("name") or self._name,
            fn_id=fn_id,
            fn_blob=blob,
            signature=self._function,
            args=args,
            kwargs=kwargs,
            num_returns=opts.get("num_returns", 1),
            resources=_bundle_resources(resources_of(opts, 1), opts),
            max_retries=opts.get("max_retries", 3),
            retry_exceptions=opts.get("retry_exceptions", False),
            runtime_env=opts.get("runtime_env"),
            strategy=_strategy(opts),
        )


def _bundle_resources(resources: dict, opts: dict) -> dict:
    if opts.get("scheduling_strategy") is None and opts.get("placement_group") is None:
        return resources
    from .util.placement_group import bundle_resources

    return bundle_resources(resources, opts)


def _strategy(opts: dict):
    from .util.scheduling_strategies import to_wire

    return to_wire(opts.get("scheduling_strategy"))


class _BoundOptions:
    def __init__(self, fn: RemoteFunction, options: dict):
        self._fn = fn
        self._options = options

    def remote(self, *args, **kwargs):
        return self._fn._remote(args, kwargs, self._options)

    def options(self, **options):
        validate(options, TASK_OPTIONS, "remote functions")
        return _BoundOptions(self._fn, {**self._options, **options})

    def bind(self, *args, **kwargs):
        from .dag import FunctionNode

        return FunctionNode(self._fn, args, kwargs, self._options)

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)


def argument_names(fn, args, kwargs) -> list:
    """A name for each positional and keyword argument, for error messages."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(len(args)):
        names.append(f"'{params[i]}' (position {i})" if i < len(params) else f"position {i}")
    names += [f"'{k}'" for k in kwargs]
    return names


def _api():
    from . import api

    return api
