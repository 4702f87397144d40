"""Moving objects between nodes: a raylet pulls a missing object in chunks from the
raylet that holds it, into its own store, as a secondary copy.

Chunks of 4 MiB travel as zero-copy frames, eight in flight.  The copy is pinned while it
is written and sealed when the last chunk lands; readers waiting on it then proceed.  A
pull that makes no progress for 10 s (the source node died) fails its readers with
ObjectLostError.  Secondary copies are evicted before anything else under pressure, and
dropped when the primary's raylet says the owner freed the object.
"""

from __future__ import annotations

import os
import time

from ..object_store.store import StoreFull

CHUNK = 4 * 2**20
IN_FLIGHT = 8
STALL_S = 10.0


class Pull:
    __slots__ = ("oid", "source", "size", "next_offset", "received", "outstanding", "last_progress", "entry")

    def __init__(self, oid, source, size, entry):
        self.oid = oid
        self.source = source
        self.size = size
        self.next_offset = 0
        self.received = 0
        self.outstanding = 0
        self.last_progress = time.monotonic()
        self.entry = entry


class ObjectManagerHandlers:
    """Mixed into the Raylet: pull_object_request/reply, object_copy_freed."""

    def start_pull(self, oid: str, source: str, size: int) -> str | None:
        """Begin pulling ``oid`` from raylet ``source``; an error text if it cannot start."""
        pulls = self.__dict__.setdefault("pulls", {})
        if oid in pulls or oid in self.store.entries:
            return None
        try:
            entry = self.store.create(oid, size, None, owner="")
        except StoreFull as exc:
            return f"no room to copy it here: {exc}"
        entry.secondary = True
        pull = pulls[oid] = Pull(oid, source, size, entry)
        self._request_chunks(pull)
        return None

    def _request_chunks(self, pull: Pull) -> None:
        sock = self.peer(pull.source)
        while pull.outstanding < IN_FLIGHT and pull.next_offset < pull.size:
            length = min(CHUNK, pull.size - pull.next_offset)
            self.request(sock, "pull_object_request",
                         {"object_id": pull.oid, "offset": pull.next_offset, "length": length,
                          "requester": self.address},
                         lambda m, p=pull: self._on_chunk(p, m))
            pull.next_offset += length
            pull.outstanding += 1

    def _on_chunk(self, pull: Pull, msg) -> None:
        pulls = self.__dict__.setdefault("pulls", {})
        if pulls.get(pull.oid) is not pull:
            return
        c = msg.content
        if c.get("status") != "ok":
            self._fail_pull(pull, c.get("evalue", "the source no longer has it"))
            return
        entry = pull.entry
        start = entry.offset + c["offset"]
        data = msg.buffers[0]
        done = 0
        while done < len(data):  # pwrite: no page faults into this process for fresh store pages
            done += os.pwrite(self.arena.fd, data[done:], start + done)
        if c.get("layout") is not None:
            entry.layout = c["layout"]
        pull.outstanding -= 1
        pull.received += len(data)
        pull.last_progress = time.monotonic()
        if pull.received >= pull.size:
            del pulls[pull.oid]
            self.pulled_bytes = getattr(self, "pulled_bytes", 0) + pull.size
            for waiter in self.store.seal(pull.oid):
                waiter()
            return
        self._request_chunks(pull)

    def _fail_pull(self, pull: Pull, reason: str) -> None:
        self.__dict__.setdefault("pulls", {}).pop(pull.oid, None)
        self.__dict__.setdefault("failed_pulls", {})[pull.oid] = reason
        self.store.abort(pull.oid)
        for waiter in pull.entry.waiters:
            waiter()
        pull.entry.waiters = []

    def check_pulls(self) -> None:
        now = time.monotonic()
        for pull in list(self.__dict__.get("pulls", {}).values()):
            if now - pull.last_progress > STALL_S:
                self._fail_pull(pull, f"its node ({pull.source}) stopped answering for {STALL_S:.0f} s")

    # -- the source side ------------------------------------------------------------------
    def handle_pull_object_request(self, msg, sock, idents) -> None:
        c = msg.content
        oid = c["object_id"]
        entry = self.store.entries.get(oid)
        if entry is not None and entry.state != "SEALED":  # its writer has not sealed it yet: wait
            entry.waiters.append(lambda: self.handle_pull_object_request(msg, sock, idents))
            return
        if entry is None:
            self.reply_error(sock, idents, msg, "ObjectLostError", f"object {oid} is not in node {self.node_id[:8]}'s store")
            return
        if c["offset"] == 0:
            entry.copies.add(c.get("requester") or "")
        entry = self.store.pin(oid, "pull")
        try:
            start = entry.offset + c["offset"]
            chunk = bytes(self.arena.view[start : start + c["length"]])
        finally:
            self.store.release(oid, "pull")
        reply = {"object_id": oid, "offset": c["offset"]}
        if c["offset"] == 0:
            reply["layout"] = entry.layout
        self.reply(sock, idents, msg, "pull_object_reply", reply, [chunk])

    def notify_copies_freed(self, oid: str) -> None:
        entry = self.store.entries.get(oid)
        if entry is None:
            return
        for raylet in entry.copies:
            if raylet:
                self.send(self.peer(raylet), "object_copy_freed", {"object_id": oid})

    def handle_object_copy_freed(self, msg, sock, idents) -> None:
        entry = self.store.entries.get(msg.content["object_id"])
        if entry is not None and entry.secondary:
            self.store.free(entry.oid)
