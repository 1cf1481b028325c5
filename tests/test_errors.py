"""Refusals and call-time errors.

Every construct outside the subset must raise `sg.UnsupportedSyntaxError` (and its specific subclass from
symgrad/errors.py) pointing at the exact line of the offending construct in *this* file, with a column, and a
message naming the construct.  The expected line is found from a marker comment on that line, never hard-coded.
Call-time mistakes are `TypeError`s naming what is wrong.  None of them may surface as a Numba or SymPy traceback.
"""

# ruff: noqa: F841, PLW0602  (the functions below are outside the subset on purpose: unused locals, a bare global)

import math
import pathlib
import random
import re
import traceback

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

THIS_FILE = pathlib.Path(__file__).resolve()
SOURCE_LINES = THIS_FILE.read_text().splitlines()

WEIGHTS = [0.5, "two"]  # a module-level list that is not all numbers: reading it must be refused
TABLE = {"a": 1.0}
ARRAY = np.array([1.0, 2.0j])  # complex: not passed to the kernels
G = 1.0


def marker_line(marker):
    """The 1-based line holding ``# MARK: <marker>`` (exactly one)."""
    found = [k + 1 for k, line in enumerate(SOURCE_LINES) if line.rstrip().endswith(f"# MARK: {marker}")]
    assert len(found) == 1, f"marker {marker!r} found on lines {found}"
    return found[0]


# --------------------------------------------------------------------------------------------------------------
# Functions outside the subset.  Each offending construct carries a marker comment.
# --------------------------------------------------------------------------------------------------------------

def uses_while(x):
    while x > 1.0:  # MARK: while
        x = x / 2.0
    return x


def uses_break(x):
    s = 0.0
    for i in range(3):
        s += x
        break  # MARK: break
    return s


def uses_continue(x):
    s = 0.0
    for i in range(3):
        continue  # MARK: continue
    return s + x


def uses_try(x):
    try:  # MARK: try
        y = 1.0 / x
    except ZeroDivisionError:
        y = 0.0
    return y


def uses_with(x):
    with open("nothing") as handle:  # MARK: with
        pass
    return x


lambda_assigned = lambda x: x * 2.0  # MARK: lambda-assigned


def applied(function, value):
    return function(value)


def lambda_in_body(x):  # (a lambda bound to a name is a helper: tests/test_python_spellings.py)
    return applied(lambda t: t * t, x)  # MARK: lambda-in-body


def uses_yield(x):
    yield x * 2.0  # MARK: yield


def uses_yield_value(x):
    y = yield x  # MARK: yield-value
    return y


def uses_global(x):
    global G  # MARK: global
    return x * G


def make_nonlocal():
    c = 2.0

    def uses_nonlocal(x):
        nonlocal c  # MARK: nonlocal
        return x * c

    return uses_nonlocal


uses_nonlocal = make_nonlocal()


def nested_def(x):
    @staticmethod
    def inner(t):  # MARK: nested-def
        return t * t

    return inner(x)


def class_inside(x):
    class Point:  # MARK: class
        pass

    return x


def uses_string(x):
    label = "x squared"  # MARK: string
    return x * x


def uses_fstring(x):
    label = f"{x}"  # MARK: f-string
    return x


def uses_list(x):
    values = [x] + [2.0 * x]  # MARK: list
    return x


def uses_dict(x):
    values = {"a": x}  # MARK: dict
    return x


def uses_list_comprehension(x):
    total = [x * k for k in range(3)]  # MARK: list-comprehension
    return total[0]


def calls_print(x):
    print(x)  # MARK: print-statement
    return x


def assigns_print(x):
    y = print(x)  # MARK: print-call
    return x


def calls_random(x):
    r = random.random()  # MARK: random
    return x * r


def reads_mutable_list(x):
    w = WEIGHTS  # MARK: mutable-list
    return x


def indexes_mutable_list(x):
    return WEIGHTS[0] * x  # MARK: mutable-list-index


def reads_mutable_dict(x):
    return TABLE["a"] * x  # MARK: mutable-dict


def reads_global_array(x):
    return ARRAY * x  # MARK: mutable-array


def recursive(x):
    if x > 1.0:
        return recursive(x - 1.0) * x  # MARK: recursion
    return x


def ping(x):
    return pong(x) + 1.0


def pong(x):
    return ping(x) * 2.0  # MARK: mutual-recursion


def defined_on_one_branch(x):
    if x > 0.0:
        y = x
    return y * 2.0  # MARK: undefined-name


def missing_return(x):  # MARK: missing-return
    y = x * 2.0


def returns_on_one_path(x):  # MARK: missing-return-one-path
    if x > 0.0:
        return x


def indexes_scalar(x):
    y = x * 2.0
    return y[0]  # MARK: index-scalar


def helper_with_while(t):
    while t > 1.0:  # MARK: while-in-helper
        t = t - 1.0
    return t


def calls_bad_helper(x):
    return helper_with_while(x) * 2.0


REFUSALS = [
    # function, subclass, marker, words the message must contain (any of them, case-insensitive), token at offset
    (uses_while, errors.UnsupportedStatementError, "while", ["while"], "while"),
    (uses_break, errors.UnsupportedStatementError, "break", ["break"], "break"),
    (uses_continue, errors.UnsupportedStatementError, "continue", ["continue"], "continue"),
    (uses_try, errors.UnsupportedStatementError, "try", ["try"], "try"),
    (uses_with, errors.UnsupportedStatementError, "with", ["with"], "with"),
    (lambda_assigned, errors.UnsupportedExpressionError, "lambda-assigned", ["lambda"], None),
    (lambda_in_body, errors.UnsupportedExpressionError, "lambda-in-body", ["lambda"], "lambda"),
    (uses_yield, (errors.UnsupportedStatementError, errors.UnsupportedExpressionError), "yield", ["yield"], "yield"),
    (uses_yield_value, errors.UnsupportedExpressionError, "yield-value", ["yield"], "yield"),
    (uses_global, errors.UnsupportedStatementError, "global", ["global"], "global"),
    (uses_nonlocal, errors.UnsupportedStatementError, "nonlocal", ["nonlocal"], "nonlocal"),
    (nested_def, errors.UnsupportedStatementError, "nested-def", ["def"], "def"),
    (class_inside, errors.UnsupportedStatementError, "class", ["class"], "class"),
    (uses_string, errors.UnsupportedExpressionError, "string", ["string", "'x squared'"], '"x squared"'),
    (uses_fstring, errors.UnsupportedExpressionError, "f-string", ["string"], 'f"'),
    (uses_list, errors.UnsupportedExpressionError, "list", ["list"], "["),
    (uses_dict, errors.UnsupportedExpressionError, "dict", ["dict"], "{"),
    (uses_list_comprehension, errors.UnsupportedExpressionError, "list-comprehension", ["comprehension"],
     "[x * k"),
    (calls_print, (errors.UnsupportedStatementError, errors.UnsupportedCallError), "print-statement", ["print"],
     "print("),
    (assigns_print, errors.UnsupportedCallError, "print-call", ["print"], "print("),
    (calls_random, errors.UnsupportedCallError, "random", ["random.random"], "random.random()"),
    (reads_mutable_list, errors.MutableGlobalError, "mutable-list", ["WEIGHTS"], "WEIGHTS"),
    (indexes_mutable_list, errors.MutableGlobalError, "mutable-list-index", ["WEIGHTS"], "WEIGHTS"),
    (reads_mutable_dict, errors.MutableGlobalError, "mutable-dict", ["TABLE"], "TABLE"),
    (reads_global_array, errors.MutableGlobalError, "mutable-array", ["ARRAY"], "ARRAY"),
    (recursive, errors.RecursionNotSupportedError, "recursion", ["recursi"], "recursive("),
    (ping, errors.RecursionNotSupportedError, "mutual-recursion", ["recursi"], "ping("),
    (defined_on_one_branch, errors.UndefinedNameError, "undefined-name", ["'y'"], "y"),
    (missing_return, errors.MissingReturnError, "missing-return", ["return"], "def"),
    (returns_on_one_path, errors.MissingReturnError, "missing-return-one-path", ["return"], "def"),
    (indexes_scalar, errors.UnsupportedExpressionError, "index-scalar", ["index"], "y[0]"),
    (calls_bad_helper, errors.UnsupportedStatementError, "while-in-helper", ["while"], "while"),
]


def assert_no_numba_or_sympy_frames(excinfo):
    error = excinfo.value
    frames = traceback.extract_tb(excinfo.tb)
    foreign = [f.filename for f in frames if re.search(r"[/\\](numba|sympy)[/\\]", f.filename)]
    assert not foreign, f"{type(error).__name__} raised from inside {foreign}"
    assert not type(error).__module__.startswith(("numba", "sympy"))
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__, "the traceback shows another exception"
    shown = "".join(traceback.format_exception(type(error), error, excinfo.tb))
    assert "numba.core" not in shown and "NumbaError" not in shown and "sympy.core" not in shown


@pytest.mark.parametrize("function, subclass, marker, words, token", REFUSALS,
                         ids=[refusal[2] for refusal in REFUSALS])
def test_refusal_points_at_the_construct(function, subclass, marker, words, token):
    g = sg.grad(function)
    with pytest.raises(sg.UnsupportedSyntaxError) as excinfo:
        g(1.5)
    error = excinfo.value
    assert isinstance(error, SyntaxError)
    assert isinstance(error, subclass), f"{type(error).__name__} is not {subclass}"
    assert pathlib.Path(error.filename).resolve() == THIS_FILE
    assert error.lineno == marker_line(marker), f"{error} points at line {error.lineno}"
    assert error.offset is not None and error.offset >= 1
    if token is not None:
        line = SOURCE_LINES[error.lineno - 1]
        assert line[error.offset - 1:].startswith(token), \
            f"column {error.offset} of {line!r} is not at {token!r}"
    message = str(error).lower()
    assert any(word.lower() in message for word in words), f"message {str(error)!r} names none of {words}"
    assert f"{error.lineno}" in str(error)
    assert_no_numba_or_sympy_frames(excinfo)


@pytest.mark.parametrize("entry", ["latex", "value", "value_and_grad", "source"])
def test_refusal_from_every_entry_point(entry):
    g = sg.grad(uses_while)
    with pytest.raises(errors.UnsupportedStatementError) as excinfo:
        member = getattr(g, entry)
        member(1.5) if entry in ("value", "value_and_grad") else member()
    assert excinfo.value.lineno == marker_line("while")
    assert_no_numba_or_sympy_frames(excinfo)


def test_refusal_is_raised_again_on_a_second_call():
    g = sg.value_and_grad(uses_try)
    for _ in range(2):
        with pytest.raises(errors.UnsupportedStatementError) as excinfo:
            g(1.5)
        assert excinfo.value.lineno == marker_line("try")


# --------------------------------------------------------------------------------------------------------------
# Call-time errors
# --------------------------------------------------------------------------------------------------------------

def two_arguments(alpha, beta):
    return alpha * math.exp(beta)


@pytest.fixture(scope="module")
def compiled():
    """One grad and one value_and_grad transform of `two_arguments`, already compiled by a good call."""
    g = sg.grad(two_arguments, wrt=("alpha", "beta"))
    vg = sg.value_and_grad(two_arguments, wrt=("alpha", "beta"))
    assert g(1.0, 0.0) == (1.0, 1.0)
    assert vg(1.0, 0.0) == (1.0, (1.0, 1.0))
    return g, vg


def _entry_points(g, vg):
    return {"grad": g, "value_and_grad": vg, ".value": g.value, ".value_and_grad": g.value_and_grad}


@pytest.mark.parametrize("args, given", [((1.0,), 1), ((1.0, 2.0, 3.0), 3), ((), 0)])
def test_wrong_argument_count(compiled, args, given):
    for label, entry in _entry_points(*compiled).items():
        with pytest.raises(TypeError) as excinfo:
            entry(*args)
        message = str(excinfo.value)
        numbers = [int(n) for n in re.findall(r"\d+", message)]
        if given < 2:  # a missing argument is named, at the first call and later ones
            names = ["'beta'"] if given else ["'alpha'"]
            assert "missing" in message and all(name in message for name in names), \
                f"{label}: {message!r} does not name what is missing"
        else:
            assert 2 in numbers and given in numbers, f"{label}: {message!r} does not name the counts"
        assert "No matching definition" not in message
        assert_no_numba_or_sympy_frames(excinfo)


@pytest.mark.parametrize("position, bad", [
    (0, "a string"),
    (1, "2.0"),
    (1, np.ones(3)),
    (0, np.zeros((2, 2))),
    (1, None),
    (0, 1 + 2j),
], ids=["str-alpha", "str-beta", "ndarray-beta", "matrix-alpha", "none-beta", "complex-alpha"])
def test_bad_argument_type_names_the_argument(compiled, position, bad):
    name = ("alpha", "beta")[position]
    args = [0.5, 0.25]
    args[position] = bad
    for label, entry in _entry_points(*compiled).items():
        with pytest.raises(TypeError) as excinfo:
            entry(*args)
        message = str(excinfo.value)
        assert name in message, f"{label}: {message!r} does not name {name!r}"
        assert "No matching definition" not in message and "numba" not in message.lower()
        assert_no_numba_or_sympy_frames(excinfo)


def test_bad_argument_on_the_first_call_names_the_argument():
    """The dispatcher has not been called yet: the error must still be ours."""
    g = sg.grad(two_arguments, wrt="beta")
    with pytest.raises(TypeError) as excinfo:
        g(0.5, "text")
    assert "beta" in str(excinfo.value)
    assert_no_numba_or_sympy_frames(excinfo)
    assert g(0.5, 0.0) == 0.5


@pytest.mark.parametrize("wrt, named", [
    ("gamma", "gamma"),
    (("alpha", "gamma"), "gamma"),
    (2, "2"),
    (-3, "-3"),
])
def test_wrt_naming_a_missing_argument(wrt, named):
    for transform in (sg.grad, sg.value_and_grad):
        with pytest.raises(sg.NonDifferentiableArgumentError) as excinfo:
            transform(two_arguments, wrt=wrt)
        assert isinstance(excinfo.value, TypeError)
        message = str(excinfo.value)
        assert named in message and "alpha" in message and "beta" in message
        assert_no_numba_or_sympy_frames(excinfo)


def test_wrt_missing_as_decorator_option():
    with pytest.raises(sg.NonDifferentiableArgumentError):
        @sg.grad(wrt="z")
        def f(x, y):
            return x * y


def test_unsupported_syntax_error_is_exported():
    assert issubclass(sg.UnsupportedSyntaxError, SyntaxError)
    for name in ("UnsupportedStatementError", "UnsupportedExpressionError", "UnsupportedCallError",
                 "MutableGlobalError", "RecursionNotSupportedError", "UndefinedNameError", "MissingReturnError"):
        assert issubclass(getattr(errors, name), sg.UnsupportedSyntaxError)
    assert issubclass(sg.NonDifferentiableArgumentError, TypeError)


def test_a_kernel_numba_cannot_compile_is_reported_as_symgrads_bug_not_a_numba_traceback(make_module, monkeypatch):
    """A kernel symgrad generated wrong (as log2's derivative once was) must not reach the user as Numba's
    TypingError: it is a `KernelCompileError` naming the function and the kernel, after one retry from a fresh
    module."""
    import numba

    from symgrad import jit

    module = make_module("def quartic(x):\n    return x**4\n")
    attempts = []

    def failing(kernel_module, name):
        attempts.append(name)
        raise numba.core.errors.TypingError("No implementation of function _bits(Literal[int](2))")

    monkeypatch.setattr(jit, "compile_kernel", failing)
    with pytest.warns(sg.CacheWarning), pytest.raises(sg.KernelCompileError) as caught:
        sg.grad(module.quartic)(1.5)
    assert attempts == ["grad", "grad"]
    message = str(caught.value)
    assert "quartic()" in message and "grad kernel" in message and "_bits" in message and "bug in symgrad" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- refusals whose advice a probe found missing or wrong ---------------------------------------------------------
ADVISED = {
    "norm.cdf": ("from scipy.stats import norm\n\ndef f(x, mu, s):\n    return np.sum(norm.cdf(x, mu, s))\n",
                 "from scipy.special import ndtr\n\ndef f(x, mu, s):\n    return np.sum(ndtr((x - mu) / s))\n",
                 r"scipy.special.ndtr\(z\)"),
    "norm.logsf": ("from scipy.stats import norm\n\ndef f(x, mu, s):\n    return np.sum(norm.logsf(x, mu, s))\n",
                   "from scipy.special import log_ndtr\n\ndef f(x, mu, s):\n    return np.sum(log_ndtr(-(x - mu) / s))\n",
                   r"scipy.special.log_ndtr\(-z\)"),
}


@pytest.mark.parametrize("name", ADVISED)
def test_refused_scipy_stats_methods_name_the_special_function_and_it_is_right(name, make_module):
    wrong, right, advice = ADVISED[name]
    with pytest.raises(errors.UnsupportedCallError, match=advice):
        sg.grad(make_module("import numpy as np\n" + wrong).f)(np.array([0.3, -4.0, 2.0]), 0.5, 1.5)
    import scipy.stats

    x = np.array([0.3, -4.0, 2.0])
    expected = getattr(scipy.stats.norm, name.split(".")[1])(x, 0.5, 1.5).sum()
    assert sg.value_and_grad(make_module("import numpy as np\n" + right).f)(x, 0.5, 1.5)[0] == pytest.approx(
        expected, rel=1e-13)


@pytest.mark.parametrize("call", ["odeint(rhs, 1.0, np.linspace(0.0, 1.0, 5), args=(k,))[:, 0]",
                                  "solve_ivp(lambda t, y: -k * y, (0.0, 1.0), [1.0]).y[0]"])
def test_ode_solvers_are_refused_with_the_loop_to_write(call, make_module):
    """odeint was refused as "'rhs' is a function, not a number", solve_ivp for its lambda (then, bound to a name,
    for the call): both now name the solver and the fixed-step loop that replaces it."""
    module = make_module("import numpy as np\nfrom scipy.integrate import odeint, solve_ivp\n\n"
                         "def rhs(y, t, k):\n    return -k * y\n\n"
                         f"def f(k, data):\n    return np.sum(({call} - data) ** 2)\n")
    with pytest.raises(errors.UnsupportedCallError, match=r"(odeint|solve_ivp)\(\) is not supported: write the "
                                                          r"integrator's steps as a loop"):
        sg.grad(module.f)(0.5, np.ones(5))


def test_an_array_of_another_library_is_told_to_pass_np_asarray():
    jnp = pytest.importorskip("jax.numpy", reason="a JAX array is the array of another library here")

    def norm2(x):
        return np.sum(x ** 2)

    transform = sg.grad(norm2)
    transform(np.ones(3))
    with pytest.raises(TypeError, match=r"argument 'x' must be a 1-D float64 array, got ArrayImpl of shape \(3,\): "
                                        r"pass np.asarray\(..., dtype=float\) of it"):
        transform(jnp.ones(3))


def test_a_boolean_mask_argument_is_told_to_pass_floats_and_compare(make_module):
    """`x[m]` with m a bool array argument was told 'm' must be an int (found by a probe); the advice works."""
    module = make_module("import numpy as np\n\ndef f(x, m):\n    return np.sum(x[m] ** 2)\n\n"
                         "def g(x, m):\n    return np.sum(x[m > 0.5] ** 2)\n")
    x, m = np.array([1.0, -2.0, 3.0]), np.array([True, False, True])
    with pytest.raises(TypeError, match=r"argument 'm' is a boolean mask.*x\[m > 0.5\]"):
        sg.grad(module.f)(x, m)
    np.testing.assert_allclose(sg.grad(module.g)(x, m.astype(float)), [2.0, 0.0, 6.0])
