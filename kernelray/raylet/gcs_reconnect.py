"""What raylets, drivers and workers do when the GCS comes back after a restart.

The new GCS reloaded its tables but lost its subscribers (their ROUTER identities died
with the old process), so it sends ``gcs_restarted`` to every live raylet and driver;
a raylet passes it on to its workers.  Each registers or subscribes again: the raylet
with its live resources, and every core worker to its channels and to the actors it
holds handles to (whose current state it gets back at once).  Messages sent while the
GCS was away (heartbeats, ``worker_died``, requests) were queued by the DEALERs and
reach the new GCS when it listens again.
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
        for w in list(raylet.workers.values()):
            if w.address:
                raylet.send(raylet.peer(w.address), "gcs_restarted", {})

    raylet.handlers["gcs_restarted"] = handle_gcs_restarted


def install_core(core, subscription: dict) -> None:
    """A driver or worker subscribes again: ``subscription`` is its subscribe_request content."""
    def handle_gcs_restarted(msg, sock, idents) -> None:
        core.send(core.gcs, "subscribe_request", subscription)
        submitter = core.actor_submitter
        for actor_id, q in list(submitter.queues.items()):
            if q.subscribed:
                core.request(core.gcs, "subscribe_actor_request", {"actor_id": actor_id.hex()},
                             lambda m, aid=actor_id: submitter.on_state(aid, m.content.get("actor"), m.buffers))

    core.handlers["gcs_restarted"] = handle_gcs_restarted
