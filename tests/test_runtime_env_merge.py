"""Ray's merge of a parent's and a child's runtime_env, without a cluster (runtime_env/merge.py)."""

from __future__ import annotations

import pytest

from kernelray.runtime_env import env_key, merge, problem_of


def test_child_without_env_inherits_the_parent_whole():
    parent = {"env_vars": {"A": "1"}, "working_dir": "gcs://_kr_pkg_x.zip"}
    assert merge(parent, None) == parent and merge(parent, {}) == parent


def test_fields_override_and_env_vars_merge_per_variable():
    parent = {"env_vars": {"A": "p", "B": "p"}, "pip": ["six"], "working_dir": "gcs://_kr_pkg_x.zip"}
    child = {"env_vars": {"B": "c"}, "pip": ["attrs"]}
    assert merge(parent, child) == {"env_vars": {"A": "p", "B": "c"}, "pip": ["attrs"],
                                    "working_dir": "gcs://_kr_pkg_x.zip"}


def test_nothing_merges_to_none():
    assert merge(None, None) is None and merge({}, {}) is None


def test_env_key_ignores_config_and_order():
    assert env_key({"env_vars": {"A": "1", "B": "2"}}) == env_key({"env_vars": {"B": "2", "A": "1"}, "config": {}})
    assert env_key(None) == env_key({"config": {"eager_install": True}}) == ""


@pytest.mark.parametrize("env, word", [
    ({"working_dir": "s3://bucket/pkg.zip"}, "gcs://"),
    ({"py_modules": "not-a-list"}, "list"),
    ({"pip": {"packages": "six"}}, "pip"),
    ({"env_vars": {"A": 1}}, "env_vars"),
    ({"config": {"setup_timeout_seconds": 0}}, "setup_timeout_seconds"),
])
def test_bad_values_are_named(env, word):
    assert word in problem_of(env)


def test_runtime_env_classes_as_ray_offers_them():
    from kernelray.runtime_env import RuntimeEnv, RuntimeEnvConfig

    env = RuntimeEnv(env_vars={"A": "1"}, config=RuntimeEnvConfig(setup_timeout_seconds=30))
    assert env == {"env_vars": {"A": "1"}, "config": {"setup_timeout_seconds": 30, "eager_install": True,
                                                      "log_files": []}}
    with pytest.raises(ValueError, match="conda"):
        RuntimeEnv(conda="env.yaml")
