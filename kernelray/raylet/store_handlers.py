"""The raylet's object-store messages: create, seal, get (pin), release, free, stats."""

from __future__ import annotations

import time

from ..object_store.store import StoreFull

# As Ray's grace period before ObjectStoreFullError: a request the full store refuses waits
# this long for room (pins released and objects freed arrive asynchronously, often on
# another socket than the request that needs the space) before it is refused.
FULL_GRACE_S = 1.0
FULL_RETRY_S = 0.05


class StoreHandlers:
    """The raylet's object-store messages (mixed into Raylet)."""

    def handle_create_object_request(self, msg, sock, idents) -> None:
        c = msg.content
        try:
            entry = self.store.create(c["object_id"], int(c["size"]), c.get("layout"), c.get("owner", ""))
        except StoreFull as exc:
            self._wait_for_room(msg, lambda: self.handle_create_object_request(msg, sock, idents),
                                lambda: self.reply_error(sock, idents, msg, "ObjectStoreFullError", str(exc)))
            return
        self._store_full_since.pop(msg.msg_id, None)
        self.reply(sock, idents, msg, "create_object_reply", {"offset": entry.offset})

    # -- a full store: wait a little for room before refusing ------------------------------
    def _init_store_handlers(self) -> None:
        self._store_full_since: dict = {}  # request msg_id -> when the full store first refused it
        self._store_full_parked: list = []  # retries of refused requests, run when room is made
        self._store_full_timer = None

    def _wait_for_room(self, msg, retry, refuse) -> None:
        since = self._store_full_since.setdefault(msg.msg_id, time.monotonic())
        if time.monotonic() - since >= FULL_GRACE_S:
            self._store_full_since.pop(msg.msg_id, None)
            refuse()
            return
        self._store_full_parked.append(retry)
        if self._store_full_timer is None:
            self._store_full_timer = self.loop.call_later(FULL_RETRY_S, self._retry_parked)

    def _retry_parked(self) -> None:
        self._store_full_timer = None
        parked, self._store_full_parked = self._store_full_parked, []
        for retry in parked:
            retry()

    def _room_made(self) -> None:
        if self._store_full_parked:
            self._retry_parked()

    def handle_object_sealed(self, msg, sock, idents) -> None:
        for waiter in self.store.seal(msg.content["object_id"]):
            waiter()

    def handle_store_get_request(self, msg, sock, idents) -> None:
        c = msg.content
        oids, client = c["object_ids"], c.get("client", "")
        failed = getattr(self, "failed_pulls", {})
        for o, where in (c.get("remote") or {}).items():  # objects of other nodes: pull a copy here
            if o in failed:
                continue
            if o not in self.store.entries:
                problem = self.start_pull(o, where["raylet"], int(where["size"]))
                if problem:
                    failed[o] = problem
        lost = [o for o in oids if o in failed and o not in self.store.entries]
        if lost:
            self.reply_error(sock, idents, msg, "ObjectLostError", f"object {lost[0]} could not be copied to node "
                             f"{self.node_id[:8]}: {failed.pop(lost[0])}")
            return
        missing = [o for o in oids if o not in self.store.entries]
        if missing:
            self.reply_error(sock, idents, msg, "ObjectLostError",
                             f"object {missing[0]} is not in the object store of node {self.node_id[:8]} "
                             "(it was freed, or its node or owner died)")
            return
        unsealed = [o for o in oids if self.store.entries[o].state != "SEALED"]
        if unsealed:
            remaining = {"n": len(unsealed)}

            def one_sealed():
                remaining["n"] -= 1
                if remaining["n"] == 0:
                    self.handle_store_get_request(msg, sock, idents)

            for o in unsealed:
                self.store.entries[o].waiters.append(one_sealed)
            return
        pinned, infos = [], []
        try:
            for o in oids:
                infos.append(self.store.pin(o, client).info())
                pinned.append(o)
        except StoreFull as exc:
            for o in pinned:
                self.store.release(o, client)
            self._wait_for_room(msg, lambda: self.handle_store_get_request(msg, sock, idents),
                                lambda: self.reply_error(sock, idents, msg, "ObjectStoreFullError",
                                                         f"cannot restore a spilled object: {exc}"))
            return
        except OSError as exc:
            for o in pinned:
                self.store.release(o, client)
            self.reply_error(sock, idents, msg, "ObjectLostError", f"its spill file could not be read: {exc}")
            return
        self._store_full_since.pop(msg.msg_id, None)
        self.reply(sock, idents, msg, "store_get_reply", {"objects": infos})

    def handle_objects_released(self, msg, sock, idents) -> None:
        client = msg.content.get("client", "")
        for o in msg.content["object_ids"]:
            self.store.release(o, client)
        self._room_made()

    def handle_objects_freed(self, msg, sock, idents) -> None:
        for o in msg.content["object_ids"]:
            self.notify_copies_freed(o)
            self.store.free(o)
        self._room_made()

    def handle_store_stats_request(self, msg, sock, idents) -> None:
        content = self.store.stats()
        if msg.content.get("objects"):
            content["objects"] = self.store.table()
        content["node_id"] = self.node_id
        self.reply(sock, idents, msg, "store_stats_reply", content)

    def handle_owner_died(self, msg, sock, idents) -> None:
        address = msg.content.get("address")
        if address:
            self.store.client_gone(address)
            self.store.owner_gone(address)
