"""``kernelray.util``: helpers beside the core API, as ``ray.util``."""

from __future__ import annotations

from .actor_pool import ActorPool
from .placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)

__all__ = [
    "ActorPool",
    "PlacementGroup",
    "get_placement_group",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
]
