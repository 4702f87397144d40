"""InputNode: the values given to ``dag.execute(...)``; ``inp[0]``, ``inp["k"]``, ``inp.attr`` pick parts."""

from __future__ import annotations

from .dag_node import DAGNode

_KEY_ERROR = "Please only use int index or str as first-level key to access fields of dag input."


class InputNode(DAGNode):
    """The DAG's input; build the DAG inside ``with InputNode() as inp:``, as Ray requires."""

    def __init__(self, *args, input_type=None, _other_args_to_resolve=None, **kwargs):
        if args or kwargs:
            raise ValueError("InputNode should not take any args or kwargs.")
        self.__dict__["input_attribute_nodes"] = {}
        self.__dict__["input_type"] = input_type
        self.__dict__["_in_context"] = False
        super().__init__([], {}, {}, _other_args_to_resolve)

    def __enter__(self):
        self._in_context = True
        return self

    def __exit__(self, *exc):
        return None

    def __getattr__(self, key: str):
        if key.startswith("__") or key in ("_bound_args", "_bound_kwargs", "_other", "_nested", "_nested_kw"):
            raise AttributeError(key)
        return self._attribute(key, "__getattr__")

    def __getitem__(self, key):
        assert isinstance(key, (str, int)), _KEY_ERROR
        return self._attribute(key, "__getitem__")

    def _attribute(self, key, accessor: str) -> "InputAttributeNode":
        nodes = self.input_attribute_nodes
        if (key, accessor) not in nodes:
            nodes[(key, accessor)] = InputAttributeNode(self, key, accessor)
        return nodes[(key, accessor)]

    def _execute_impl(self, results, args, kwargs):
        assert self._in_context, ("InputNode is a singleton instance that should be only used in context manager "
                                  "for dag building and execution. See the docstring of class InputNode for examples.")
        if len(args) == 1 and not kwargs:
            return args[0]
        return DAGInputData(*args, **kwargs)


class InputAttributeNode(DAGNode):
    """One part of the input: an index or key (``inp[0]``, ``inp["k"]``) or an attribute (``inp.x``)."""

    def __init__(self, dag_input_node: InputNode, key, accessor_method: str):
        self._key = key
        self._accessor_method = accessor_method
        super().__init__([], {}, {}, {"dag_input_node": dag_input_node})

    @property
    def key(self):
        return self._key

    def _execute_impl(self, results, args, kwargs):
        value = results[id(self._other["dag_input_node"])]
        if isinstance(value, DAGInputData):
            return value[self._key]
        if isinstance(self._key, str) and self._accessor_method == "__getattr__":
            return getattr(value, self._key)
        return value[self._key]


class DAGInputData:
    """Several values given to ``execute``: ``[i]`` picks a positional one, ``["k"]`` a keyword one."""

    def __init__(self, *args, **kwargs):
        self._args = list(args)
        self._kwargs = kwargs

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._args[key]
        if isinstance(key, str):
            return self._kwargs[key]
        raise ValueError(_KEY_ERROR)
