"""Checks made when a task or actor is declared or submitted, with Ray's errors and messages.

Each check raises what Ray 2.6x raises, at the point Ray raises it, before anything is sent:

* ``bind_arguments``: ``.remote(...)`` arguments bound against the function's, constructor's
  or method's signature (``TypeError: missing a required argument: 'b'``).  The signature
  is read once per function and compiled into a do-nothing function with the same
  parameters (about 1 us per call, 0.5-0.8 % of a no-op task); set
  ``KERNELRAY_SKIP_SIGNATURE_CHECK=1`` (or ``submit_checks.ENABLED = False``) to skip
  binding, as the benchmark does to measure its cost.
* ``refuse_async_function``: ``@remote`` on an ``async def`` function.
* ``check_pickled_size``: a function or class pickled to more than Ray's
  ``FUNCTION_SIZE_ERROR_THRESHOLD`` (10**8 bytes; the environment variable of that name
  overrides it, as in Ray).
* ``refuse_reserved_resources``: the resource name ``bundle``, reserved for placement groups.
* ``check_fits_placement_group``: a request that no bundle of its placement group can hold.
"""

from __future__ import annotations

import inspect
import os
import weakref

ENABLED = os.environ.get("KERNELRAY_SKIP_SIGNATURE_CHECK", "") not in ("1", "true", "True")
FUNCTION_SIZE_ERROR_THRESHOLD = 10**8
_NO_SIGNATURE = object()  # builtins without a signature: nothing to bind against
# kept beside, not on, the RemoteFunction/ActorClass: those are pickled into tasks, a cache is not
_binders: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # RemoteFunction/ActorClass -> binder
_class_binders: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # ActorClass -> {method: binder}
_MAX_REMEMBERED_ACTORS = 100_000
_method_signatures: dict = {}  # actor id bytes -> {method name: binder}, for actors created here


class _Binder:
    """A signature's binding check, fast: a compiled do-nothing function with the same
    parameters accepts or refuses the call (well under a microsecond); only a refused call
    goes through ``Signature.bind``, for the message Ray gives."""

    __slots__ = ("signature", "accepts")

    def __init__(self, signature: inspect.Signature):
        self.signature = signature
        self.accepts = _compile_accepting(signature)

    def bind(self, args, kwargs) -> None:
        try:
            self.accepts(*args, **kwargs)
        except TypeError:
            self.signature.bind(*args, **kwargs)  # raises, with Ray's message
            raise  # pragma: no cover - both agree on every signature


def _compile_accepting(signature: inspect.Signature):
    P = inspect.Parameter
    parts, star_done = [], False
    kinds = [p.kind for p in signature.parameters.values()]
    for i, p in enumerate(signature.parameters.values()):
        default = "" if p.default is P.empty else "=_default"
        if p.kind is P.KEYWORD_ONLY and not star_done:
            parts.append("*")
        if p.kind in (P.VAR_POSITIONAL, P.KEYWORD_ONLY):
            star_done = True
        prefix = {P.VAR_POSITIONAL: "*", P.VAR_KEYWORD: "**"}.get(p.kind, "")
        parts.append(f"{prefix}{p.name}{default}")
        if p.kind is P.POSITIONAL_ONLY and (i + 1 == len(kinds) or kinds[i + 1] is not P.POSITIONAL_ONLY):
            parts.append("/")
    namespace = {"_default": None}
    exec(f"def accepts({', '.join(parts)}): pass", namespace)  # noqa: S102 - parameter names only
    return namespace["accepts"]


def _signature_of(fn, drop_first: bool = False):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return _NO_SIGNATURE
    if drop_first:
        params = list(sig.parameters.values())[1:]
        sig = sig.replace(parameters=params)
    try:
        return _Binder(sig)
    except SyntaxError:  # a parameter name that is no identifier (C functions): nothing to bind
        return _NO_SIGNATURE


def _bind(binder, args, kwargs) -> None:
    if binder is not _NO_SIGNATURE:
        binder.bind(args, kwargs)


def bind_arguments(owner, fn, args, kwargs) -> None:
    """Bind a task's or constructor's arguments; the binder is cached per ``owner``."""
    if not ENABLED:
        return
    binder = _binders.get(owner)
    if binder is None:
        binder = _binders[owner] = _signature_of(fn)
    _bind(binder, args, kwargs)


def class_method_signatures(cls) -> dict:
    """{method name: binder of the signature as a caller sees it} for an actor class (``self``/``cls`` dropped)."""
    out = {}
    for name, member in inspect.getmembers(cls, callable):
        raw = inspect.getattr_static(cls, name, None)
        if isinstance(raw, staticmethod):
            out[name] = _signature_of(raw.__func__)
        elif isinstance(raw, classmethod):
            out[name] = _signature_of(raw.__func__, drop_first=True)
        elif inspect.isfunction(raw):
            out[name] = _signature_of(raw, drop_first=True)
    return out


def remember_actor_methods(owner, cls, actor_id: bytes) -> None:
    """Keep the method signatures of an actor created in this process, for ``bind_method``."""
    sigs = _class_binders.get(owner)
    if sigs is None:
        sigs = _class_binders[owner] = class_method_signatures(cls)
    _method_signatures[actor_id] = sigs
    if len(_method_signatures) > _MAX_REMEMBERED_ACTORS:  # the oldest actors' calls go unchecked
        del _method_signatures[next(iter(_method_signatures))]


def bind_method(actor_id: bytes, method: str, args, kwargs) -> None:
    """Bind an actor call's arguments, when this process knows the actor's class."""
    if not ENABLED:
        return
    sigs = _method_signatures.get(actor_id)
    if sigs is not None and method in sigs:
        _bind(sigs[method], args, kwargs)


def refuse_async_function(fn) -> None:
    if inspect.iscoroutinefunction(fn):
        raise ValueError(
            "'async def' should not be used for remote tasks. You can wrap the async function with "
            "`asyncio.run(f())`. See more at:https://docs.ray.io/en/latest/ray-core/actors/async_api.html ")


def check_pickled_size(blob: bytes, name: str, what: str) -> None:
    """Ray's limit on a pickled function ("remote function") or class ("actor")."""
    limit = int(os.environ.get("FUNCTION_SIZE_ERROR_THRESHOLD", FUNCTION_SIZE_ERROR_THRESHOLD))
    if len(blob) < limit:
        return
    raise ValueError(
        f"The {what} {name} is too large ({len(blob) // (1024 * 1024)} MiB > FUNCTION_SIZE_ERROR_THRESHOLD="
        f"{limit // (1024 * 1024)} MiB). Check that its definition is not implicitly capturing a large array or "
        "other object in scope. Tip: use kernelray.put() to put large objects in the object store.")


def refuse_reserved_resources(opts: dict) -> None:
    resources = opts.get("resources")
    if resources and "bundle" in resources:
        raise ValueError(f"The resource should not include `bundle` which is reserved for Ray. "
                         f"resources: {resources}")


def _placement_group_of(opts: dict):
    from .util.placement_group import PlacementGroup, PlacementGroupSchedulingStrategy

    strategy = opts.get("scheduling_strategy")
    if isinstance(strategy, PlacementGroupSchedulingStrategy):
        return strategy.placement_group
    pg = opts.get("placement_group")
    return pg if isinstance(pg, PlacementGroup) else None


def _request(opts: dict, default_cpus) -> dict:
    """The request as Ray prints it: custom resources, then CPU, GPU, memory, values as given."""
    req = dict(opts.get("resources") or {})
    cpus = opts.get("num_cpus")
    cpus = default_cpus if cpus is None else cpus
    if cpus:
        req["CPU"] = cpus
    for key, option in (("GPU", "num_gpus"), ("memory", "memory")):
        if opts.get(option):
            req[key] = opts[option]
    return req


def _fits_some_bundle(request: dict, bundles: list) -> bool:
    return any(all(bundle.get(k, 0) >= v for k, v in request.items()) for bundle in bundles)


def check_fits_placement_group(opts: dict, what: str, is_actor: bool = False) -> None:
    """Ray's ValueError when no bundle of the placement group can hold the request."""
    if opts.get("scheduling_strategy") is None and opts.get("placement_group") is None:
        return
    pg = _placement_group_of(opts)
    if pg is None:
        return
    bundles = [{k: float(v) for k, v in b.items()} for b in pg.bundle_specs]
    request = _request(opts, 0 if is_actor else 1)
    if not _fits_some_bundle(request, bundles):
        raise ValueError(
            f"Cannot schedule {what} with the placement group because the resource request {request} cannot fit "
            f"into any bundles for the placement group, {bundles}.")
    asks = any(opts.get(k) is not None for k in ("num_cpus", "num_gpus", "resources", "memory"))
    if is_actor and not asks and not _fits_some_bundle({"CPU": 1}, bundles):
        raise ValueError(
            f"Cannot schedule {what} with the placement group because the actor requires 1 CPU for creation, but "
            f"it cannot fit into any bundles for the placement group, {bundles}. Consider creating a placement "
            "group with CPU resources.")


class UserClassAttributes:
    """Mixin for ActorClass: the user class's class attributes, static and class methods show
    through (``Counter.LIMIT``, ``Counter.make_default()``), as on Ray's actor classes."""

    def __getattr__(self, name: str):
        cls = self.__dict__.get("_cls")
        if cls is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return getattr(cls, name)

    def __mro_entries__(self, bases):
        return (_refuse_subclass(self.__dict__.get("_class_name")),)


def _refuse_subclass(actor_class_name: str) -> type:
    """A base whose ``__init_subclass__`` raises Ray's error, naming the would-be subclass."""

    class ActorClassBase:
        def __init_subclass__(cls, **kwargs):
            from .exceptions import ActorClassInheritanceException

            raise ActorClassInheritanceException(
                f"Attempted to define subclass '{cls.__name__}' of actor class '{actor_class_name}'. Inheriting "
                "from actor classes is not currently supported. You can instead inherit from a non-actor base "
                "class and make the derived class an actor class (with @kernelray.remote).")

    return ActorClassBase


def check_task(remote_function, args, kwargs, opts: dict) -> None:
    """Every check ``f.remote(...)`` makes before submitting."""
    bind_arguments(remote_function, remote_function._function, args, kwargs)
    refuse_reserved_resources(opts)
    check_fits_placement_group(opts, remote_function.__qualname__)


def check_actor_creation(actor_class, args, kwargs, opts: dict) -> None:
    """Every check ``Cls.remote(...)`` makes before registering the actor."""
    bind_arguments(actor_class, actor_class._cls, args, kwargs)
    refuse_reserved_resources(opts)
    check_fits_placement_group(opts, actor_class._class_name, is_actor=True)
