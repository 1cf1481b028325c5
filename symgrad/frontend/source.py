"""Where a lifted function comes from: its parsed source (for messages with file, line and column), the names
its body reads, and the numbers it may fold."""

import ast
import builtins
import inspect
import numbers
import operator
import textwrap
import types
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .. import errors
from ..cache import IMPORTED, import_bindings, imported, installed
from ..rules import NAMED_CONSTANTS
from .desugar import desugared

# Comparisons as SymPy relations, and as Python computes them (for folding constants).
COMPARISONS = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}
PYTHON_COMPARISONS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
                      ast.Eq: operator.eq, ast.NotEq: operator.ne}


@dataclass
class Source:
    """A parsed function definition and where it came from, for messages with file, line and column."""

    function: types.FunctionType
    definition: ast.FunctionDef
    filename: str
    first_line: int
    indent: int
    lines: list

    def error(self, kind, node, message):
        lineno = self.first_line + getattr(node, "lineno", 1) - 1
        offset = getattr(node, "col_offset", 0) + self.indent + 1
        text = self.lines[lineno - self.first_line] if 0 <= lineno - self.first_line < len(self.lines) else None
        return kind(message, self.filename, lineno, offset, text)


_SOURCES = {}


def read_source(function):
    """Read and parse a function's definition once per function object (and code object: a function whose
    __code__ was replaced is read again)."""
    known = _SOURCES.get(function)
    if known is not None and known[0] is function.__code__:
        return known[1]
    name = getattr(function, "__qualname__", repr(function))
    try:
        lines, first_line = inspect.getsourcelines(function)
        filename = inspect.getsourcefile(function) or function.__code__.co_filename
    except (OSError, TypeError) as exc:
        code = getattr(function, "__code__", None)
        raise errors.SourceNotFoundError(
            f"cannot read the source of {name} ({exc}): define it in a file or a notebook cell, not with exec",
            getattr(code, "co_filename", None), getattr(code, "co_firstlineno", None), 1) from None
    text = "".join(lines)
    indent = len(lines[0]) - len(lines[0].lstrip())
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError:  # (the lines of a lambda inside a dict or a call are no statement of their own)
        column = lines[0].find("lambda") if getattr(function, "__name__", "") == "<lambda>" else -1
        raise errors.UnsupportedExpressionError(
            f"{name} is a lambda inside a larger expression, whose source symgrad cannot read on its own: define it "
            f"with `def name(...): return ...` and pass that function", filename, max(first_line, 1),
            max(column, 0) + 1, lines[0]) from None
    source = Source(function, tree.body[0], filename, max(first_line, 1), indent, lines)
    if not isinstance(source.definition, ast.FunctionDef):
        raise source.error(errors.UnsupportedExpressionError, source.definition,
                           f"{'a lambda' if function.__name__ == '<lambda>' else name} is not defined by a `def` "
                           f"statement: write a named function, {_as_def(function, tree)}, and pass that function")
    desugared(source.definition, function)
    _SOURCES[function] = (function.__code__, source)
    return source



def _as_def(function, tree):
    """The ``def`` to write for a function that a statement defines otherwise (a lambda): ``def sq(x): return x**2``
    for ``sq = lambda x: x**2``, named ``f`` when no plain name is bound to it."""
    if not isinstance(function, types.FunctionType) or function.__name__ != "<lambda>":
        return f"`def {function.__name__}(...): return ...`"
    arguments = list(function.__code__.co_varnames[:function.__code__.co_argcount])
    lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)
               and [a.arg for a in node.args.args] == arguments]
    if len(lambdas) != 1:
        return f"`def f({', '.join(arguments)}): return ...`"
    name = next((node.targets[0].id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and node.value is lambdas[0] and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)),
                "f")
    return f"`def {name}({ast.unparse(lambdas[0].args)}): return {ast.unparse(lambdas[0].body)}`"


class Frame:
    """One function being lifted: its source, its local variables and where its free names resolve.

    `path` is how the call path finds this function's outside names again at each call (see `global_path`): the
    names leading from the differentiated function to it (`("helper",)` for a module-level helper it calls by
    name), or None where it was reached another way (a function passed as a value).  A nested `def` shares its
    enclosing function's path, since it shares its globals."""

    def __init__(self, source, variables, path=()):
        self.source = source
        self.variables = variables
        self.path = path
        self.loops = 0  # loops of this function around the statement being lifted
        self.loop_locals = []  # for each of its loops kept as loops, the names first bound in its body
        self.passed_lists = ()  # the lists a helper's caller passed it, which it must not append to
        function = source.function
        cells = dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
        self.closure = {name: cell.cell_contents for name, cell in cells.items() if _cell_is_set(cell)}
        self.globals = function.__globals__
        self.imports = {} if installed(function) else function_imports(source)  # (a library's: not followed)

    def global_path(self, *names):
        """The path of an outside name (or module attribute chain) read here, or None where none exists; from
        what an import inside the function binds, a path that starts at that module (`module_values.IMPORTED`)."""
        if names[0] in self.imports:
            return (IMPORTED + self.imports[names[0]],) + names[1:]
        return None if self.path is None else self.path + names

    def resolve(self, name):
        if name in self.imports:
            try:
                return imported(self.imports[name])
            except ImportError:
                raise KeyError(name) from None  # (refused at its `import` statement: `import_refusal`)
        if name in self.closure:
            return self.closure[name]
        if name in self.globals:
            return self.globals[name]
        return getattr(builtins, name) if hasattr(builtins, name) else self.globals[name]


def function_imports(source):
    """The names the function's own `import` statements bind (not those of a nested `def`): name -> the dotted
    path of what each binds (`cache.import_bindings`), bound for the whole body as module-level imports would be.
    Nothing is imported here: `Frame.resolve` imports what a name the lifter reads binds, and the lifter refuses an
    import that fails where it meets it (`import_refusal`), so a function whose body is only read for its kinds
    imports nothing and is not refused."""
    return {name: dotted for node in _own_nodes(source.definition) for name, dotted in import_bindings(node)}


def import_refusal(node):
    """Why the `import` statement `node` inside a function cannot be bound, or None."""
    if isinstance(node, ast.ImportFrom) and (node.level or any(a.name == "*" for a in node.names)):
        return ("a relative or `*` import inside the function: import the names it uses by their module's full "
                "name (`from package.module import f`)")
    for _, dotted in import_bindings(node):
        try:
            imported(dotted)
        except ImportError as error:
            return f"{ast.unparse(node)!r} fails: {error}"
    return None


def _own_nodes(definition):
    """The nodes of a function's body, without those of the functions and classes defined inside it."""
    pending = list(definition.body)
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            pending.extend(ast.iter_child_nodes(node))


def _cell_is_set(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def python_number(value):
    """A SymPy number as the Python number the source computes with: an int, or the nearest float64."""
    return int(value) if value.is_Integer else float(value)


def constant_to_sympy(value):
    """A Python or NumPy number as a SymPy number; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return sp.Integer(int(value))
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return NAMED_CONSTANTS.get(value, sp.Float(value))
    return None
