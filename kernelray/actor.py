"""Actors: ``@remote`` on a class, as in Ray.

::

    @kernelray.remote
    class Counter:
        def __init__(self, start=0): self.n = start
        def incr(self): self.n += 1; return self.n

    c = Counter.remote(5)                      # an ActorHandle; the GCS places the actor
    kernelray.get(c.incr.remote())             # 6: the call goes straight to the actor's worker
    Counter.options(name="c", lifetime="detached").remote()
    kernelray.get_actor("c"); kernelray.kill(c)

Choices, where Ray leaves room:

* Resources.  Ray schedules a default actor with 1 CPU and runs it with 0.  Here an actor
  that asks for nothing (no ``num_cpus``/``num_gpus``/``resources``) holds no CPU for its
  lifetime, as in Ray, and is placed without the 1-CPU check: it fits on any node.  An
  actor that asks (``num_cpus=1``) holds that for its lifetime.
* Lifetime (Ray's rule).  A non-detached actor dies with its owner (the driver or worker
  that created it), and once every handle to it is gone -- in the owner and in every
  process a handle was pickled to (task and actor arguments, ``put`` objects, task
  returns) -- and the calls made through them are done.  As in Ray, each such handle
  holds a ref to the actor's "dummy" object, owned by the creator, so the ordinary
  borrower protocol counts them: the owner kills the actor when it holds no handle, has
  no call pending, and the dummy object has no reference left anywhere.  A named actor
  follows the same rule.  Handles got with ``get_actor`` (or ``get_if_exists``,
  ``current_actor``) hold no such ref: they never keep an actor alive or kill it.
  Detached actors live until ``kill``.
* Ordering.  One caller's calls run in the order it made them (a call whose ObjectRef
  arguments are not ready holds back the calls after it).  Calls from different callers
  interleave.  Threaded and async actors start calls in that order and finish them in
  any order.
* ``max_pending_calls`` (Ray's rule): a caller process counts, per actor, its calls
  submitted and not finished (a retried call stays pending); at the limit ``.remote()``
  raises PendingCallsLimitExceeded and submits nothing.  -1 (the default) and 0 mean no
  limit.  Handles carry the limit, so a handle passed to a task or got with
  ``get_actor`` applies it in that process too.
* ``concurrency_groups={"io": 2}`` (Ray's rule): each group runs its methods on its own
  threads -- a pool of that many threads in a threaded actor, an event loop thread
  running at most that many calls in an async actor.  Methods without a group run in
  the default group, whose size is ``max_concurrency`` (1000 for async actors, else 1).
  A method joins a group with ``@kernelray.method(concurrency_group="io")`` or per call
  with ``.options(concurrency_group="io")``.  As in Ray, groups are set in ``@remote``
  only, not in ``.options()``; an unknown group is refused when the class is decorated
  or the call made.  Calls in different groups run independently, in any order.
"""

from __future__ import annotations

import inspect

import cloudpickle

from .core import context
from .core.actor_host import ActorExit, exit_actor  # noqa: F401 - kernelray.actor.exit_actor
from .core.actor_submitter import HANDLE_ADDED, HANDLE_DROPPED, HANDLE_ESCAPED
from .core.serialization import contained_refs_sink, export_code
from .options import ACTOR_OPTIONS, METHOD_OPTIONS, resources_of, validate
from . import submit_checks
from .exceptions import ActorClassInheritanceException  # noqa: F401 - ray.actor.ActorClassInheritanceException

ASYNC_DEFAULT_MAX_CONCURRENCY = 1000
_BUILTIN_METHODS = ("__ray_ready__", "__ray_terminate__")


def method(*args, **kwargs):
    """``@kernelray.method(num_returns=2)`` on an actor method: its default call options."""

    def annotate(fn):
        fn.__kernelray_method_options__ = validate(dict(kwargs), METHOD_OPTIONS, "actor methods")
        return fn

    if len(args) == 1 and not kwargs and callable(args[0]):
        return annotate(args[0])
    if args:
        raise TypeError("The @kernelray.method decorator takes keyword arguments only, "
                        "for example '@kernelray.method(num_returns=2)'.")
    return annotate


from .ids import ActorID  # noqa: E402  (the public ID type, re-exported here for old imports)


class ActorMeta:
    """What a handle knows of its actor: the methods and their default options, and the
    actor options that callers apply (retries, the pending-calls limit, the groups)."""

    __slots__ = ("class_name", "methods", "is_async", "max_task_retries", "max_pending_calls",
                 "concurrency_groups")

    def __init__(self, class_name: str, methods: dict, is_async: bool, max_task_retries: int,
                 max_pending_calls: int = -1, concurrency_groups: dict | None = None):
        self.class_name = class_name
        self.methods = methods  # name -> default call options
        self.is_async = is_async
        self.max_task_retries = max_task_retries
        self.max_pending_calls = max_pending_calls  # <= 0: no limit
        self.concurrency_groups = concurrency_groups or {}  # group name -> max concurrency

    def __reduce__(self):
        return ActorMeta, (self.class_name, self.methods, self.is_async, self.max_task_retries,
                           self.max_pending_calls, self.concurrency_groups)

    def check_group(self, group: str, method: str) -> None:
        """Refuse a concurrency group the actor does not define (ValueError naming the valid ones)."""
        if group in self.concurrency_groups:
            return
        where = f"{self.class_name}.{method}"
        if not self.concurrency_groups:
            raise ValueError(
                f"{where} asks for the concurrency group {group!r}, but {self.class_name} defines no concurrency "
                f"groups. Define them on the class, e.g. @kernelray.remote(concurrency_groups={{{group!r}: 1}}).")
        raise ValueError(
            f"{where} asks for the concurrency group {group!r}, which {self.class_name} does not define. Its "
            f"concurrency groups are: {', '.join(repr(g) for g in self.concurrency_groups)} (methods without a "
            "group run in the default group, sized by max_concurrency).")


def _reject_groups_in_options(options: dict) -> None:
    if "concurrency_groups" in options:
        raise ValueError("Setting 'concurrency_groups' is not supported in '.options()'; as in Ray, give them "
                         "in the class decorator: @kernelray.remote(concurrency_groups={...}).")


def actor_meta(cls, max_task_retries: int = 0, max_pending_calls: int = -1,
               concurrency_groups: dict | None = None) -> ActorMeta:
    methods, is_async = {}, False
    for name, member in inspect.getmembers(cls, lambda m: inspect.isfunction(m) or inspect.ismethod(m)):
        if name.startswith("__") and name.endswith("__") and name != "__call__":
            continue
        if inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member):
            is_async = True
        methods[name] = dict(getattr(member, "__kernelray_method_options__", {}))
    for name in _BUILTIN_METHODS:
        methods[name] = {}
    return ActorMeta(cls.__name__, methods, is_async, max_task_retries, max_pending_calls, concurrency_groups)


class ActorClass(submit_checks.UserClassAttributes):
    """A class made remote: ``.remote(...)`` creates an actor and returns its handle."""

    def __init__(self, cls, options: dict):
        self._cls = cls
        self._options = validate(dict(options), ACTOR_OPTIONS, "actors")
        self._class_name = cls.__name__
        self._qualname = f"{cls.__module__}.{cls.__qualname__}"
        self._meta = actor_meta(cls, concurrency_groups=dict(self._options.get("concurrency_groups") or {}))
        for method_name, defaults in self._meta.methods.items():  # a method's group must exist
            if defaults.get("concurrency_group") is not None:
                self._meta.check_group(defaults["concurrency_group"], method_name)
        self._blob = None
        self._class_id = None
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__module__ = cls.__module__
        self.__doc__ = cls.__doc__
        self.__wrapped__ = cls

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Actors cannot be instantiated directly. Instead of '{self._class_name}()', "
            f"use '{self._class_name}.remote()'."
        )

    def __repr__(self) -> str:
        return f"<kernelray actor class {self._qualname}>"

    def options(self, **options) -> "_ActorClassWithOptions":
        validate(options, ACTOR_OPTIONS, "actors")
        _reject_groups_in_options(options)
        return _ActorClassWithOptions(self, {**self._options, **options})

    def remote(self, *args, **kwargs) -> "ActorHandle":
        return self._remote(args, kwargs, self._options)

    def bind(self, *args, **kwargs):
        """A DAG node creating this actor (``kernelray.dag``); ``.execute()`` creates it."""
        from .dag import ClassNode

        return ClassNode(self, args, kwargs, self._options)

    def _export(self):
        if self._blob is None:
            self._class_id, self._blob = export_code(
                self._cls, "actor class", self._qualname,
                "Classes are shipped by value with cloudpickle; create what they capture (locks, sockets, open "
                "files) in __init__ instead.")
        submit_checks.check_pickled_size(self._blob, self._class_name, "actor")
        return self._class_id, self._blob

    def _remote(self, args, kwargs, opts: dict) -> "ActorHandle":
        from . import api, ids
        from .core.actor_submitter import current_job_id, current_namespace
        from .object_ref import ObjectRef
        from .core.task_spec import TaskSpec
        from .util.scheduling_strategies import to_wire

        submit_checks.check_actor_creation(self, args, kwargs, opts)
        core = api._connected_core()
        name = opts.get("name")
        if name is not None and not name:
            raise ValueError("Actor name cannot be an empty string.")
        if opts.get("get_if_exists") and not name:
            raise ValueError("The actor name must be specified to use `get_if_exists`.")
        namespace = opts.get("namespace")
        if namespace is None:
            namespace = current_namespace(core)
        detached = opts.get("lifetime") == "detached"
        meta = self._meta
        max_pending_calls = opts.get("max_pending_calls")
        max_pending_calls = -1 if max_pending_calls is None else max_pending_calls
        if opts.get("max_task_retries") or max_pending_calls != meta.max_pending_calls:
            meta = ActorMeta(meta.class_name, meta.methods, meta.is_async, opts.get("max_task_retries") or 0,
                             max_pending_calls, meta.concurrency_groups)
        concurrency = opts.get("max_concurrency") or (ASYNC_DEFAULT_MAX_CONCURRENCY if meta.is_async else 1)
        resources = resources_of(opts, 0)
        if opts.get("scheduling_strategy") is not None or opts.get("placement_group") is not None:
            from .util.placement_group import bundle_resources

            resources = bundle_resources(resources, opts)  # an actor in a placement group uses its bundle
        runtime_env = core.merge_runtime_env(opts.get("runtime_env"))
        strategy = to_wire(opts.get("scheduling_strategy"))
        init_name = f"{self._class_name}.__init__"
        args_blob, deps, nested = core.serialize_args(init_name, getattr(self._cls, "__init__", None), args, kwargs)
        if detached:
            for r in nested:  # refs inside a detached actor's constructor arguments: kept for the owner's lifetime
                core.ref_events.append((2, r._id, None))
            nested = ()
        class_id, blob = self._export()
        job_id = current_job_id(core)
        actor_id = ids.new_actor_id(job_id)
        reply = core.call(core.gcs, "register_actor_request", {
            "actor_id": actor_id.hex(),
            "class_name": self._class_name,
            "name": name or "",
            "namespace": namespace,
            "detached": detached,
            "get_if_exists": bool(opts.get("get_if_exists")),
            "max_restarts": opts.get("max_restarts") or 0,
            "resources": resources,
            "runtime_env": runtime_env,
            "owner_address": core.address,
            "job_id": job_id.hex(),
            "node_id": core.node_id.hex(),
            "job_config": core.job_config,
            "strategy": strategy,
        }, timeout=30, buffers=[cloudpickle.dumps(meta)])
        c = reply.content
        if c.get("taken"):
            from .exceptions import ActorAlreadyExistsError  # also a ValueError, as Ray's

            raise ActorAlreadyExistsError(
                f"The name {name} (namespace={namespace}) is already taken. Please use a different name or get "
                f"the existing actor using kernelray.get_actor('{name}', namespace='{namespace}')"
            )
        if c.get("existing"):  # get_if_exists found it
            return ActorHandle(bytes.fromhex(c["actor"]["actor_id"]), cloudpickle.loads(reply.buffers[0]))
        ctx = context.current_task()
        spec = TaskSpec(
            task_id=ids.new_task_id(job_id, actor_id),
            name=init_name,
            fn_id=class_id,
            fn_blob=blob,
            args_blob=args_blob,
            deps=deps,
            num_returns=0,
            resources=resources,
            max_retries=0,
            retry_exceptions=False,
            job_id=job_id,
            owner=core.address,
            parent_task_id=ctx.task_id if ctx is not None else None,
            route=core.route(),
            runtime_env=runtime_env,
            actor_id=actor_id,
            extra={"kind": "create", "class_name": self._class_name, "is_async": meta.is_async,
                   "max_concurrency": concurrency, "max_task_retries": meta.max_task_retries},
        )
        if meta.max_pending_calls != -1:
            spec.extra["max_pending_calls"] = meta.max_pending_calls
        if meta.concurrency_groups:
            spec.extra["concurrency_groups"] = dict(meta.concurrency_groups)
        # the owner's handle holds a ref to the actor's dummy object: handles pickled from it take the
        # ref along, so every process holding one is a borrower the owner counts (Ray's scheme)
        scope = None if detached else ObjectRef(ids.actor_handle_object_id(actor_id), core.address)
        handle = ActorHandle(actor_id, meta, _owned=True, _detached=detached, _scope=scope)
        submit_checks.remember_actor_methods(self, self._cls, actor_id)
        # refs inside the constructor arguments are held until the actor is dead (a restart re-runs it)
        core.loop.call_soon(core.actor_submitter.submit_creation, spec, detached, nested)
        return handle


class _ActorClassWithOptions:
    def __init__(self, actor_class: ActorClass, options: dict):
        self._actor_class = actor_class
        self._options = options

    def remote(self, *args, **kwargs) -> "ActorHandle":
        return self._actor_class._remote(args, kwargs, self._options)

    def options(self, **options) -> "_ActorClassWithOptions":
        validate(options, ACTOR_OPTIONS, "actors")
        _reject_groups_in_options(options)
        return _ActorClassWithOptions(self._actor_class, {**self._options, **options})

    def bind(self, *args, **kwargs):
        from .dag import ClassNode

        return ClassNode(self._actor_class, args, kwargs, self._options)


class ActorHandle:
    """A reference to an actor: its methods are attributes with ``.remote()``.

    Picklable: pass it to tasks and other actors, which call the actor directly.
    """

    def __init__(self, actor_id: bytes, meta: ActorMeta, _owned: bool = False, _detached: bool = False,
                 _scope=None):
        self._actor_id = ActorID(actor_id)
        self._meta = meta
        self._core = None
        # a ref to the actor's dummy object (None: this handle does not keep the actor alive)
        self._scope = _scope
        core = context.core
        if core is not None:
            core.loop.call_soon(core.actor_submitter.handle_event, HANDLE_ADDED, actor_id, _owned, _detached, _scope)
            self._core = core

    def __getattr__(self, name: str):
        meta = self.__dict__.get("_meta")
        if meta is None or name not in meta.methods:
            raise AttributeError(f"'ActorHandle' object has no attribute '{name}'")
        return ActorMethod(self, name, meta.methods[name])

    def __del__(self):
        core = self.__dict__.get("_core")
        if core is not None and core is context.core:
            core.loop.call_soon(core.actor_submitter.handle_event, HANDLE_DROPPED, self._actor_id.binary(), False,
                                False, self.__dict__.get("_scope") is not None)

    def __reduce__(self):
        scope = self._scope
        if scope is None:
            return _rebuild_handle, (self._actor_id.binary(), self._meta)
        if contained_refs_sink() is None:
            # pickled outside kernelray's serialization (nothing records the ref inside): the
            # owner keeps the actor for its lifetime, as it does for any ref that escapes
            core = context.core
            if core is not None:
                core.loop.call_soon(core.actor_submitter.handle_event, HANDLE_ESCAPED, self._actor_id.binary())
        # the dummy ref travels inside: the receiver borrows it from the owner like any ObjectRef
        return _rebuild_handle, (self._actor_id.binary(), self._meta, scope)

    def __eq__(self, other):
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __hash__(self):
        return hash(self._actor_id)

    def __repr__(self):
        return f"Actor({self._meta.class_name}, {self._actor_id.hex()})"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._meta.methods))


def _rebuild_handle(actor_id: bytes, meta: ActorMeta, scope=None) -> ActorHandle:
    return ActorHandle(actor_id, meta, _scope=scope)


class ActorMethod:
    """``handle.method``: ``.remote(...)`` calls it, ``.options(...)`` overrides its call options."""

    def __init__(self, handle: ActorHandle, name: str, defaults: dict, overrides: dict | None = None):
        self._handle = handle
        self._name = name
        self._defaults = defaults
        self._overrides = overrides or {}

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Actor methods cannot be called directly. Instead of running 'object.{self._name}()', "
            f"try 'object.{self._name}.remote()'."
        )

    def options(self, **options) -> "ActorMethod":
        validate(options, METHOD_OPTIONS, "actor methods")
        if options.get("concurrency_group") is not None:
            self._handle._meta.check_group(options["concurrency_group"], self._name)
        return ActorMethod(self._handle, self._name, self._defaults, {**self._overrides, **options})

    def remote(self, *args, **kwargs):
        from . import api

        handle = self._handle
        submit_checks.bind_method(handle._actor_id.binary(), self._name, args, kwargs)
        opts = {"max_task_retries": handle._meta.max_task_retries, **self._defaults, **self._overrides}
        if opts.get("max_task_retries") is None:
            opts["max_task_retries"] = handle._meta.max_task_retries
        core = api._connected_core()
        return core.actor_submitter.submit_method(handle, self._name, args, kwargs, opts)

    def bind(self, *args, **kwargs):
        """A DAG node calling this method (``kernelray.dag``); ``.execute()`` submits it."""
        from .dag.class_node import bind_actor_method

        return bind_actor_method(self, args, kwargs)

    def __repr__(self):
        return f"ActorMethod({self._handle._meta.class_name}.{self._name})"


def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """The handle of the live actor called ``name`` (in ``namespace``, default the job's)."""
    from . import api
    from .core.actor_submitter import current_namespace

    if not isinstance(name, str) or not name:
        raise ValueError("Please supply a non-empty value to get_actor")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError("namespace must be None or a string")
    core = api._connected_core()
    ns = current_namespace(core) if namespace is None else namespace
    reply = core.call(core.gcs, "get_named_actor_request", {"name": name, "namespace": ns}, timeout=30)
    info = reply.content.get("actor")
    if info is None:
        raise ValueError(
            f"Failed to look up actor with name '{name}'. This could because 1. You are trying to look up a "
            "named actor you didn't create. 2. The named actor died. 3. You did not use a namespace matching "
            "the namespace of the actor."
        )
    return ActorHandle(bytes.fromhex(info["actor_id"]), cloudpickle.loads(reply.buffers[0]))


def kill(actor: ActorHandle, *, no_restart: bool = True) -> None:
    """Kill an actor now: calls in flight and queued fail with ActorDiedError.

    With ``no_restart=False`` the actor restarts if its ``max_restarts`` allows.
    """
    from . import api

    if not isinstance(actor, ActorHandle):
        raise ValueError(f"kernelray.kill() only supported for actors. For tasks, try kernelray.cancel(). "
                         f"Got: {type(actor)}.")
    core = api._connected_core()
    core.call(core.gcs, "kill_actor_request",
              {"actor_id": actor._actor_id.hex(), "no_restart": bool(no_restart), "reason": "killed"}, timeout=30)


__all__ = ["ActorClass", "ActorHandle", "ActorMethod", "exit_actor", "get_actor", "kill", "method"]
