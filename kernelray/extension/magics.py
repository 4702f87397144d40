"""``%%remote`` / ``%remote``: run a notebook cell or expression on a kernelray worker.

Both forms share one option parser (the ``magic_arguments`` of :meth:`KernelrayMagics.remote`).
The line form follows ipyparallel's ``%px``: options first, then the expression, which is
the rest of the line taken verbatim (``--`` ends the options explicitly).
"""

from __future__ import annotations

import ast
import json
import keyword
import re

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .cellexec import TRACEBACK_ATTR, CellActor, assigned_names, free_names, register_source, run_cell

_OPTIONS = "[--get] [--num-cpus N] [--num-gpus N] [--resources JSON] [--actor NAME] [--block | --noblock] [-o NAME]"
CELL_USAGE = f"%%remote [x, y] {_OPTIONS}"
LINE_USAGE = f"%remote {_OPTIONS} [--] expr"
_OPTION_LIKE = re.compile(r"--?[A-Za-z]")  # a token that is an option, not an expression like -x or -1
_run_cell_fn = None


def _remote_run_cell():
    """``run_cell`` as a remote function (no retries: a cell may have side effects)."""
    global _run_cell_fn
    if _run_cell_fn is None:
        import kernelray

        _run_cell_fn = kernelray.remote(max_retries=0)(run_cell)
    return _run_cell_fn


def _usage(message: str, form: str = CELL_USAGE) -> UsageError:
    return UsageError(f"{message}\nUsage: {form}")


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


def _token_end(line: str, i: int) -> int:
    """End of the token starting at ``i``: up to whitespace outside quotes (as IPython's arg_split)."""
    quote = None
    while i < len(line):
        c = line[i]
        if quote is not None:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c.isspace():
            break
        i += 1
    return i


def _skip_space(line: str, i: int) -> int:
    while i < len(line) and line[i].isspace():
        i += 1
    return i


def split_line(parser, line: str) -> tuple:
    """``(options, expression)`` of a ``%remote`` line: the leading options, then the rest verbatim.

    Options are recognised with ``parser`` (the one ``%%remote`` parses with), so an option
    that takes a value takes the next token (or ``--opt=value`` / ``-oNAME``).  The first
    token that is not an option starts the expression; ``--`` ends the options explicitly
    (for an expression that starts with ``-``).  An unknown option is a UsageError.
    """
    actions = parser._option_string_actions  # argparse's table: option string -> action
    longs = [s for s in actions if s.startswith("--")]
    pos = 0
    while True:
        start = _skip_space(line, pos)
        if start >= len(line):
            return line[:start], ""
        end = _token_end(line, start)
        token = line[start:end]
        if token == "--":
            return line[:start], line[end:].strip()
        if not _OPTION_LIKE.match(token):
            return line[:start], line[start:].strip()
        name, eq, _ = token.partition("=")
        action = actions.get(name)
        if action is None and name.startswith("--"):
            matches = sorted(s for s in longs if s.startswith(name))  # argparse accepts unique prefixes
            if len({actions[s] for s in matches}) > 1:
                raise _usage(f"%remote: ambiguous option {name!r}: could be {', '.join(matches)}.", LINE_USAGE)
            action = actions[matches[0]] if matches else None
        elif action is None and not eq and token[:2] in actions and actions[token[:2]].nargs != 0:
            pos = end  # -oNAME: a short option with its value attached
            continue
        if action is None:
            raise _usage(f"%remote: unknown option {token!r}. Options go before the expression; an expression "
                         f"that starts with '-' goes after '--', as in `%remote -- -x`.", LINE_USAGE)
        pos = end
        if action.nargs != 0 and not eq:  # the value is the next token, whatever it looks like (-1)
            value = _skip_space(line, end)
            if value < len(line):
                pos = _token_end(line, value)


def magic_lines(source: str) -> list:
    """``(line number, line)`` of each IPython-only line in ``source`` (magics, ``!cmd``, ``x?``).

    Asked only of source that is not valid Python: a ``%`` or ``!`` that starts a line
    inside brackets or a string is Python, and IPython's own transformer knows that.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        transformed = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - not even IPython can read it: the SyntaxError says enough
        return []
    # IPython rewrites each such line in place (one line for one), except that a command continued
    # with a backslash becomes one line: walk both in step
    old, new = source.splitlines(), transformed.splitlines()
    found = []
    i = j = 0
    while i < len(old) and j < len(new):
        span = 1
        if "get_ipython()" in new[j] and new[j] != old[i]:
            found.append((i + 1, old[i].strip()))
            while old[i + span - 1].endswith("\\") and i + span < len(old):
                span += 1
        i += span
        j += 1
    return found


PICTURES = {"stream": "task_stream", "progress": "function_progress", "memory": "memory", "cluster": "cluster"}


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
    @no_var_expand  # the line is Python and JSON: `{x}` and `$x` are not IPython expansions here
    def remote(self, line, cell=None):
        """Run a cell (``%%remote``) or one expression (``%remote expr``) on a kernelray worker.

        The cell's free variables are taken from the notebook (ObjectRefs among them are
        resolved on the worker); its printed output and ``display()`` calls show in this
        cell; the value of its last expression is the cell's result.

        ``%remote [options] expr`` takes the same options before the expression (``--``
        ends them) and returns the expression's value, e.g. ``y = %remote --num-cpus 2 f(x)``;
        with ``--noblock`` its ObjectRef.  IPython magics and ``!`` commands do not run on a
        worker: a cell that has one is refused before anything is submitted.
        """
        if cell is None:
            return self._remote_line(line)
        args = self._parse(line, "%%remote", CELL_USAGE)
        bind = self._bind_names(args.names)
        if not cell.strip():
            raise _usage("%%remote: the cell is empty; write the code to run on a worker below the %%remote line.")
        opts = self._checked_options(args, "%%remote", CELL_USAGE)
        # the magic's line stays line 1 (as a comment), so tracebacks number lines as the notebook shows them
        source = f"#%%remote {line.strip()}\n{cell}"
        return self.run_remote(source, bind=bind, get=args.get, block=args.block, opts=opts, actor=args.actor,
                               output=args.output, label="%%remote")

    def _remote_line(self, line: str):
        """``%remote [options] expr``: options as ``%%remote`` parses them, then the expression."""
        flags, expr = split_line(self.remote.parser, line)
        args = self._parse(flags, "%remote", LINE_USAGE)
        if args.names:  # split_line stops at the first non-option: cannot happen, but never drop names silently
            raise _usage("%remote binds no names; use -o NAME for the result.", LINE_USAGE)
        opts = self._checked_options(args, "%remote", LINE_USAGE)
        if not expr:
            raise _usage("%remote needs an expression after its options: `%remote f(x)` runs f(x) on a worker and "
                         "returns its value (a whole cell runs with the cell magic, %%remote).", LINE_USAGE)
        return self.run_remote(expr, get=args.get, block=args.block, opts=opts, actor=args.actor,
                               output=args.output, label="%remote")

    # -- argument checks ----------------------------------------------------------------
    def _parse(self, line: str, label: str, form: str):
        try:
            return parse_argstring(self.remote, line)
        except UsageError as exc:  # argparse's own message ("unrecognized arguments: ..."), plus the usage
            raise _usage(f"{label}: {exc}", form) from None

    def _checked_options(self, args, label: str, form: str) -> dict:
        """The checks both forms share; the task options from --num-cpus, --num-gpus, --resources."""
        if args.get and not args.block:
            raise _usage(f"{label}: --get waits for the values, so it cannot go with --noblock.", form)
        if args.output is not None and (not args.output.isidentifier() or keyword.iskeyword(args.output)):
            raise _usage(f"{label}: -o needs a variable name, not {args.output!r}.", form)
        return self._resource_options(args, label, form)

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
    def _resource_options(args, label: str = "%%remote", form: str = CELL_USAGE) -> dict:
        opts: dict = {}
        for flag, key in (("num_cpus", "num_cpus"), ("num_gpus", "num_gpus")):
            value = getattr(args, flag)
            if value is not None:
                if value < 0:
                    raise _usage(f"{label}: --{flag.replace('_', '-')} must be >= 0, got {value:g}.", form)
                opts[key] = int(value) if float(value).is_integer() else value
        if args.resources is not None:
            text = args.resources
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":  # IPython keeps the quotes
                text = text[1:-1]
            try:
                res = json.loads(text)
            except ValueError as exc:
                raise _usage(f"{label}: --resources must be a JSON object like '{{\"disk\": 1}}': {exc}",
                             form) from None
            if not isinstance(res, dict) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                    for k, v in res.items()):
                raise _usage(f"{label}: --resources must be a JSON object of resource names to non-negative "
                             "numbers, like '{\"disk\": 1}'.", form)
            if "CPU" in res or "GPU" in res:
                raise _usage(f"{label}: give CPUs and GPUs with --num-cpus / --num-gpus, not in --resources.", form)
            opts["resources"] = res
        return opts

    # -- %kernelray ---------------------------------------------------------------------
    @line_magic("kernelray")
    def kernelray_magic(self, line: str = ""):
        """%kernelray dashboard [stream|progress|memory|cluster] | status | memory [--group-by call_site|cell|owner]

        ``dashboard`` shows the live dashboard (``kernelray.dashboard()``), or one of its pictures alone
        (``dashboard stream``: ``kernelray.widgets.task_stream()``, ...); ``status`` and
        ``memory`` render what ``kernelray status`` and ``kernelray memory`` print, for the
        cluster this notebook uses (started on first use, as for %%remote).
        """
        words = line.split()
        usage = "%kernelray dashboard [stream|progress|memory|cluster] | status | memory [--group-by call_site|cell|owner]"
        if not words or words[0] not in ("dashboard", "status", "memory"):
            raise UsageError(f"%kernelray: say what to show.\nUsage: {usage}")
        what, rest = words[0], words[1:]
        group_by = "call_site"
        if what == "memory" and rest:
            if len(rest) == 2 and rest[0] == "--group-by" and rest[1] in ("call_site", "cell", "owner"):
                group_by = rest[1]
            else:
                raise UsageError(f"%kernelray memory: unknown options {' '.join(rest)!r}.\nUsage: {usage}")
        elif what == "dashboard" and rest:
            if len(rest) != 1 or rest[0] not in PICTURES:
                raise UsageError(f"%kernelray dashboard: unknown view {' '.join(rest)!r}.\nUsage: {usage}")
        elif rest:
            raise UsageError(f"%kernelray {what} takes no options.\nUsage: {usage}")
        self._ensure_connected()
        import kernelray

        if what == "dashboard":
            return getattr(kernelray.widgets, PICTURES[rest[0]])() if rest else kernelray.dashboard()
        from rich.console import Console

        from .. import cli

        console = Console()
        if what == "status":
            cli.render_status(console)
        else:
            cli.render_memory(console, group_by)
        return None

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

        form = LINE_USAGE if label == "%remote" else CELL_USAGE
        n = self.shell.execution_count
        filename = f"<remote-cell-{n}>"
        register_source(filename, source)  # a SyntaxError or a traceback here shows the cell's lines
        try:
            tree = ast.parse(source, filename, "exec")
        except SyntaxError:
            found = magic_lines(source)
            if found:  # before connecting or submitting anything
                raise self._magic_error(found, label, form) from None
            raise
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
                refs = self._submit_to_actor(actor, opts, nret, call_args, label, form)
            else:
                fn = _remote_run_cell().options(name=f"remote-cell-{n}", num_returns=nret, **opts)
                refs = fn.remote(*call_args)
        except TypeError as exc:
            raise self._ship_error(names, values, exc, label) from None
        except ValueError as exc:  # an option the scheduler refuses
            raise _usage(f"{label}: {exc}", form) from None
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
        if source.rstrip().endswith(";"):  # hides the value, as in a notebook (and as IPython's %time does)
            return None
        return result

    @staticmethod
    def _magic_error(found: list, label: str, form: str) -> UsageError:
        """The UsageError for IPython-only lines (``found``: line number, text) in a remote cell or expression."""
        kinds = "IPython syntax (a magic, a `!` shell command or `?` help)"
        if label == "%remote":
            return _usage(f"%remote: `{found[0][1]}` is {kinds}, which cannot run on a worker: the expression runs "
                          "there as plain Python. Run the magic in the notebook instead.", form)
        lines = ", ".join(f"line {n} `{text}`" for n, text in found)
        return _usage(
            f"%%remote: {lines} {'is' if len(found) == 1 else 'are'} {kinds}, which cannot run on a worker; "
            "nothing was submitted. A %%remote cell runs as plain Python in a worker process, where there is "
            "no IPython. Run magics in a normal cell; for a shell command on the worker call subprocess.run(...) "
            "in the cell; to time the remote cell put %%time on the line above %%remote.", form)

    def _submit_to_actor(self, name: str, opts: dict, nret: int, call_args: tuple, label: str = "%%remote",
                         form: str = CELL_USAGE):
        import kernelray
        from .. import api

        try:
            import kernelray.actor  # noqa: F401 - actors arrive with kernelray.actor
        except ImportError:
            raise _usage(f"{label} --actor needs actor support (kernelray.actor), which this kernelray does not "
                         "have: drop --actor to run it as a task.", form) from None
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
            raise _usage(f"{label} --actor {name}: the actor named {name!r} is not a %%remote cell actor "
                         "(it has no run_cell method); pick another name.", form)
        if nret == 1:
            return method.remote(*call_args)
        return method.options(num_returns=nret).remote(*call_args)

    @staticmethod
    def _ship_error(names, values, exc: BaseException, label: str = "%%remote") -> BaseException:
        import cloudpickle

        for name, value in zip(names, values):
            try:
                cloudpickle.dumps(value)
            except Exception as inner:  # noqa: BLE001
                return TypeError(
                    f"{label} cannot send the notebook variable {name!r} ({type(value).__name__}) to the worker: "
                    f"{type(inner).__name__}: {inner}. Create it inside the cell instead."
                )
        return exc
