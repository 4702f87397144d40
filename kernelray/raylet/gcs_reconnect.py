"""What a raylet does when the GCS comes back after a restart (``gcs_restarted``).

The new GCS reloaded its tables but lost its subscribers (their ROUTER identities died
with the old process): the raylet registers again, with its live resources, and
subscribes again.  Messages sent while the GCS was away (heartbeats, ``worker_died``)
were queued by the raylet's DEALER and reach the new GCS when it listens again.
"""

from __future__ import annotations

import logging

log = logging.getLogger("kernelray.raylet.gcs_reconnect")
RAYLET_CHANNELS = ["job_finished", "owner_died", "resource_view", "node_removed"]


def install(raylet) -> None:
    def handle_gcs_restarted(msg, sock, idents) -> None:
        log.warning("the GCS restarted: registering and subscribing again")
        raylet.request(raylet.gcs, "register_node_request", raylet.node_info(), lambda reply: None)
        raylet.send(raylet.gcs, "subscribe_request", {"channels": RAYLET_CHANNELS})

    raylet.handlers["gcs_restarted"] = handle_gcs_restarted


def install_driver(core, channels: list) -> None:
    """A driver subscribes again to the GCS channels it listens to."""
    def handle_gcs_restarted(msg, sock, idents) -> None:
        core.send(core.gcs, "subscribe_request", {"channels": channels})

    core.handlers["gcs_restarted"] = handle_gcs_restarted
