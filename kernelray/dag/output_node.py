"""MultiOutputNode: several nodes as one DAG output; executing it gives the list of their results."""

from __future__ import annotations

from .dag_node import DAGNode


class MultiOutputNode(DAGNode):
    def __init__(self, args, other_args_to_resolve=None):
        if isinstance(args, tuple):
            args = list(args)
        if not isinstance(args, list):
            raise ValueError(f"Invalid input type for `args`, {type(args)}.")
        super().__init__(args, {}, {}, other_args_to_resolve)

    def _execute_impl(self, results, args, kwargs):
        return self._resolved(results)[0]
