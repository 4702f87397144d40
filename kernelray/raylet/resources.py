"""Resource sets: what a node has, what a lease takes (pure, no I/O)."""

from __future__ import annotations

EPS = 1e-9


def fits(request: dict, available: dict) -> bool:
    for name, amount in request.items():
        if amount > EPS and available.get(name, 0.0) + EPS < amount:
            return False
    return True


def subtract(available: dict, request: dict) -> None:
    for name, amount in request.items():
        if amount:
            available[name] = available.get(name, 0.0) - amount


def add(available: dict, request: dict) -> None:
    for name, amount in request.items():
        if amount:
            available[name] = available.get(name, 0.0) + amount


def node_resources(num_cpus, num_gpus, resources: dict | None, memory: float, object_store_memory: float, ip: str) -> dict:
    total = {"CPU": float(num_cpus), "memory": float(memory), "object_store_memory": float(object_store_memory)}
    if num_gpus:
        total["GPU"] = float(num_gpus)
    for name, amount in (resources or {}).items():
        total[name] = float(amount)
    total[f"node:{ip}"] = 1.0
    return total


def bundle_resources(pg_id: str, index: int, want: dict) -> dict:
    """The resources a committed placement-group bundle adds to its node, named as Ray names them."""
    out = {f"bundle_group_{pg_id}": 1000.0, f"bundle_group_{index}_{pg_id}": 1000.0}
    for k, v in want.items():
        out[f"{k}_group_{pg_id}"] = v
        out[f"{k}_group_{index}_{pg_id}"] = v
    return out
