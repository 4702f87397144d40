"""What a running task sees of its resources, as Ray shows them.

``assigned``: the resources this worker holds for its task (a normal task) or actor, under
their original names (a placement group's ``CPU_group_0_<pg>`` is ``CPU``), as
``get_runtime_context().get_assigned_resources()`` returns them.  ``OMP_NUM_THREADS`` is
set from the CPUs while a task runs, unless the user set it, as Ray sets it.
"""

from __future__ import annotations

import math
import os
import re

_INDEXED = re.compile(r"^(.+)_group_(\d+)_([0-9a-f]+)$")
_WILDCARD = re.compile(r"^(.+)_group_([0-9a-f]+)$")
BUNDLE = "bundle"

assigned: dict = {}  # this worker's resources (original names)
raw: dict = {}  # the same, as the raylet names them (placement-group keys included)


def original_resources(resources: dict) -> dict:
    """Placement-group resource names back to the names the user asked for."""
    out = {}
    for key, value in resources.items():
        match = _INDEXED.match(key) or _WILDCARD.match(key)
        if match is None:
            out[key] = value
        elif match.group(1) != BUNDLE:
            out[match.group(1)] = value
    return out


def placement_group_id_of(resources: dict) -> str | None:
    """The hex ID of the placement group the resources belong to, if any."""
    for key in resources:
        match = _INDEXED.match(key) or _WILDCARD.match(key)
        if match is not None:
            return match.groups()[-1]
    return None


def begin_task(d: dict) -> bool:
    """Before a task runs: note its resources (if the message carries them) and set
    OMP_NUM_THREADS from its CPUs.  True if OMP_NUM_THREADS was set here."""
    global assigned, raw
    if "resources" in d:
        raw = dict(d["resources"])
        assigned = original_resources(raw)
    if "OMP_NUM_THREADS" in os.environ:
        return False
    cpus = assigned.get("CPU")
    os.environ["OMP_NUM_THREADS"] = str(max(math.floor(cpus), 1) if cpus else 1)
    return True


def end_task(omp_set: bool) -> None:
    if omp_set:
        os.environ.pop("OMP_NUM_THREADS", None)
