"""RayBackend: a joblib backend whose workers are a kernelray.util.multiprocessing.Pool.

joblib batches the calls (auto-batching, as its multiprocessing backend does) and hands each batch to
``Pool.apply_async``; ``n_jobs=-1`` means every CPU of the cluster (``init()`` first if needed), and
``n_jobs=1`` runs in this process, as joblib does for its process backends.
"""

from __future__ import annotations

from typing import Any, Optional

from joblib._parallel_backends import (
    AutoBatchingMixin,
    FallbackToBackend,
    ParallelBackendBase,
    PoolManagerMixin,
    SequentialBackend,
)

import kernelray

from ..multiprocessing import Pool


class RayBackend(PoolManagerMixin, AutoBatchingMixin, ParallelBackendBase):
    """``ray_remote_args`` configure the pool's actors (given here or to ``Parallel``)."""

    supports_retrieve_callback = True
    supports_return_generator = False
    supports_timeout = True

    def __init__(self, nesting_level: Optional[int] = None, inner_max_num_threads: Optional[int] = None,
                 ray_remote_args: Optional[dict] = None, **kwargs: Any):
        self.ray_remote_args = ray_remote_args
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **kwargs)

    def effective_n_jobs(self, n_jobs):
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        if n_jobs < 0:
            if not kernelray.is_initialized():
                kernelray.init()
            cpus = int(kernelray.cluster_resources().get("CPU", 1))
            return max(cpus + 1 + n_jobs, 1)
        return n_jobs

    def configure(self, n_jobs: int = 1, parallel=None, prefer=None, require=None,
                  ray_remote_args: Optional[dict] = None, **backend_kwargs):
        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1:
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        remote_args = ray_remote_args if ray_remote_args is not None else self.ray_remote_args
        self._pool = Pool(n_jobs, ray_remote_args=remote_args)
        self.parallel = parallel
        return n_jobs

    def terminate(self):
        super().terminate()
        self.reset_batch_stats()
