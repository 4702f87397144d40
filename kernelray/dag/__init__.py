"""Ray Core's DAG API (``from ray.dag import InputNode, MultiOutputNode``), on tasks and actors.

::

    with InputNode() as inp:
        dag = combine.bind(m1.forward.bind(inp[0]), m2.forward.bind(inp.x))
    kernelray.get(dag.execute(1, x=2))

``f.bind(...)``, ``Actor.bind(...)``, ``node.method.bind(...)`` and ``handle.method.bind(...)``
build the graph; ``execute`` submits it and returns what Ray returns: an ObjectRef, an actor
handle (ClassNode), or a list of them (MultiOutputNode).  Compiled graphs are not supported.
"""

from .class_node import ClassMethodNode, ClassNode
from .dag_node import DAGNode, RayDeprecationWarning
from .function_node import FunctionNode
from .input_node import DAGInputData, InputAttributeNode, InputNode
from .output_node import MultiOutputNode

__all__ = ["ClassMethodNode", "ClassNode", "DAGInputData", "DAGNode", "FunctionNode", "InputAttributeNode",
           "InputNode", "MultiOutputNode", "RayDeprecationWarning"]
