"""FunctionNode: ``f.bind(...)``; executing it submits ``f`` as a task and gives its ObjectRef."""

from __future__ import annotations

from .dag_node import DAGNode


class FunctionNode(DAGNode):
    def __init__(self, remote_function, args, kwargs, options):
        self._remote_function = remote_function
        super().__init__(args, kwargs, options)

    def _execute_impl(self, results, args, kwargs):
        call_args, call_kwargs = self._resolved(results)
        return self._remote_function._remote(call_args, call_kwargs, self._bound_options)

    def __str__(self):
        return f"(FunctionNode, {self._stable_uuid})(body={self._remote_function._qualname})"
