"""ObjectRef: a future for a remote object, carrying its owner's address."""

from __future__ import annotations

from collections import deque

from .core import context
from .core.serialization import contained_refs_sink


class ObjectRef:
    """A reference to an object owned by one worker process (its ``owner_address``).

    Hashable, compared by ID; pickling one inside another value passes it by
    reference (the receiver borrows it from the owner).
    """

    __slots__ = ("_id", "_owner", "_counted", "__weakref__")

    def __init__(self, oid: bytes, owner: str, _count: bool = True):
        self._id = oid
        self._owner = owner
        self._counted = False
        if _count:
            core = context.core
            if core is not None:
                ctx = getattr(context.task_local, "spec", None)
                if ctx is not None and owner != core.address:
                    ctx.saw_refs = True
                    core.ref_events.append((3, oid, (owner, ctx.task_id)))
                else:
                    core.ref_events.append((1, oid, owner))
                self._counted = True

    def binary(self) -> bytes:
        return self._id

    def hex(self) -> str:
        return self._id.hex()

    # Ray's ID methods (``ray.ObjectID`` is ``ObjectRef``): an ID built from bytes or hex is not
    # reference-counted and has no owner here; it names the object, as in Ray.
    @classmethod
    def size(cls) -> int:
        return 28

    @classmethod
    def from_binary(cls, id_bytes: bytes) -> "ObjectRef":
        return cls(id_bytes, "", _count=False)

    @classmethod
    def from_hex(cls, hex_id: str) -> "ObjectRef":
        return cls(bytes.fromhex(hex_id), "", _count=False)

    @classmethod
    def nil(cls) -> "ObjectRef":
        return cls(b"\xff" * 28, "", _count=False)

    def is_nil(self) -> bool:
        return self._id == b"\xff" * 28

    def task_id(self) -> str:
        return self._id[:24].hex()

    def job_id(self) -> str:
        return self._id[20:24].hex()

    @property
    def owner_address(self) -> str:
        return self._owner

    def __repr__(self) -> str:
        return f"ObjectRef({self._id.hex()})"

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __reduce__(self):
        sink = contained_refs_sink()
        if sink is not None:
            sink.append(self)
        return _rebuild_ref, (self._id, self._owner)

    def __del__(self):
        if self._counted:
            core = context.core
            if core is not None:
                core.ref_events.append((-1, self._id, None))

    def future(self):
        """A ``concurrent.futures.Future`` resolved with the value (or the error)."""
        core = context.require_core()
        return core.future_of(self)

    def __await__(self):
        import asyncio

        return asyncio.wrap_future(self.future()).__await__()


def _rebuild_ref(oid: bytes, owner: str) -> ObjectRef:
    return ObjectRef(oid, owner)


class ObjectRefGenerator:
    """The refs a streaming generator task yields, as they arrive (``num_returns="streaming"``)."""

    def __init__(self, task_id: bytes, owner: str, state):
        self._task_id = task_id
        self._owner = owner
        self._state = state
        self._next_index = 1

    def __iter__(self):
        return self

    def __next__(self) -> ObjectRef:
        return self._next_sync(None)

    def _next_sync(self, timeout_s: float | None = None) -> ObjectRef:
        core = context.require_core()
        index = self._next_index
        if not core.wait_generator_item(self._state, index, timeout_s):
            from .exceptions import GetTimeoutError

            raise GetTimeoutError(f"no item {index} from the generator within {timeout_s} s")
        if index > self._state.available():
            raise StopIteration
        self._next_index += 1
        ref = ObjectRef(self._task_id + index.to_bytes(4, "little"), self._owner)
        core.loop.call_soon(core.submitter.item_handed_out, self._task_id, index)
        return ref

    def completed(self) -> bool:
        return self._state.done

    def __repr__(self) -> str:
        return f"ObjectRefGenerator(task_id={self._task_id.hex()})"

    def __del__(self):
        core = context.core
        if core is not None and self._state is not None:
            core.ref_events.append((0, self._task_id, self._state))


class DynamicObjectRefGenerator:
    """The value of a ``num_returns="dynamic"`` task's ref: the refs of what it yielded, in order.

    Iterating hands each ref out once (as Ray's does); ``len()`` counts those not handed out yet."""

    def __init__(self, refs):
        self._refs = deque(refs)

    def __iter__(self):
        while self._refs:
            yield self._refs.popleft()

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"DynamicObjectRefGenerator({len(self._refs)} refs)"
