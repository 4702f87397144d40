"""kernelray.util.joblib: joblib's Parallel (and scikit-learn's n_jobs, if installed) on kernelray actors."""

import os

import pytest

joblib = pytest.importorskip("joblib", reason="joblib is an optional extra: pip install kernelray[joblib]")

from kernelray.util.joblib import register_ray  # noqa: E402


def worker_pid(x):
    return x * x, os.getpid()


def fail(x):
    raise KeyError(x)


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_ray()


def test_parallel_runs_on_the_pools_actors(cluster):
    with joblib.parallel_backend("ray"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(worker_pid)(i) for i in range(20))
    assert [v for v, _ in out] == [i * i for i in range(20)]
    assert os.getpid() not in {pid for _, pid in out}


def test_n_jobs_minus_one_means_the_clusters_cpus(cluster):
    with joblib.parallel_backend("ray"):
        parallel = joblib.Parallel(n_jobs=-1)
        assert parallel._effective_n_jobs() == 2
        assert parallel(joblib.delayed(abs)(-i) for i in range(5)) == [0, 1, 2, 3, 4]


def test_errors_reach_the_caller(cluster):
    with joblib.parallel_backend("ray"), pytest.raises(KeyError):
        joblib.Parallel(n_jobs=2)(joblib.delayed(fail)(i) for i in range(3))


def test_ray_remote_args_and_n_jobs_one(cluster):
    with joblib.parallel_backend("ray", ray_remote_args={"num_cpus": 0}):
        assert joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-1) for _ in range(2)) == [1, 1]
    with joblib.parallel_backend("ray"):
        assert joblib.Parallel(n_jobs=1)(joblib.delayed(worker_pid)(2) for _ in range(1)) == [(4, os.getpid())]


def test_scikit_learn_n_jobs(cluster):
    sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import RandomizedSearchCV
    from sklearn.svm import SVC

    digits = load_digits()
    search = RandomizedSearchCV(SVC(), {"C": [1, 10], "gamma": [0.001, 0.01]}, n_iter=4, cv=2, n_jobs=2)
    with joblib.parallel_backend("ray"):
        search.fit(digits.data[:300], digits.target[:300])
    assert sklearn and search.best_score_ > 0.5
