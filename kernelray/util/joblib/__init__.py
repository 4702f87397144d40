"""joblib on the cluster, as ``ray.util.joblib``: ``register_ray()``, then ``parallel_backend("ray")``.

::

    import joblib
    from kernelray.util.joblib import register_ray
    register_ray()
    with joblib.parallel_backend("ray"):
        search.fit(X, y)                 # scikit-learn's n_jobs now runs on kernelray actors

joblib is an optional dependency: ``pip install kernelray[joblib]``.
"""


def register_ray() -> None:
    """Register the backend so that ``joblib.parallel_backend("ray")`` runs on kernelray."""
    try:
        from joblib.parallel import register_parallel_backend

        from .ray_backend import RayBackend
    except ImportError as exc:
        raise ImportError("To use the ray backend you must install joblib. Try running 'pip install "
                          "kernelray[joblib]' (or 'pip install joblib').") from exc
    register_parallel_backend("ray", RayBackend)


__all__ = ["register_ray"]
