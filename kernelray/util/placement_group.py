"""Placement groups, as ``ray.util.placement_group``.

    pg = placement_group([{"CPU": 1}, {"CPU": 1, "GPU": 1}], strategy="STRICT_SPREAD", name="trainers")
    ray.get(pg.ready())                   # or pg.wait(timeout_seconds=10)
    f.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=1)).remote()
    remove_placement_group(pg)

A task or actor in a group asks for the bundle's resources (``CPU_group_<i>_<pg>``) instead
of the node's, so it runs where the bundle was reserved and uses only what the bundle holds.
"""

from __future__ import annotations

import logging
import os
import time

from ..core import context
from ..exceptions import RaySystemError, TaskPlacementGroupRemoved
from ..ids import PlacementGroupID

log = logging.getLogger("kernelray.placement_group")

VALID_STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
VALID_PLACEMENT_GROUP_STRATEGIES = set(VALID_STRATEGIES)  # Ray's name
PLACEMENT_GROUP_BUNDLE_RESOURCE_NAME = "bundle"


def validate_placement_group(bundles: list, strategy: str = "PACK", lifetime: str | None = None,
                             _soft_target_node_id=None, bundle_label_selector=None) -> bool:
    """Raise ValueError (Ray's messages) if the arguments of ``placement_group`` are invalid."""
    if strategy not in VALID_PLACEMENT_GROUP_STRATEGIES:
        raise ValueError(f"Invalid placement group strategy {strategy}. "
                         f"Supported strategies are: {VALID_PLACEMENT_GROUP_STRATEGIES}.")
    if not isinstance(bundles, list):
        raise ValueError(f"Placement group bundles must be a list, got {type(bundles)}.")
    if not bundles:
        raise ValueError('Bundles must be a non-empty list of resource dictionaries. For example: '
                         '`[{"CPU": 1.0}, {"GPU": 1.0}]`. Got empty list instead.')
    for bundle in bundles:
        _validate_bundle(bundle, bundles)
    if bundle_label_selector is not None and len(bundle_label_selector) != len(bundles):
        raise ValueError(f"Invalid bundle label selector {bundle_label_selector}. "
                         "The length of `bundle_label_selector` should equal the length of `bundles`.")
    if lifetime not in (None, "detached"):
        raise ValueError(f"Placement group `lifetime` argument must be either `None` or 'detached'. Got {lifetime}.")
    return True


def _validate_bundle(bundle, bundles: list) -> None:
    if (not isinstance(bundle, dict) or not all(isinstance(k, str) for k in bundle)
            or not all(isinstance(v, (int, float)) for v in bundle.values())):
        raise ValueError('Bundles must be a non-empty list of resource dictionaries. For example: '
                         '`[{"CPU": 1.0}, {"GPU": 1.0}]`.')
    if not bundle or all(v == 0 for v in bundle.values()):
        raise ValueError(f"Bundles cannot be an empty dictionary or resources with only 0 values. Bundles: {bundles}")
    if any(v < 0 for v in bundle.values()):
        raise ValueError(f"Bundle resources cannot be negative. Bundles: {bundles}")


def get_current_placement_group() -> "PlacementGroup | None":
    """The placement group the calling task or actor runs in; None in a driver or outside a group."""
    from ..core import task_env

    core = context.core
    if core is None or core.mode == "driver":
        return None
    pg_id = task_env.placement_group_id_of(task_env.raw)
    return PlacementGroup(pg_id) if pg_id else None


class PlacementGroup:
    def __init__(self, pg_id: str, bundles: list | None = None, strategy: str | None = None):
        self.id = PlacementGroupID(pg_id)
        self._bundles = bundles
        self._strategy = strategy

    @property
    def bundle_specs(self) -> list:
        if self._bundles is None:
            self._bundles = _table_row(self.id.hex())["bundles"]
        return self._bundles

    @property
    def bundle_count(self) -> int:
        return len(self.bundle_specs)

    def ready(self):
        """An ObjectRef that resolves (to this group) once every bundle is reserved.

        Ray runs a zero-CPU task in the group for this; here the GCS answers when the group
        is CREATED (TaskPlacementGroupRemoved if it is removed first), so no worker is leased.
        """
        core = context.require_core()
        group = self

        def resolve(msg):
            c = msg.content
            if c.get("status") == "ok":
                return group
            if c.get("ename") == "TaskPlacementGroupRemoved":
                raise TaskPlacementGroupRemoved(c.get("evalue", ""))
            raise RaySystemError(f"placement group readiness: {c.get('ename')}: {c.get('evalue')}")

        return core.object_from_reply(core.gcs_address, "wait_placement_group_ready_request",
                                      {"placement_group_id": self.id.hex()}, resolve)

    def wait(self, timeout_seconds: float = 30) -> bool:
        """True once the group is CREATED, False if it is not within the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if _table_row(self.id.hex())["state"] == "CREATED":
                return True
            time.sleep(0.02)
        return _table_row(self.id.hex())["state"] == "CREATED"

    def __eq__(self, other):
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"PlacementGroup(id={self.id.hex()})"

    def __reduce__(self):
        return PlacementGroup, (self.id.hex(), self._bundles, self._strategy)


def placement_group(bundles: list, strategy: str = "PACK", name: str = "", lifetime: str | None = None,
                    _soft_target_node_id=None, bundle_label_selector=None) -> PlacementGroup:
    validate_placement_group(bundles, strategy, lifetime)
    core = context.require_core()
    pg_id = os.urandom(14).hex()
    request = {
        "placement_group_id": pg_id, "bundles": bundles, "strategy": strategy, "name": name,
        "namespace": core.namespace, "lifetime": lifetime, "job_id": core.job_id.hex(),
    }
    if name:  # the GCS decides whether the name is free: wait for its answer
        core.call(core.gcs, "create_placement_group_request", request)
    else:  # nothing left to refuse: no round trip.  Later requests go on the same socket, after it
        def check(reply):
            if reply.content.get("status") != "ok":
                log.warning("placement group %s was not created: %s", pg_id, reply.content.get("evalue"))

        core.loop.call_soon(core.request, core.gcs, "create_placement_group_request", request, check)
    return PlacementGroup(pg_id, bundles, strategy)


def remove_placement_group(placement_group: PlacementGroup) -> None:
    """Remove the group and free its bundles.  As in Ray, what uses the group is killed: its
    actors die (calls raise ActorDiedError naming the group), its tasks fail with
    TaskPlacementGroupRemoved, whether running, waiting, or submitted later."""
    core = context.require_core()
    core.call(core.gcs, "remove_placement_group_request", {"placement_group_id": placement_group.id.hex()})


def get_placement_group(placement_group_name: str) -> PlacementGroup:
    core = context.require_core()
    row = core.call(core.gcs, "get_placement_group_request",
                    {"name": placement_group_name, "namespace": core.namespace}).content["placement_group"]
    if row is None or row["state"] == "REMOVED":
        raise ValueError(f"Failed to look up placement group with name: {placement_group_name}")
    return PlacementGroup(row["placement_group_id"], row["bundles"], row["strategy"])


def _table_row(pg_id: str) -> dict:
    core = context.require_core()
    row = core.call(core.gcs, "get_placement_group_request", {"placement_group_id": pg_id}).content["placement_group"]
    if row is None:
        raise ValueError(f"no placement group {pg_id}")
    return row


def placement_group_table(placement_group: PlacementGroup | None = None) -> dict:
    core = context.require_core()
    rows = core.call(core.gcs, "placement_group_table_request", {}).content["placement_groups"]

    def view(r):
        return {
            "placement_group_id": r["placement_group_id"], "name": r["name"], "strategy": r["strategy"],
            "state": r["state"], "bundles": dict(enumerate(r["bundles"])),
            "bundles_to_node_id": dict(enumerate(r["bundle_nodes"])), "stats": r["stats"],
        }

    if placement_group is not None:
        row = next((r for r in rows if r["placement_group_id"] == placement_group.id.hex()), None)
        return view(row) if row else {}
    return {r["placement_group_id"]: view(r) for r in rows}


class PlacementGroupSchedulingStrategy:
    def __init__(self, placement_group: PlacementGroup, placement_group_bundle_index: int = -1,
                 placement_group_capture_child_tasks: bool | None = None):
        if not isinstance(placement_group, PlacementGroup):
            raise TypeError("PlacementGroupSchedulingStrategy needs a PlacementGroup from placement_group()")
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks

    def _to_wire(self):
        return None  # placement happens through the bundle resources the task asks for

    def __repr__(self):
        return (f"PlacementGroupSchedulingStrategy({self.placement_group!r}, "
                f"placement_group_bundle_index={self.placement_group_bundle_index})")


def bundle_resources(resources: dict, opts: dict) -> dict:
    """Rewrite a resource request to use a placement group's bundle, if the options name one."""
    strategy = opts.get("scheduling_strategy")
    pg, index = None, -1
    if isinstance(strategy, PlacementGroupSchedulingStrategy):
        pg, index = strategy.placement_group, strategy.placement_group_bundle_index
    elif isinstance(opts.get("placement_group"), PlacementGroup):
        pg, index = opts["placement_group"], opts.get("placement_group_bundle_index", -1)
    if pg is None:
        return resources
    if index is not None and index >= 0 and pg._bundles is not None and index >= len(pg._bundles):
        raise ValueError(f"placement_group_bundle_index {index} is out of range: the group has {len(pg._bundles)} bundles")
    pid = pg.id.hex()
    suffix = f"_group_{index}_{pid}" if index is not None and index >= 0 else f"_group_{pid}"
    out = {f"{k}{suffix}": v for k, v in resources.items() if v}
    out[f"bundle{suffix}"] = 0.001
    return out


__all__ = ["PlacementGroup", "PlacementGroupID", "VALID_PLACEMENT_GROUP_STRATEGIES",
           "PLACEMENT_GROUP_BUNDLE_RESOURCE_NAME", "validate_placement_group", "get_current_placement_group",
           "placement_group", "remove_placement_group", "get_placement_group",
           "placement_group_table", "PlacementGroupSchedulingStrategy"]
