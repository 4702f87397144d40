"""The client side of the store, in every driver and worker.

Writing: one ``create_object_request`` round trip for an offset, a memcpy of the pickle
data and each out-of-band buffer straight into the arena, then ``object_sealed``.
Reading: one ``store_get_request`` pins the copies; each object is wrapped in one
read-only numpy holder over the arena whose finalizer releases the pin, so a numpy array
returned by ``get`` keeps its object in memory exactly as long as it lives.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import weakref

import zmq

from ..protocol import transport
from ..protocol.session import poll_in, recv_frames

from ..core.memory_store import StoredObject
from ..exceptions import ObjectLostError, ObjectStoreFullError, RaySystemError
from .allocator import align

PLASMA = "plasma"
PWRITE_FROM = 1 << 20


def layout_of(obj: StoredObject) -> tuple:
    """(total size, [[offset, length]] for the pickle data and each buffer), 64-byte aligned."""
    pos = 0
    layout = []
    for part in (obj.data, *obj.buffers):
        n = memoryview(part).nbytes
        pos = align(pos)
        layout.append([pos, n])
        pos += n
    return max(pos, 1), layout


def plasma_stub(oid: bytes, size: int, node_id: str, raylet: str) -> StoredObject:
    loc = json.dumps({"object_id": oid.hex(), "size": size, "node_id": node_id, "raylet": raylet}).encode()
    stub = StoredObject(PLASMA, loc)
    stub.nbytes = size
    return stub


def location(obj: StoredObject) -> dict:
    return json.loads(bytes(obj.data))


class StoreClient:
    def __init__(self, core, arena):
        self.core = core
        self.arena = arena
        self.client_id = core.address
        self._local = threading.local()  # each thread's own DEALER to the raylet
        self._sockets: list = []

    def write(self, oid: bytes, obj: StoredObject) -> StoredObject:
        size, layout = layout_of(obj)
        offset = self._create(oid, size, layout)
        view = self.arena.view
        fd = self.arena.fd
        for (off, n), part in zip(layout, (obj.data, *obj.buffers)):
            start = offset + off
            src = memoryview(part).cast("B")
            if n < PWRITE_FROM:
                view[start : start + n] = src
                continue
            # pwrite fills tmpfs pages without faulting them into this process one by one:
            # 1.9 GB/s into fresh memory (memcpy: 0.8), 4.2 GB/s into reused memory; no GIL held
            done = 0
            while done < n:
                done += os.pwrite(fd, src[done:], start + done)
        core = self.core
        core.loop.call_soon(core.send, core.raylet, "object_sealed", {"object_id": oid.hex()})
        return plasma_stub(oid, size, core.node_id.hex(), core.raylet_address)

    def _create(self, oid: bytes, size: int, layout) -> int:
        content = {"object_id": oid.hex(), "size": size, "layout": layout, "owner": self.core.address}
        self.core.refs_flush()  # objects freed just now go back to the store before this one is placed
        for attempt in range(2):
            try:
                # through the loop thread, in order after the frees it just sent: the new object
                # can take memory that is already paged in (a put is a large copy anyway)
                return self.core.call(self.core.raylet, "create_object_request", content, timeout=120).content["offset"]
            except RaySystemError as exc:
                text = str(exc)
                if "ObjectStoreFullError" not in text:
                    raise
                if attempt == 0:  # refs held only by garbage cycles pin objects: collect, then retry once
                    gc.collect()
                    self.core.refs_flush()
                    continue
                raise ObjectStoreFullError(text.split("ObjectStoreFullError: ", 1)[-1]) from None
        raise AssertionError("unreachable")

    def read_many(self, oids: list, remote: dict | None = None) -> dict:
        """oid -> [pickle data view, buffer views...]; each set pins its object while alive.

        ``remote`` maps object ids (hex) of other nodes' objects to {raylet, size}: the local
        raylet pulls a copy first."""
        try:
            reply = self._rpc("store_get_request",
                                   {"object_ids": [o.hex() for o in oids], "client": self.client_id,
                                    "remote": remote or {}}, timeout=300)
        except RaySystemError as exc:
            text = str(exc)
            if "ObjectLostError" in text:
                raise ObjectLostError(oids[0].hex(), reason=text.split("ObjectLostError: ", 1)[-1]) from None
            if "ObjectStoreFullError" in text:
                raise ObjectStoreFullError(text.split("ObjectStoreFullError: ", 1)[-1]) from None
            raise
        import numpy as np

        out = {}
        for info in reply.content["objects"]:
            holder = np.frombuffer(self.arena.mm, dtype=np.uint8, count=info["size"], offset=info["offset"])
            holder.flags.writeable = False
            weakref.finalize(holder, self._release, info["object_id"])
            mv = memoryview(holder)
            out[bytes.fromhex(info["object_id"])] = [mv[o : o + n] for o, n in info["layout"]]
        return out

    def _rpc(self, msg_type: str, content: dict, timeout: float):
        """A request to the local raylet straight from the calling thread, on a socket that
        thread owns: no hand-off to the loop thread and back (a store get costs one round trip)."""
        core = self.core
        if core.loop.in_loop_thread():
            return core.call(core.raylet, msg_type, content, timeout=timeout)
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = core.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(transport.connect_address(core.raylet_address))
            self._local.sock = sock
            self._sockets.append(sock)
        header = core.session.header(msg_type)
        core.session.send(sock, msg_type, content, header=header)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poll_in(sock, int(left * 1000) + 1):
                raise RaySystemError(f"no reply to {msg_type} from the raylet within {timeout} s")
            msg = core.session.unpack(recv_frames(sock, 0))
            if msg is None or msg.parent.get("msg_id") != header["msg_id"]:
                continue  # a late reply to an earlier request that timed out
            if msg.content.get("status") == "error":
                raise RaySystemError(f"{msg_type} failed: {msg.content.get('ename')}: {msg.content.get('evalue')}")
            return msg

    def _release(self, oid_hex: str) -> None:
        core = self.core
        if core.connected:
            core.loop.call_soon(core.send, core.raylet, "objects_released",
                                {"object_ids": [oid_hex], "client": self.client_id})

    def free(self, oids: list) -> None:
        """Owner side (loop thread): the objects are no longer referenced."""
        core = self.core
        core.send(core.raylet, "objects_freed", {"object_ids": [o.hex() for o in oids]})
