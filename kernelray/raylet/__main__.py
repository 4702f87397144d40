"""``python -m kernelray.raylet``: start a node's raylet (normally done for you)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys

from .. import _process


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="kernelray.raylet")
    p.add_argument("--gcs-address", required=True)
    p.add_argument("--session-dir", required=True)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--node-id", default=None)
    p.add_argument("--resources", default="{}", help="JSON: the node's total resources")
    p.add_argument("--prestart", type=int, default=0)
    p.add_argument("--head", action="store_true")
    p.add_argument("--parent-pid", type=int, default=0)
    args = p.parse_args(argv)
    if args.parent_pid:
        _process.die_with_parent(signal.SIGTERM)
        if os.getppid() != args.parent_pid:  # the parent died before the line above: no signal will come
            sys.exit(0)
    _process.set_title("kernelray::raylet")
    key = os.environ.pop("KERNELRAY_KEY", "")
    if not key:
        sys.exit("kernelray.raylet: KERNELRAY_KEY is not set; the cluster key is required")
    node_id = args.node_id or os.urandom(16).hex()
    worker_cfg = {
        "key": key,
        "gcs_address": args.gcs_address,
        "raylet_address": None,
        "node_id": node_id,
        "session_dir": args.session_dir,
        "ip": args.ip,
    }
    # The raylet's address must be known to workers before they start, so bind first
    # by picking the port now (zmq binds in the Raylet; fork happens before any zmq use).
    import socket

    port = args.port
    if not port:
        with socket.socket() as s:
            s.bind((args.ip, 0))
            port = s.getsockname()[1]
    worker_cfg["raylet_address"] = f"tcp://{args.ip}:{port}"
    from .worker_pool import WorkerFactory
    from ..worker import main as _worker_main  # noqa: F401 - imported once here, shared by every fork
    from .server import Raylet

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    total = json.loads(args.resources)
    from ..object_store import arena as arena_mod

    try:
        arena = arena_mod.Arena.create(int(total.get("object_store_memory", 2**30)), node_id[:8])
    except arena_mod.ArenaTooBig as exc:
        sys.exit(f"kernelray.raylet: {exc}")
    arena_mod.inherited = arena  # workers forked from here on share this mapping
    factory = WorkerFactory.start(worker_cfg)  # before any zmq context or thread exists

    raylet = Raylet(
        arena=arena,
        key=bytes.fromhex(key),
        gcs_address=args.gcs_address,
        factory=factory,
        total=total,
        node_id=node_id,
        session_dir=args.session_dir,
        ip=args.ip,
        port=port,
        prestart=args.prestart,
        is_head=args.head,
        parent_pid=args.parent_pid or None,
    )

    def on_term(signum, frame):
        raylet.kill_everything()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    from .gcs_reconnect import install as reconnect_after_gcs_restart

    from .resource_view import install as keep_view_from_deltas

    reconnect_after_gcs_restart(raylet)
    keep_view_from_deltas(raylet)
    raylet.start()
    raylet.loop.start_thread("raylet-loop")
    try:
        raylet.register_with_gcs(timeout=30)
    except Exception as exc:  # noqa: BLE001
        print(f"kernelray.raylet: cannot register with the GCS at {args.gcs_address}: {exc}", file=sys.stderr)
        raylet.kill_everything()
        os._exit(1)
    _process.announce_ready({"node_id": node_id, "address": raylet.address, "pid": os.getpid(),
                             "factory_pid": factory.pid})
    _process.redirect_std_streams(os.path.join(args.session_dir, "logs", f"raylet-{node_id[:8]}.log"))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    raylet.loop.thread.join()


if __name__ == "__main__":
    main()
