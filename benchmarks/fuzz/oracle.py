"""Judge one program: symgrad against references it shares no code with, and against itself.

* The **value** (or the exception) is compared with the plain Python function run on the same inputs.
* The **gradient** is compared with `jax.grad` of the same source executed with JAX in place of ``math`` and ``np``
  (local array stores rewritten as ``.at[...].set``).  A disagreement counts only when central differences with
  Richardson extrapolation confirm it; where their own error estimate is large (a kink or a branch within the
  step), the program is *inconclusive*, never a failure.
* **Forward mode against reverse mode**, and **optimised against unoptimised kernels**, once symgrad offers the
  ``method=`` and ``optimize=`` options: compilers are tested -O2 against -O0 the same way.
* **The coloured Hessian against the unit-vector one** (``SYMGRAD_FUZZ_HESSIAN=1``, the campaign's ``--hessian``):
  for the first 1-D array of wrt, `sg.hessian` (one HVP per colour of its sparsity pattern) against
  `.kernels.hessian` (one HVP per unit vector, no pattern), so that a pattern that misses an entry shows.
* **Threaded against serial kernels** (``SYMGRAD_FUZZ_PARALLEL=1``, the campaign's ``--parallel``): the kernels of
  ``parallel=True``, with loops run in chunks from the first iteration on (`PARALLEL_MIN_ITERATIONS` set to 1, so
  that the small data of a generated program takes the threaded branch) and pass `chunk_scratch` on every loop
  (`DATA_LOOPS_ONLY` off), give the serial result up to rounding.

`check` runs in a worker process (see `pool`), so a kernel that crashes kills the worker, not the campaign.
"""

import ast
import builtins
import functools
import importlib.util
import inspect
import math
import os
import sys
import traceback
from dataclasses import dataclass, field

import numpy as np

import symgrad as sg
from symgrad import codegen
from symgrad.errors import UnsupportedSyntaxError
from symgrad.passes import PASSES

ACCEPTED = ("ok", "refused", "inconclusive")
FAILURES = ("wrong value", "wrong gradient", "forward/reverse mismatch", "optimised/unoptimised mismatch",
            "parallel/serial mismatch", "coloured/unit-vector Hessian mismatch", "memory error", "falsely refused",
            "internal error", "timeout")
OUTCOMES = ACCEPTED + FAILURES
PYTHON_ERRORS = (IndexError, ZeroDivisionError, ValueError)
# Under NUMBA_DISABLE_JIT=1 (`--interpret`) the kernels run as Python: an access outside an array that no check of
# symgrad's caught is then NumPy's own IndexError, not symgrad's ArrayIndexError, and counts as a memory error.
INTERPRETED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
PARALLEL = os.environ.get("SYMGRAD_FUZZ_PARALLEL") == "1"
HESSIAN = os.environ.get("SYMGRAD_FUZZ_HESSIAN") == "1"
if PARALLEL:  # (this worker's kernels only: the campaign has a cache directory of its own)
    codegen.PARALLEL_MIN_ITERATIONS = 1
    codegen.DATA_LOOPS_ONLY = False  # (every array of a generated program is differentiated)
VALUE_RTOL = 1e-9
GRADIENT_RTOL = 1e-6
MODES_RTOL = 1e-9
# An unoptimised module longer than this keeps the passes that only name values (`name_sums`, `cse`): without
# them, the adjoints of powers of sums of helpers inlined into conditional expressions repeat without bound
# (seed 4000234: a 671 KB module that Numba did not compile in 180 s; 15 KB with both).  Every other program still
# checks them, against the unoptimised kernel.
UNOPTIMISED_TEXT_LIMIT = 150_000
NAMING_PASSES = ("name_sums", "cse")


@dataclass
class Verdict:
    outcome: str
    detail: str = ""
    notes: list = field(default_factory=list)

    def as_json(self):
        return {"outcome": self.outcome, "detail": self.detail, "notes": self.notes}


class Failure(Exception):
    """Raised inside `check` to stop at the first thing that went wrong."""

    def __init__(self, outcome, detail):
        super().__init__(detail)
        self.verdict = Verdict(outcome, detail)


# --- the program as Python runs it --------------------------------------------------------------------------
def load(program, directory):
    """Import the program from a real file (symgrad reads source with inspect)."""
    module_name = f"fuzz_{program['seed']}_{abs(hash(program['source'])) % 10**12}"
    path = directory / f"{module_name}.py"
    path.write_text(program["source"])
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, program["name"])


def arguments(program):
    """Fresh call arguments: lists become float64 arrays, ints stay ints."""
    return [np.array(value, dtype=np.float64) if isinstance(value, list) else value
            for value in program["args"].values()]


def attempt(function, *args):
    """(result, None) or (None, exception): what running `function` gave."""
    try:
        return function(*args), None
    except Exception as error:  # noqa: BLE001 - every exception is an outcome to classify
        return None, error


def describe(error):
    return f"{type(error).__name__}: {str(error)[:300]}"


def close(actual, expected, rtol):
    """Elementwise closeness relative to the largest magnitude involved (sums cancel)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        return False
    scale = 1.0 + float(np.max(np.abs(expected[~np.isnan(expected)]), initial=0.0))  # (a nan component is judged
    both_nan = np.isnan(actual) & np.isnan(expected)  # by itself, not by making every tolerance nan)
    return bool(np.all(both_nan | (np.abs(actual - expected) <= rtol * scale)))


# --- the JAX twin ---------------------------------------------------------------------------------------------
class FunctionalStores(ast.NodeTransformer):
    """``w[i] = e`` -> ``w = w.at[i].set(e)`` and ``w[i] += e`` -> ``w = w.at[i].set(w[i] + e)``: JAX arrays are
    immutable.  Imports are dropped so that ``math`` and ``np`` stay the JAX shims."""

    def visit_Import(self, node):
        return None

    def visit_Assign(self, node):
        target = node.targets[0]
        if isinstance(target, ast.Subscript):
            return self.store(target, node.value)
        return node

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Subscript):
            read = ast.Subscript(node.target.value, node.target.slice, ast.Load())
            return self.store(node.target, ast.BinOp(read, node.op, node.value))
        return node

    @staticmethod
    def store(target, value):
        array = target.value.id
        setter = ast.Attribute(ast.Subscript(ast.Attribute(ast.Name(array, ast.Load()), "at", ast.Load()),
                                             target.slice, ast.Load()), "set", ast.Load())
        return ast.Assign([ast.Name(array, ast.Store())], ast.Call(setter, [value], []))


def jax_namespace():
    """Globals for the twin: `math` and `np` answer with jax.numpy, the builtins max/min/abs with theirs."""
    import jax.numpy as jnp
    import jax.scipy.special as special

    def log(value, base=None):
        return jnp.log(value) if base is None else jnp.log(value) / jnp.log(base)

    renamed = {"fabs": jnp.abs, "pow": jnp.power, "asin": jnp.arcsin, "acos": jnp.arccos, "atan": jnp.arctan,
               "atan2": jnp.arctan2, "asinh": jnp.arcsinh, "acosh": jnp.arccosh, "atanh": jnp.arctanh,
               "erf": special.erf, "erfc": special.erfc, "lgamma": special.gammaln,
               "gamma": lambda v: jnp.exp(special.gammaln(v)), "log": log, "pi": math.pi, "e": math.e,
               "inf": math.inf}

    class Shim:
        def __getattr__(self, name):
            return renamed[name] if name in renamed else getattr(jnp, name)

    def extremum(reduce_array, pairwise):
        def pick(*values):
            return reduce_array(values[0]) if len(values) == 1 else functools.reduce(pairwise, values)
        return pick

    return {"__builtins__": builtins, "math": Shim(), "np": Shim(), "abs": jnp.abs, "float": lambda v: v,
            "max": extremum(jnp.max, jnp.maximum), "min": extremum(jnp.min, jnp.minimum)}


def jax_gradient(program):
    """jax.grad of the same source on JAX arrays, in float64, for the `wrt` arguments."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    tree = ast.fix_missing_locations(FunctionalStores().visit(ast.parse(program["source"])))
    namespace = jax_namespace()
    exec(compile(tree, "<jax twin>", "exec"), namespace)  # noqa: S102 - our own generated source
    function = namespace[program["name"]]
    names = list(program["args"])
    values = [jnp.asarray(v, dtype=jnp.float64) if not isinstance(v, int) else v
              for v in arguments(program)]
    positions = tuple(names.index(name) for name in program["wrt"])
    gradient = jax.grad(function, argnums=positions)(*values)
    return [np.asarray(g, dtype=float) for g in gradient]


# --- finite differences --------------------------------------------------------------------------------------
def richardson(function, args, position, index):
    """d function / d args[position][index] by central differences at h, h/2, h/4, extrapolated twice; returns
    (estimate, error estimate).  A branch inside the step shows up as a large error estimate, and a kink at the
    point itself (where the central difference averages two slopes) as one-sided slopes that differ."""
    base = args[position]
    point = float(base[index]) if index is not None else float(base)
    step = 1e-2 * max(1.0, abs(point))

    def at(value):
        shifted = list(args)
        if index is None:
            shifted[position] = value
        else:
            array = np.array(base, dtype=float)
            array[index] = value
            shifted[position] = array
        return function(*shifted)

    centre = at(point)

    def extrapolated(slope, order):
        """Two Richardson steps over h, h/2, h/4 for a difference whose error starts at h**order."""
        d1, d2, d4 = slope(step), slope(step / 2), slope(step / 4)
        factor = 2.0**order
        coarse, fine = (factor * d2 - d1) / (factor - 1), (factor * d4 - d2) / (factor - 1)
        factor *= 2.0 if order == 1 else 4.0
        return (factor * fine - coarse) / (factor - 1), abs(fine - coarse)

    estimate, error = extrapolated(lambda h: (at(point + h) - at(point - h)) / (2 * h), 2)
    right, _ = extrapolated(lambda h: (at(point + h) - centre) / h, 1)
    left, _ = extrapolated(lambda h: (centre - at(point - h)) / h, 1)
    return estimate, max(error, abs(right - left)) + 1e-10 * (1 + abs(estimate))


def confirm_with_differences(function, program, gradient, reference):
    """For each component where symgrad and the reference disagree: 'wrong' when central differences confidently
    side against symgrad, 'inconclusive' when they cannot tell, 'ok' when they side with symgrad."""
    args = arguments(program)
    names = list(program["args"])
    worst = "ok", ""
    for name, ours, theirs in zip(program["wrt"], gradient, reference or [None] * len(gradient)):
        position = names.index(name)
        ours = np.ravel(np.asarray(ours, dtype=float))  # (a matrix's gradient is compared element by element)
        for flat in range(ours.size):
            index = None if np.ndim(args[position]) == 0 else np.unravel_index(flat, np.shape(args[position]))
            if theirs is not None and close(ours[flat], np.ravel(theirs)[flat], GRADIENT_RTOL):
                continue
            where = f"d/d{name}{'' if index is None else [int(k) for k in index]}"
            try:
                estimate, error = richardson(function, args, position, index)
            except Exception as error:  # noqa: BLE001 - a step that leaves the function's domain
                worst = ("inconclusive", f"{where}: differences raise {describe(error)}")
                continue
            scale = 1.0 + abs(estimate)
            if not np.isfinite(estimate) or error > 1e-4 * scale:
                worst = ("inconclusive", f"{where}: differences unsure ({estimate:.6g} +- {error:.2g})")
                continue
            if abs(ours[flat] - estimate) > 100 * error + 1e-6 * scale:
                return "wrong", (f"{where}: symgrad {ours[flat]!r}, finite differences {estimate!r} "
                                 f"(+- {error:.2g})" + ("" if theirs is None else
                                                        f", JAX {float(np.ravel(theirs)[flat])!r}"))
    return worst


# --- symgrad, three ways ---------------------------------------------------------------------------------------
def supported_options():
    """The keyword options of symgrad.value_and_grad this version has (`method`, `optimize`: issue 8)."""
    return set(inspect.signature(sg.value_and_grad).parameters)


def run_symgrad(function, program, **options):
    """(value, gradient tuple) from value_and_grad, deriving and compiling first so that a refusal or an internal
    failure is told apart from an exception of the kernel."""
    transform = sg.value_and_grad(function, wrt=tuple(program["wrt"]), **options)
    transform._observe(arguments(program), {})  # (the ranks a call would show: `X @ w` alone leaves X's open)
    try:
        transform.source()
    except UnsupportedSyntaxError as error:
        raise Failure("refused", describe(error)) from error
    except Exception as error:  # noqa: BLE001
        raise Failure("internal error", f"derivation: {describe(error)}\n{traceback.format_exc()[-1500:]}") from error
    try:
        kernel = transform.kernels.value_and_grad
    except Exception as error:  # noqa: BLE001
        raise Failure("internal error", f"compilation: {describe(error)}"[:2000]) from error
    return attempt(kernel, *arguments(program))


def judge_exception(error, python_error, verdict):
    """symgrad's kernel raised: right when it is Python's class or a subclass of it (or symgrad's entry check, a
    ValueError, stands for Python's IndexError)."""
    if INTERPRETED and float_semantics(error) and not isinstance(error, type(python_error)):
        # (a branch the kernel computes but does not take divides by zero: compiled, IEEE gives inf and goes on)
        raise Failure("inconclusive", f"interpreted kernel: {describe(error)} (compiled, IEEE gives inf or nan)")
    if isinstance(error, IndexError) and not isinstance(error, sg.ArrayIndexError) and INTERPRETED:
        raise Failure("memory error", f"the kernel itself indexed outside an array: {describe(error)}")
    if python_error is None:
        if isinstance(error, (IndexError, ValueError)):
            raise Failure("falsely refused", f"Python runs it; symgrad raises {describe(error)}")
        raise Failure("internal error", f"Python runs it; symgrad raises {describe(error)}")
    if isinstance(error, type(python_error)):  # symgrad's own errors subclass Python's (ArrayIndexError)
        return
    if isinstance(python_error, IndexError) and isinstance(error, ValueError):
        verdict.notes.append("IndexError in Python, ValueError (entry check) in symgrad")
        return
    if float_semantics(python_error):
        raise Failure("inconclusive", f"Python stops at {describe(python_error)}, which kernels pass with an IEEE "
                                      f"value (docs/conventions.md), and then raise {describe(error)}")
    raise Failure("wrong value", f"Python raises {describe(python_error)}; symgrad raises {describe(error)}")


def float_semantics(error):
    """Whether `error` is Python's float arithmetic raising where compiled kernels follow IEEE (`error_model=
    "numpy"`): a branch not taken is computed too, and under --interpret its 1/0 or log(-1) raises."""
    messages = ("math domain error", "division by zero", "math range error", "modulo by zero",
                "cannot be raised to a negative power")  # (0.0 ** -2: the kernels give inf, as for 1 / 0.0)
    return isinstance(error, (ValueError, ZeroDivisionError, OverflowError)) and not isinstance(
        error, sg.ArrayIndexError) and any(m in str(error) for m in messages) and "integer" not in str(error)


def judge_value(value, python_value, python_error):
    if python_error is not None:
        if float_semantics(python_error):
            raise Failure("inconclusive", f"Python stops at {describe(python_error)}, which kernels pass with an "
                                          f"IEEE value (docs/conventions.md)")
        outcome = "memory error" if isinstance(python_error, IndexError) else "wrong value"
        raise Failure(outcome, f"Python raises {describe(python_error)}; symgrad returns {value!r}")
    if not close(value, python_value, VALUE_RTOL):
        raise Failure("wrong value", f"Python {python_value!r}, symgrad {value!r}")


def judge_gradient(function, program, gradient, verdict):
    """Central differences with Richardson extrapolation first (the programs are small, so they cost milliseconds),
    then JAX's gradient of the same source where they are unsure or side against symgrad: a wrong gradient is one
    that the differences confidently reject and JAX does not confirm."""
    outcome, detail = confirm_with_differences(function, program, gradient, None)
    if outcome == "ok":
        return
    try:
        reference = jax_gradient(program)
    except Exception as error:  # noqa: BLE001 - JAX cannot run every program: the differences decide alone
        reference = None
        verdict.notes.append(f"no JAX reference ({type(error).__name__})")
    if reference is not None and all(close(g, r, GRADIENT_RTOL) for g, r in zip(gradient, reference)):
        verdict.notes.append("finite differences unsure or off, JAX sides with symgrad")
        return
    raise Failure("wrong gradient" if outcome == "wrong" else "inconclusive", detail)


def flatten(result):
    """(value, (gradient, ...)) as one vector of floats."""
    if isinstance(result, tuple):
        return np.concatenate([flatten(part) for part in result])
    return np.ravel(np.asarray(result, dtype=float))


def same_result(first, second, rtol):
    (value1, error1), (value2, error2) = first, second
    if error1 is not None or error2 is not None:
        return type(error1) is type(error2)
    return close(flatten(value1), flatten(value2), rtol)


def scalar_part(result, program, scalars):
    """The value and the gradients w.r.t. `scalars` out of a (value, gradient tuple) result over all of wrt."""
    value_and_gradient, error = result
    if error is not None:
        return result
    value, gradient = value_and_gradient
    by_name = dict(zip(program["wrt"], gradient))
    return (value, tuple(by_name[name] for name in scalars)), None


def modes(function, program, main, options):
    """Forward mode (w.r.t. the float scalars) against the reverse-mode result already in hand, and optimised
    against unoptimised kernels."""
    scalars = tuple(name for name in program["wrt"] if not isinstance(program["args"][name], list))
    if "method" in options and scalars:
        transform = sg.value_and_grad(function, wrt=scalars, method="forward")
        forward = attempt(lambda: transform(*arguments(program)))
        reverse = scalar_part(main, program, scalars)
        if not same_result(forward, reverse, MODES_RTOL):
            if INTERPRETED and any(r[1] is not None and float_semantics(r[1]) for r in (forward, reverse)):
                raise Failure("inconclusive", f"interpreted kernels: forward {show(forward)}, reverse {show(reverse)}")
            raise Failure("forward/reverse mismatch", f"forward {show(forward)}, reverse {show(reverse)}")
    if "optimize" in options:
        plain = sg.value_and_grad(function, wrt=tuple(program["wrt"]), optimize=False)
        plain._observe(arguments(program), {})  # (as in `run_symgrad`: the ranks before `.source()` derives)
        if len(plain.source()) > UNOPTIMISED_TEXT_LIMIT:
            plain = sg.value_and_grad(function, wrt=tuple(program["wrt"]), optimize={
                name: name in NAMING_PASSES for name in PASSES})
        unoptimised = attempt(lambda: plain(*arguments(program)))
        if not same_result(main, unoptimised, MODES_RTOL):
            if INTERPRETED and any(r[1] is not None and float_semantics(r[1]) for r in (main, unoptimised)):
                raise Failure("inconclusive", f"interpreted kernels: {show(main)}, unoptimised {show(unoptimised)}")
            raise Failure("optimised/unoptimised mismatch", f"optimised {show(main)}, unoptimised {show(unoptimised)}")
    if PARALLEL:
        threaded = sg.value_and_grad(function, wrt=tuple(program["wrt"]), parallel=True, method="reverse")
        threaded._observe(arguments(program), {})
        chunked = attempt(lambda: threaded(*arguments(program)))
        if not same_result(main, chunked, MODES_RTOL):
            raise Failure("parallel/serial mismatch", f"serial {show(main)}, parallel {show(chunked)}")


def hessians(function, program):
    """The Hessian w.r.t. the first 1-D array of wrt by colours of its pattern against the one by unit vectors,
    the other arguments held: an entry the pattern misses is a mismatch."""
    args = arguments(program)
    names = list(program["args"])
    vector = next((name for name in program["wrt"] if isinstance(program["args"][name], list)
                   and np.ndim(program["args"][name]) == 1 and len(program["args"][name]) > 1), None)
    if vector is None:
        return
    transform = sg.hessian(function, wrt=vector)
    coloured = attempt(lambda: transform(*args))
    if coloured[1] is not None:
        if isinstance(coloured[1], UnsupportedSyntaxError) or isinstance(coloured[1], PYTHON_ERRORS):
            return  # (what the second order refuses, or the data's own error: the gradient was judged)
        raise Failure("internal error", f"hessian: {describe(coloured[1])}")
    by_units = attempt(lambda: transform.kernels.hessian(*args))
    if not same_result(coloured, by_units, MODES_RTOL):
        raise Failure("coloured/unit-vector Hessian mismatch",
                      f"w.r.t. {vector} ({names.index(vector)}): coloured {show(coloured)}, unit vectors "
                      f"{show(by_units)}")


def show(result):
    value, error = result
    return describe(error) if error is not None else repr(value)


def check(program, directory):
    """The verdict on one program (a dict as written by `Program.as_json`)."""
    verdict = Verdict("ok")
    try:
        function = load(program, directory)
        python_value, python_error = attempt(function, *arguments(program))
        if python_error is not None and not isinstance(python_error, PYTHON_ERRORS):
            return Verdict("inconclusive", f"Python raises {describe(python_error)}")
        options = supported_options()
        # Reverse mode explicitly: with only float scalars in wrt, "auto" could pick forward mode, and the check
        # of forward against reverse below would compare forward mode with itself.
        result = run_symgrad(function, program, **({"method": "reverse"} if "method" in options else {}))
        (value_and_gradient, error) = result
        if error is not None:
            if isinstance(error, TypeError):
                raise Failure("internal error", f"call: {describe(error)}")
            judge_exception(error, python_error, verdict)
        else:
            value, gradient = value_and_gradient
            judge_value(value, python_value, python_error)
            judge_gradient(function, program, gradient, verdict)
        modes(function, program, result, options)
        if HESSIAN and error is None:
            hessians(function, program)
    except Failure as failure:
        failure.verdict.notes = verdict.notes
        return failure.verdict
    return verdict
