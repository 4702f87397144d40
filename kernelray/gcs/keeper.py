"""``python -m kernelray.gcs.keeper``: the head's GCS, restarted whenever it dies.

``kernelray start --head`` returns at once, so it cannot watch the GCS itself; it starts
this small process instead, which starts the GCS and restarts it (gcs/supervisor.py)
on the same address, with the same key and storage.  The keeper's pid is the one in the
connection file: it lives as long as the cluster.  SIGTERM stops the keeper and its GCS.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .. import _process
from .. import node as krnode
from .supervisor import GcsSupervisor


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="kernelray.gcs.keeper")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--session-dir", required=True)
    p.add_argument("--gcs-storage", default="")
    args = p.parse_args(argv)
    _process.set_title("kernelray::gcs_keeper")
    key = os.environ.pop("KERNELRAY_KEY", "")
    if not key:
        sys.exit("kernelray.gcs.keeper: KERNELRAY_KEY is not set; the cluster key is required")
    procs = krnode.ClusterProcesses(args.session_dir, key, args.ip, watch_parent=True)
    procs.gcs_storage = args.gcs_storage
    try:
        gcs = procs.spawn_gcs(args.port, args.gcs_storage)
        procs.wait_ready([gcs])
    except Exception as exc:  # noqa: BLE001 - tell the spawner why, on stderr
        procs.stop()
        sys.exit(f"kernelray.gcs.keeper: {exc}")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    procs.supervisor = GcsSupervisor(procs, gcs, args.port, storage=args.gcs_storage).start()
    _process.announce_ready({"address": gcs.info["address"], "pid": os.getpid(), "gcs_pid": gcs.info["pid"]})
    _process.redirect_std_streams(os.path.join(args.session_dir, "logs", "gcs_keeper.log"))
    stopped.wait()
    procs.stop()
    os._exit(0)


if __name__ == "__main__":
    main()
