"""``kernelray.util``: helpers beside the core API, as ``ray.util``."""

from __future__ import annotations

from .actor_pool import ActorPool
from .helpers import as_completed, map_unordered
from .names import get_node_ip_address, list_named_actors
from .placement_group import (
    PlacementGroup,
    get_current_placement_group,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)

__all__ = [
    "ActorPool",
    "as_completed",
    "map_unordered",
    "PlacementGroup",
    "get_current_placement_group",
    "get_node_ip_address",
    "get_placement_group",
    "list_named_actors",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
]
