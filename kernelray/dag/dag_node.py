"""DAGNode: a bound call (``f.bind(...)``), run by ``execute()`` bottom-up, each node once per execute.

Nodes found in a node's arguments -- top level, or nested inside lists, dicts or any picklable
object -- are its upstream nodes; they run first and their results (ObjectRefs, actor handles,
input values) replace them, so a top-level ObjectRef argument arrives as its value, as in Ray.
"""

from __future__ import annotations

import io
import pickle
import uuid
import warnings

import cloudpickle


class RayDeprecationWarning(DeprecationWarning):
    """Ray's warning for deprecated APIs (``DAGNode.execute()`` is one in Ray 2.5x/2.6x)."""


_ATOMIC = (int, float, str, bytes, bool, type(None))


class DAGNode:
    """A node of a task graph: its bound args, kwargs and options, and the nodes it depends on."""

    def __init__(self, args, kwargs, options, other=None):
        self._bound_args = list(args or [])
        self._bound_kwargs = dict(kwargs or {})
        self._bound_options = dict(options or {})
        self._other = dict(other or {})  # nodes that must run first but are not arguments
        self._stable_uuid = uuid.uuid4().hex
        self._nested = {i for i, a in enumerate(self._bound_args) if _contains_node(a)}
        self._nested_kw = {k for k, v in self._bound_kwargs.items() if _contains_node(v)}

    # -- what Ray's DAGNode exposes ----------------------------------------------------
    def get_args(self):
        return tuple(self._bound_args)

    def get_kwargs(self):
        return dict(self._bound_kwargs)

    def get_options(self):
        return dict(self._bound_options)

    def get_other_args_to_resolve(self):
        return dict(self._other)

    def get_stable_uuid(self) -> str:
        return self._stable_uuid

    def __getattr__(self, attr: str):
        if attr == "bind":
            raise AttributeError(f".bind() cannot be used again on {type(self)} ")
        if attr == "remote":
            raise AttributeError(f".remote() cannot be used on {type(self)}. To execute the task graph for this "
                                 "node, use .execute().")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __str__(self):
        return f"({type(self).__name__}, {self._stable_uuid})"

    def experimental_compile(self, *args, **kwargs):
        raise NotImplementedError("Compiled graphs (experimental_compile) are not supported by kernelray; "
                                  "use dag.execute(...).")

    # -- running ---------------------------------------------------------------------------
    def execute(self, *args, **kwargs):
        """Submit every node of the graph (upstream first) with these inputs; this node's result."""
        warnings.warn("DAGNode.execute() is deprecated and will be removed in a future release.",
                      RayDeprecationWarning, stacklevel=2)
        order = _post_order(self)
        inputs = {id(n) for n in order if type(n).__name__ == "InputNode"}
        if len(inputs) > 1:
            raise AssertionError("Each DAG should only have one unique InputNode.")
        results: dict = {}
        for node in order:
            results[id(node)] = node._execute_impl(results, args, kwargs)
        return results[id(self)]

    def _upstream(self) -> list:
        found = [a for a in self._bound_args if isinstance(a, DAGNode)]
        for i in self._nested:
            found += _find_nodes(self._bound_args[i])
        found += [v for v in self._bound_kwargs.values() if isinstance(v, DAGNode)]
        for k in self._nested_kw:
            found += _find_nodes(self._bound_kwargs[k])
        found += [v for v in self._other.values() if isinstance(v, DAGNode)]
        return found

    def _resolved(self, results: dict):
        """The bound args and kwargs with every node replaced by its result in this execute."""
        args = [results[id(a)] if isinstance(a, DAGNode) else a for a in self._bound_args]
        for i in self._nested:
            args[i] = _replace_nodes(args[i], results)
        kwargs = {k: results[id(v)] if isinstance(v, DAGNode) else v for k, v in self._bound_kwargs.items()}
        for k in self._nested_kw:
            kwargs[k] = _replace_nodes(kwargs[k], results)
        return args, kwargs

    def _execute_impl(self, results: dict, args, kwargs):
        raise NotImplementedError


def _post_order(root: DAGNode) -> list:
    """Every node reachable from ``root``, each after the nodes it depends on (no recursion)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for up in reversed(node._upstream()):
            if id(up) not in seen:
                stack.append((up, False))
    return order


class _NodeScanner(cloudpickle.CloudPickler):
    """Pickles a value, recording DAG nodes (and refs/handles, kept as they are) instead of pickling them."""

    def __init__(self, file):
        super().__init__(file)
        self.kept: list = []

    def persistent_id(self, obj):
        from ..actor import ActorHandle
        from ..object_ref import ObjectRef

        if isinstance(obj, (DAGNode, ObjectRef, ActorHandle)):
            self.kept.append(obj)
            return len(self.kept) - 1
        return None


def _scan(value):
    buf = io.BytesIO()
    scanner = _NodeScanner(buf)
    scanner.dump(value)
    return buf.getvalue(), scanner.kept


def _contains_node(value) -> bool:
    if isinstance(value, _ATOMIC) or isinstance(value, DAGNode):
        return False
    return bool(_find_nodes(value))


def _find_nodes(value) -> list:
    try:
        return [k for k in _scan(value)[1] if isinstance(k, DAGNode)]
    except Exception:  # not picklable: it holds no node we can replace (Ray's scanner has the same limit)
        return []


def _replace_nodes(value, results: dict):
    blob, kept = _scan(value)

    class _Loader(pickle.Unpickler):
        def persistent_load(self, pid):
            obj = kept[pid]
            return results[id(obj)] if isinstance(obj, DAGNode) else obj

    return _Loader(io.BytesIO(blob)).load()
