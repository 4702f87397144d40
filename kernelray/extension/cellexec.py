"""Running a notebook cell's source on a worker (``%%remote``), and reading a cell's names.

Both sides import this module, so it stays light: ``ast``, ``linecache``, ``traceback``.

Worker side: :func:`run_cell` (a task) and :class:`CellActor` (an actor keeping a
namespace between cells) compile the shipped source under the cell's own file name
(``<remote-cell-N>``) and put the source into ``linecache``, so a traceback shows the
cell's lines with the cell's line numbers.  The value of a trailing expression is the
result, as in a notebook.

Driver side: :func:`free_names` (what the cell reads that it has not assigned first) and
:func:`assigned_names` (what it leaves behind at top level) decide what is shipped.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import traceback

CELL_MODULE = "__remote_cell__"
TRACEBACK_ATTR = "_kernelray_cell_traceback"


# -- both sides ---------------------------------------------------------------------------
def register_source(filename: str, source: str) -> None:
    """Make ``source`` what tracebacks show for ``filename`` (this process's linecache)."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)


def split_last_expression(tree: ast.Module):
    """(statements module, trailing expression or None): the notebook's display rule."""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        body = ast.Module(body=tree.body[:-1], type_ignores=[])
        return body, ast.Expression(body=last.value)
    return tree, None


# -- driver side: which names a cell needs and defines -------------------------------------
_UNCONDITIONAL = (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                  ast.ClassDef)


def _bound_by(stmt: ast.stmt) -> set:
    """Names a top-level statement binds in the module namespace (not inside functions)."""
    names: set = set()
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(stmt.name)
        return names
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            if alias.name != "*":
                names.add(alias.asname or alias.name.split(".")[0])
        return names
    stack = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue  # their own scopes
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= _bound_by(node)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def assigned_names(tree: ast.Module) -> set:
    """Every name the cell may leave bound at top level."""
    out: set = set()
    for stmt in tree.body:
        out |= _bound_by(stmt)
    return out


def free_names(tree: ast.Module) -> set:
    """Names the cell reads before it surely assigned them: candidates to ship.

    Statements run in order; a name counts as assigned once an unconditional top-level
    statement (``x = ...``, ``import``, ``def``, ``class``) bound it.  Loads anywhere
    (also inside functions the cell defines) count, so this over-approximates: shipping
    a name the cell does not need costs bytes, missing one would be a NameError.
    """
    assigned: set = set()
    free: set = set()
    for stmt in tree.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in assigned:
                free.add(node.id)
        if isinstance(stmt, _UNCONDITIONAL) and not (isinstance(stmt, ast.AnnAssign) and stmt.value is None):
            assigned |= _bound_by(stmt)
    return free


# -- worker side --------------------------------------------------------------------------
def new_namespace() -> dict:
    from .taskdisplay import display

    return {"__name__": CELL_MODULE, "__builtins__": builtins, "display": display}


def _is_ipython_display(value) -> bool:
    return callable(value) and getattr(value, "__name__", "") == "display" and \
        str(getattr(value, "__module__", "")).startswith("IPython")


def execute_cell(source: str, filename: str, ns: dict, bind: tuple):
    """Run ``source`` in ``ns``; the trailing expression's value, then each bound name's."""
    register_source(filename, source)
    if _is_ipython_display(ns.get("display")):  # IPython's own display only prints here
        from .taskdisplay import display

        ns["display"] = display
    tree = ast.parse(source, filename, "exec")
    body, last = split_last_expression(tree)
    try:
        exec(compile(body, filename, "exec"), ns)  # noqa: S102 - running the user's cell is the point
        result = eval(compile(last, filename, "eval"), ns) if last is not None else None  # noqa: S307
    except BaseException as exc:
        _attach_cell_traceback(exc, filename)
        raise
    if not bind:
        return result
    values = [result]
    for name in bind:
        if name not in ns:
            raise NameError(
                f"name {name!r} is not defined: `%%remote {', '.join(bind)}` binds it back into the notebook, "
                "but the cell did not assign it"
            )
        values.append(ns[name])
    return tuple(values)


def _attach_cell_traceback(exc: BaseException, filename: str) -> None:
    """Keep the traceback from the cell's first frame on (no kernelray frames above it)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    if tb is None:  # e.g. a SyntaxError: nothing of the cell ran
        text = "".join(traceback.format_exception_only(type(exc), exc))
    else:
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    try:
        setattr(exc, TRACEBACK_ATTR, text)
    except Exception:  # noqa: BLE001 - an exception that takes no attributes keeps Ray's traceback
        pass


def run_cell(source: str, filename: str, names: tuple, bind: tuple, *values):
    """The ``%%remote`` task: a fresh namespace of the shipped names, then the cell."""
    ns = new_namespace()
    ns.update(zip(names, values))
    return execute_cell(source, filename, ns, bind)


class CellActor:
    """``%%remote --actor NAME``: cells share this actor's namespace (state persists)."""

    def __init__(self):
        self.ns = new_namespace()

    def run_cell(self, source: str, filename: str, names: tuple, bind: tuple, *values):
        self.ns.update(zip(names, values))
        return execute_cell(source, filename, self.ns, bind)

    def names(self) -> list:
        return sorted(k for k in self.ns if not k.startswith("__"))
