"""The `symgrad` command: read a function out of a Python file, show what symgrad derives from it, check it.

    symgrad show examples/quickstart.py:rosen            # the source and the partials, pretty-printed
    symgrad show examples/quickstart.py:rosen --latex    # ... as LaTeX (also --text, --markdown, --source)
    symgrad check examples/quickstart.py:rosen --at x=1.5,y=2
    symgrad check examples/rosen_lbfgs.py:rosen --at "x=[-1.2, 1, -1.2, 1]"

A function already decorated with symgrad is used as it is (its `wrt`); a plain function is wrapped, with respect to
`--wrt` or else every argument symgrad reads as a float or an array.  Mistakes in the command or in the user's code
are reported as one line on stderr (with file:line for code symgrad does not lift) and a non-zero exit status, never
as a traceback: the traceback of a mistake in the user's file points into symgrad, which does not help them.
"""

import argparse
import ast
import importlib.util
import inspect
import math
import pathlib
import sys
import traceback

import numpy as np

from .api import Transform, value_and_grad
from .errors import UnsupportedSyntaxError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INCONCLUSIVE = 1, 2, 3, 4


class CommandError(Exception):
    """A mistake in the command line or in the user's file: printed as one line, then exit with `status`."""

    def __init__(self, message, status=EXIT_FAILED):
        super().__init__(message)
        self.status = status


# --- finding the function ---------------------------------------------------------------------------------------
def _import_dependencies():
    """Import everything symgrad and this command will use before the user's directory goes on sys.path, so that
    a `sympy.py` or `numpy.py` beside the user's file cannot stand in for the real one."""
    import numba  # noqa: F401
    import rich.console  # noqa: F401
    import rich.markup  # noqa: F401
    import rich.rule  # noqa: F401
    import rich.syntax  # noqa: F401
    import rich.table  # noqa: F401
    import rich.text  # noqa: F401
    import sympy  # noqa: F401

    from . import codegen, display, forward, frontend, jit, reverse, runtime  # noqa: F401


def _import_file(path):
    """Import a Python file as a module.  Its directory goes on sys.path, last, so that its own imports work but
    shadow nothing installed."""
    _import_dependencies()
    name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else f"_symgrad_target_{path.stem}"
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    try:
        spec.loader.exec_module(module)
    except UnsupportedSyntaxError:
        raise  # a symgrad transform used at import time: reported with its own file:line
    except SyntaxError as error:
        where = f"{_shown(error.filename)}:{error.lineno}:{error.offset}"
        raise CommandError(f"{where}: syntax error: {error.msg}") from None
    except (Exception, SystemExit) as error:  # the user's module failed: name the line in their file
        lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if pathlib.Path(f.filename) == path]
        where = f"{_shown(path)}:{lines[-1]}" if lines else _shown(path)
        raise CommandError(f"{where}: importing the file raised {type(error).__name__}: {error}") from None
    return module


def _candidates(module):
    """The functions a file defines itself, symgrad transforms first."""
    own = [(name, value) for name, value in vars(module).items()
           if (isinstance(value, Transform) or inspect.isfunction(value))
           and getattr(getattr(value, "fun", value), "__module__", None) == module.__name__]
    return [name for name, value in own if isinstance(value, Transform)] + \
           [name for name, value in own if not isinstance(value, Transform)]


def load_target(spec):
    """`path/to/file.py:name` -> (the Transform or plain function called `name` in that file, its path)."""
    text, colon, name = spec.rpartition(":")
    if not colon or "/" in name or "\\" in name:
        text, name = spec, ""
    path = pathlib.Path(text).resolve()
    if not path.is_file():
        raise CommandError(f"{text}: no such file (expected FILE.py:FUNCTION)", EXIT_USAGE)
    module = _import_file(path)
    names = _candidates(module)
    listed = ", ".join(names) if names else "none"
    if not name:
        raise CommandError(f"name the function after a colon, as in {text}:{names[0] if names else 'f'} "
                           f"(functions in {text}: {listed})", EXIT_USAGE)
    if not hasattr(module, name):
        raise CommandError(f"{text} has no function {name!r} (functions in it: {listed})", EXIT_USAGE)
    target = getattr(module, name)
    if not isinstance(target, Transform) and not inspect.isfunction(target):
        raise CommandError(f"{text}:{name} is a {type(target).__name__}, not a Python function", EXIT_USAGE)
    return target, path


def _kinds(function):
    """What symgrad reads each argument as (float, int, array1 to array3, index1 and index2), without deriving anything."""
    from .frontend import infer_kinds, read_source

    return infer_kinds(read_source(function))


def transform_for(target, wrt=None):
    """The Transform the command works on: the decorated one, or a new one when `wrt` is given or the target is
    a plain function (then with respect to every float and array argument)."""
    if isinstance(target, Transform) and wrt is None:
        return target
    function = target.fun if isinstance(target, Transform) else target
    if wrt is None:
        wrt = tuple(name for name, kind in _kinds(function).items() if kind not in ("int", "index1", "index2"))
        if not wrt:
            raise CommandError(f"{function.__name__}() has no float or array argument to differentiate")
    options = {"parallel": True} if getattr(target, "parallel", False) else {}  # keep the decorator's threading
    return value_and_grad(function, wrt=tuple(wrt), **options)


def parse_wrt(text):
    """`--wrt x,y` -> ("x", "y"); positions (`0,1`) are accepted too."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise CommandError("--wrt is empty: name at least one argument, as in --wrt x,y", EXIT_USAGE)
    return tuple(int(n) if n.lstrip("-").isdigit() else n for n in names)


# --- argument values (--at) -------------------------------------------------------------------------------------
def _split_top_level(text):
    """Split on commas outside brackets: `x=[1, 2],y=3` -> ["x=[1, 2]", "y=3"]."""
    parts, depth, current = [], 0, ""
    for character in text:
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    return parts + [current]


def parse_value(name, text):
    """A number, a literal list (`[1, 2]`, `[[1, 2], [3, 4]]`), or `@file` (.npy, else text read by np.loadtxt)."""
    text = text.strip()
    if text.startswith("@"):
        path = pathlib.Path(text[1:])
        try:
            data = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
        except (OSError, ValueError) as error:
            raise CommandError(f"--at {name}={text}: cannot read {path}: {error}", EXIT_USAGE) from None
        if np.size(data) == 0:
            raise CommandError(f"--at {name}={text}: {path} holds no numbers", EXIT_USAGE)
        try:
            return _finite(name, text, np.ascontiguousarray(data, dtype=np.float64))
        except (TypeError, ValueError):
            raise CommandError(f"--at {name}={text}: {path} must hold real numbers", EXIT_USAGE) from None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (bool, complex)) for item in _flattened(value)):
            raise CommandError(f"--at {name}={text}: a list must hold real numbers (not True, False or complex)",
                               EXIT_USAGE)
        try:
            array = np.ascontiguousarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise CommandError(f"--at {name}={text}: a list must hold numbers in rows of equal length",
                               EXIT_USAGE) from None
        if array.size == 0:
            raise CommandError(f"--at {name}={text}: the list is empty: give at least one number", EXIT_USAGE)
        return _finite(name, text, array)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(text)
        except ValueError:
            raise CommandError(f"--at {name}={text}: not a number, a list such as [1, 2.5], or @file.npy",
                               EXIT_USAGE) from None
    return _finite(name, text, value)


def _flattened(value):
    """The items of nested lists and tuples."""
    for item in value:
        if isinstance(item, (list, tuple)):
            yield from _flattened(item)
        else:
            yield item


def _finite(name, text, value):
    """`value`, or a usage error when it holds inf or nan: finite differences there say nothing."""
    if not np.all(np.isfinite(value)):
        raise CommandError(f"--at {name}={text}: the point must be finite (no inf or nan)", EXIT_USAGE)
    return value


def parse_at(items, function):
    """The --at options -> the full argument list of `function` (defaults fill what is not given)."""
    given = {}
    for item in items:
        for part in _split_top_level(item):
            name, equals, value = part.partition("=")
            if not equals or not name.strip():
                raise CommandError(f"--at {part!r}: write NAME=VALUE, as in --at x=1.5,y=2", EXIT_USAGE)
            if name.strip() in given:
                raise CommandError(f"--at {part!r}: {name.strip()} is given twice", EXIT_USAGE)
            given[name.strip()] = parse_value(name.strip(), value)
    parameters = inspect.signature(function).parameters
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise CommandError(f"--at {unknown[0]}=...: {function.__name__}() has no argument {unknown[0]!r} "
                           f"(its arguments: {', '.join(parameters)})", EXIT_USAGE)
    missing = [n for n, p in parameters.items() if n not in given and p.default is inspect.Parameter.empty]
    if missing:
        raise CommandError(f"no value for {', '.join(missing)}: give every argument, as in --at "
                           + ",".join(f"{n}=1.0" for n in missing), EXIT_USAGE)
    return [given[n] if n in given else p.default for n, p in parameters.items()]


# --- the check ----------------------------------------------------------------------------------------------------
SHRINK = 1.4  # Ridders' ratio between successive steps
LEVELS = 10  # steps per extrapolation: the last is SHRINK**9 (about 21) times smaller than the first
DOUBT = 10  # a difference within this many error estimates of the quotient is not the kernel's fault
FIRST_STEPS = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)  # times --step: one run of Ridders spans a factor of 21 below its first
ROUNDING = 1e-13  # the smallest error estimate, relative to the estimate, that double precision allows


def _shifted(function, args, position, index, offset):
    """function(args) with args[position][index] moved by offset; nan where the function refuses the point (a
    domain error past the edge of its domain is the step's fault, not the gradient's)."""
    moved = list(args)
    if index == ():
        moved[position] = float(args[position]) + offset
    else:
        moved[position] = args[position].copy()
        moved[position][index] += offset
    try:
        return float(function(*moved))
    except (ArithmeticError, ValueError):
        return float("nan")


def central_difference(function, args, position, index, h):
    """(f(x + h) - f(x - h)) / 2h in the element `index` (() for a scalar) of args[position]."""
    return (_shifted(function, args, position, index, h) - _shifted(function, args, position, index, -h)) / (2 * h)


def ridders(quotient, h):
    """Ridders' extrapolation of `quotient(h)` to h -> 0: steps h, h/1.4, h/1.4**2, ... in a Neville tableau in
    h**2 (Numerical Recipes, dfridr) -> (estimate, its error estimate): the entry that agrees best with its
    neighbours, and by how much.  It stops when higher orders get worse, as rounding error takes over."""
    best, error = float("nan"), float("inf")
    previous = [quotient(h)]
    for level in range(1, LEVELS):
        h /= SHRINK
        row, factor = [quotient(h)], SHRINK**2
        for order in range(1, level + 1):
            row.append((row[order - 1] * factor - previous[order - 1]) / (factor - 1))
            factor *= SHRINK**2
            disagreement = max(abs(row[order] - row[order - 1]), abs(row[order] - previous[order - 1]))
            if disagreement <= error:  # never true for nan
                best, error = row[order], disagreement
        if abs(row[level] - previous[level - 1]) >= 2 * error:
            break
        previous = row
    return best, error


def first_steps(x, step=0.1):
    """Where the extrapolations start: `step` times max(1, |x|) and 10, 100, ... times smaller, then times |x|
    below those (a time step dt = 1e-3 over 10^4 steps needs steps near 1e-6)."""
    steps = [step * relative * max(1.0, abs(x)) for relative in FIRST_STEPS]
    return steps + [step * relative * abs(x) for relative in FIRST_STEPS if 0 < step * relative * abs(x) < steps[-1]]


def _agreed(function, args, position, index, step):
    """The derivative in one element: Ridders from each first step in turn, until two runs agree within their
    error estimates -> (the estimate of the pair with the smaller error estimate, error estimate at least their
    difference).  A run can be confidently wrong while its steps are still too large for the derivative to show,
    so no run is trusted alone: when none agree, the error estimate is the spread of all the runs."""
    x = float(args[position][index]) if index else float(args[position])
    runs, best = [], (float("nan"), float("inf"))
    for h in first_steps(x, step):
        value, error = ridders(lambda h: central_difference(function, args, position, index, h), h)
        error = max(error, ROUNDING * max(1.0, abs(value)))
        for other, other_error in runs:
            if abs(value - other) <= 2 * (error + other_error):
                paired = (value, error) if error <= other_error else (other, other_error)
                paired = (paired[0], max(paired[1], abs(value - other)))
                best = min(best, paired, key=lambda pair: pair[1])
        if best[1] <= ROUNDING * max(1.0, abs(best[0])):
            break
        if not np.isnan(value):
            runs.append((value, error))
    if np.isfinite(best[1]) or not runs:
        return best
    closest = min(runs, key=lambda run: run[1])
    return closest[0], max(abs(value - closest[0]) for value, _ in runs) + closest[1]


def estimate_derivative(function, args, position, step=0.1):
    """d function / d args[position] (element by element for an array) by extrapolated central differences ->
    (estimate, error estimate), each shaped like the argument."""
    shape = np.shape(args[position])
    if not shape:
        return _agreed(function, args, position, (), step)
    estimate, error = np.empty(shape), np.empty(shape)
    for index in np.ndindex(shape):
        estimate[index], error[index] = _agreed(function, args, position, index, step)
    return estimate, error


def _python_arguments(function, args):
    """The arguments as the plain Python function wants them: whole numbers as ints where symgrad reads an int
    (its kernels take `3.0` there, but Python's `range` does not)."""
    kinds = _kinds(function)
    return [int(a) if kinds.get(name) == "int" and isinstance(a, float) and a.is_integer() else a
            for name, a in zip(inspect.signature(function).parameters, args)]


def check(transform, args, step, against):
    """Compare the compiled gradient with extrapolated central differences of the Python function (or of the
    compiled value kernel) -> (value, the Python function's value or None, one row per wrt argument: (label,
    symgrad, the differences' estimate, abs error, the estimate's own error estimate, max |symgrad|)), where an
    array's row is its element whose error the estimate's error explains least."""
    function = transform.fun
    names = list(inspect.signature(function).parameters)
    value, gradient = transform.value_and_grad(*args)
    gradients = gradient if isinstance(gradient, tuple) else (gradient,)
    if against == "python":
        reference_args, reference_function = _python_arguments(function, args), function
        try:
            reference_value = function(*reference_args)
        except Exception as error:
            raise CommandError(f"the Python function {function.__name__}() raised {type(error).__name__}: {error} "
                               "at these arguments; try --against kernel") from None
    else:
        reference_args, reference_function, reference_value = list(args), transform.value, None
    rows = []
    for name, exact in zip(transform.wrt, gradients):
        exact = np.asarray(exact, dtype=float)
        reference, doubt = map(np.asarray, estimate_derivative(reference_function, reference_args,
                                                               names.index(name), step))
        errors = np.abs(exact - reference)
        unexplained = np.where(np.isnan(errors), np.inf, errors - DOUBT * doubt)
        where = np.unravel_index(int(np.argmax(unexplained)), errors.shape) if errors.ndim else ()
        label = f"{name}[{', '.join(map(str, where))}] (worst of {errors.size})" if errors.ndim else name
        rows.append((label, float(exact[where]), float(reference[where]), float(errors[where]), float(doubt[where]),
                     float(np.max(np.abs(exact))) if exact.size else 0.0))
    return value, reference_value, rows


def verdict(rows, tol):
    """"OK" when every error is within `tol` (relative to max(1, |gradient|)); "inconclusive" when the errors
    above it are within DOUBT times the differences' own error estimate, or no step gave differences (the
    quotient, not the kernel, is in doubt); else "FAILED" -> (verdict, largest error, relative error, the largest error estimate that excuses)."""
    scale = max([1.0] + [row[5] for row in rows])
    largest = max(row[3] for row in rows)
    relative = largest / scale
    if relative <= tol:  # False for nan
        return "OK", largest, relative, 0.0
    above = [row for row in rows if not row[3] / scale <= tol]
    if all(np.isnan(row[2]) or row[3] <= DOUBT * row[4] for row in above):  # nan: no step gave a quotient
        return "inconclusive", largest, relative, max(row[4] for row in above)
    return "FAILED", largest, relative, 0.0


# --- output -------------------------------------------------------------------------------------------------------
def _consoles():
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 100  # piped or captured: rich's default of 80 columns would wrap check's table
    return out, Console(stderr=True, highlight=False)


def _shown(path):
    """A path as the user would type it: relative to the working directory when it is below it."""
    path = pathlib.Path(path)
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def _describe(transform, path):
    function = transform.fun
    arguments = ", ".join(inspect.signature(function).parameters)
    return f"{function.__name__}({arguments})", f"{_shown(path)}:{inspect.getsourcelines(function)[1]}"


def command_show(options):
    target, path = load_target(options.target)
    transform = transform_for(target, parse_wrt(options.wrt) if options.wrt else None)
    out, _ = _consoles()
    if options.form in ("latex", "text", "markdown", "source"):
        payload = {"latex": transform.latex, "text": transform.__str__, "markdown": transform.to_markdown,
                   "source": transform.source}[options.form]()
        if out.is_terminal and options.form in ("latex", "source"):
            from rich.syntax import Syntax

            out.print(Syntax(payload, "latex" if options.form == "latex" else "python", background_color="default",
                             word_wrap=True))
        else:
            sys.stdout.write(payload.rstrip("\n") + "\n")
        return 0
    from rich.rule import Rule
    from rich.syntax import Syntax
    from rich.text import Text

    head, where = _describe(transform, path)
    formulas = transform.pretty(use_unicode=options.unicode)
    out.print(Rule(Text.assemble((head, "bold cyan"), f"  {where}  ", ("d/d" + ", d/d".join(transform.wrt), "green"))))
    source = inspect.getsource(transform.fun).rstrip()
    if out.is_terminal:
        out.print(Syntax(source, "python", background_color="default", word_wrap=True))
    else:
        out.print(Text(source), soft_wrap=True)
    out.print(Rule("derived", style="dim"))
    out.print(Text(formulas), soft_wrap=True)  # wrapping would tear the 2-D drawings apart
    return 0


def _number(value):
    return f"{value:.15g}"


def command_check(options):
    target, path = load_target(options.target)
    transform = transform_for(target, parse_wrt(options.wrt) if options.wrt else None)
    args = parse_at(options.at, transform.fun)
    value, python_value, rows = check(transform, args, options.step, options.against)
    from rich.markup import escape
    from rich.table import Table

    out, _ = _consoles()
    head, where = _describe(transform, path)
    out.print(f"[bold cyan]{escape(head)}[/]  {escape(where)}", soft_wrap=True)
    shown_value = f"value {_number(value)}"
    if python_value is not None:
        shown_value += f" (the Python function gives {_number(python_value)})"
    out.print(shown_value, soft_wrap=True)
    reference = "extrapolated central differences of the " + ("Python function" if options.against == "python"
                                                              else "compiled value kernel")
    out.print(f"gradient vs {reference}:", soft_wrap=True)
    table = Table()
    for column in ("argument", "symgrad", "finite differences", "abs error", "their error estimate"):
        table.add_column(column, justify="left" if column == "argument" else "right")
    for label, exact, approximate, error, doubt, _ in rows:
        table.add_row(label, _number(exact), _number(approximate), f"{error:.1e}", f"{doubt:.1e}")
    out.print(table)
    result, largest, relative, doubt = verdict(rows, options.tol)
    summary = (f"largest error {largest:.2e} (relative to max(1, |gradient|): {relative:.2e}); "
               f"tolerance {options.tol:g}: ")
    if result == "OK":
        out.print(summary + "[bold green]OK[/]", soft_wrap=True)
        return 0
    if result == "FAILED":
        out.print(summary + "[bold red]FAILED[/]", soft_wrap=True)
        return EXIT_FAILED
    out.print(summary + f"[bold yellow]inconclusive[/]: the difference quotient's own error estimate is "
              f"{doubt:.1e}, as large as the error; the differences, not the kernel, are in doubt (try --step, or "
              "--against kernel)", soft_wrap=True)
    return EXIT_INCONCLUSIVE


# --- the command line -----------------------------------------------------------------------------------------------
def _positive(text):
    """--step: a finite number above 0 (argparse turns the ArgumentTypeError into a usage error, status 2)."""
    value = _float_option(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def _tolerance(text):
    """--tol: a finite number, 0 or above."""
    value = _float_option(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or above, got {text!r}")
    return value


def _float_option(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="symgrad", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Exact symbolic gradients of plain Python functions: show them, check them.",
        epilog="examples:\n  symgrad show examples/quickstart.py:rosen --latex\n"
               "  symgrad check examples/quickstart.py:rosen --at x=1.5,y=2\n\n"
               "Run 'symgrad COMMAND --help' for each command's options.")
    parser.add_argument("--traceback", action="store_true", help="on an error, print the whole traceback")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    target_help = "the function: path/to/file.py:name (decorated with symgrad or plain)"
    wrt_help = ("differentiate with respect to these arguments (names or positions, comma-separated); default: the "
                "decorator's wrt, or every float and array argument of a plain function")
    show = commands.add_parser(
        "show", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="print a function and the partial derivatives symgrad derives",
        description="Print the function and its derived partials: pretty-printed by default, or as LaTeX, plain "
                    "text, Markdown, or the generated Numba kernel source.",
        epilog="example:\n  symgrad show examples/quickstart.py:rosen --latex > rosen.tex")
    show.add_argument("target", metavar="FILE.py:FUNCTION", help=target_help)
    show.add_argument("--wrt", metavar="x,y", help=wrt_help)
    form = show.add_mutually_exclusive_group()
    form.add_argument("--latex", dest="form", action="store_const", const="latex",
                      help="the LaTeX aligned block of .latex()")
    form.add_argument("--text", dest="form", action="store_const", const="text", help="one line per formula, str()")
    form.add_argument("--markdown", dest="form", action="store_const", const="markdown",
                      help="the source and the formulas as Markdown, .to_markdown()")
    form.add_argument("--source", dest="form", action="store_const", const="source",
                      help="the generated kernel module that Numba compiles, .source()")
    show.add_argument("--ascii", dest="unicode", action="store_false",
                      help="draw the pretty-printed formulas with ASCII characters only")
    show.set_defaults(handler=command_show, form="pretty")

    check_parser = commands.add_parser(
        "check", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="compare the compiled gradient with central finite differences",
        description="Evaluate the compiled gradient at the given arguments and compare it with central finite "
                    "differences of the plain Python function, extrapolated to a zero step (Ridders), each with its "
                    "own error estimate. Prints the largest error; exits with status 1 when it exceeds the "
                    "tolerance, and 4 when the differences are too uncertain to tell.",
        epilog="argument values (--at NAME=VALUE, comma-separated or repeated):\n"
               "  a number             x=1.5\n"
               "  a list               x=[1, 2, 3] or A=[[1, 2], [3, 4]] (quote it for the shell)\n"
               "  a file               x=@data.npy (np.load), x=@data.txt (np.loadtxt)\n"
               "arguments with a default in the signature may be left out.\n\n"
               "examples:\n  symgrad check examples/quickstart.py:rosen --at x=1.5,y=2\n"
               "  symgrad check examples/rosen_lbfgs.py:rosen --at 'x=[-1.2, 1, -1.2, 1]'")
    check_parser.add_argument("target", metavar="FILE.py:FUNCTION", help=target_help)
    check_parser.add_argument("--at", action="append", default=[], metavar="NAME=VALUE,...", required=True,
                              help="the point: a value for every argument")
    check_parser.add_argument("--wrt", metavar="x,y", help=wrt_help)
    check_parser.add_argument("--step", type=_positive, default=0.1,
                              help="the largest first step of the extrapolated differences, times max(1, |x|) "
                                   "(default 0.1; runs also start 10, 100, ... times lower)")
    check_parser.add_argument("--tol", type=_tolerance, default=1e-5,
                              help="largest error allowed, relative to max(1, |gradient|) (default 1e-5)")
    check_parser.add_argument("--against", choices=("python", "kernel"), default="python",
                              help="difference the plain Python function (default, independent of symgrad) or the "
                                   "compiled value kernel (faster for large arrays)")
    check_parser.set_defaults(handler=command_check)
    return parser


def _report(message):
    from rich.markup import escape

    _, err = _consoles()
    err.print(f"[bold red]symgrad: error:[/] {escape(message)}", soft_wrap=True)


def main(argv=None):
    """Run the command line; return the exit status (0 ok, 1 failed check or refused code, 2 usage, 3 internal,
    4 inconclusive check)."""
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return options.handler(options)
    except CommandError as error:
        _report(str(error))
        return error.status
    except UnsupportedSyntaxError as error:
        where = f"{_shown(error.filename)}:{error.lineno}:{error.offset}" if error.filename else "<unknown>"
        _report(f"{where}: {type(error).__name__}: {error.msg}")
        return EXIT_FAILED
    except (TypeError, ValueError) as error:  # symgrad's own messages for wrong wrt, kinds and arguments
        if options.traceback:
            raise
        _report(f"{type(error).__name__}: {error}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if options.traceback:
            raise
        _report(f"internal error: {type(error).__name__}: {error} (rerun with --traceback, and please report it)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
