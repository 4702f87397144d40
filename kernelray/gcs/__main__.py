"""``python -m kernelray.gcs``: start the head's control store (normally done for you)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from .. import _process


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="kernelray.gcs")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--session-dir", required=True)
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument("--gcs-storage", default="", help="a SQLite path, 'memory', or redis://host:port/db")
    args = p.parse_args(argv)
    if args.parent_pid:
        _process.die_with_parent(signal.SIGTERM)
        if os.getppid() != args.parent_pid:  # the parent died before the line above: no signal will come
            sys.exit(0)
    _process.set_title("kernelray::gcs")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    key = os.environ.pop("KERNELRAY_KEY", "")
    if not key:
        sys.exit("kernelray.gcs: KERNELRAY_KEY is not set; the cluster key is required")
    from .server import GcsServer

    try:
        gcs = GcsServer(key=bytes.fromhex(key), ip=args.ip, port=args.port, session_dir=args.session_dir,
                        parent_pid=args.parent_pid or None, storage=args.gcs_storage)
    except Exception as exc:  # noqa: BLE001 - tell the spawner why, on stderr
        sys.exit(f"kernelray.gcs: {exc}")
    gcs.start()
    _process.announce_ready({"address": gcs.address, "pid": os.getpid()})
    _process.redirect_std_streams(os.path.join(args.session_dir, "logs", "gcs.log"))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    gcs.loop.run()


if __name__ == "__main__":
    main()
