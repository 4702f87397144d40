"""``multiprocessing.Pool`` on the cluster, as ``ray.util.multiprocessing``."""

from multiprocessing import JoinableQueue, TimeoutError

from .pool import AsyncResult, Pool

__all__ = ["AsyncResult", "JoinableQueue", "Pool", "TimeoutError"]
