"""The raylet's object-store messages: create, seal, get (pin), release, free, stats."""

from __future__ import annotations

from ..object_store.store import StoreFull


class StoreHandlers:
    """The raylet's object-store messages (mixed into Raylet)."""

    def handle_create_object_request(self, msg, sock, idents) -> None:
        c = msg.content
        try:
            entry = self.store.create(c["object_id"], int(c["size"]), c.get("layout"), c.get("owner", ""))
        except StoreFull as exc:
            self.reply_error(sock, idents, msg, "ObjectStoreFullError", str(exc))
            return
        self.reply(sock, idents, msg, "create_object_reply", {"offset": entry.offset})

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
            self.reply_error(sock, idents, msg, "ObjectStoreFullError", f"cannot restore a spilled object: {exc}")
            return
        except OSError as exc:
            for o in pinned:
                self.store.release(o, client)
            self.reply_error(sock, idents, msg, "ObjectLostError", f"its spill file could not be read: {exc}")
            return
        self.reply(sock, idents, msg, "store_get_reply", {"objects": infos})

    def handle_objects_released(self, msg, sock, idents) -> None:
        client = msg.content.get("client", "")
        for o in msg.content["object_ids"]:
            self.store.release(o, client)

    def handle_objects_freed(self, msg, sock, idents) -> None:
        for o in msg.content["object_ids"]:
            self.notify_copies_freed(o)
            self.store.free(o)

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
