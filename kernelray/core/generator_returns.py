"""How a task's return value becomes its ``num_returns`` objects, as Ray does it.

* ``num_returns=N`` and a plain value: it must have ``len() == N`` (Ray's ``ValueError`` /
  ``TypeError`` otherwise, on every return).
* ``num_returns=N`` and a generator: the first N yielded values are the returns.  What it
  yielded before raising stays retrievable and the error fills the remaining returns; too
  few values fill the rest with Ray's ``ValueError``; values beyond N are dropped with
  Ray's warning (printed by the worker).
* ``num_returns="dynamic"``: the generator runs to the end here; each value becomes an
  object of its own and the task's one return is a ``DynamicObjectRefGenerator`` of them
  (an error raised midway becomes the last item, unless the task is to be retried).
"""

from __future__ import annotations

import inspect
import sys

from ..object_ref import DynamicObjectRefGenerator


class _Raised:
    """Stands for the returns a generator never produced: the error it raised."""

    __slots__ = ("exc_info",)

    def __init__(self, exc_info):
        self.exc_info = exc_info


def fixed_returns(value, n: int) -> tuple:
    """(values, error_exc_info): ``values`` has n entries, some maybe ``_Raised``."""
    if not inspect.isgenerator(value):
        if len(value) != n:  # a value without len() raises Ray's TypeError here
            raise ValueError(f"Task returned {len(value)} objects, but num_returns={n}.")
        return tuple(value)
    values: list = []
    try:
        for item in value:
            if len(values) == n:
                _warn_extra(n)
                value.close()
                break
            values.append(item)
    except Exception:  # what was yielded stays; the error goes to the returns that are left
        raised = _Raised(sys.exc_info())
        return tuple(values) + (raised,) * (n - len(values))
    if len(values) < n:
        try:
            raise ValueError(f"Task returned {len(values)} objects, but num_returns={n}.")
        except ValueError:
            raised = _Raised(sys.exc_info())
        return tuple(values) + (raised,) * (n - len(values))
    return tuple(values)


def _warn_extra(n: int) -> None:
    print("Unhandled error: Task threw exception, but all "
          f"{n} return values already created. This should only occur when using generator tasks.\n"
          f"ValueError: Task returned more than num_returns={n} objects.", file=sys.stderr)


def dynamic_returns(executor, t, gen) -> tuple:
    """Run a ``num_returns="dynamic"`` generator to its end: (DynamicObjectRefGenerator, items).

    The items travel back as returns 2, 3, ... of the task, owned by its caller (as Ray's are),
    so they outlive this worker; the generator's refs name them at the caller."""
    from ..object_ref import ObjectRef

    items: list = []
    try:
        for item in gen:
            items.append(item)
    except Exception as exc:
        if executor._retryable(t, exc):
            raise  # the task is retried as a whole, as Ray does
        items.append(_Raised(sys.exc_info()))
    task_id, owner = t.task_id, t.d["owner"]
    refs = [ObjectRef(task_id + (i + 2).to_bytes(4, "little"), owner) for i in range(len(items))]
    return DynamicObjectRefGenerator(refs), items


def store_dynamic_items(core, spec, objs: list) -> None:
    """Caller side: keep a dynamic generator's items (returns 2, 3, ...) in our store."""
    for i, obj in enumerate(objs[1:]):
        core.put_local(spec.task_id + (i + 2).to_bytes(4, "little"), obj)
