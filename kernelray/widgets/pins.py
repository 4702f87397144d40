"""ObjectRefs kept alive by IPython's output history.

A cell whose last expression is an ObjectRef (or a list of them) leaves it in ``Out[N]``,
``_N`` and ``_``/``__``/``___``: the object stays pinned in the cluster after the user
dropped every variable.  ``history_pins()`` finds such entries (and whether the history
is the only thing holding them, by reference counts) and ``release_history_pins()``
clears those entries as IPython's ``%reset out`` would, for those entries only.
"""

from __future__ import annotations

import sys

from ..object_ref import ObjectRef

_SHORT = ("_", "__", "___")


def _namespace(user_ns=None):
    if user_ns is not None:
        return user_ns
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    ip = get_ipython()
    return ip.user_ns if ip is not None else None


def _refs_in(value) -> list | None:
    if type(value) is ObjectRef:
        return [value]
    if isinstance(value, (list, tuple)) and value and all(type(v) is ObjectRef for v in value):
        return list(value)
    if isinstance(value, dict) and value and all(type(v) is ObjectRef for v in value.values()):
        return list(value.values())
    return None


def _slots(ns: dict, index: int, value) -> list:
    """The names in ``ns`` (besides Out) that hold ``value``: _N and the last-three shortcuts."""
    names = []
    if ns.get(f"_{index}") is value:
        names.append(f"_{index}")
    for n in _SHORT:
        if ns.get(n) is value:
            names.append(n)
    return names


def history_pins(user_ns=None) -> list:
    """One entry per ``Out[N]`` that holds ObjectRefs: index, refs, size, and whether only the history holds them."""
    ns = _namespace(user_ns)
    if not ns:
        return []
    out = ns.get("Out")
    if not isinstance(out, dict):
        return []
    from ..core import context

    core = context.core
    pins = []
    hook = _displayhook(ns)
    for index in list(out):
        value = out.get(index)
        count = sys.getrefcount(value)  # the holders, + `value` here, + getrefcount's argument
        refs = _refs_in(value)
        if refs is None:
            continue
        holders = 1 + len(_slots(ns, index, value))  # Out[N] itself, _N, _ ...
        if hook is not None:
            holders += sum(1 for a in _SHORT if getattr(hook, a, None) is value)  # the displayhook's own _, __, ___
            holders += len(_slots(hook.shell.user_ns_hidden, index, value))  # IPython pushes _N there too
        only_history = count - 2 <= holders  # anything more is a variable, a container or a frame of the user's
        if only_history and value is not refs[0]:
            # a container: its refs must be held by it alone (+ our `refs` list, + getrefcount's argument)
            only_history = all(sys.getrefcount(r) - 3 <= 1 for r in refs)  # + the generator's `r`
        size = 0
        if core is not None:
            for r in refs:
                obj = core.store.get(r._id)
                if obj is not None:
                    size += getattr(obj, "nbytes", 0) or 0
        pins.append({"index": index, "kind": type(value).__name__, "num_refs": len(refs), "size": size,
                     "only_history": only_history, "object_ids": [r.hex() for r in refs]})
        del refs
    return pins


def release_history_pins(user_ns=None, only_history: bool = True) -> int:
    """Clear the history entries holding ObjectRefs (by default those nothing else holds); returns how many."""
    ns = _namespace(user_ns)
    if not ns:
        return 0
    out = ns.get("Out")
    if not isinstance(out, dict):
        return 0
    released = 0
    for p in history_pins(ns):
        if only_history and not p["only_history"]:
            continue
        index = p["index"]
        value = out.pop(index, None)
        hook = _displayhook(ns)
        for space in (ns, hook.shell.user_ns_hidden if hook is not None else {}):
            for name in _slots(space, index, value):
                if name in _SHORT:
                    space[name] = ""
                else:
                    space.pop(name, None)
        if hook is not None:
            for a in _SHORT:
                if getattr(hook, a, None) is value:
                    setattr(hook, a, "")
        del value
        released += 1
    return released


def _displayhook(ns):
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    ip = get_ipython()
    return ip.displayhook if ip is not None and ip.user_ns is ns else None


__all__ = ["history_pins", "release_history_pins"]
