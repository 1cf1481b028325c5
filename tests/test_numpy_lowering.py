"""Vectorised NumPy, lowered to loops (symgrad/frontend/numpy_lowering.py).

Each function is written once, as NumPy users write it, and run twice: by symgrad, and by JAX (float64) on the
same source with ``jax.numpy`` in place of NumPy, an independent implementation of value and gradient.  Both
must agree to rounding.  A few kernels are also checked for the loops the lowering writes (fused, no temporary).
"""

import numpy as np
import pytest

import symgrad as sg
from conftest import richardson_gradient, write_module

jax = pytest.importorskip("jax", reason="JAX is the independent reference of this file")
jax.config.update("jax_enable_x64", True)

SOURCE = '''
def rosen(x):
    return np.sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)

def huber(pred, y, d):
    r = y - pred
    return np.sum(np.where(np.abs(r) < d, 0.5*r**2, d*(np.abs(r) - 0.5*d)))

def gaussian_nll(mu, log_sigma, x):
    return np.mean(0.5*((x - mu)/np.exp(log_sigma))**2 + log_sigma + 0.5*np.log(2*np.pi))

def elementwise_functions(x):
    return np.sum(np.exp(x) + np.tanh(x) + np.log1p(x**2) + np.sin(x)*np.cos(x) + np.sqrt(1 + x**2) + np.arctan(x))

def scalars_and_negation(x, a):
    return np.sum(-x*a + a/(1 + x**2) - 2.0**x) + np.sum(+x)

def product(x):
    return np.prod(1 + 0.1*x)

def extremes(x):
    return np.max(x**2) - np.min(np.sin(x)) + x.max() + max(x) - min(x) + np.amax(x)

def builtin_sum(x):
    return sum(x**2) + sum(np.cos(x))

def dots(x, y):
    return np.dot(x, y) + x @ y + x.dot(y) + np.inner(x, y) + np.matmul(x, y)

def norms(x):
    return np.linalg.norm(x) + np.linalg.norm(x, 1) + np.linalg.norm(x, np.inf) + np.linalg.norm(x, ord=2)

def kinks(x, y):
    return np.sum(np.maximum(x, 0.0) + np.minimum(x, y) + np.clip(x, -0.5, 0.5) + np.abs(x - y))

def slices(x, i, k):
    return np.sum(x[::2]**2) + np.sum(x[i:i + k]) + np.sum(x[::-1]*x) + x[-3:].sum() + np.sum(x[1:-1:3])

def masks(x):
    return np.sum(np.where(x > 0, x, 0.01*x)) + np.sum((x > 0)*x) + np.sum(np.where(x <= 0.5, np.exp(x), x))

def mean_methods(x):
    return x.mean() + np.mean(x**2) + x.sum() + x.prod()

def ridge(w, X, y, lam):
    r = X @ w - y
    return np.sum(r**2) + lam*np.dot(w, w)

def transposed_product(A, x, y):
    return np.sum((A.T @ y)*x) + y @ A @ x + np.transpose(A).sum()

def columns_and_rows(A, i, j):
    return np.sum(A[:, j]**2) + np.sum(np.exp(A[i, :])) + np.sum(A[i]) + A[1:, :-1].sum()

def axis_sums(A):
    return (np.sum(np.sum(A, axis=0)**2) + np.sum(np.sum(A, axis=1, keepdims=True)*A) + np.sum(A.mean(axis=1)**2)
            + np.sum(A.max(axis=0)) + np.sum(np.min(A, axis=-1)) + A.sum(0).sum())

def broadcasting(A, b, x):
    return np.sum((A + b)**2) + np.sum(x[:, None]*b[None, :]) + np.sum(A*x[:, np.newaxis]) + np.sum(A/(1 + b**2))

def pairwise(x):
    d = x[:, None] - x[None, :]
    return np.sum(np.exp(-d**2))

def matrix_product(A, B):
    return np.sum(np.tanh(A @ B.T)) + np.trace(A.T @ B) + np.sum(np.outer(A[0], B[0])) + np.sum(A[0] @ B.T)

def softmax_ce(W, X, Y):
    z = X @ W
    z = z - np.max(z, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z), axis=1)) - np.sum(z*Y, axis=1))

def mlp(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    return np.mean((out - y)**2)

def logistic(w, X, y):
    z = X @ w
    return np.mean(np.log1p(np.exp(-z)) + (1 - y)*z)

def lennard_jones(x, y):
    dx = x[:, None] - x[None, :]
    dy = y[:, None] - y[None, :]
    r2 = dx**2 + dy**2 + 1.0  # (softened: the diagonal stays finite)
    return np.sum(1/r2**6 - 2/r2**3)

def composites(x, y):
    return np.sum(np.logaddexp(x, y)) + np.sum(expit(x)*log_expit(y)) + np.sum(xlogy(x**2, y**2)) + logsumexp(x)

def logsumexp_axis(A):
    return np.sum(logsumexp(A, axis=1)) + np.sum(logsumexp(A, axis=0, keepdims=True)**2) + np.sum(logsumexp(A, 0)**3)

def constructors(x, a, b):
    v = np.array([a, b, a*b])
    M = np.array([[a, 1.0], [2.0, b]])
    d = [1.0, 1000.0, -10.0]
    return (np.sum(v*x[:3]) + np.sum(M @ x[:2]) + np.sum(np.ones(3)*x[:3]) + np.sum(np.full(3, a)*x[1:4])
            + np.sum(np.arange(len(x))*x) + np.sum(np.linspace(0.0, 1.0, len(x))*x) + np.trace(np.eye(3)*a)
            + d[1]*x[0] + np.sum(np.arange(1, 7, 2)*x[:3]))

def cumulative(x):
    return np.sum(np.cumsum(x)**2) + np.sum(np.diff(x)**2)

def iterations(x, y, A):
    s = 0.0
    for v in x:
        s += v**2
    for i, v in enumerate(y):
        s += i*v
    for u, v in zip(x, y):
        s += u*v
    for row in A:
        s += np.sum(row**2)
    return s

def comparisons_as_numbers(x, a, b):
    half = int(len(x) // 2)
    return (a > b)*a + (a <= b <= 2.0)*b**2 + np.sum(x[:half])/np.size(x) + np.sum((x > a)*x)

def sigmoid(z):
    return 1/(1 + np.exp(-z))

def logistic_with_helper(w, X, y):
    p = sigmoid(X @ w)
    return -np.mean(y*np.log(p) + (1 - y)*np.log(1 - p))

def stencil(A):
    return np.sum((A[2:, 1:-1] + A[:-2, 1:-1] + A[1:-1, 2:] + A[1:-1, :-2] - 4*A[1:-1, 1:-1])**2)

def joins(x, y):
    z = np.concatenate([x, y**2, x[:2]])
    S = np.stack([x, np.sin(y)])
    return np.sum(z*np.arange(len(z))) + np.sum(S @ y) + np.sum(np.concatenate((x, y))**3)

def as_columns(parts):
    return np.column_stack(parts)

def stacked_columns(x, y):
    F = as_columns([x, np.sin(y)])
    S = np.stack([x * y, y], axis=1)
    return (np.sum(F * F[:, ::-1]) + np.sum(np.vstack([x, y]) ** 3) + np.sum(np.hstack((x, y ** 2)))
            + np.sum(S @ np.array([1.0, 2.0])))

def appended_columns(X):
    terms = []
    for i in range(X.shape[1] - 1):
        terms.append(100 * (X[:, i + 1] - X[:, i] ** 2) ** 2 + (1 - X[:, i]) ** 2)
    short = []
    for i in range(2):
        short.append(np.exp(-X[:, i]))
    return np.sum(np.sum(np.column_stack(terms), axis=1) ** 2) + np.sum(np.stack(short) * np.stack(terms)[:2])

def unpacked_slices(params, D):
    mean, log_std = params[:D], params[D:]
    return np.sum(mean ** 2 * np.exp(log_std))

def split_params(params):
    return params[0], params[2:], np.exp(params[1]) + 0.0001

def unpacked_from_a_helper(params, x):
    mean, tail, noise = split_params(params)
    return mean * np.sum(np.exp(tail) * x) + noise

def float_constants(x):
    eps = np.finfo(x.dtype).eps
    y = np.clip(x, eps, 1 - eps).astype(float)
    info = np.finfo(np.float64)
    return (np.sum(np.ones(len(x), dtype=x.dtype) * np.log(y)) + np.float64(2.0) * np.finfo(float).tiny * 1e300
            + info.eps * 1e15 + np.sum(np.float64(x) ** 2) + np.log(np.finfo(float).max))

def scipy_spellings(x, r, s):
    return (np.sum(gammaln(r + x) - gammaln(x + 1) + erf(x) * erfc(x) + gamma(x + 2)) + gammaln(r)
            + np.sum(norm.logpdf(x, 0, s) + norm.logpdf(x) + norm.pdf(x, r, np.exp(x))))

def column_accumulator(X):
    g = 1.0
    g += 10 * (X.shape[1] - 1)
    for i in range(1, X.shape[1]):
        g += X[:, i] * X[:, i] - 10.0 * np.cos(4.0 * np.pi * X[:, i])
    f = 0.0
    for j in range(X.shape[1]):
        f = f + np.exp(-X[:, j]) * g
    return np.sum(g * (1.0 - np.sqrt(X[:, 0] / g))) + np.sum(f ** 2)

def layers(params, inputs, nonlinearity=np.tanh):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = nonlinearity(outputs)
    return outputs

def listed_layers(W1, b1, W2, b2, X):
    weights = [(W1, b1), (W2, b2)]
    return np.sum(layers(weights, X) ** 2) + np.sum(layers([(W1, b1)], X))

def rnn(W, U, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h**2)

def spellings_of_everyday_code(p, X, lo):
    clipped = np.log(np.clip(p, 1e-3, None)) + np.clip(p, None, 0.5) ** 2 + np.clip(p, min=lo, max=0.8)
    centred = X - np.mean(X, 0) + np.ones_like(X) * np.max(X, 1)[:, None]
    wrapped = np.sum(np.sin(np.mod(p * 7.0, 1.3)) + np.remainder(X[:, 0], 0.7)) + p[np.mod(len(p) + 1, len(p))]
    return (np.sum(clipped) + np.sum(np.sum(centred ** 2, 1)) + np.sum(np.full_like(p, 2.5) * p)
            + np.clip(p[0], lo, 1.0) + wrapped)

def rnn_loss(W, U, h0, xs):
    h = h0 * 1.0
    loss = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
        loss = loss + np.sum(h)
    return loss + np.sum(h * h0)
'''

SPECIAL = "erf, erfc, expit, gamma, gammaln, logsumexp, xlogy"
NUMPY = write_module(f"import numpy as np\nfrom scipy.special import log_expit, {SPECIAL}\n"
                     "from scipy.stats import norm\n" + SOURCE, name="numpy_lowering_cases")
JAX = write_module(f"import jax.numpy as np\nfrom jax.nn import log_sigmoid as log_expit\n"
                   f"from jax.scipy.special import {SPECIAL}\nfrom jax.scipy.stats import norm\n" + SOURCE,
                   name="numpy_lowering_cases_jax")

RNG = np.random.default_rng(20261202)
N, M, K = 7, 4, 3
X_DATA = RNG.normal(size=(N, M))

CASES = {
    "rosen": ((RNG.normal(size=9),), (0,)),
    "huber": ((RNG.normal(size=N), RNG.normal(size=N), 0.7), (0, 1, 2)),
    "gaussian_nll": ((RNG.normal(size=N), 0.1*RNG.normal(size=N), RNG.normal(size=N)), (0, 1, 2)),
    "elementwise_functions": ((RNG.uniform(-0.9, 0.9, size=N),), (0,)),
    "scalars_and_negation": ((RNG.normal(size=N), 1.3), (0, 1)),
    "product": ((RNG.normal(size=N),), (0,)),
    "extremes": ((RNG.normal(size=N),), (0,)),
    "builtin_sum": ((RNG.normal(size=N),), (0,)),
    "dots": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "norms": ((RNG.normal(size=N),), (0,)),
    "kinks": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "slices": ((RNG.normal(size=11), 2, 4), (0,)),
    "masks": ((RNG.normal(size=N),), (0,)),
    "mean_methods": ((RNG.normal(size=N),), (0,)),
    "ridge": ((RNG.normal(size=M), X_DATA, RNG.normal(size=N), 0.3), (0, 1, 3)),
    "transposed_product": ((X_DATA, RNG.normal(size=M), RNG.normal(size=N)), (0, 1, 2)),
    "columns_and_rows": ((X_DATA, 2, 1), (0,)),
    "axis_sums": ((X_DATA,), (0,)),
    "broadcasting": ((X_DATA, RNG.normal(size=M), RNG.normal(size=N)), (0, 1, 2)),
    "pairwise": ((RNG.normal(size=N),), (0,)),
    "matrix_product": ((RNG.normal(size=(N, M)), RNG.normal(size=(N, M))), (0, 1)),
    "softmax_ce": ((RNG.normal(size=(M, K)), X_DATA, np.eye(K)[RNG.integers(0, K, N)]), (0, 1)),
    "mlp": ((RNG.normal(size=(M, 5)), RNG.normal(size=5), RNG.normal(size=5), 0.2, X_DATA, RNG.normal(size=N)),
            (0, 1, 2, 3)),
    "logistic": ((RNG.normal(size=M), X_DATA, (RNG.random(N) > 0.5).astype(float)), (0, 1)),
    "lennard_jones": ((np.array([0.0, 1.1, 2.3]), np.array([0.1, 1.0, -0.4])), (0, 1)),
    "composites": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "logsumexp_axis": ((X_DATA,), (0,)),
    "constructors": ((RNG.normal(size=N), 0.3, -1.2), (0, 1, 2)),
    "cumulative": ((RNG.normal(size=N),), (0,)),
    "iterations": ((RNG.normal(size=N), RNG.normal(size=N), X_DATA), (0, 1, 2)),
    "logistic_with_helper": ((RNG.normal(size=M), X_DATA, (RNG.random(N) > 0.5).astype(float)), (0, 1)),
    "stencil": ((RNG.normal(size=(5, 6)),), (0,)),
    "joins": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "comparisons_as_numbers": ((RNG.normal(size=N), 0.4, 1.3), (0, 1, 2)),
    "stacked_columns": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "appended_columns": ((RNG.normal(size=(N, 5)),), (0,)),
    "unpacked_slices": ((RNG.normal(size=6), 3), (0,)),
    "unpacked_from_a_helper": ((RNG.normal(size=N), RNG.normal(size=N - 2)), (0, 1)),
    "float_constants": ((np.array([-0.5, 0.2, 0.5, 1.3, 0.9]),), (0,)),
    "scipy_spellings": ((RNG.uniform(0.5, 3.0, size=N), 1.7, 0.8), (0, 1, 2)),
    "column_accumulator": ((RNG.uniform(0.1, 1.0, size=(N, 5)),), (0,)),
    "listed_layers": ((RNG.normal(size=(M, 5)), RNG.normal(size=5), RNG.normal(size=(5, 2)), RNG.normal(size=2),
                       X_DATA), (0, 1, 2, 3)),
    "rnn": ((0.5*RNG.normal(size=(3, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=3), RNG.normal(size=(6, 2))),
            (0, 1, 2, 3)),
    "spellings_of_everyday_code": ((RNG.uniform(0.0, 1.0, size=N), X_DATA, 0.2), (0, 1, 2)),
    "rnn_loss": ((0.5*RNG.normal(size=(3, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=3), RNG.normal(size=(6, 2))),
                 (0, 1, 2, 3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_jax(name):
    args, wrt = CASES[name]
    value, gradient = sg.value_and_grad(getattr(NUMPY, name), wrt=wrt)(*args)
    expected_value, expected_gradient = jax.value_and_grad(getattr(JAX, name), argnums=wrt)(*args)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    assert value == pytest.approx(getattr(NUMPY, name)(*args), rel=1e-12, abs=1e-12)  # NumPy's own value
    for ours, theirs in zip(gradient, expected_gradient):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-10, atol=1e-12)


def test_gradient_matches_central_differences_for_the_matrix_arguments():
    args, _ = CASES["mlp"]
    gradient = sg.grad(NUMPY.mlp, wrt=0)(*args)
    np.testing.assert_allclose(gradient, richardson_gradient(NUMPY.mlp, list(args), 0), rtol=1e-7)


def test_reduction_of_an_elementwise_chain_is_one_loop_with_no_array():
    source = sg.value_and_grad(NUMPY.rosen).source()
    value_kernel = source[source.index("def value("):source.index("def grad(")]
    assert value_kernel.count("for ") == 1
    assert "np.zeros" not in value_kernel and "np.empty" not in value_kernel


def test_only_arrays_read_more_than_once_are_made():
    transform = sg.value_and_grad(NUMPY.mlp, wrt=0)
    transform(*CASES["mlp"][0])  # the first call's arrays decide the ranks the body leaves open (X @ W1)
    source = transform.source()
    value_kernel = source[source.index("def value("):source.index("def grad(")]
    # h, read by a product; X @ W1 + b1 feeds tanh element by element; out, read once, is fused into the mean
    assert value_kernel.count("np.zeros") == 1


def test_a_reduction_stretched_by_broadcasting_is_computed_once_per_row():
    transform = sg.value_and_grad(NUMPY.softmax_ce, wrt=0)
    transform(*CASES["softmax_ce"][0])
    source = transform.source()
    value_kernel = source[source.index("def value("):source.index("def grad(")]
    assert value_kernel.count("np.zeros") == 3  # z = X @ W, the row maxima, the shifted z


def test_the_rank_of_an_argument_used_only_elementwise_comes_from_the_first_call():
    def scaled(x, a):
        return np.sum(np.exp(x) * a)

    transform = sg.grad(scaled, wrt=0)
    matrix = RNG.normal(size=(3, 2))
    np.testing.assert_allclose(transform(matrix, 2.0), 2.0*np.exp(matrix), rtol=1e-14)
    with pytest.raises(TypeError, match="'x'"):
        transform(np.ones(3), 2.0)  # a later call with another rank is refused by name, never misread


def test_data_sizes_vary_without_a_new_derivation():
    transform = sg.value_and_grad(NUMPY.ridge, wrt=0)
    for n, m in ((3, 2), (50, 9)):
        w, X, y = RNG.normal(size=m), RNG.normal(size=(n, m)), RNG.normal(size=n)
        value, gradient = transform(w, X, y, 0.1)
        np.testing.assert_allclose(gradient, 2*X.T @ (X @ w - y) + 0.2*w, rtol=1e-11)


def rebinds_array_in_loop(x):
    h = np.zeros(len(x))
    for i in range(len(x)):
        h = np.zeros(len(x))
        h[i] = x[i]
    return h[-1]*3.0 + h[0]


def test_an_array_rebound_in_a_loop_keeps_pythons_meaning():
    x = np.array([2.0, 3.0, 5.0])
    value, gradient = sg.value_and_grad(rebinds_array_in_loop)(x)
    assert value == rebinds_array_in_loop(x) == 15.0
    np.testing.assert_array_equal(gradient, [0.0, 0.0, 3.0])



# Every one-argument function of the spelling table, applied to a whole array inside a sum: the row loop that the
# `vector_functions` pass rewrites.  The derivatives of log2 and log10 contain log(2) and log(10) of integer
# literals, which once reached symgrad.vector_math.log as ints and made the kernel fail to compile (a Numba
# TypingError reached the user).  `{u}` is an argument in (0.1, 0.9) (the test's data); each function gets one in
# its domain.
TABLE_FUNCTIONS = {
    "sin": "{u}", "cos": "{u}", "tan": "{u}", "arcsin": "{u}", "arccos": "{u}", "arctan": "{u}",
    "sinh": "{u}", "cosh": "{u}", "tanh": "{u}", "arcsinh": "{u}", "arccosh": "1.0 + {u}", "arctanh": "{u}",
    "exp": "{u}", "expm1": "{u}", "log": "{u}", "log1p": "{u}", "log2": "{u}", "log10": "{u}", "sqrt": "{u}",
    "cbrt": "{u}", "square": "{u}", "abs": "{u} - 0.5", "absolute": "{u} - 0.5", "fabs": "{u} - 0.5",
}


@pytest.mark.parametrize("function", sorted(TABLE_FUNCTIONS))
def test_every_table_function_over_a_whole_array_matches_jax(make_module, function):
    argument = TABLE_FUNCTIONS[function].format(u="x")
    source = f"def f(x):\n    return np.sum(np.{function}({argument}) * x)\n"
    module = make_module("import numpy as np\n" + source)
    jax_module = make_module("import jax.numpy as np\n" + source)
    x = np.random.default_rng(7).uniform(0.1, 0.9, 37)
    value, gradient = sg.value_and_grad(module.f)(x)
    expected_value, expected_gradient = jax.value_and_grad(jax_module.f)(x)
    assert value == pytest.approx(float(expected_value), rel=1e-13)
    np.testing.assert_allclose(gradient, np.asarray(expected_gradient), rtol=1e-12, atol=1e-14)


# Found by probing with programs written as users write them; each was a silent wrong value and gradient.
def discounted(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] / 2 ** i
    return s


def spaced(x):
    return np.sum(np.linspace(0.0, 1.0, len(x)) * x + x ** 2)


def last_five(x):
    return np.sum(x[-5:] ** 2)


def head_and_tail(x, k):
    return np.sum(x[:k] ** 2) + 10.0 * np.sum(x[k:] ** 2)


def interior(x):
    return np.sum(x[1:-1] ** 2) + np.sum(x)


def clipped_windows(x):
    s = 0.0
    for i in range(len(x)):
        s += np.sum(x[max(i - 2, 0):i] ** 2)
    return s


def test_an_int_to_a_negative_int_power_is_a_float_as_in_python():
    x = np.linspace(0.5, 1.5, 6)
    value, x_bar = sg.value_and_grad(discounted)(x)
    assert value == pytest.approx(float(np.sum(x * 0.5 ** np.arange(6))), rel=1e-14)
    np.testing.assert_allclose(x_bar, 0.5 ** np.arange(6), rtol=1e-14)


def seventh_moment(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * i ** 7
    return s


def doubling_weights(x):
    s = 0.0
    for i in range(len(x)):
        s += np.sin(x[i]) * 2 ** i
    return s


def stored_powers(x):
    h = np.zeros(len(x))
    for i in range(len(x)):
        h[i] = (i + 1) ** 5
    return np.sum(h * x)


def test_an_int_power_used_as_a_float_does_not_wrap_around_as_int64_does():
    """Python's ints do not overflow: i ** 7 at i = 999 is 9.9e20, which int64 wrapped to a negative number."""
    for function, n, weight in ((seventh_moment, 1000, lambda i: float(i) ** 7),
                                (doubling_weights, 90, lambda i: 2.0 ** i),
                                (stored_powers, 7000, lambda i: float(i + 1) ** 5)):
        x = np.linspace(0.1, 0.2, n)
        weights = np.array([weight(i) for i in range(n)])
        value, x_bar = sg.value_and_grad(function)(x)
        assert value == pytest.approx(function(x), rel=1e-13)
        slope = np.cos(x) if function is doubling_weights else 1.0
        np.testing.assert_allclose(x_bar, slope * weights, rtol=1e-14)


def seventh_moment_of_float_indices(x):
    s = 0.0
    n = len(x)
    for i in range(n):
        s += x[i] * (float(i) ** 7 + float(i * n * n * n * n * n * n))
    return s


def seventh_moment_bound_to_an_int(x):
    s = 0.0
    for i in range(len(x)):
        j = i ** 7
        s += x[i] * j
    return s


def test_float_of_an_int_is_a_float_whose_powers_do_not_wrap_around():
    """`float(i) ** 7` was the int power `i ** 7` (float() was the identity), so bound to a name it wrapped."""
    x = np.linspace(0.1, 0.2, 1000)
    weights = np.array([float(i) ** 7 + float(i * 1000 ** 6) for i in range(1000)])
    value, x_bar = sg.value_and_grad(seventh_moment_of_float_indices)(x)
    assert value == pytest.approx(seventh_moment_of_float_indices(x), rel=1e-13)
    np.testing.assert_allclose(x_bar, weights, rtol=1e-14)


def test_an_int_power_bound_to_an_int_variable_raises_where_it_would_wrap_around():
    """`j = i ** 7` is an int, which the kernels keep in int64: past 2**63 it raises, never a wrapped value."""
    x = np.linspace(0.1, 0.2, 100)
    value, x_bar = sg.value_and_grad(seventh_moment_bound_to_an_int)(x)
    assert value == pytest.approx(seventh_moment_bound_to_an_int(x), rel=1e-14)
    np.testing.assert_allclose(x_bar, np.arange(100.0) ** 7, rtol=1e-15)
    with pytest.raises(OverflowError, match=r"float\(i\) \*\* 7"):
        sg.value_and_grad(seventh_moment_bound_to_an_int)(np.ones(1000))


def test_linspace_of_one_point_is_its_start():
    for n in (1, 4):
        x = np.linspace(0.3, 0.9, n)
        value, x_bar = sg.value_and_grad(spaced)(x)
        assert value == pytest.approx(spaced(x), rel=1e-14)
        np.testing.assert_allclose(x_bar, np.linspace(0.0, 1.0, n) + 2 * x, rtol=1e-14)


def test_slices_past_the_ends_are_clipped_as_in_numpy_and_negative_computed_bounds_raise():
    """x[-5:] of 3 elements is the whole array and x[:k] with k = 10 all of it, as NumPy clips them (they raised);
    x[:k] with k = -2, which NumPy counts from the end, raises; x[1:-1] of one or two elements is empty."""
    for n in (3, 5, 7):
        x = np.arange(1.0, n + 1)
        value, x_bar = sg.value_and_grad(last_five)(x)
        assert value == last_five(x) and np.array_equal(x_bar, np.where(np.arange(n) >= n - 5, 2 * x, 0.0))
    head = sg.value_and_grad(head_and_tail)
    with pytest.raises(ValueError, match=r"x\[:k\] on line \d+ needs 0 <= k: NumPy would count k from the end "
                                         r"where it is negative: write len\(x\) \+ k"):
        head(np.arange(1.0, 6.0), -2)
    for k in (2, 5, 10):
        x = np.arange(1.0, 6.0)
        value, x_bar = head(x, k)
        assert value == head_and_tail(x, k)
        np.testing.assert_array_equal(x_bar, np.where(np.arange(5) < k, 2.0, 20.0) * x)
    for n in (1, 2, 5):  # x[1:-1] is empty for one or two elements, as in NumPy
        x = np.linspace(0.5, 1.0, n)
        value, x_bar = sg.value_and_grad(interior)(x)
        assert value == pytest.approx(interior(x), rel=1e-14)
        expected = np.ones(n)
        expected[1:-1] += 2 * x[1:-1]
        np.testing.assert_allclose(x_bar, expected, rtol=1e-14)


def trailing_windows(x):
    s = 0.0
    for i in range(len(x)):
        s += np.sum(x[i - 2:i + 1] ** 2)
    return s


def guarded_windows(x):
    s = 0.0
    for i in range(len(x)):
        if i >= 2:
            s += np.sum(x[i - 2:i + 1] ** 2)
    return s


def growing_heads(x):
    s = 0.0
    for i in range(len(x)):
        s += np.sum(x[:i - 1])
    return s


def reversed_tail(x, k):
    return np.sum(x[len(x) - 1:k:-1] ** 2)


def test_a_slice_bound_computed_in_a_loop_is_checked_where_the_slice_is_evaluated():
    """x[i - 2:i + 1] at i = 0 is x[-2:1], which NumPy reads from the end (empty here); its indices wrapped
    around (value 273 against NumPy's 170), and x[:i - 1] at i = 0 (all but the last element in NumPy) was empty."""
    x = np.arange(1.0, 7.0)
    for function in (trailing_windows, growing_heads):
        with pytest.raises(ValueError, match=r"slice bound computed on line \d+ is -\d+, which NumPy counts from the end"):
            sg.value_and_grad(function)(x)
    value, x_bar = sg.value_and_grad(guarded_windows)(x)  # (evaluated only where its guard holds: no error)
    counts = np.array([sum(i - 2 <= j <= i for i in range(2, 6)) for j in range(6)])
    assert value == guarded_windows(x)
    np.testing.assert_array_equal(x_bar, 2 * counts * x)


def rolling_means(x):
    s = 0.0
    for i in range(len(x)):
        s += np.mean(x[i:i + 3]) ** 2
    return s


def rolling_means_that_fit(x):
    s = 0.0
    for i in range(len(x)):
        if i + 3 <= len(x):
            s += np.mean(x[i:i + 3]) ** 2
    return s


def head_if_long_enough(x):
    if len(x) >= 10:
        return np.sum(x[:10] ** 2)
    return np.sum(x[-5:]) if len(x) > 5 else np.sum(x)


def autocorrelation(x, k):
    return np.sum(x[:-k] * x[k:]) + np.sum(x[-(k + 1):] ** 2)


def autocorrelations(x, m):
    s = 0.0
    for lag in range(1, m):
        s += np.sum(x[:-lag] * x[lag:]) / lag + np.sum(x[-lag:]) ** 2
    return s


def lags_from_zero(x, m):
    s = 0.0
    for lag in range(m):
        s += np.sum(x[:-lag] * x[0])
    return s


def test_a_computed_bound_written_negative_counts_from_the_end_as_in_numpy():
    """x[:-k] with an int k, or a loop's lag, counts from the end in NumPy (autocorrelations); it was refused, and
    the advice said to write len(x) - k (found by probing).  It is read as NumPy reads it for k >= 1, clipped at the
    start where k > len(x); k = 0 (NumPy's x[:-0] is x[:0]) raises, at entry or where the slice is evaluated."""
    x = np.linspace(-1.0, 2.0, 6) ** 3
    for k in (1, 2, 5, 6, 9):
        value, x_bar = sg.value_and_grad(autocorrelation, wrt=(0,))(x, k)
        assert value == pytest.approx(autocorrelation(x, k), rel=1e-14)
        np.testing.assert_allclose(x_bar[0], richardson_gradient(autocorrelation, [x, k], 0), rtol=1e-8, atol=1e-9)
    with pytest.raises(ValueError, match=r"x\[:-k\] on line \d+ needs 1 <= k: keep k at least 1, where -k counts "
                                         r"from the end \(NumPy reads x\[:-0\] as x\[:0\]\)"):
        sg.value_and_grad(autocorrelation)(x, 0)
    for m in (1, 4, 7, 9):  # (a lag past the length: NumPy's x[:-8] of 6 elements is empty)
        value, x_bar = sg.value_and_grad(autocorrelations, wrt=(0,))(x, m)
        assert value == pytest.approx(autocorrelations(x, m), rel=1e-14, abs=1e-14)
        np.testing.assert_allclose(x_bar[0], richardson_gradient(autocorrelations, [x, m], 0), rtol=1e-8, atol=1e-9)
    with pytest.raises(ValueError, match=r"computed on line \d+ counts 0 from the end, which NumPy reads from the "
                                         r"start instead \(x\[:-0\] is x\[:0\]\): keep the number after the minus "
                                         r"at least 1"):
        sg.value_and_grad(lags_from_zero)(x, 3)


def windowed_dot(x, k):
    m = len(k)
    out = np.zeros(len(x) - m + 1)
    for i in range(len(out)):
        out[i] = np.dot(x[i:i + m], k[::-1])
    return np.sum(out ** 2)


def test_a_window_past_the_end_raises_where_it_is_evaluated_and_one_that_fits_keeps_its_size():
    """x[i:i + 3] at the last i reads past the end, where NumPy clips the window: a ValueError that says so and how
    to clip it, since a clipped size would no longer be the size the window meets (np.dot(x[i:i + m], k), which
    was refused while the windows were clipped in loops: found by probing).  Under an `if` that keeps the slice
    inside the array, the values are NumPy's for short arrays too."""
    x = np.arange(1.0, 6.0)
    with pytest.raises(ValueError, match=r"slice bound computed on line \d+ is 6, past the end of the array \(5\)"):
        sg.value_and_grad(rolling_means)(x)
    value, x_bar = sg.value_and_grad(rolling_means_that_fit)(x)
    means = np.array([x[i:i + 3].mean() for i in range(3)])
    assert value == pytest.approx(rolling_means_that_fit(x), rel=1e-14)
    np.testing.assert_allclose(x_bar, [sum(2 * means[i] / 3 for i in range(3) if i <= j < i + 3) for j in range(5)],
                               rtol=1e-14)
    for n, expected in ((4, np.ones(4)), (7, np.r_[0.0, 0.0, np.ones(5)]), (12, np.r_[2 * np.arange(1.0, 11.0), 0, 0])):
        x = np.arange(1.0, n + 1)
        value, x_bar = sg.value_and_grad(head_if_long_enough)(x)
        assert value == head_if_long_enough(x)
        np.testing.assert_array_equal(x_bar, expected)
    x, k = np.linspace(-1.0, 2.0, 8) ** 2, np.array([0.5, 1.0, -0.25])
    value, (x_bar, k_bar) = sg.value_and_grad(windowed_dot, wrt=(0, 1))(x, k)
    assert value == pytest.approx(windowed_dot(x, k), rel=1e-14)
    np.testing.assert_allclose(x_bar, richardson_gradient(windowed_dot, [x, k], 0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(k_bar, richardson_gradient(windowed_dot, [x, k], 1), rtol=1e-9, atol=1e-12)


def test_a_computed_stop_of_a_reversed_slice_is_not_negative():
    """x[n - 1:k:-1] with k = -1 is empty in NumPy (-1 is the last element), where the arithmetic read it all."""
    x = np.arange(1.0, 6.0)
    with pytest.raises(ValueError, match=r"0 <= k"):
        sg.value_and_grad(reversed_tail)(x, -1)
    value, x_bar = sg.value_and_grad(reversed_tail)(x, 1)
    assert value == reversed_tail(x, 1)
    np.testing.assert_array_equal(x_bar, np.where(np.arange(5) > 1, 2 * x, 0.0))


def test_a_window_clipped_with_builtin_max_of_ints():
    x = np.arange(1.0, 6.0)
    value, x_bar = sg.value_and_grad(clipped_windows)(x)
    counts = np.array([sum(max(i - 2, 0) <= j < i for i in range(5)) for j in range(5)])
    assert value == clipped_windows(x)
    np.testing.assert_array_equal(x_bar, 2 * counts * x)


def lengths_of_empty_slices(x, i, j):
    y = np.concatenate([x[i:j], x])
    z = np.pad(x[i:j], 1)
    return (len(x[1:-1]) * x[0] + len(x[i:j:-1]) * x[-1] + x[i:j].size * x[0] + x[j:i:2].shape[0] * x[0]
            + np.sum(y * np.arange(1, len(y) + 1)) + np.sum(z) + len(z) * x[0]
            + np.sum(np.concatenate([x[:1], x[1:-1] * 2.0, x[-1:]]) ** 2 * np.arange(1.0, len(x) + 2.0)[:2 + len(x[1:-1])])
            + np.sum((x[2:] - 2.0 * x[1:-1] + x[:-2]) ** 2))


@pytest.mark.parametrize("n, i, j", [(1, 0, 0), (5, 4, 2), (5, 0, 3), (5, 1, 4), (2, 1, 0)])
def test_an_empty_slice_has_length_zero_as_in_numpy(n, i, j):
    """`len(x[1:-1])` of one element was -1, and `x[i:j]` with i > j had a negative length, which shifted what was
    joined after it (found by probing): a slice is never shorter than empty.  So is `x[1:-1]` of one element, whose
    length comes from the size alone, inside a join (it raised that the part had a negative size)."""
    x = np.linspace(0.3, 1.7, n)
    value, x_bar = sg.value_and_grad(lengths_of_empty_slices, wrt=(0,))(x, i, j)
    assert value == pytest.approx(lengths_of_empty_slices(x, i, j), rel=1e-14)
    np.testing.assert_allclose(x_bar[0], richardson_gradient(lengths_of_empty_slices, [x, i, j], 0), rtol=1e-9,
                               atol=1e-12)


def summed_rows(x):
    return np.sum(np.sum(x**2, axis=1))


@pytest.mark.parametrize("first, axes", [(3.0, "a number \\(an array of 0 axes\\), where NumPy raises AxisError"),
                                         (np.ones(3), "an array of 1 axes")])
def test_an_axis_the_first_calls_argument_lacks_is_an_error_not_an_answer(first, axes):
    """Found by probing: np.sum(x**2, axis=1) called with a number gave 9.0 and 6.0, where NumPy raises AxisError
    (a first call with a number makes x a number); the advice names the arguments, not only the source."""
    with pytest.raises(sg.UnsupportedSyntaxError, match=f"axis=1 for {axes}.*pass it with as many axes as the "
                                                        f"function uses"):
        sg.value_and_grad(summed_rows)(first)
    x = np.random.default_rng(2).uniform(-1.0, 1.0, (3, 4))
    value, gradient = sg.value_and_grad(summed_rows)(x)
    assert value == pytest.approx(np.sum(x**2), rel=1e-14)
    np.testing.assert_allclose(gradient, 2 * x, rtol=1e-15)
