"""One table of ``@remote`` / ``.options()`` keywords, shared by tasks and actors.

Each option declares its type, a check and a default; an unknown keyword or a bad value
is refused with a message naming the valid choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Option:
    types: tuple
    check: Callable[[Any], str | None] | None = None  # returns an error text, or None
    default: Any = None


def _nonneg(v):
    return None if v >= 0 else "must be >= 0"


def _num_returns(v):
    if v in ("streaming", "dynamic"):
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        return "must be a non-negative int or 'streaming'"
    return None


def _max_retries(v):
    return None if v >= -1 else "must be >= -1 (-1 retries forever)"


def _resources(v):
    for k, amount in v.items():
        if k in ("CPU", "GPU"):
            return f"use num_cpus / num_gpus instead of resources[{k!r}]"
        if not isinstance(amount, (int, float)) or amount < 0:
            return f"resources[{k!r}] must be a non-negative number"
    return None


def _retry_exceptions(v):
    if isinstance(v, bool):
        return None
    if all(isinstance(c, type) and issubclass(c, BaseException) for c in v):
        return None
    return "must be a bool or a list of exception classes"


def _runtime_env(v):
    from .runtime_env.validation import problem_of

    return problem_of(v)


def _max_pending_calls(v):
    return None if v >= -1 else "must be -1 (no limit) or a positive int (0 also means no limit, as in Ray)"


def _concurrency_groups(v):
    for name, size in v.items():
        if not isinstance(name, str) or not name:
            return f"has the group name {name!r}; group names must be non-empty strings"
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return f"gives the group {name!r} the size {size!r}; each group's max concurrency must be an int >= 1"
    return None


_any = (object,)
_num = (int, float)

COMMON = {
    "num_cpus": Option(_num, _nonneg),
    "num_gpus": Option(_num, _nonneg, 0),
    "resources": Option((dict,), _resources),
    "memory": Option(_num, _nonneg),
    "accelerator_type": Option((str,)),
    "runtime_env": Option((dict,), _runtime_env),
    "scheduling_strategy": Option(_any),
    "placement_group": Option(_any),
    "placement_group_bundle_index": Option((int,)),
    "placement_group_capture_child_tasks": Option((bool,)),
    "label_selector": Option((dict,)),
    "_metadata": Option((dict,)),
    "enable_task_events": Option((bool,)),
    "name": Option((str,)),
}

TASK_OPTIONS = dict(
    COMMON,
    num_returns=Option((int, str), _num_returns, 1),
    max_retries=Option((int,), _max_retries, 3),
    retry_exceptions=Option((bool, list, tuple), _retry_exceptions, False),
    max_calls=Option((int,), _nonneg, 0),
)

ACTOR_OPTIONS = dict(
    COMMON,
    namespace=Option((str,)),
    lifetime=Option((str,), lambda v: None if v in ("detached", "non_detached") else "must be 'detached' or 'non_detached'"),
    max_restarts=Option((int,), _max_retries, 0),
    max_task_retries=Option((int,), _max_retries, 0),
    max_concurrency=Option((int,), lambda v: None if v >= 1 else "must be >= 1"),
    max_pending_calls=Option((int,), _max_pending_calls, -1),
    get_if_exists=Option((bool,), None, False),
    concurrency_groups=Option((dict,), _concurrency_groups),
    allow_out_of_order_execution=Option((bool,)),
)

METHOD_OPTIONS = {
    "num_returns": Option((int, str), _num_returns, 1),
    "concurrency_group": Option((str,), lambda v: None if v else "must be a non-empty group name"),
    "max_task_retries": Option((int,), _max_retries),
    "retry_exceptions": Option((bool, list, tuple), _retry_exceptions),
    "name": Option((str,)),
    "enable_task_events": Option((bool,)),
    "_generator_backpressure_num_objects": Option((int,)),
}


def validate(options: dict, table: dict, what: str) -> dict:
    for k, v in options.items():
        opt = table.get(k)
        if opt is None:
            raise ValueError(f"Invalid option keyword {k!r} for {what}. Valid ones are: {', '.join(sorted(table))}.")
        if v is None:
            continue
        if isinstance(v, bool) and bool not in opt.types and object not in opt.types:
            raise TypeError(f"The {what} option {k!r} must be of type {_names(opt.types)}, got bool {v!r}.")
        if not isinstance(v, opt.types):
            raise TypeError(f"The {what} option {k!r} must be of type {_names(opt.types)}, got {type(v).__name__} {v!r}.")
        if opt.check is not None:
            problem = opt.check(v)
            if problem:
                raise ValueError(f"The {what} option {k}={v!r} {problem}.")
    return options


def _names(types) -> str:
    return " or ".join(t.__name__ for t in types)


def retry_exceptions_wire(value):
    """``retry_exceptions`` as a task spec carries it: a bool, or the pickled list of classes."""
    if isinstance(value, (list, tuple)):
        import cloudpickle

        return cloudpickle.dumps(list(value))
    return value


def resources_of(opts: dict, default_cpus: float) -> dict:
    """The resource request a task or actor makes."""
    req = {}
    cpus = opts.get("num_cpus")
    req["CPU"] = float(default_cpus if cpus is None else cpus)
    gpus = opts.get("num_gpus")
    if gpus:
        req["GPU"] = float(gpus)
    if opts.get("memory"):
        req["memory"] = float(opts["memory"])
    for k, v in (opts.get("resources") or {}).items():
        req[k] = float(v)
    return {k: v for k, v in req.items() if v}
