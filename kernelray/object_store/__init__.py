"""The shared-memory object store: one arena per node, held by the raylet.

* ``arena``      the /dev/shm segment: created by the raylet, mapped once by every client
* ``allocator``  first-fit with coalescing over the arena (64-byte aligned blocks)
* ``store``      object table, reader pins, eviction and spilling decisions (no I/O)
* ``spill``      fused spill files: many objects per file, deleted when all are freed
* ``client``     writing an object into the arena and reading zero-copy views of it
"""

INLINE_THRESHOLD = 100 * 1024  # objects at least this big go to the store (as in Ray)
