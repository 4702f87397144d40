"""Scheduling strategies, as ``ray.util.scheduling_strategies``.

``scheduling_strategy="DEFAULT"`` (local first, spill to a node with room) or ``"SPREAD"``
(round-robin over nodes with room), or one of the classes below.
"""

from __future__ import annotations


class NodeAffinitySchedulingStrategy:
    """Run on ``node_id``; with ``soft=True`` run elsewhere if that node is dead or full."""

    def __init__(self, node_id: str, soft: bool, _spill_on_unavailable: bool = False, _fail_on_unavailable: bool = False):
        if not isinstance(node_id, str):
            raise TypeError("node_id must be the node's hex id (str), e.g. kernelray.get_runtime_context().get_node_id()")
        self.node_id = node_id
        self.soft = soft

    def __repr__(self):
        return f"NodeAffinitySchedulingStrategy(node_id={self.node_id!r}, soft={self.soft})"


def to_wire(strategy) -> dict | None:
    """The JSON form the raylets understand; ValueError for anything else."""
    if strategy is None or strategy == "DEFAULT":
        return None
    if strategy == "SPREAD":
        return {"type": "SPREAD"}
    if isinstance(strategy, NodeAffinitySchedulingStrategy):
        return {"type": "NODE_AFFINITY", "node_id": strategy.node_id, "soft": bool(strategy.soft)}
    wire = getattr(strategy, "_to_wire", None)
    if wire is not None:  # placement groups: placed through their bundle resources
        return wire()
    raise ValueError(
        f"unknown scheduling_strategy {strategy!r}: use 'DEFAULT', 'SPREAD', NodeAffinitySchedulingStrategy "
        "or PlacementGroupSchedulingStrategy"
    )


from .placement_group import PlacementGroupSchedulingStrategy  # noqa: E402 - Ray exports it here too

__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy", "to_wire"]


def __getattr__(name):
    """``PlacementGroupSchedulingStrategy`` lives with placement groups; importable here as in Ray."""
    if name == "PlacementGroupSchedulingStrategy":
        from .placement_group import PlacementGroupSchedulingStrategy

        return PlacementGroupSchedulingStrategy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
