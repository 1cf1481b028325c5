"""Property tests over arrays and loops, with hypothesis.

(a) Fixed functions (Rosenbrock-like, dot-product-like, a matrix-vector norm) on arrays of random length,
    including 0 and 1, against closed-form NumPy gradients and central differences.
(b) Random loop programs, generated as source text and written to real files (symgrad reads source with
    `inspect`): a loop over the data whose body is a few random statements (sums into `s`, a carried value
    `c` updated by a bounded smooth expression, temporaries, stores into and reads from a local array, `if`/`else`
    on `x[i]` with smooth branches), against central differences of the very same Python function.  Expressions
    are smooth and bounded (sin, cos, tanh, exp(-u**2), 1/(1+u**2) of small things) and sample points stay away from
    the branch thresholds, so finite differences are reliable.
"""

import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import symgrad as sg

from conftest import write_module

os.environ.setdefault("SYMGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="symgrad_test_array_properties_"))

FIXED_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Every generated program costs a derivation and a Numba compile (about 1-2 s), so shrinking a failure would take
# minutes: the shrink phase is left out, and a failure is reported as generated (the source is in the message).
PROGRAM_SETTINGS = settings(max_examples=25, deadline=None,
                            phases=[Phase.explicit, Phase.reuse, Phase.generate],
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# A program of the plainest shape, always run: a pure sum over the data that reads the float argument w.
PURE_SUM_PROGRAM = """\
import math

import numpy as np


def program(x, w):
    n = len(x)
    s = 0.0
    c = 0.25
    h = np.zeros(n)
    for i in range(n):
        s += math.sin(w * x[i])
    return s + c * w
"""


def finite_difference(function, args, position, relative_step=1e-6):
    """Central differences w.r.t. args[position]: element by element for an array, plain for a float."""
    args = [np.array(a, dtype=float) if isinstance(a, np.ndarray) else a for a in args]
    target = args[position]
    if not isinstance(target, np.ndarray):
        h = relative_step * max(1.0, abs(target))
        plus, minus = list(args), list(args)
        plus[position], minus[position] = target + h, target - h
        return (function(*plus) - function(*minus)) / (2 * h)
    gradient = np.zeros_like(target)
    for index in np.ndindex(target.shape):
        original = target[index]
        h = relative_step * max(1.0, abs(original))
        target[index] = original + h
        up = function(*args)
        target[index] = original - h
        down = function(*args)
        target[index] = original
        gradient[index] = (up - down) / (2 * h)
    return gradient


def finite(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def vectors(min_size=0, max_size=12):
    return st.lists(finite(-2.0, 2.0), min_size=min_size, max_size=max_size).map(lambda v: np.array(v, dtype=float))


# --------------------------------------------------------------------------------------------------------------
# (a) fixed functions, random sizes
# --------------------------------------------------------------------------------------------------------------

def rosen_like(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def dot_like(a, b):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s * np.dot(a, a) + 0.5 * np.sum(b)


def matvec_norm(A, x):
    total = 0.0
    for i in range(A.shape[0]):
        row = 0.0
        for j in range(A.shape[1]):
            row += A[i, j] * x[j]
        total += row * row
    return total


ROSEN = sg.value_and_grad(rosen_like)
DOT = sg.value_and_grad(dot_like, wrt=("a", "b"))
MATVEC = sg.value_and_grad(matvec_norm, wrt=("A", "x"))


def assert_matches(value, gradient, expected_value, expected_gradient, numeric):
    scale = max(1.0, abs(expected_value))
    assert value == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    assert isinstance(gradient, np.ndarray) and gradient.shape == expected_gradient.shape
    assert gradient.dtype == np.float64
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-6 * scale)


@FIXED_SETTINGS
@given(vectors())
@example(np.zeros(0))
@example(np.array([0.7]))
@example(np.array([-1.2, 1.0]))
def test_rosen_like_any_length(x):
    g = np.zeros_like(x)
    if len(x) >= 2:
        g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
        g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    value, gradient = ROSEN(x)
    assert_matches(value, gradient, rosen_like(x), g, finite_difference(rosen_like, (x,), 0))


@FIXED_SETTINGS
@given(st.integers(0, 12).flatmap(lambda n: st.tuples(vectors(n, n), vectors(n, n))))
@example((np.zeros(0), np.zeros(0)))
@example((np.array([1.5]), np.array([-0.5])))
def test_dot_like_any_length(pair):
    a, b = pair
    ab, aa = a @ b, a @ a
    value, (ga, gb) = DOT(a, b)
    numeric = [finite_difference(dot_like, (a, b), k) for k in (0, 1)]
    assert_matches(value, ga, dot_like(a, b), b * aa + 2 * a * ab, numeric[0])
    assert_matches(value, gb, dot_like(a, b), a * aa + 0.5, numeric[1])


@st.composite
def matrix_and_vector(draw):
    rows, columns = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    A = np.array(draw(st.lists(finite(-2, 2), min_size=rows * columns, max_size=rows * columns)),
                 dtype=float).reshape(rows, columns)
    x = np.array(draw(st.lists(finite(-2, 2), min_size=columns, max_size=columns)), dtype=float)
    return A, x


@FIXED_SETTINGS
@given(matrix_and_vector())
@example((np.zeros((0, 3)), np.ones(3)))
@example((np.zeros((2, 0)), np.zeros(0)))
@example((np.array([[2.0]]), np.array([-1.0])))
def test_matvec_norm_any_shape(problem):
    A, x = problem
    y = A @ x
    value, (gA, gx) = MATVEC(A, x)
    numeric = [finite_difference(matvec_norm, (A, x), k) for k in (0, 1)]
    assert_matches(value, gA, matvec_norm(A, x), 2 * np.outer(y, x), numeric[0])
    assert_matches(value, gx, matvec_norm(A, x), 2 * A.T @ y, numeric[1])


# --------------------------------------------------------------------------------------------------------------
# (b) random loop programs
# --------------------------------------------------------------------------------------------------------------

UNARY = ["math.sin({})", "math.cos({})", "math.tanh({})", "math.exp(-({}) ** 2)", "1.0 / (1.0 + ({}) ** 2)"]
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} * 0.5 - {})"]
CONSTANTS = ["0.5", "1.3", "-0.7"]
THRESHOLDS = [0.0, 0.5]  # x[i] > t: sample points are kept at least 0.05 away from these
LOOP_HEADERS = ["range(n)", "range(n - 1, -1, -1)", "range(0, n, 2)", "range(1, n)"]


def expressions(leaves, depth):
    """Smooth expressions over `leaves`: every leaf is bounded, and so is every function applied."""
    leaf = st.one_of(st.sampled_from(leaves), st.sampled_from(leaves), st.sampled_from(CONSTANTS))
    if depth == 0:
        return leaf
    inner = expressions(leaves, depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(UNARY), inner).map(lambda p: p[0].format(p[1])),
        st.tuples(st.sampled_from(BINARY), inner, inner).map(lambda p: p[0].format(p[1], p[2])),
    )


@st.composite
def loop_programs(draw):
    """Source text of `program(x, w)` with one random loop over x, and a description for failure messages."""
    leaves = ["x[i]", "x[n - 1 - i]", "w", "c"]
    body, stored = [], False
    for k in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["sum", "sum", "carry", "temporary", "store", "branch", "scaled"]))
        expression = draw(expressions(leaves + (["h[i]"] if stored else []), 2))
        if kind == "sum":
            body.append(f"s += {expression}")
        elif kind == "scaled":  # s is no longer a pure sum: its values go on the tape
            body.append(f"s = 0.9 * s + {expression}")
        elif kind == "carry":
            body.append(f"c = 0.5 * c + 0.5 * math.tanh({expression})")
        elif kind == "temporary":
            body.append(f"t{k} = {expression}")
            leaves = leaves + [f"t{k}"]
        elif kind == "store":
            if stored and draw(st.booleans()):
                body.append(f"h[i] = h[i] * {expression}")  # read the element, then overwrite it in place
            else:
                body.append(f"h[i] = {expression}")
            stored = True
        else:
            threshold = draw(st.sampled_from(THRESHOLDS))
            comparison = draw(st.sampled_from([">", "<"]))
            other = draw(expressions(leaves, 2))
            body += [f"if x[i] {comparison} {threshold}:", f"    s += {expression}", "else:"]
            if draw(st.booleans()):
                body.append(f"    c = 0.5 * c + 0.5 * math.sin({other})")
            else:
                body.append(f"    s += {other}")
    header = draw(st.sampled_from(LOOP_HEADERS))
    after = draw(st.sampled_from(["", "", "math.sin(h[i])", "h[i] * x[i]", "math.cos(x[i]) * w"]))
    result = draw(st.sampled_from(["s + c * w", "s * c", "s + math.tanh(c)"]))
    lines = ["import math", "", "import numpy as np", "", "", "def program(x, w):", "    n = len(x)",
             "    s = 0.0", f"    c = {draw(st.sampled_from(['0.25', '-0.5']))}", "    h = np.zeros(n)",
             f"    for i in {header}:"]
    lines += [f"        {line}" for line in body]
    if after:
        lines += ["    for i in range(n):", f"        s += {after}"]
    lines += [f"    return {result}", ""]
    return "\n".join(lines)


def away_from_thresholds(v):
    return v + 0.1 if any(abs(v - t) < 0.05 for t in THRESHOLDS) else v


data_vectors = st.lists(finite(-1.5, 1.5).map(away_from_thresholds), min_size=0, max_size=6).map(
    lambda v: np.array(v, dtype=float))


def check_program(source, x, w, wrt, kind):
    module = write_module(source)
    function = module.program
    expected_value = function(x, w)
    scale = max(1.0, abs(expected_value))
    positions = [("x", "w").index(name) for name in wrt]
    if kind == "value_and_grad":
        value, gradient = sg.value_and_grad(function, wrt=wrt)(x, w)
    else:
        transform = sg.grad(function, wrt=wrt)
        gradient, value = transform(x, w), transform.value(x, w)
    gradients = gradient if isinstance(wrt, tuple) else (gradient,)
    assert value == pytest.approx(expected_value, rel=1e-10, abs=1e-10), source
    for position, g in zip(positions, gradients):
        numeric = finite_difference(function, (x, w), position)
        if position == 0:
            assert isinstance(g, np.ndarray) and g.shape == x.shape, source
        else:
            assert isinstance(g, float), source
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-6 * scale, err_msg=source)


@PROGRAM_SETTINGS
@given(loop_programs(), data_vectors, finite(-1.5, 1.5))
@example(PURE_SUM_PROGRAM, np.array([0.3, -0.8, 1.1]), 0.7)
def test_random_loop_programs_value_and_grad_wrt_x(source, x, w):
    check_program(source, x, w, "x", "value_and_grad")


@PROGRAM_SETTINGS
@given(loop_programs(), data_vectors, finite(-1.5, 1.5))
@example(PURE_SUM_PROGRAM, np.array([0.3, -0.8, 1.1]), 0.7)
def test_random_loop_programs_grad_wrt_x_and_w(source, x, w):
    check_program(source, x, w, ("x", "w"), "grad")


@PROGRAM_SETTINGS
@given(loop_programs(), data_vectors, finite(-1.5, 1.5))
@example(PURE_SUM_PROGRAM, np.array([0.3, -0.8, 1.1]), 0.7)
def test_random_loop_programs_value_and_grad_wrt_x_and_w(source, x, w):
    check_program(source, x, w, ("x", "w"), "value_and_grad")


# --------------------------------------------------------------------------------------------------------------
# (c) random row-by-row programs: a local array written element by element in each iteration of a loop over
#     rows, then read (a network's hidden layer).  Some variants rewrite it whole before reading it (each row's
#     reverse sweep may then follow the row at once); others let values pass from row to row through it (read
#     before the rewrite, a partial rewrite, `+=`, a read after the loop), which must keep the two sweeps apart.
# --------------------------------------------------------------------------------------------------------------
LAYER_WRITES = {
    "whole": ("range(k)", "h[j] = {}"),
    "read_before": ("range(k)", "h[j] = 0.5 * h[j] + {}"),
    "partial": ("range(1, k)", "h[j] = {}"),
    "accumulate": ("range(k)", "h[j] += {}"),
}


@st.composite
def layer_programs(draw):
    """Source text of `program(X, w)`: rows of X through a local layer `h` (and maybe a second layer `g`)."""
    write_range, write = LAYER_WRITES[draw(st.sampled_from(sorted(LAYER_WRITES)))]
    unit = draw(expressions(["X[i, j]", "w[j]", "X[i, j] * w[j]"], 2))
    lines = ["import math", "", "import numpy as np", "", "", "def program(X, w):", "    m = X.shape[0]",
             "    k = X.shape[1]", "    h = np.zeros(k)", "    g = np.zeros(k)", "    s = 0.0", "    for i in range(m):",
             f"        for j in {write_range}:", f"            {write.format(unit)}"]
    source = "h"
    if draw(st.booleans()):  # a second layer, rewritten whole from the first
        mixed = draw(expressions(["h[q]", "w[j]", "h[q] * w[j]"], 1))
        lines += ["        for j in range(k):", "            acc = 0.0", "            for q in range(k):",
                  f"                acc += {mixed}", "            g[j] = math.tanh(acc)"]
        source = "g"
    reduce = draw(expressions([f"{source}[j]", "w[j]", f"{source}[j] * X[i, j]"], 2))
    lines += ["        for j in range(k):", f"            s += {reduce}"]
    if draw(st.booleans()):
        lines += ["    for j in range(k):", "        s += h[j] * w[j]"]  # the last row's layer, read after the loop
    lines += ["    return s + 0.25 * w[0]", ""]  # w is an array even where the layer does not read it
    return "\n".join(lines)


@st.composite
def layer_data(draw):
    m, k = draw(st.integers(0, 4)), draw(st.integers(1, 4))
    X = np.array(draw(st.lists(finite(-1.5, 1.5), min_size=m * k, max_size=m * k)), dtype=float).reshape(m, k)
    return X, np.array(draw(st.lists(finite(-1.5, 1.5), min_size=k, max_size=k)), dtype=float)


@PROGRAM_SETTINGS
@given(layer_programs(), layer_data())
def test_random_layer_programs_value_and_grad_wrt_data_and_weights(source, data):
    X, w = data
    function = write_module(source).program
    value, (X_bar, w_bar) = sg.value_and_grad(function, wrt=("X", "w"))(X, w)
    expected_value = function(X, w)
    scale = max(1.0, abs(expected_value))
    assert value == pytest.approx(expected_value, rel=1e-10, abs=1e-10), source
    for position, g in enumerate((X_bar, w_bar)):
        np.testing.assert_allclose(g, finite_difference(function, (X, w), position), rtol=1e-5, atol=1e-6 * scale,
                                   err_msg=source)
