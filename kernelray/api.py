"""The Ray-compatible surface: thin functions over the driver's CoreWorker."""

from __future__ import annotations

import contextlib
import atexit
import logging
import os
import sys
import threading
import time

from . import node as _node
from .core import context
from .exceptions import RaySystemError
from .object_ref import ObjectRef, ObjectRefGenerator

log = logging.getLogger("kernelray")
_lock = threading.RLock()


class Driver:
    """This process's connection to a cluster (and the processes it started, if any)."""

    def __init__(self):
        self.core = None
        self.processes: _node.ClusterProcesses | None = None
        self.info: dict = {}
        self.job: dict = {}
        self.heartbeat = None

    @property
    def connected(self) -> bool:
        return self.core is not None


_driver = Driver()
_on_connect: list = []  # callables(core) run once a driver is connected (the Jupyter bridge hooks in here)


class RayContext(dict):
    """What ``init()`` returns: the address info, also usable as a context manager."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutdown()

    @property
    def address_info(self) -> dict:
        return dict(self)

    def _repr_html_(self) -> str:
        from .extension.summary import context_html

        return context_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .extension.summary import context_mimebundle

        return context_mimebundle(self, include, exclude)


def is_initialized() -> bool:
    return _driver.connected


def _default_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _total_memory() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover
        return 8e9


def init(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    resources: dict | None = None,
    object_store_memory: int | None = None,
    namespace: str | None = None,
    ignore_reinit_error: bool = False,
    log_to_driver: bool = True,
    runtime_env: dict | None = None,
    include_dashboard: bool | None = None,
    logging_level=logging.WARNING,
    configure_logging: bool = True,
    _node_ip_address: str = "127.0.0.1",
    **kwargs,
) -> RayContext:
    """Start a local cluster (address None) or connect to one ("auto", "host:port")."""
    with _lock:
        if _driver.connected:
            if ignore_reinit_error:
                return RayContext(_driver.info)
            raise RuntimeError(
                "Maybe you called kernelray.init twice by accident? This error can be suppressed by passing in "
                "'ignore_reinit_error=True' or by calling 'kernelray.shutdown()' prior to 'kernelray.init()'."
            )
        if namespace is not None and not isinstance(namespace, str):
            raise TypeError("namespace must be None or a string.")
        unknown = set(kwargs) - {"local_mode", "_temp_dir", "dashboard_host", "dashboard_port", "_system_config",
                                 "object_spilling_directory", "_plasma_directory", "num_workers"}
        if unknown:
            raise TypeError(f"init() got unexpected keyword arguments {sorted(unknown)}")
        if kwargs.get("local_mode"):
            raise ValueError("local_mode is not supported: kernelray always runs tasks in worker processes")
        if runtime_env is not None:
            from .options import _runtime_env

            problem = _runtime_env(runtime_env)
            if problem:
                raise ValueError(f"init(runtime_env=...): {problem}")
        if address is None:
            address = os.environ.get("KERNELRAY_ADDRESS") or os.environ.get("RAY_ADDRESS")
            if address in ("local", ""):
                address = None
        if address is not None:
            if any(v is not None for v in (num_cpus, num_gpus, resources, object_store_memory)):
                raise ValueError(
                    "When connecting to an existing cluster, num_cpus, num_gpus, resources and "
                    "object_store_memory must not be given: they belong to the cluster."
                )
            info = _node.read_connection_file(address)
        else:
            info = _start_local(num_cpus, num_gpus, resources, object_store_memory, _node_ip_address)
        try:
            _connect(info, namespace, log_to_driver, runtime_env)
        except BaseException:
            _teardown()
            raise
        return RayContext(_driver.info)


def _start_local(num_cpus, num_gpus, resources, object_store_memory, ip) -> dict:
    from .raylet.resources import node_resources

    if num_cpus is not None and num_cpus < 0:
        raise ValueError("num_cpus must be >= 0")
    session_dir = _node.new_session_dir()
    key = _node.new_key_hex()
    procs = _node.ClusterProcesses(session_dir, key, ip)
    _driver.processes = procs
    cpus = _default_cpus() if num_cpus is None else num_cpus
    from .object_store import arena as arena_mod

    memory = _total_memory()
    store = int(object_store_memory or arena_mod.default_size(memory))
    arena_mod.check_room(store)
    total = node_resources(cpus, num_gpus or 0, resources, memory * 0.7, store, ip)
    port = _node.free_port(ip)
    try:
        gcs = procs.spawn_gcs(port)
        raylet = procs.spawn_raylet(f"tcp://{ip}:{port}", total, prestart=int(cpus), head=True)
        from .core import core_worker  # noqa: F401 - our own imports overlap the servers' start-up
        from .object_store import client  # noqa: F401

        procs.wait_ready([gcs, raylet])
    except BaseException:
        procs.stop()
        _driver.processes = None
        raise
    info = {
        "ip": ip,
        "port": port,
        "gcs_address": f"tcp://{ip}:{port}",
        "address": f"{ip}:{port}",
        "raylet_address": raylet.info["address"],
        "node_id": raylet.info["node_id"],
        "session_dir": session_dir,
        "key": key,
        "gcs_pid": gcs.info["pid"],
        "started_by_pid": os.getpid(),
    }
    _node.write_connection_file(info)
    _supervise_gcs(procs, gcs, port, info)
    return info


def _supervise_gcs(procs, gcs, port: int, info: dict) -> None:
    """The driver that started the cluster restarts its GCS when it dies (gcs/supervisor.py)."""
    from .gcs.supervisor import GcsSupervisor

    def on_restart(pid: int) -> None:
        info["gcs_pid"] = pid
        _node.write_connection_file(info)

    procs.supervisor = GcsSupervisor(procs, gcs, port, on_restart).start()


def _local_raylet(info: dict, core_call) -> tuple:
    """The raylet on this machine (the head's, for a local driver)."""
    if info.get("raylet_address"):
        return info["raylet_address"], info["node_id"]
    return None, None


def _connect(info: dict, namespace, log_to_driver, runtime_env) -> None:
    from . import runtime_env as _runtime_env
    from .core.core_worker import DRIVER, CoreWorker

    raylet_address, node_id = info.get("raylet_address"), info.get("node_id")
    key = bytes.fromhex(info["key"])
    if raylet_address is None:  # a cluster started elsewhere: ask the GCS for a node on this host
        raylet_address, node_id = _find_local_node(info, key)
    core = CoreWorker(mode=DRIVER, key=key, gcs_address=info["gcs_address"], raylet_address=raylet_address,
                      node_id=bytes.fromhex(node_id), ip=info.get("ip", "127.0.0.1"))
    core.start()
    _driver.core = core
    try:
        reply = core.call(core.gcs, "register_job_request", {
            "driver_address": core.address,
            "pid": os.getpid(),
            "namespace": namespace,
            "entrypoint": " ".join(sys.argv)[:200],
        }, timeout=15)
    except RaySystemError as exc:
        raise ConnectionError(f"could not reach the kernelray GCS at {info['gcs_address']}: {exc}") from exc
    c = reply.content
    from . import ids

    core.job_id = bytes.fromhex(c["job_id"])
    core.driver_task_id = ids.driver_task_id(core.job_id)
    core.namespace = c["namespace"]
    core.job_config = {
        "job_id": c["job_id"],
        "sys_path": [p for p in sys.path if p],
        "cwd": os.getcwd(),
        "runtime_env": _runtime_env.prepare(runtime_env, core, "init(runtime_env=...)") or {},
        "namespace": core.namespace,
    }
    if not log_to_driver:
        core.output_handler = lambda content: None
    _attach_store(core)
    channels = ["owner_died", "job_finished", "node_removed"]
    core.loop.call_soon(core.send, core.gcs, "subscribe_request", {"channels": channels})
    from .raylet.gcs_reconnect import install_core

    install_core(core, {"channels": channels})
    _driver.heartbeat = core.loop.call_soon(_start_heartbeat, core)
    _driver.info = {k: v for k, v in info.items() if k != "key"}
    _driver.info.update(job_id=c["job_id"], namespace=core.namespace, driver_address=core.address)
    _driver.job = c
    for hook in list(_on_connect):
        try:
            hook(core)
        except Exception:  # noqa: BLE001 - a hook must not fail init
            log.warning("kernelray: an on-connect hook failed", exc_info=True)


def _attach_store(core) -> None:
    """Map the local node's shared-memory arena (zero-copy get and put)."""
    from .object_store.arena import Arena
    from .object_store.client import StoreClient

    try:
        info = core.call(core.raylet, "get_node_info_request", {}, timeout=15).content
        arena = info["arena"]
        core.store_client = StoreClient(core, Arena.attach(arena["pid"], arena["fd"], arena["size"]))
    except Exception as exc:  # noqa: BLE001 - stay usable: objects then travel inline
        log.warning("kernelray: cannot map the node's object store (%s); large objects will travel inline", exc)


def _start_heartbeat(core) -> None:
    core.loop.call_every(1.0, lambda: core.send(core.gcs, "job_heartbeat", {"job_id": core.job_id.hex()}))


def _find_local_node(info: dict, key: bytes) -> tuple:
    import zmq

    from .protocol.session import SignedSession, recv_frames

    session = SignedSession(key)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(info["gcs_address"])
        session.send(sock, "get_all_nodes_request", {})
        if not sock.poll(10000):
            raise ConnectionError(f"no answer from the kernelray GCS at {info['gcs_address']} within 10 s")
        msg = session.unpack(recv_frames(sock, 0))
    finally:
        sock.close(0)
        ctx.term()
    if msg is None:
        raise ConnectionError("the GCS answered with a message we could not verify: wrong cluster key?")
    nodes = [n for n in msg.content.get("nodes", []) if n.get("state") == "ALIVE"]
    if not nodes:
        raise ConnectionError(f"the cluster at {info['gcs_address']} has no live node to attach this driver to")
    local = [n for n in nodes if n.get("ip") == info.get("ip")] or nodes
    head = [n for n in local if n.get("is_head")] or local
    return head[0]["address"], head[0]["node_id"]


def _connected_core():
    """The driver's CoreWorker, auto-initializing as Ray does on first use."""
    core = context.core
    if core is None:
        init()
        core = context.core
    return core


def shutdown(_exiting_interpreter: bool = False) -> None:
    """Disconnect; stop every process this driver started (nothing is left behind)."""
    with _lock:
        _teardown()


def _teardown() -> None:
    core = _driver.core
    _driver.core = None
    if core is not None:
        try:
            if _driver.processes is None:  # the cluster outlives us: what our tasks did reaches its GCS first
                from .core import task_events

                task_events.flush_now(core, timeout=2)
                core.call(core.gcs, "mark_job_finished_request", {"job_id": core.job_id.hex()}, timeout=2)
        except Exception:  # noqa: BLE001 - the cluster may be gone already
            pass
        core.shutdown()
    procs = _driver.processes
    _driver.processes = None
    if procs is not None:
        procs.stop()
        try:
            os.unlink(_node.connection_file(_driver.info.get("ip", "127.0.0.1"), _driver.info.get("port", 0)))
        except OSError:
            pass
    _driver.info = {}


atexit.register(shutdown)


# -- objects ----------------------------------------------------------------------------
def put(value, *, _owner=None):
    if isinstance(value, ObjectRef):
        raise TypeError(
            "Calling 'put' on an ObjectRef is not allowed. If you really want to do this, you can wrap "
            "the ObjectRef in a list and call 'put' on it."
        )
    core = _connected_core()
    from .exceptions import RayError

    try:
        return core.put(value)
    except (TypeError, RayError):
        raise
    except Exception as exc:
        raise TypeError(f"Could not serialize the value passed to put(): {type(exc).__name__}: {exc}") from exc


def get(object_refs, *, timeout: float | None = None):
    """The value(s) of one ObjectRef or a list of them; raises the task's error."""
    single = type(object_refs) is ObjectRef or isinstance(object_refs, ObjectRef)
    if single:
        refs = [object_refs]
    elif isinstance(object_refs, (list, tuple)):
        refs = list(object_refs)
        for r in refs:
            if not isinstance(r, ObjectRef):
                raise ValueError(
                    f"Invalid type of object refs, {type(r)}, is given. 'object_refs' must either be an "
                    "ObjectRef or a list of ObjectRefs."
                )
    elif isinstance(object_refs, ObjectRefGenerator):
        raise TypeError("get() takes ObjectRefs; iterate the ObjectRefGenerator and get() each ref it yields")
    else:
        raise ValueError(
            f"Invalid type of object refs, {type(object_refs)}, is given. 'object_refs' must either be an "
            "ObjectRef or a list of ObjectRefs."
        )
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number or None")
    core = _connected_core()
    with _auto_progress(refs):
        values = core.get_values(refs, timeout)
    return values[0] if single else values


def _auto_progress(refs):
    """A compact bar under the cell if this blocks > 1 s on many refs (widgets/auto_progress.py)."""
    if len(refs) < 8 or "ipykernel" not in sys.modules:
        return contextlib.nullcontext()
    from .widgets.auto_progress import watch

    return watch(refs)


def wait(object_refs, *, num_returns: int = 1, timeout: float | None = None, fetch_local: bool = True):
    """(ready, not_ready): the first ``num_returns`` refs that are ready, in input order."""
    if isinstance(object_refs, ObjectRef) or not isinstance(object_refs, (list, tuple)):
        raise TypeError(f"wait() expected a list of ObjectRef, got {type(object_refs)}")
    refs = list(object_refs)
    for r in refs:
        if not isinstance(r, ObjectRef):
            raise TypeError(f"wait() expected a list of ObjectRef, got an element of {type(r)}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"The 'timeout' argument must be nonnegative. Received {timeout}")
    core = _connected_core()
    if not refs:  # before the num_returns checks, as Ray's
        return [], []
    if len(set(refs)) != len(refs):
        raise ValueError("Wait requires a list of unique object refs.")
    if num_returns <= 0:
        raise ValueError(f"Invalid number of objects to return {num_returns}.")
    if num_returns > len(refs):
        raise ValueError("num_returns cannot be greater than the number of objects provided to kernelray.wait.")
    with _auto_progress(refs):
        return core.wait(refs, num_returns, timeout, fetch_local)


def cancel(object_ref, *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes ``object_ref``; ``get`` then raises TaskCancelledError."""
    if isinstance(object_ref, ObjectRefGenerator):
        object_ref = ObjectRef(object_ref._task_id + (1).to_bytes(4, "little"), object_ref._owner, _count=False)
    if not isinstance(object_ref, ObjectRef):
        raise TypeError(f"cancel() expected an ObjectRef, got {type(object_ref)}")
    if force and object_ref._id[8:20] != b"\xff" * 12:  # the task id embeds the actor's: an actor call
        raise ValueError("force=True is not supported for actor tasks.")
    core = _connected_core()
    core.cancel(object_ref, force, recursive)


# -- cluster information -----------------------------------------------------------------
def nodes() -> list:
    core = _connected_core()
    reply = core.call(core.gcs, "get_all_nodes_request", {})
    out = []
    for n in reply.content["nodes"]:
        out.append({
            "NodeID": n["node_id"],
            "Alive": n["state"] == "ALIVE",
            "NodeManagerAddress": n.get("ip"),
            "NodeManagerPort": int(n["address"].rsplit(":", 1)[1]),
            "NodeName": n.get("ip"),
            "Resources": n.get("resources_total", {}),
            "alive": n["state"] == "ALIVE",
            "IsHead": n.get("is_head", False),
            "RayletAddress": n.get("address"),
            "DeathReason": n.get("death_reason", ""),
        })
    return out


def cluster_resources() -> dict:
    total: dict = {}
    for n in nodes():
        if n["Alive"]:
            for k, v in n["Resources"].items():
                total[k] = total.get(k, 0.0) + v
    return total


def available_resources() -> dict:
    core = _connected_core()
    reply = core.call(core.gcs, "get_all_nodes_request", {})
    avail: dict = {}
    for n in reply.content["nodes"]:
        if n["state"] == "ALIVE":
            for k, v in (n.get("resources_available") or {}).items():
                if v > 1e-9:
                    avail[k] = avail.get(k, 0.0) + v
    return avail


def get_runtime_context():
    from .runtime_context import RuntimeContext

    return RuntimeContext(_connected_core())


def timeline(filename: str | None = None):
    """Chrome trace events of the tasks run so far (see kernelray/util/timeline.py); JSON to ``filename``."""
    _connected_core()
    from .util.timeline import timeline as _timeline

    return _timeline(filename)


def _wait_for_shutdown_of(pids, timeout: float = 5.0) -> list:
    from . import _process

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if _process.pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.01)
    return [p for p in pids if _process.pid_alive(p)]
