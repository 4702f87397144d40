"""Every message type on the wire, and who sends it to whom.

Jupyter's convention, kept everywhere: a request is ``<verb>_request`` and is answered by
``<verb>_reply`` carrying ``status: "ok" | "error"`` (errors add ``ename``, ``evalue``);
a notification is ``<thing>_<event>`` and is not answered.  Handlers are
``handle_<msg_type>`` methods listed in each server's ``msg_types``;
tests/protocol/test_messages.py checks that every handled type is catalogued here and
follows the convention.
"""

from __future__ import annotations

REQUESTS = {
    # GCS
    "register_node_request": "raylet -> GCS: a node joins (resources, address)",
    "get_all_nodes_request": "any -> GCS: the node table",
    "register_job_request": "driver -> GCS: a job starts; assigns its JobID and namespace",
    "mark_job_finished_request": "driver -> GCS: the job ends (shutdown)",
    "get_all_jobs_request": "any -> GCS: the job table",
    "kv_put_request": "any -> GCS: internal KV",
    "kv_get_request": "any -> GCS: internal KV",
    "kv_del_request": "any -> GCS: internal KV",
    "kv_keys_request": "any -> GCS: internal KV",
    "kv_exists_request": "any -> GCS: internal KV (is a runtime_env package there?)",
    "subscribe_request": "any -> GCS: join pub/sub channels",
    "get_cluster_info_request": "any -> GCS: session and liveness",
    "create_placement_group_request": "driver -> GCS: place and reserve bundles",
    "remove_placement_group_request": "driver -> GCS",
    "get_placement_group_request": "driver -> GCS: by id or name",
    "placement_group_table_request": "driver -> GCS",
    "wait_placement_group_ready_request": "owner -> GCS: answered once the group is CREATED (error if removed)",
    "register_actor_request": "creator -> GCS: reserve an actor's ID and name (reply: taken, or the existing one)",
    "create_actor_request": "owner -> GCS: the creation task, arguments resolved; the GCS leases a worker for it",
    "subscribe_actor_request": "handle holder -> GCS: the actor's state now, and actor_state_changed from then on",
    "unsubscribe_actor_request": "handle holder -> GCS: its last handle to the actor is gone",
    "get_actor_info_request": "any -> GCS: one actor's state and address",
    "get_named_actor_request": "any -> GCS: the live actor of a (namespace, name)",
    "list_actors_request": "any -> GCS: the actor table",
    "kill_actor_request": "any -> GCS: kill (or restart) an actor; the owner sends it when the actor goes out of scope",
    "report_actor_exit_request": "actor worker -> GCS: exit_actor() was called (an intended exit, no restart)",
    # raylet
    "register_worker_request": "worker -> raylet: the worker is up (its two addresses)",
    "request_worker_lease_request": "owner -> raylet: a worker for a resource shape (reply: lease, spillback, or error)",
    "get_node_info_request": "any -> raylet: workers, leases, the arena",
    "kill_worker_request": "any -> raylet",
    "create_object_request": "client -> raylet: an offset in the arena for a new object",
    "store_get_request": "client -> raylet: pin objects (pulling remote ones) and say where they are",
    "store_stats_request": "any -> raylet: store usage and its object table",
    "prepare_bundle_request": "GCS -> raylet: reserve a bundle (two-phase commit, phase one)",
    "pull_object_request": "raylet -> raylet: one chunk of an object",
    # core workers
    "push_task_request": "owner -> worker task socket: a batch of tasks",
    "cancel_task_request": "owner -> worker",
    "get_object_request": "borrower -> owner: the value, or where it lives, once ready",
    "get_core_worker_stats_request": "any -> core worker: its reference table (kernelray memory)",
}

NOTIFICATIONS = {
    "node_heartbeat": "raylet -> GCS, every 100 ms: available resources",
    "job_heartbeat": "driver -> GCS, every second",
    "worker_died": "raylet -> lease holder and GCS",
    "node_removed": "GCS -> subscribers: a node is dead",
    "job_finished": "GCS -> subscribers: a driver left",
    "owner_died": "GCS -> subscribers: a process died; its objects are lost",
    "resource_view": "GCS -> raylets: the full view on subscribing, then every 100 ms the nodes that changed (delta)",
    "lease_infeasible": "raylet -> owner: no node could ever run this shape",
    "lease_returned": "owner -> raylet",
    "lease_request_cancelled": "owner -> raylet",
    "worker_blocked": "worker -> raylet: blocked in get, its CPU is lent",
    "worker_unblocked": "worker -> raylet",
    "object_sealed": "client -> raylet: the object is written",
    "objects_released": "client -> raylet: views of these objects are gone",
    "objects_freed": "owner -> raylet: nothing references these objects",
    "object_copy_freed": "raylet -> raylet: drop your copy, the primary is freed",
    "bundle_committed": "GCS -> raylet: two-phase commit, phase two",
    "bundle_cancelled": "GCS -> raylet: roll back a prepared bundle",
    "bundle_returned": "GCS -> raylet: the group was removed",
    "actor_state_changed": "GCS -> an actor's subscribers: ALIVE (with its address), RESTARTING, DEAD (with the cause)",
    "generator_item_yielded": "worker -> owner: one item of a streaming generator",
    "output_emitted": "worker -> driver: printed text, tagged with its task and cell",
    "borrow_added": "borrower -> owner",
    "borrow_removed": "borrower -> owner",
    "handoff_completed": "owner -> worker: refs returned inside a value are held by the owner now",
}

# replies sent on a task socket in answer to push_task_request, possibly in several parts
PARTIAL_REPLIES = {"push_task_reply"}


def reply_of(msg_type: str) -> str:
    return msg_type[: -len("_request")] + "_reply"
