"""``kernelray.util``: helpers beside the core API, as ``ray.util``."""

from __future__ import annotations

from .actor_pool import ActorPool

__all__ = ["ActorPool"]
