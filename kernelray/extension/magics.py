"""``%%remote`` / ``%remote``: run a notebook cell or expression on a kernelray worker."""

from __future__ import annotations

import ast
import json
import keyword

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .cellexec import TRACEBACK_ATTR, CellActor, assigned_names, free_names, register_source, run_cell

CELL_USAGE = ("%%remote [x, y] [--get] [--num-cpus N] [--num-gpus N] [--resources JSON] [--actor NAME] "
              "[--block | --noblock] [-o NAME]")
_run_cell_fn = None


def _remote_run_cell():
    """``run_cell`` as a remote function (no retries: a cell may have side effects)."""
    global _run_cell_fn
    if _run_cell_fn is None:
        import kernelray

        _run_cell_fn = kernelray.remote(max_retries=0)(run_cell)
    return _run_cell_fn


def _usage(message: str) -> UsageError:
    return UsageError(f"{message}\nUsage: {CELL_USAGE}")


def _cell_error(exc: BaseException) -> BaseException:
    """The cell's own exception, showing only the cell's frames with its line numbers."""
    cause = getattr(exc, "cause", None)
    text = getattr(cause, TRACEBACK_ATTR, None) if cause is not None else None
    if not text:
        return exc
    where = f"kernelray::{getattr(exc, 'function_name', 'remote-cell')}, pid={getattr(exc, 'pid', '?')}"
    lines = [f"{type(cause).__name__} raised on a worker ({where})"] + text.rstrip("\n").splitlines()
    try:
        cause._render_traceback_ = lambda: list(lines)
    except Exception:  # noqa: BLE001 - an exception without __dict__: Ray's full traceback then
        return exc
    return cause


@magics_class
class KernelrayMagics(Magics):
    def __init__(self, shell, bridge=None):
        super().__init__(shell)
        from .bridge import bridge as default_bridge

        self.bridge = bridge or default_bridge
        self.actor_names: dict = {}  # actor name -> names its cells assigned (not shipped from here)
        self.actor_handles: dict = {}  # actor name -> handle (keeps the cell actor alive)

    # -- the magic ----------------------------------------------------------------------
    @magic_arguments()
    @argument("names", nargs="*", metavar="x, y",
              help="Variables the cell assigns, bound back into the notebook afterwards (as ObjectRefs; "
                   "with --get, as values).")
    @argument("--get", action="store_true", help="Bind values instead of ObjectRefs (needs --block).")
    @argument("--num-cpus", type=float, default=None, help="CPUs the cell's task needs (default 1).")
    @argument("--num-gpus", type=float, default=None, help="GPUs the cell's task needs (default 0).")
    @argument("--resources", default=None, metavar="JSON", help='Custom resources, e.g. \'{"disk": 1}\'.')
    @argument("--actor", default=None, metavar="NAME",
              help="Run in the named cell actor (created on first use): its variables persist between cells.")
    @argument("--block", dest="block", action="store_true", default=True,
              help="Wait for the cell and show its last expression (the default).")
    @argument("--noblock", dest="block", action="store_false",
              help="Return at once; the result is an ObjectRef (the cell's output still shows here).")
    @argument("-o", "--output", default=None, metavar="NAME",
              help="Store the result (an ObjectRef; with --get, the value) in this variable.")
    @line_cell_magic
    def remote(self, line, cell=None):
        """Run a cell (``%%remote``) or one expression (``%remote expr``) on a kernelray worker.

        The cell's free variables are taken from the notebook (ObjectRefs among them are
        resolved on the worker); its printed output and ``display()`` calls show in this
        cell; the value of its last expression is the cell's result.  ``%remote expr``
        takes no options: it runs ``expr`` as a task and returns its value, e.g.
        ``y = %remote f(x)``.
        """
        if cell is None:
            source = line.strip()
            if not source:
                raise UsageError("%remote needs an expression: `%remote f(x)` runs f(x) on a worker and returns "
                                 f"its value. For a whole cell use the cell magic:\n{CELL_USAGE}")
            return self.run_remote(source, label="%remote")
        args = parse_argstring(self.remote, line)
        bind = self._bind_names(args.names)
        if not cell.strip():
            raise _usage("%%remote: the cell is empty; write the code to run on a worker below the %%remote line.")
        if args.get and not args.block:
            raise _usage("%%remote: --get waits for the values, so it cannot go with --noblock.")
        if args.output is not None and (not args.output.isidentifier() or keyword.iskeyword(args.output)):
            raise _usage(f"%%remote: -o needs a variable name, not {args.output!r}.")
        opts = self._resource_options(args)
        # the magic's line stays line 1 (as a comment), so tracebacks number lines as the notebook shows them
        source = f"#%%remote {line.strip()}\n{cell}"
        return self.run_remote(source, bind=bind, get=args.get, block=args.block, opts=opts, actor=args.actor,
                               output=args.output, label="%%remote")

    # -- argument checks ----------------------------------------------------------------
    @staticmethod
    def _bind_names(parts) -> list:
        bind: list = []
        for name in " ".join(parts).replace(",", " ").split():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise _usage(f"%%remote: {name!r} is not a variable name; list the variables to bind back "
                             "as `%%remote x, y`.")
            if name not in bind:
                bind.append(name)
        return bind

    @staticmethod
    def _resource_options(args) -> dict:
        opts: dict = {}
        for flag, key in (("num_cpus", "num_cpus"), ("num_gpus", "num_gpus")):
            value = getattr(args, flag)
            if value is not None:
                if value < 0:
                    raise _usage(f"%%remote: --{flag.replace('_', '-')} must be >= 0, got {value:g}.")
                opts[key] = int(value) if float(value).is_integer() else value
        if args.resources is not None:
            text = args.resources
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":  # IPython keeps the quotes
                text = text[1:-1]
            try:
                res = json.loads(text)
            except ValueError as exc:
                raise _usage(f"%%remote: --resources must be a JSON object like '{{\"disk\": 1}}': {exc}") from None
            if not isinstance(res, dict) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                    for k, v in res.items()):
                raise _usage("%%remote: --resources must be a JSON object of resource names to non-negative "
                             "numbers, like '{\"disk\": 1}'.")
            if "CPU" in res or "GPU" in res:
                raise _usage("%%remote: give CPUs and GPUs with --num-cpus / --num-gpus, not in --resources.")
            opts["resources"] = res
        return opts

    # -- running ------------------------------------------------------------------------
    def _ensure_connected(self) -> None:
        import kernelray
        from .. import api

        if not kernelray.is_initialized():
            kernelray.init()
            self.bridge.started_job_id = api._driver.info.get("job_id")

    def _namespace_values(self, tree: ast.Module, skip: set) -> tuple:
        user_ns = self.shell.user_ns
        hidden = getattr(self.shell, "user_ns_hidden", {})
        names = []
        for name in sorted(free_names(tree)):
            if name in skip or name not in user_ns:
                continue
            value = user_ns[name]
            if name in hidden and hidden[name] is value:
                continue
            names.append(name)
        return names, [user_ns[n] for n in names]

    def run_remote(self, source: str, bind=(), get: bool = False, block: bool = True, opts=None, actor=None,
                   output=None, label: str = "%%remote"):
        import kernelray
        from .. import api
        from ..exceptions import RayTaskError

        n = self.shell.execution_count
        filename = f"<remote-cell-{n}>"
        register_source(filename, source)  # a SyntaxError or a traceback here shows the cell's lines
        tree = ast.parse(source, filename, "exec")
        self._ensure_connected()
        bind = list(bind)
        actor_key = (api._driver.info.get("job_id"), actor)
        skip = self.actor_names.get(actor_key, set()) if actor else set()
        names, values = self._namespace_values(tree, skip)
        opts = dict(opts or {})
        nret = 1 + len(bind)
        call_args = (source, filename, tuple(names), tuple(bind), *values)
        try:
            if actor:
                refs = self._submit_to_actor(actor, opts, nret, call_args)
            else:
                fn = _remote_run_cell().options(name=f"remote-cell-{n}", num_returns=nret, **opts)
                refs = fn.remote(*call_args)
        except TypeError as exc:
            raise self._ship_error(names, values, exc) from None
        except ValueError as exc:  # an option the scheduler refuses
            raise _usage(f"{label}: {exc}") from None
        if actor:
            self.actor_names.setdefault(actor_key, set()).update(assigned_names(tree))
        refs = [refs] if nret == 1 else list(refs)
        result_ref, bound_refs = refs[0], refs[1:]
        user_ns = self.shell.user_ns
        if not block:
            for name, ref in zip(bind, bound_refs):
                user_ns[name] = ref
            if output:
                user_ns[output] = result_ref
                return None
            return result_ref
        try:
            got = kernelray.get(refs if get else [result_ref])
        except RayTaskError as exc:
            raise _cell_error(exc) from None
        result = got[0]
        for i, name in enumerate(bind):
            user_ns[name] = got[1 + i] if get else bound_refs[i]
        if output:
            user_ns[output] = result if get else result_ref
        if source.rstrip().endswith(";"):
            return None
        return result

    def _submit_to_actor(self, name: str, opts: dict, nret: int, call_args: tuple):
        import kernelray
        from .. import api

        try:
            import kernelray.actor  # noqa: F401 - actors arrive with kernelray.actor
        except ImportError:
            raise _usage("%%remote --actor needs actor support (kernelray.actor), which this kernelray does not "
                         "have: drop --actor to run the cell as a task.") from None
        key = (api._driver.info.get("job_id"), name)  # a new cluster has new actors
        handle = self.actor_handles.get(key)
        if handle is None:
            try:
                handle = kernelray.get_actor(name)
            except ValueError:
                handle = kernelray.remote(CellActor).options(name=name, **opts).remote()
            self.actor_handles[key] = handle  # a named actor lives while a handle does (as in Ray)
        method = getattr(handle, "run_cell", None)
        if method is None:
            raise _usage(f"%%remote --actor {name}: the actor named {name!r} is not a %%remote cell actor "
                         "(it has no run_cell method); pick another name.")
        if nret == 1:
            return method.remote(*call_args)
        return method.options(num_returns=nret).remote(*call_args)

    @staticmethod
    def _ship_error(names, values, exc: BaseException) -> BaseException:
        import cloudpickle

        for name, value in zip(names, values):
            try:
                cloudpickle.dumps(value)
            except Exception as inner:  # noqa: BLE001
                return TypeError(
                    f"%%remote cannot send the notebook variable {name!r} ({type(value).__name__}) to the worker: "
                    f"{type(inner).__name__}: {inner}. Create it inside the cell instead."
                )
        return exc
