"""Gradients of functions over arrays and loops.

Every function below is plain Python in the subset of LANGUAGE.md.  Each gradient symgrad computes is compared
with (a) central finite differences of the Python function itself, element by element, and (b) where practical an
independent reference: ``sympy.diff`` of a SymPy expression written out by hand for a small fixed size, or a gradient
derived by hand and written with NumPy (``scipy.optimize.rosen_der``, ``X.T @ (sigmoid(X w) - y) / n``, ...).  The
value symgrad returns (``value_and_grad`` and ``.value``) must equal the Python function's own value.

Transforms are made once at module level: their kernels are derived and compiled on the first call and then serve
every test and every data size that uses them.
"""

import math
import os
import tempfile
import time

import numba
import numpy as np
import pytest
import sympy as sp
from scipy.optimize import rosen as scipy_rosen
from scipy.optimize import rosen_der

import symgrad as sg
import symgrad.api

# conftest.py points SYMGRAD_CACHE_DIR at a fresh directory for the session; this is for running the file alone.
os.environ.setdefault("SYMGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="symgrad_test_arrays_"))

RNG_SEED = 20240611
REFERENCE_RTOL = 1e-10  # symgrad vs sympy / hand-derived NumPy: the same number up to rounding
FD_RTOL = 1e-5  # symgrad vs central differences: finite-difference noise


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------

def finite_difference(function, args, position, relative_step=1e-6):
    """Central differences of `function` w.r.t. args[position], element by element for an array argument."""
    args = [np.array(a, dtype=float) if isinstance(a, np.ndarray) else a for a in args]
    target = args[position]
    if not isinstance(target, np.ndarray):
        h = relative_step * max(1.0, abs(target))
        plus, minus = list(args), list(args)
        plus[position], minus[position] = target + h, target - h
        return (function(*plus) - function(*minus)) / (plus[position] - minus[position])
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


def as_tuple(gradient, wrt):
    return gradient if isinstance(wrt, tuple) else (gradient,)


def check_gradient(transform, args, references=None):
    """Value and gradient of a `value_and_grad` transform against the Python function, central differences and
    `references` (one per wrt argument; None to skip one).  Returns the gradients (as a tuple)."""
    function = transform.fun
    names = list(function.__code__.co_varnames[:function.__code__.co_argcount])
    wrt = transform.wrt
    positions = [names.index(name) for name in wrt]
    value, gradient = transform(*args)
    gradients = gradient if isinstance(gradient, tuple) else (gradient,)
    assert len(gradients) == len(wrt)
    expected_value = function(*args)
    assert isinstance(value, float)
    assert value == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    scale = max(1.0, abs(expected_value))
    for k, (position, g) in enumerate(zip(positions, gradients)):
        argument = args[position]
        if isinstance(argument, np.ndarray):
            assert isinstance(g, np.ndarray), f"gradient w.r.t. {wrt[k]} is {type(g).__name__}, not an ndarray"
            assert g.shape == argument.shape and g.dtype == np.float64
        else:
            assert isinstance(g, float), f"gradient w.r.t. {wrt[k]} is {type(g).__name__}, not a float"
        numeric = finite_difference(function, args, position)
        np.testing.assert_allclose(g, numeric, rtol=FD_RTOL, atol=1e-6 * scale,
                                   err_msg=f"d{function.__name__}/d{wrt[k]} vs central differences")
        if references is not None and references[k] is not None:
            np.testing.assert_allclose(g, references[k], rtol=REFERENCE_RTOL, atol=1e-10 * scale,
                                       err_msg=f"d{function.__name__}/d{wrt[k]} vs the independent reference")
    return gradients


def sympy_reference(expression, symbols, values):
    """The value and the gradient of a hand-written SymPy expression at `values`, evaluated with 30 digits."""
    point = {s: sp.Float(float(v), 30) for s, v in zip(symbols, values)}
    value = float(expression.evalf(30, subs=point))
    gradient = np.array([float(sp.diff(expression, s).evalf(30, subs=point)) for s in symbols])
    return value, gradient


def rng(offset=0):
    return np.random.default_rng(RNG_SEED + offset)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------------------------------------------
# The functions (plain Python, in the subset)
# --------------------------------------------------------------------------------------------------------------

def rosen(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def rosen_sizes(x):  # the same as rosen, kept apart so that one test can watch its one derivation
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def logistic_nll(w, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += math.log(1.0 + math.exp(-z)) + (1.0 - y[i]) * z
    return total / X.shape[0]


def oscillator(k, c, x0, v0, dt, steps):
    x = x0
    v = v0
    for t in range(steps):
        a = -k * x - c * v
        x, v = x + dt * v, v + dt * a
    return x * x + 0.5 * v


def forced_oscillator(k, c, force, dt):
    x = 1.0
    v = 0.0
    for t in range(len(force)):
        a = -k * x - c * v + force[t]
        x, v = x + dt * v, v + dt * a
    return x


def mlp_loss(W1, b1, W2, x, target):
    hidden = np.zeros(W1.shape[0])
    for j in range(W1.shape[0]):
        for k in range(W1.shape[1]):
            hidden[j] += W1[j, k] * x[k]
        hidden[j] = max(hidden[j] + b1[j], 0.0)
    out = 0.0
    for j in range(W1.shape[0]):
        out += W2[0][j] * hidden[j]
    return (math.tanh(out) - target) ** 2


def tuple_recurrence(x):
    a = 0.5
    b = 1.0
    for i in range(len(x)):
        a, b = b * math.cos(x[i]), a + math.sin(b * x[i])
    return a * b


def quad_form(A, x):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += x[i] * A[i][j] * x[j]
    return s + A[0, 0] ** 2


def pairwise_energy(x):
    n = len(x)
    M = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            M[i, j] = math.sin(x[i] - x[j]) + x[i] * x[j]
    s = 0.0
    for i in range(n):
        for j in range(n):
            s += M[i][j] ** 2
    return s


def huber(x, delta):
    s = 0.0
    for i in range(len(x)):
        if abs(x[i]) <= delta:
            s += 0.5 * x[i] ** 2
        else:
            s += delta * (abs(x[i]) - 0.5 * delta)
    return s


def leaky_relu_sum(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] ** 2 if x[i] > 0 else 0.1 * x[i]
    return s


def product(x):
    p = 1.0
    for i in range(len(x)):
        p = p * x[i]
    return p


def damped_sum(x):
    s = 0.0
    c = 1.0
    for i in range(len(x)):
        s += math.sin(x[i])
        c = 0.5 * c  # carried, but independent of x: its final value scales the sum's adjoint
    return s * c


def strided(x):
    s = 0.0
    for i in range(0, len(x), 2):
        s += x[i] ** 2 * math.cos(x[i])
    for i in range(1, len(x), 3):
        s += 2.0 * math.sin(x[i])
    return s


def reversed_recurrence(x):
    c = 0.0
    for i in range(len(x) - 1, -1, -1):
        c = math.tanh(c + x[i])
    return c


def reversed_strided(x):
    c = 1.0
    for i in range(len(x) - 1, -1, -2):
        c = c * math.cos(x[i]) + x[i]
    return c


def inplace_relu(x):
    h = np.zeros_like(x)
    for i in range(len(x)):
        h[i] = 2.0 * x[i] - 1.0
        h[i] = max(h[i], 0.0)
        h[i] = h[i] * h[i] + x[i]
    s = 0.0
    for i in range(len(x)):
        s += h[i] * math.cos(h[i])
    return s


def leaky_prefix(x):
    h = np.empty(len(x))
    h[0] = x[0]
    for i in range(1, len(x)):
        h[i] = 0.5 * h[i - 1] + x[i]
    s = 0.0
    for i in range(len(x)):
        s += h[i] ** 2
    return s


def buckets(x):
    acc = np.zeros(3)
    for i in range(len(x)):
        acc[i % 3] += x[i] * x[i]
    return acc[0] * acc[1] + math.sin(acc[2])


def dot_products(a, b):
    return np.dot(a, b) * (a @ b) + np.sum(a) * np.sum(b) ** 2


def gaussian_sum(x, s):
    return sum(math.exp(-x[i] ** 2 / s) for i in range(len(x))) + sum(x)


def matrix_sum(A):
    return np.sum(A) ** 2 + A[1, 0] * A[-1, -1]


def ends(x):
    return x[-1] * x[0] ** 2 + math.sin(x[-2]) + x[1] * x[-1]


def variance(x):
    mean = np.sum(x) / len(x)
    s = 0.0
    for i in range(x.size):
        s += (x[i] - mean) ** 2
    return s / (x.shape[0] - 1)


def _weighted_norm(v, weights):
    s = 0.0
    for i in range(len(v)):
        s += weights[i] * v[i] ** 2
    return s


def _difference(v, i):
    return v[i + 1] - v[i]


def smoothness(x, weights):
    total = _weighted_norm(x, weights)
    for i in range(len(x) - 1):
        total += _difference(x, i) ** 2
    return total


def window(x, start, stop, k):
    s = 0.0
    for i in range(start, stop):
        s += math.exp(0.5 * x[i])
    return s + x[k] ** 3


def pairs(x):
    s = 0.0
    n = len(x)
    for i in range(n // 2):
        s += x[2 * i] * x[2 * i + 1]
    for i in range(n - 2 * (n // 2)):  # the odd element left over, if any
        s += x[n - 1] ** 2
    return s


def literal_loops(x):
    s = 0.0
    for i in range(4):  # unrolled
        s += x[i] * (i + 1.0)
    p = 1.0
    for i in range(10):  # kept as a loop
        p = p * (1.0 + 0.1 * math.sin(x[i]))
    return s * p


def triangular(A, x):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(i + 1):
            s += A[i, j] * math.sin(x[j]) * x[i]
    return s


# The transforms, made once (derivation and compilation happen at the first call).
ROSEN = sg.value_and_grad(rosen)
LOGISTIC = sg.value_and_grad(logistic_nll, wrt=("w", "X", "y"))
OSCILLATOR = sg.value_and_grad(oscillator, wrt=("k", "c"))
FORCED = sg.value_and_grad(forced_oscillator, wrt=("k", "force"))
MLP = sg.value_and_grad(mlp_loss, wrt=("W1", "b1", "W2"))
TUPLE_RECURRENCE = sg.value_and_grad(tuple_recurrence)
QUAD_FORM = sg.value_and_grad(quad_form, wrt=(0, 1))
PAIRWISE = sg.value_and_grad(pairwise_energy)
HUBER = sg.value_and_grad(huber, wrt=("x", "delta"))
LEAKY = sg.value_and_grad(leaky_relu_sum)
PRODUCT = sg.value_and_grad(product)
DAMPED = sg.value_and_grad(damped_sum)
STRIDED = sg.value_and_grad(strided)
REVERSED = sg.value_and_grad(reversed_recurrence)
REVERSED_STRIDED = sg.value_and_grad(reversed_strided)
INPLACE = sg.value_and_grad(inplace_relu)
PREFIX = sg.value_and_grad(leaky_prefix)
BUCKETS = sg.value_and_grad(buckets)
DOTS = sg.value_and_grad(dot_products, wrt=("a", "b"))
GAUSSIAN = sg.value_and_grad(gaussian_sum, wrt=("x", "s"))
GAUSSIAN_GRAD = sg.grad(gaussian_sum, wrt=("x", "s"))
MATRIX_SUM = sg.value_and_grad(matrix_sum)
ENDS = sg.value_and_grad(ends)
VARIANCE = sg.value_and_grad(variance)
SMOOTHNESS = sg.value_and_grad(smoothness, wrt=("x", "weights"))
WINDOW = sg.value_and_grad(window)
PAIRS = sg.value_and_grad(pairs)
LITERAL = sg.value_and_grad(literal_loops)
TRIANGULAR = sg.value_and_grad(triangular, wrt=("A", "x"))


# --------------------------------------------------------------------------------------------------------------
# Rosenbrock: n = 2, 3, 10, and the edge sizes 0 and 1
# --------------------------------------------------------------------------------------------------------------

def rosen_gradient_by_hand(x):
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


@pytest.mark.parametrize("n", [2, 3, 10])
def test_rosen(n):
    x = rng(n).uniform(-2.0, 2.0, size=n)
    (g,) = check_gradient(ROSEN, (x,), [rosen_der(x)])
    np.testing.assert_allclose(g, rosen_gradient_by_hand(x), rtol=REFERENCE_RTOL, atol=1e-10)
    assert ROSEN(x)[0] == pytest.approx(scipy_rosen(x), rel=1e-12)


def test_rosen_n3_against_sympy():
    x0, x1, x2 = sp.symbols("x0 x1 x2", real=True)
    expression = 100 * (x1 - x0 ** 2) ** 2 + (1 - x0) ** 2 + 100 * (x2 - x1 ** 2) ** 2 + (1 - x1) ** 2
    x = np.array([-1.2, 0.7, 1.9])
    value, reference = sympy_reference(expression, (x0, x1, x2), x)
    assert rosen(x) == pytest.approx(value, rel=1e-13)  # the hand-written expression is rosen
    check_gradient(ROSEN, (x,), [reference])


@pytest.mark.parametrize("n", [0, 1])
def test_rosen_of_length_zero_and_one(n):
    x = np.full(n, 0.3)
    value, g = ROSEN(x)
    assert value == 0.0
    assert isinstance(g, np.ndarray) and g.shape == (n,) and g.dtype == np.float64
    np.testing.assert_array_equal(g, np.zeros(n))


def test_rosen_value_kernel_and_grad_transform_agree():
    x = rng(7).uniform(-2.0, 2.0, size=6)
    assert ROSEN.value(x) == pytest.approx(rosen(x), rel=1e-12)
    gradient_only = sg.grad(rosen)
    g = gradient_only(x)
    assert isinstance(g, np.ndarray) and g.shape == x.shape
    np.testing.assert_allclose(g, rosen_der(x), rtol=REFERENCE_RTOL, atol=1e-10)
    np.testing.assert_allclose(g, ROSEN(x)[1], rtol=1e-13)  # another kernel: rounding may differ


# --------------------------------------------------------------------------------------------------------------
# Logistic regression, oscillators, MLP
# --------------------------------------------------------------------------------------------------------------

def test_logistic_nll():
    r = rng(1)
    X = r.normal(size=(7, 3))
    w = r.normal(size=3)
    y = (r.uniform(size=7) > 0.5).astype(float)
    n = X.shape[0]
    z = X @ w
    p = sigmoid(z)
    references = [X.T @ (p - y) / n, np.outer(p - y, w) / n, -z / n]
    check_gradient(LOGISTIC, (w, X, y), references)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert LOGISTIC.value(w, X, y) == pytest.approx(expected, rel=1e-12)


def oscillator_reference(k, c, x0, v0, dt, steps):
    """d(x^2 + v/2)/d(k, c) of the linear map s -> M s, by the product rule on M**steps."""
    M = np.array([[1.0, dt], [-dt * k, 1.0 - dt * c]])
    dM = {"k": np.array([[0.0, 0.0], [-dt, 0.0]]), "c": np.array([[0.0, 0.0], [0.0, -dt]])}
    s0 = np.array([x0, v0])
    x, v = np.linalg.matrix_power(M, steps) @ s0
    outer = np.array([2 * x, 0.5])
    result = []
    for name in ("k", "c"):
        ds = sum(np.linalg.matrix_power(M, steps - 1 - i) @ dM[name] @ np.linalg.matrix_power(M, i) @ s0
                 for i in range(steps))
        result.append(float(outer @ ds))
    return result


@pytest.mark.parametrize("steps", [0, 1, 25])
def test_oscillator_gradient_wrt_k_and_c(steps):
    args = (2.5, 0.3, 1.0, -0.4, 0.05, steps)
    gradients = check_gradient(OSCILLATOR, args, oscillator_reference(*args[:5], steps) if steps else [0.0, 0.0])
    assert all(isinstance(g, float) for g in gradients)


def test_oscillator_against_sympy():
    k, c = sp.symbols("k c", real=True)
    x, v, dt = sp.Float(1.0), sp.Float(-0.4), sp.Rational(1, 10)
    for _ in range(3):  # three Euler steps written out symbolically
        x, v = x + dt * v, v + dt * (-k * x - c * v)
    expression = x * x + v / 2
    value, reference = sympy_reference(expression, (k, c), (2.5, 0.3))
    args = (2.5, 0.3, 1.0, -0.4, 0.1, 3)
    assert oscillator(*args) == pytest.approx(value, rel=1e-13)
    check_gradient(OSCILLATOR, args, list(reference))


def test_forced_oscillator_mixes_scalar_and_array():
    k, c, dt = 3.0, 0.2, 0.1
    force = rng(2).normal(size=12)
    # Hand-derived forward sensitivities: s' = M s + dt [0, f_t]; ds'/dk = M ds/dk + dM/dk s.
    M = np.array([[1.0, dt], [-dt * k, 1.0 - dt * c]])
    dM_dk = np.array([[0.0, 0.0], [-dt, 0.0]])
    s, ds_dk = np.array([1.0, 0.0]), np.zeros(2)
    for t in range(len(force)):
        s, ds_dk = M @ s + np.array([0.0, dt * force[t]]), M @ ds_dk + dM_dk @ s
    d_force = np.array([(np.linalg.matrix_power(M, len(force) - 1 - t) @ np.array([0.0, dt]))[0]
                        for t in range(len(force))])
    dk, dforce = check_gradient(FORCED, (k, c, force, dt), [ds_dk[0], d_force])
    assert isinstance(dk, float) and isinstance(dforce, np.ndarray) and dforce.shape == force.shape


def mlp_reference(W1, b1, W2, x, target):
    pre = W1 @ x + b1
    hidden = np.maximum(pre, 0.0)
    out = W2[0] @ hidden
    d_out = 2.0 * (np.tanh(out) - target) * (1.0 - np.tanh(out) ** 2)
    d_hidden = d_out * W2[0] * (pre > 0)
    return [np.outer(d_hidden, x), d_hidden, d_out * hidden[None, :]]


def test_mlp_with_local_hidden_array_and_relu():
    r = rng(3)
    W1, b1, W2, x = r.normal(size=(5, 3)), r.normal(size=5), r.normal(size=(1, 5)) * 0.5, r.normal(size=3)
    pre = W1 @ x + b1
    assert (pre > 0).any() and (pre < 0).any() and np.abs(pre).min() > 1e-3  # both sides of the kink, away from it
    check_gradient(MLP, (W1, b1, W2, x, 0.3), mlp_reference(W1, b1, W2, x, 0.3))


def test_mlp_with_no_hidden_units():
    W1, b1, W2, x = np.zeros((0, 3)), np.zeros(0), np.zeros((1, 0)), np.ones(3)
    value, (g1, gb, g2) = MLP(W1, b1, W2, x, 0.3)
    assert value == pytest.approx(mlp_loss(W1, b1, W2, x, 0.3))
    assert g1.shape == (0, 3) and gb.shape == (0,) and g2.shape == (1, 0)


# --------------------------------------------------------------------------------------------------------------
# Recurrences (the tape), nested loops, local arrays, branches
# --------------------------------------------------------------------------------------------------------------

def test_tuple_recurrence_against_sympy():
    x0, x1, x2 = symbols = sp.symbols("x0 x1 x2", real=True)
    a, b = sp.Rational(1, 2), sp.Integer(1)
    a, b = b * sp.cos(x0), a + sp.sin(b * x0)
    a, b = b * sp.cos(x1), a + sp.sin(b * x1)
    a, b = b * sp.cos(x2), a + sp.sin(b * x2)
    x = np.array([0.4, -1.1, 0.9])
    value, reference = sympy_reference(a * b, symbols, x)
    assert tuple_recurrence(x) == pytest.approx(value, rel=1e-13)
    check_gradient(TUPLE_RECURRENCE, (x,), [reference])
    check_gradient(TUPLE_RECURRENCE, (rng(4).normal(size=40),))  # a long one: the tape grows past its first size


def test_product_recurrence_needs_the_tape():
    x = rng(5).uniform(0.5, 1.5, size=9) * np.array([1, -1] * 4 + [1])
    reference = np.array([np.prod(np.delete(x, k)) for k in range(len(x))])
    check_gradient(PRODUCT, (x,), [reference])
    # With a zero element the gradient is the product of the others there and zero elsewhere (no division).
    x[3] = 0.0
    reference = np.array([np.prod(np.delete(x, k)) for k in range(len(x))])
    assert reference[3] != 0.0
    check_gradient(PRODUCT, (x,), [reference])


def test_product_of_length_zero_and_one():
    value, g = PRODUCT(np.zeros(0))
    assert value == 1.0 and g.shape == (0,)
    value, g = PRODUCT(np.array([2.5]))
    assert value == 2.5
    np.testing.assert_array_equal(g, [1.0])


def test_long_product_recurrence():
    x = 1.0 + rng(6).uniform(-1e-3, 1e-3, size=2000)  # 2000 taped iterations
    p = np.prod(x)
    value, g = PRODUCT(x)
    assert value == pytest.approx(p, rel=1e-12)
    np.testing.assert_allclose(g, p / x, rtol=1e-11)


def test_nested_loop_over_2d_array():
    r = rng(8)
    A, x = r.normal(size=(4, 4)), r.normal(size=4)
    dA = np.outer(x, x)
    dA[0, 0] += 2 * A[0, 0]
    check_gradient(QUAD_FORM, (A, x), [dA, (A + A.T) @ x])


def test_triangular_loop_bound_from_outer_index():
    r = rng(9)
    A, x = r.normal(size=(5, 5)), r.normal(size=5)
    mask = np.tril(np.ones((5, 5)))
    dA = mask * np.outer(x, np.sin(x))
    dx = (mask * A).T @ x * np.cos(x) + (mask * A) @ np.sin(x)
    check_gradient(TRIANGULAR, (A, x), [dA, dx])


def test_local_2d_array():
    x = rng(10).normal(size=5)
    D = x[:, None] - x[None, :]
    M = np.sin(D) + np.outer(x, x)
    dM_first = np.cos(D) + x[None, :]  # dM[i, j]/dx[i]
    dM_second = -np.cos(D) + x[:, None]  # dM[i, j]/dx[j]
    reference = 2 * ((M * dM_first).sum(axis=1) + (M * dM_second).sum(axis=0))
    check_gradient(PAIRWISE, (x,), [reference])


def test_local_2d_array_against_sympy():
    symbols = sp.symbols("x0 x1 x2", real=True)
    expression = sum((sp.sin(a - b) + a * b) ** 2 for a in symbols for b in symbols)
    x = np.array([0.3, -0.8, 1.4])
    value, reference = sympy_reference(expression, symbols, x)
    assert pairwise_energy(x) == pytest.approx(value, rel=1e-13)
    check_gradient(PAIRWISE, (x,), [reference])


def test_if_else_on_data_inside_loop():
    x = np.array([-2.5, -0.7, 0.2, 0.9, 1.8, -1.3, 3.0])
    delta = 1.0
    inside = np.abs(x) <= delta
    dx = np.where(inside, x, delta * np.sign(x))
    ddelta = float(np.sum(np.where(inside, 0.0, np.abs(x) - delta)))
    gradients = check_gradient(HUBER, (x, delta), [dx, ddelta])
    assert isinstance(gradients[1], float)


def test_conditional_expression_inside_loop():
    x = np.array([-1.5, 0.4, -0.2, 2.0, 0.7])
    check_gradient(LEAKY, (x,), [np.where(x > 0, 2 * x, 0.1)])


def test_empty_arrays_in_branches_and_mixed_wrt():
    value, (dx, ddelta) = HUBER(np.zeros(0), 1.0)
    assert value == 0.0 and dx.shape == (0,) and ddelta == 0.0


def test_sum_scaled_by_an_inactive_carried_value_against_sympy():
    symbols = x0, x1, x2 = sp.symbols("x0 x1 x2", real=True)
    expression = (sp.sin(x0) + sp.sin(x1) + sp.sin(x2)) / 8
    x = np.array([0.4, -1.3, 2.2])
    value, reference = sympy_reference(expression, symbols, x)
    assert damped_sum(x) == pytest.approx(value, rel=1e-13)
    check_gradient(DAMPED, (x,), [reference])
    x = rng(31).normal(size=6)
    check_gradient(DAMPED, (x,), [np.cos(x) * 0.5 ** 6])


def test_step_of_two_and_three():
    for n in (1, 6, 7, 10):
        x = rng(11 + n).normal(size=n)
        reference = np.zeros(n)
        reference[0::2] += 2 * x[0::2] * np.cos(x[0::2]) - x[0::2] ** 2 * np.sin(x[0::2])
        reference[1::3] += 2 * np.cos(x[1::3])
        check_gradient(STRIDED, (x,), [reference])


def test_reversed_range_recurrence_against_sympy():
    symbols = x0, x1, x2, x3 = sp.symbols("x0 x1 x2 x3", real=True)
    expression = sp.tanh(x0 + sp.tanh(x1 + sp.tanh(x2 + sp.tanh(x3))))
    x = np.array([0.2, -0.5, 0.9, 0.4])
    value, reference = sympy_reference(expression, symbols, x)
    assert reversed_recurrence(x) == pytest.approx(value, rel=1e-13)
    check_gradient(REVERSED, (x,), [reference])
    check_gradient(REVERSED, (rng(12).normal(size=30),))


def test_reversed_range_with_step_minus_two_against_sympy():
    symbols = x0, x1, x2, x3, x4 = sp.symbols("x0:5", real=True)
    expression = ((sp.cos(x4) + x4) * sp.cos(x2) + x2) * sp.cos(x0) + x0  # i = 4, 2, 0
    x = np.array([0.2, -0.5, 0.9, 0.4, -1.3])
    value, reference = sympy_reference(expression, symbols, x)
    assert reversed_strided(x) == pytest.approx(value, rel=1e-13)
    (g,) = check_gradient(REVERSED_STRIDED, (x,), [reference])
    assert g[1] == 0.0 and g[3] == 0.0
    check_gradient(REVERSED_STRIDED, (x[:4].copy(),))  # even length: i = 3, 1


def test_local_array_overwritten_in_place():
    x = np.array([-0.3, 0.2, 0.45, 0.7, 1.2, 0.9, -1.0])
    pre = 2 * x - 1
    assert np.abs(pre).min() > 1e-3
    relu = np.maximum(pre, 0.0)
    h = relu ** 2 + x
    dh = np.cos(h) - h * np.sin(h)
    check_gradient(INPLACE, (x,), [dh * (2 * relu * 2 * (pre > 0) + 1)])


def test_local_array_read_from_previous_iteration():
    x = rng(13).normal(size=8)
    n = len(x)
    L = np.array([[0.5 ** (i - k) if k <= i else 0.0 for k in range(n)] for i in range(n)])
    h = L @ x
    check_gradient(PREFIX, (x,), [L.T @ (2 * h)])
    value, g = PREFIX(np.array([1.5]))
    assert value == pytest.approx(2.25) and g == pytest.approx([3.0])


def test_local_array_accumulated_at_computed_indices():
    x = rng(14).normal(size=8)
    acc = np.array([np.sum(x[m::3] ** 2) for m in range(3)])
    d_acc = np.array([acc[1], acc[0], math.cos(acc[2])])
    reference = np.array([2 * x[i] * d_acc[i % 3] for i in range(len(x))])
    check_gradient(BUCKETS, (x,), [reference])


# --------------------------------------------------------------------------------------------------------------
# Array reductions, indexing forms, sizes, helpers, int arguments, unrolling
# --------------------------------------------------------------------------------------------------------------

def test_dot_matmul_and_sum():
    r = rng(15)
    a, b = r.normal(size=6), r.normal(size=6)
    d = a @ b
    references = [2 * d * b + np.sum(b) ** 2, 2 * d * a + 2 * np.sum(a) * np.sum(b)]
    check_gradient(DOTS, (a, b), references)
    value, (ga, gb) = DOTS(np.zeros(0), np.zeros(0))
    assert value == 0.0 and ga.shape == (0,) and gb.shape == (0,)


def test_generator_sum_and_builtin_sum():
    x, s = rng(16).normal(size=5), 0.7
    e = np.exp(-x ** 2 / s)
    check_gradient(GAUSSIAN, (x, s), [-2 * x / s * e + 1.0, float(np.sum(x ** 2 / s ** 2 * e))])


def test_generator_sum_gradient_only():
    # The grad kernel alone (no value): compiled separately from value_and_grad.
    x, s = rng(16).normal(size=5), 0.7
    e = np.exp(-x ** 2 / s)
    dx, ds = GAUSSIAN_GRAD(x, s)
    np.testing.assert_allclose(dx, -2 * x / s * e + 1.0, rtol=REFERENCE_RTOL)
    assert ds == pytest.approx(float(np.sum(x ** 2 / s ** 2 * e)), rel=REFERENCE_RTOL)
    np.testing.assert_allclose(dx, finite_difference(gaussian_sum, (x, s), 0), rtol=FD_RTOL, atol=1e-6)
    assert ds == pytest.approx(finite_difference(gaussian_sum, (x, s), 1), rel=FD_RTOL)
    assert GAUSSIAN.value(x, s) == pytest.approx(gaussian_sum(x, s), rel=1e-12)


def test_gaussian_sum_against_sympy():
    x0, x1, x2, s = sp.symbols("x0 x1 x2 s", real=True)
    expression = sp.exp(-x0 ** 2 / s) + sp.exp(-x1 ** 2 / s) + sp.exp(-x2 ** 2 / s) + x0 + x1 + x2
    x = np.array([0.3, -1.2, 0.8])
    value, reference = sympy_reference(expression, (x0, x1, x2, s), [*x, 0.7])
    assert gaussian_sum(x, 0.7) == pytest.approx(value, rel=1e-13)
    check_gradient(GAUSSIAN, (x, 0.7), [reference[:3], reference[3]])


def test_np_sum_of_2d_array_and_negative_2d_indices():
    A = rng(17).normal(size=(3, 4))
    reference = np.full(A.shape, 2 * np.sum(A))
    reference[1, 0] += A[-1, -1]
    reference[-1, -1] += A[1, 0]
    check_gradient(MATRIX_SUM, (A,), [reference])


def test_negative_literal_indices():
    for n in (3, 6):
        x = rng(18 + n).normal(size=n)
        reference = np.zeros(n)
        reference[-1] += x[0] ** 2 + x[1]
        reference[0] += 2 * x[-1] * x[0]
        reference[-2] += math.cos(x[-2])
        reference[1] += x[-1]
        check_gradient(ENDS, (x,), [reference])


def test_len_size_and_shape():
    x = rng(20).normal(size=9)
    check_gradient(VARIANCE, (x,), [2 * (x - x.mean()) / (len(x) - 1)])
    assert VARIANCE(x)[0] == pytest.approx(np.var(x, ddof=1), rel=1e-12)


def test_helpers_receiving_arrays():
    r = rng(21)
    x, weights = r.normal(size=7), r.uniform(0.5, 2.0, size=7)
    D = np.diff(np.eye(7), axis=0)  # (D x)[i] = x[i + 1] - x[i]
    check_gradient(SMOOTHNESS, (x, weights), [2 * weights * x + 2 * D.T @ (D @ x), x ** 2])


def test_int_arguments_as_bounds_and_index():
    x = rng(22).normal(size=8)
    for start, stop, k in ((2, 6, 1), (0, 8, 7), (5, 5, 0), (3, 1, -1)):
        reference = np.zeros(8)
        reference[start:stop] += 0.5 * np.exp(0.5 * x[start:stop])
        reference[k] += 3 * x[k] ** 2
        (g,) = check_gradient(WINDOW, (x, start, stop, k), [reference])
        assert g.shape == x.shape


@pytest.mark.parametrize("n", [1, 4, 7, 0])
def test_integer_arithmetic_in_bounds_and_indices(n):
    # n = 0: the second loop never runs, so x[n - 1] is never read (Python returns 0.0).
    x = rng(23 + n).normal(size=n)
    reference = np.zeros(n)
    m = n // 2
    reference[0:2 * m:2] += x[1:2 * m:2]
    reference[1:2 * m:2] += x[0:2 * m:2]
    if n % 2:
        reference[-1] += 2 * x[-1]
    check_gradient(PAIRS, (x,), [reference])


def test_literal_loops_unrolled_and_kept():
    x = rng(24).normal(size=11)
    weights = np.array([1.0, 2.0, 3.0, 4.0] + [0.0] * 7)
    s = weights @ x
    factors = 1.0 + 0.1 * np.sin(x)
    p = np.prod(factors[:10])
    dp = np.zeros(11)
    dp[:10] = p * 0.1 * np.cos(x[:10]) / factors[:10]
    check_gradient(LITERAL, (x,), [weights * p + s * dp])
    source = LITERAL.source()
    assert "range(0, 10)" in source or "range(10)" in source, "the loop of 10 should stay a loop"


# --------------------------------------------------------------------------------------------------------------
# One derivation for every size; LaTeX; the kernels inside the user's own njit code
# --------------------------------------------------------------------------------------------------------------

def test_one_derivation_serves_every_size(monkeypatch):
    calls = []
    derive = symgrad.api._derive

    def counting_derive(*args, **kwargs):
        calls.append(args)
        return derive(*args, **kwargs)

    monkeypatch.setattr(symgrad.api, "_derive", counting_derive)
    transform = sg.value_and_grad(rosen_sizes)
    files, modules, seconds = set(), set(), {}
    for n in (5, 50, 500, 5000):
        x = rng(n).uniform(-2.0, 2.0, size=n)
        start = time.perf_counter()
        value, g = transform(x)
        seconds[n] = time.perf_counter() - start
        assert value == pytest.approx(scipy_rosen(x), rel=1e-12)
        np.testing.assert_allclose(g, rosen_der(x), rtol=REFERENCE_RTOL, atol=1e-9)
        files.add(transform._load().__file__)
        modules.add(id(transform._load()))
    assert len(files) == 1 and len(modules) == 1
    assert len(calls) <= 1, f"derived {len(calls)} times for 4 sizes"
    # The derivation (and compilation) happened once, at the first call: later calls on 100x and 1000x larger
    # arrays are only the compiled loop.
    assert seconds[5000] < 0.05 and seconds[500] < 0.05, seconds


def test_latex_of_reductions_has_sums_and_adjoints():
    for transform in (ROSEN, LOGISTIC):
        latex = transform.latex()
        assert isinstance(latex, str)
        assert r"\sum" in latex, f"{transform.fun.__name__}: no \\sum in\n{latex}"
        assert r"\bar{" in latex, f"{transform.fun.__name__}: no adjoint in\n{latex}"
        assert transform._repr_latex_() == f"$${latex}$$"


def test_latex_of_recurrence_has_adjoint_updates():
    latex = PRODUCT.latex()
    assert r"\bar{" in latex and r"\textbf{for }" in latex


def test_kernels_called_from_users_njit_function():
    kernel = ROSEN.kernels.value_and_grad

    @numba.njit
    def descend(x0, rate, steps):
        x = x0.copy()
        values = np.empty(steps)
        for k in range(steps):
            value, gradient = kernel(x)
            values[k] = value
            x = x - rate * gradient
        return x, values

    x0 = np.array([-1.2, 1.0, -0.5, 0.8])
    x_numba, values_numba = descend(x0, 1e-4, 20)
    x = x0.copy()
    for k in range(20):
        value, gradient = ROSEN(x)
        assert values_numba[k] == pytest.approx(value, rel=1e-12)
        x = x - 1e-4 * gradient
    np.testing.assert_allclose(x_numba, x, rtol=1e-12)
    assert values_numba[-1] < values_numba[0]

    grad_kernel, value_kernel = LOGISTIC.kernels.grad, LOGISTIC.kernels.value

    @numba.njit
    def logistic_pieces(w, X, y):
        gw, gX, gy = grad_kernel(w, X, y)
        return value_kernel(w, X, y), gw, gX, gy

    r = rng(30)
    X, w, y = r.normal(size=(6, 2)), r.normal(size=2), (r.uniform(size=6) > 0.5).astype(float)
    value, gw, gX, gy = logistic_pieces(w, X, y)
    expected_value, (ew, eX, ey) = LOGISTIC(w, X, y)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(gw, X.T @ (sigmoid(X @ w) - y) / len(y), rtol=REFERENCE_RTOL)
    np.testing.assert_allclose(gX, eX, rtol=1e-12)
    np.testing.assert_allclose(gy, ey, rtol=1e-12)
