"""runtime_env beyond env_vars: working_dir, py_modules, excludes, config; inheritance by
nested tasks and actors, merged as Ray merges it; keys kernelray cannot apply are refused."""

from __future__ import annotations

import os

import pytest

import kernelray
from kernelray.exceptions import RuntimeEnvSetupError

from .conftest import multi_node_cluster

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def project(tmp_path):
    """A small project folder: a module, a package, a data file and a folder to exclude."""
    (tmp_path / "helper_mod.py").write_text("VALUE = 42\n")
    (tmp_path / "helper_pkg").mkdir()
    (tmp_path / "helper_pkg" / "__init__.py").write_text("NAME = 'pkg'\n")
    (tmp_path / "data.txt").write_text("hello\n")
    (tmp_path / "big_logs").mkdir()
    (tmp_path / "big_logs" / "x.log").write_text("noise\n")
    return tmp_path


@kernelray.remote
def read_project():
    import helper_mod

    return os.getcwd(), helper_mod.VALUE, open("data.txt").read(), os.path.exists("big_logs")


@kernelray.remote
def env_seen():
    return {k: os.environ.get(k) for k in ("A", "B", "C")}, kernelray.get_runtime_context().runtime_env


def test_working_dir_is_cwd_and_importable(cluster, project):
    env = {"working_dir": str(project), "excludes": ["big_logs"]}
    cwd, value, text, has_logs = kernelray.get(read_project.options(runtime_env=env).remote(), timeout=30)
    assert value == 42 and text == "hello\n"
    assert "runtime_resources" in cwd and "_kr_pkg_" in cwd  # unpacked in the node's cache, not the source
    assert not has_logs  # excludes left it out


def test_working_dir_is_fetched_once_per_node(cluster, project):
    env = {"working_dir": str(project)}
    first = kernelray.get([read_project.options(runtime_env=env).remote() for _ in range(4)], timeout=30)
    assert len({cwd for cwd, *_ in first}) == 1  # one content-addressed copy


def test_job_working_dir_reaches_every_task(project):
    from .conftest import local_cluster

    with local_cluster(num_cpus=1, runtime_env={"working_dir": str(project)}):
        assert kernelray.get(read_project.remote(), timeout=30)[1] == 42


def test_working_dir_on_two_nodes(project):
    with multi_node_cluster({"num_cpus": 1, "resources": {"first": 1}}, {"num_cpus": 1, "resources": {"second": 1}}):
        env = {"working_dir": str(project)}
        refs = [read_project.options(runtime_env=env, resources={name: 0.5}).remote() for name in ("first", "second")]
        results = kernelray.get(refs, timeout=40)
        assert [r[1] for r in results] == [42, 42]
        assert len({os.path.dirname(r[0]) for r in results}) == 2  # each node fetched it into its own cache


def test_py_modules_folder_and_file(cluster, project, tmp_path_factory):
    other = tmp_path_factory.mktemp("mods")
    (other / "single_file_mod.py").write_text("def hi():\n    return 'hi'\n")

    @kernelray.remote
    def use_modules():
        import helper_pkg
        import single_file_mod

        return helper_pkg.NAME, single_file_mod.hi()

    env = {"py_modules": [str(project / "helper_pkg"), str(other / "single_file_mod.py")]}
    assert kernelray.get(use_modules.options(runtime_env=env).remote(), timeout=30) == ("pkg", "hi")


def _tiny_wheel(folder) -> str:
    """A minimal pure-Python wheel, written by hand (no build tools needed)."""
    import zipfile

    path = folder / "tinywheel_kr-0.1-py3-none-any.whl"
    files = {
        "tinywheel_kr/__init__.py": "ANSWER = 'from a wheel'\n",
        "tinywheel_kr-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinywheel-kr\nVersion: 0.1\n",
        "tinywheel_kr-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                                            "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "tinywheel_kr-0.1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("tinywheel_kr-0.1.dist-info/RECORD", record)
    return str(path)


@pytest.mark.timeout(120)
def test_py_modules_wheel(cluster, tmp_path_factory):
    wheel = _tiny_wheel(tmp_path_factory.mktemp("wheels"))

    @kernelray.remote
    def use_wheel():
        import tinywheel_kr

        return tinywheel_kr.ANSWER

    assert kernelray.get(use_wheel.options(runtime_env={"py_modules": [wheel]}).remote(), timeout=90) == "from a wheel"


def test_missing_package_raises_runtime_env_setup_error(cluster):
    ref = env_seen.options(runtime_env={"working_dir": "gcs://_kr_pkg_missing.zip"}).remote()
    with pytest.raises(RuntimeEnvSetupError, match="_kr_pkg_missing"):
        kernelray.get(ref, timeout=30)


def test_actor_whose_env_fails_raises_runtime_env_setup_error(cluster):
    @kernelray.remote
    class Never:
        def ping(self):
            return 1

    actor = Never.options(runtime_env={"working_dir": "gcs://_kr_pkg_missing_too.zip"}).remote()
    with pytest.raises(RuntimeEnvSetupError, match="Could not create the actor because its associated runtime env"):
        kernelray.get(actor.ping.remote(), timeout=30)


@pytest.mark.parametrize("key", ["conda", "container", "image_uri", "no_such_field"])
def test_key_not_applied_is_refused_by_name(cluster, key):
    with pytest.raises(ValueError, match=key):
        env_seen.options(runtime_env={key: ["x"]}).remote()


def test_unknown_key_is_refused_at_init(run_python):
    code, out, err = run_python("""
        import kernelray
        try:
            kernelray.init(num_cpus=1, runtime_env={"no_such_field": 1})
        except ValueError as exc:
            print("refused:", exc, kernelray.is_initialized())
    """, timeout=30)
    assert "refused:" in out and "no_such_field" in out and out.strip().endswith("False"), err


def test_unknown_config_entry_is_refused(cluster):
    with pytest.raises(ValueError, match="bogus"):
        env_seen.options(runtime_env={"config": {"bogus": 1}}).remote()


def test_nested_tasks_inherit_and_merge_env_vars():
    """Ray 2.x's results for the same program (checked in a scratch venv)."""
    from .conftest import local_cluster

    @kernelray.remote
    def parent():
        return kernelray.get(env_seen.remote()), kernelray.get(env_seen.options(runtime_env={"env_vars": {"C": "c"}}).remote())

    with local_cluster(num_cpus=2, runtime_env={"env_vars": {"A": "job", "B": "job"}}):
        assert kernelray.get(env_seen.remote(), timeout=30)[0] == {"A": "job", "B": "job", "C": None}
        inherited, merged = kernelray.get(parent.options(runtime_env={"env_vars": {"B": "p"}}).remote(), timeout=30)
        assert inherited[0] == {"A": "job", "B": "p", "C": None}
        assert inherited[1] == {"env_vars": {"A": "job", "B": "p"}}
        assert merged[0] == {"A": "job", "B": "p", "C": "c"}


def test_actor_nested_tasks_inherit(cluster, project):
    @kernelray.remote
    class Holder:
        def run(self):
            return kernelray.get(read_project.remote())[1], kernelray.get(env_seen.remote())[0]["C"]

    h = Holder.options(runtime_env={"working_dir": str(project), "env_vars": {"C": "actor"}}).remote()
    assert kernelray.get(h.run.remote(), timeout=30) == (42, "actor")


def _pypi_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


@kernelray.remote
def six_version():
    import six

    return six.__version__, six.__file__, os.environ.get("VIRTUAL_ENV")


@pytest.mark.timeout(240)
def test_pip_installs_into_a_cached_venv(cluster):
    if not _pypi_reachable():
        pytest.skip("pypi.org cannot be reached from here: no real pip install possible")
    env = {"pip": ["six==1.16.0"]}
    version, path, venv = kernelray.get(six_version.options(runtime_env=env).remote(), timeout=200)
    assert version == "1.16.0" and path.startswith(venv) and "runtime_resources" in venv
    ready = os.path.getmtime(os.path.join(venv, ".ready"))
    # a second worker for the same requirements reuses the venv
    again = kernelray.get(six_version.options(runtime_env={"pip": ["six==1.16.0"], "env_vars": {"X": "1"}}).remote(),
                          timeout=60)
    assert again[2] == venv and os.path.getmtime(os.path.join(venv, ".ready")) == ready


@pytest.mark.timeout(240)
def test_failed_pip_install_raises_with_pips_message(cluster):
    if not _pypi_reachable():
        pytest.skip("pypi.org cannot be reached from here: no real pip install possible")
    ref = env_seen.options(runtime_env={"pip": ["kernelray-no-such-package-zz9"]}).remote()
    with pytest.raises(RuntimeEnvSetupError, match="kernelray-no-such-package-zz9") as info:
        kernelray.get(ref, timeout=200)
    assert "pip install failed" in str(info.value)


def test_pip_and_uv_together_are_refused(cluster):
    with pytest.raises(ValueError, match="cannot be specified at the same time"):
        env_seen.options(runtime_env={"pip": ["six"], "uv": ["six"]}).remote()


@pytest.mark.timeout(120)
def test_uv_without_the_uv_command_says_so(cluster):
    import shutil

    if shutil.which("uv"):
        pytest.skip("uv is installed here: this checks the message when it is not")
    ref = env_seen.options(runtime_env={"uv": ["six"]}).remote()
    with pytest.raises(RuntimeEnvSetupError, match="'uv' command"):
        kernelray.get(ref, timeout=90)


def test_runtime_env_object_is_accepted(cluster, project):
    from kernelray.runtime_env import RuntimeEnv

    env = RuntimeEnv(working_dir=str(project), env_vars={"C": "obj"})
    _, value, _, _ = kernelray.get(read_project.options(runtime_env=env).remote(), timeout=30)
    assert value == 42
