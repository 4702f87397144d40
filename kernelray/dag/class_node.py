"""ClassNode (``Actor.bind(...)``) and ClassMethodNode (``node.method.bind(...)``, ``handle.method.bind(...)``).

A ClassNode creates a new actor each time the DAG is executed; the calls bound on it run on that
actor in the order they were bound (each depends on the one bound before).  A method bound on a
live handle calls that actor.
"""

from __future__ import annotations

from .dag_node import DAGNode
from .input_node import InputNode


class ClassNode(DAGNode):
    def __init__(self, actor_class, args, kwargs, options):
        self._actor_class = actor_class
        self._last_call = None
        super().__init__(args, kwargs, options)
        if any(isinstance(n, InputNode) for n in _all_upstream(self)):
            raise ValueError(
                "InputNode handles user dynamic input the DAG, and cannot be used as args, kwargs, or "
                "other_args_to_resolve in ClassNode constructor because it is not available at class construction "
                "or binding time.")

    def __getattr__(self, method_name: str):
        if method_name.startswith("__") or method_name in ("_actor_class", "_last_call"):
            raise AttributeError(method_name)
        if method_name == "bind" and not hasattr(self.__dict__["_actor_class"]._cls, "bind"):
            raise AttributeError(f".bind() cannot be used again on {type(self)} ")
        getattr(self._actor_class._cls, method_name)  # Ray's AttributeError for a method the class lacks
        return _UnboundClassMethodNode(self, method_name, {})

    def _execute_impl(self, results, args, kwargs):
        call_args, call_kwargs = self._resolved(results)
        return self._actor_class._remote(call_args, call_kwargs, self._bound_options)

    def __str__(self):
        return f"(ClassNode, {self._stable_uuid})(body={self._actor_class._qualname})"


class _UnboundClassMethodNode:
    def __init__(self, actor: ClassNode, method_name: str, options: dict):
        self._actor = actor
        self._method_name = method_name
        self._options = options

    def bind(self, *args, **kwargs) -> "ClassMethodNode":
        node = ClassMethodNode(self._method_name, args, kwargs, self._options, self._actor,
                               prev_call=self._actor._last_call)
        self._actor._last_call = node
        return node

    def options(self, **options) -> "_UnboundClassMethodNode":
        self._options = options
        return self

    def __getattr__(self, attr: str):
        if attr == "remote":
            raise AttributeError(".remote() cannot be used on ClassMethodNodes. Use .bind() instead to express an "
                                 "symbolic actor call.")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")


class ClassMethodNode(DAGNode):
    """A call of a method on the actor a ClassNode creates, or on a live actor (an ActorMethod)."""

    def __init__(self, method_name, args, kwargs, options, parent, prev_call=None):
        self._method_name = method_name
        other = {"parent_class_node": parent}
        if prev_call is not None:
            other["prev_class_method_call"] = prev_call
        super().__init__(args, kwargs, options, other)

    def get_method_name(self) -> str:
        return self._method_name

    def _execute_impl(self, results, args, kwargs):
        call_args, call_kwargs = self._resolved(results)
        parent = self._other["parent_class_node"]
        if isinstance(parent, DAGNode):  # the actor this execute created
            method = getattr(results[id(parent)], self._method_name)
            if self._bound_options:
                method = method.options(**self._bound_options)
        else:  # an ActorMethod of a live handle (its options already applied)
            method = parent
        return method.remote(*call_args, **call_kwargs)

    def __str__(self):
        return f"(ClassMethodNode, {self._stable_uuid})(body={self._method_name}())"


class _ClassMethodOutput(DAGNode):
    """One return value of a live-actor call bound with num_returns > 1."""

    def __init__(self, call: ClassMethodNode, index: int):
        self._index = index
        super().__init__([call], {}, {})

    def _execute_impl(self, results, args, kwargs):
        return results[id(self._bound_args[0])][self._index]


def bind_actor_method(actor_method, args, kwargs):
    """``handle.method.bind(...)``: a ClassMethodNode, or a tuple of one node per return value."""
    opts = {**actor_method._defaults, **actor_method._overrides}
    node = ClassMethodNode(actor_method._name, args, kwargs, opts, actor_method)
    num_returns = opts.get("num_returns", 1)
    if isinstance(num_returns, int) and num_returns > 1:
        return tuple(_ClassMethodOutput(node, i) for i in range(num_returns))
    return node


def _all_upstream(node: DAGNode) -> list:
    from .dag_node import _post_order

    return _post_order(node)[:-1]
