"""Mask gathers as values (`r = y[valid] - X[valid] @ w`, `pos = x[x > 0]`, then reductions, `len`, `@`): values
against NumPy, gradients and Hessians against JAX of the same source (JAX takes concrete masks outside `jit`), and
every positional use of a gather refused, never read by position."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

from conftest import jax_float64 as jax, matches_jax, numpy_and_jax_modules, write_module

SOURCE = '''
def filtered_regression(w, X, y):
    valid = ~np.isnan(y)
    r = y[valid] - X[valid] @ w
    return np.mean(r ** 2) + np.max(r) - np.min(np.abs(r)) + np.std(r)


def paired(x, y):
    m = y > 0.2
    u = x[m]
    v = y[m]
    return u @ v + np.sum(np.log1p(u ** 2)) / len(u) + u.sum() * v.mean() + np.var(u, ddof=1)


def rows_kept(W, X, y):
    keep = y > 0
    Z = np.tanh(X[keep] @ W)
    return np.sum(Z.T @ Z) + np.sum(np.mean(Z, axis=0) ** 2) + np.sum(np.max(Z, axis=1)) + Z.shape[0]


def observed_entries(X, Y):
    M = ~np.isnan(Y)
    r = (X - Y)[M]
    return np.mean(r ** 2) + np.max(r) + len(r) + np.sum(X[X > 0.3] ** 3) + np.median(r)


def rows_of_a_stack(T, w):
    R = T[T[:, :, 0] > 0]
    return np.sum(np.tanh(R @ w)) + R.shape[0] + np.sum(np.mean(R, axis=0) ** 2)


def split_by_sign(x):
    pos = x[x > 0]
    neg = x[x <= 0]
    return np.sum(pos ** 2) / len(pos) - np.sum(neg ** 3) + np.prod(1 + pos) + neg.size
'''

numpy_module, jax_module = numpy_and_jax_modules(SOURCE, "mask_gathers")


def cases():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 3)), rng.standard_normal(9)
    with_gaps = y.copy()
    with_gaps[[2, 5]] = np.nan
    return [("filtered_regression", (rng.standard_normal(3), X, with_gaps), (0, 1)),
            ("paired", (rng.standard_normal(8), rng.standard_normal(8)), (0, 1)),
            ("rows_kept", (rng.standard_normal((3, 4)), X, y), (0, 1)),
            ("split_by_sign", (rng.standard_normal(10),), (0,)),
            ("observed_entries", (rng.standard_normal((4, 5)), np.where(rng.random((4, 5)) < 0.3, np.nan,
                                                                        rng.standard_normal((4, 5)))), (0,)),
            ("rows_of_a_stack", (rng.standard_normal((3, 4, 2)), rng.standard_normal(2)), (0, 1))]


@pytest.mark.parametrize("name, args, wrt", cases(), ids=[c[0] for c in cases()])
def test_gathers_match_numpy_and_jax(name, args, wrt):
    function = getattr(numpy_module, name)  # (the gradient is 0 where y is NaN: no NaN)
    matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_module, name), args, wrt)


def test_the_hessian_through_gathers_matches_jax():
    x = np.random.default_rng(1).standard_normal(10)
    np.testing.assert_allclose(sg.hessian(numpy_module.split_by_sign)(x),
                               jax().hessian(jax_module.split_by_sign)(x), rtol=1e-10, atol=1e-12)
    X = x.reshape(2, 5)
    Y = np.where(np.arange(10).reshape(2, 5) % 3 == 0, np.nan, X[::-1])
    np.testing.assert_allclose(sg.hessian(numpy_module.observed_entries)(X, Y),
                               jax().hessian(jax_module.observed_entries)(X, Y), rtol=1e-10, atol=1e-12)


def test_an_empty_gather_sums_to_zero_and_averages_to_nan():
    """NumPy's sum of no elements is 0 and its mean nan; its max raises, where symgrad's is -inf (docs/language.md)."""
    module = write_module("import numpy as np\n\ndef f(x):\n    u = x[x > 10]\n    return np.sum(u) + len(u)\n\n"
                          "def g(x):\n    u = x[x > 10]\n    return np.mean(u)\n\n"
                          "def h(x):\n    return np.max(x[x > 10])\n")
    x = np.array([0.5, -1.0])
    assert sg.value_and_grad(module.f)(x)[0] == module.f(x) == 0.0
    assert np.isnan(sg.value_and_grad(module.g)(x)[0])
    with pytest.raises(ValueError):
        module.h(x)
    assert sg.value_and_grad(module.h)(x)[0] == -np.inf


POSITIONAL = {
    "u[0]": "u = x[y > 0]\n    return u[0]",
    "u[1:] - u[:-1]": "u = x[y > 0]\n    return np.sum(u[1:] - u[:-1])",
    "np.roll": "u = x[y > 0]\n    return np.sum(np.roll(u, 1) * u)",
    "a full-size array": "return np.sum(x[y > 0] + y)",
    "two masks": "u = x[y > 0]\n    v = x[y < 0]\n    return np.sum(u * v)",
    "an element of a gather of a matrix": "A = np.outer(x, y)\n    u = A[A > 0]\n    return u[0]",
    "a loop over it": "s = 0.0\n    for v in x[y > 0]:\n        s += v\n    return s",
    "its last element": "u = x[y > 0] * 2.0\n    return u[-1]",
    "np.arange of its length": "u = x[y > 0]\n    return np.dot(u, np.arange(len(u)))",
}


@pytest.mark.parametrize("body", POSITIONAL.values(), ids=POSITIONAL.keys())
def test_positional_uses_of_a_gather_are_refused(body):
    """Each would read the gather by position, or align it with a size NumPy requires to be its count: refused
    with the advice below, never computed on the whole axis."""
    module = write_module(f"import numpy as np\n\ndef f(x, y):\n    {body}\n")
    x, y = np.arange(1.0, 7.0), np.array([1.0, -1.0, 2.0, -2.0, 3.0, 1.0])
    with pytest.raises(errors.UnsupportedExpressionError, match="mask"):
        sg.value_and_grad(module.f)(x, y)


def test_the_advice_of_the_refusal_is_right():
    """'keep the shape and zero the rest, np.where(m, x, 0.0) (or -np.inf before np.max), then reduce'."""
    module = write_module("import numpy as np\n\ndef f(x, y):\n"
                          "    return np.sum(np.where(y > 0, x, 0.0) ** 2) + np.max(np.where(y > 0, x, -np.inf))\n")
    x, y = np.arange(1.0, 7.0), np.array([1.0, -1.0, 2.0, -2.0, 3.0, 1.0])
    value, gradient = sg.value_and_grad(module.f)(x, y)
    assert value == pytest.approx(np.sum(x[y > 0] ** 2) + np.max(x[y > 0]))
    np.testing.assert_allclose(gradient, np.where(y > 0, 2 * x, 0.0) + (np.arange(6) == 5))


STORED_AFTER = '''
def store_through_the_mask(x):
    u = x * 1.0
    m = u > 0
    a = u[m]
    u[m] = 0.0
    return np.sum(a)


def store_through_a_second_name(x):
    u = x * 1.0
    a = u[u > 0]
    v = u
    v[:] = 0.0
    return np.sum(a) + np.mean(a)


def rows_then_store(X, w):
    Y = X * 1.0
    G = Y[Y[:, 0] > 0]
    Y[:, :] = 0.0
    return np.sum((G @ w) ** 2)


def doubled_in_place(x):
    pos = x[x > 0]
    pos *= 2.0
    return np.sum(pos * pos) + np.sum(x)


def inside_a_sum(X, w, y):
    m = y > 0
    return np.sum((X[m] @ w - y[m]) ** 2)


def median_of_a_gather(x):
    return np.median(x[x > -0.5]) + np.percentile(x[x > -0.5], 25)
'''
stored_module = write_module("import numpy as np\n" + STORED_AFTER)


@pytest.mark.parametrize("name", ["store_through_the_mask", "store_through_a_second_name", "rows_then_store",
                                  "doubled_in_place", "inside_a_sum", "median_of_a_gather"])
def test_a_gather_is_a_copy_made_where_it_is_written(name):
    """NumPy's x[m] is a copy: a store into the array (or through another name of it) after the gather does not
    reach it.  symgrad read the gather, and its mask, where it was used: 0.0 where NumPy gives 4.5 (found by a
    probe).  Also the forms that probe found refused: a row gather inside np.sum, `pos *= 2`, a median."""
    from conftest import richardson_gradient

    rng = np.random.default_rng(11)
    args = {"rows_then_store": (rng.standard_normal((6, 2)), rng.standard_normal(2)),
            "inside_a_sum": (rng.standard_normal((7, 2)), rng.standard_normal(2), rng.standard_normal(7))}.get(
        name, (np.array([0.3, -1.0, 2.0, 0.7, -0.2, 1.5]),))
    function = getattr(stored_module, name)
    value, gradient = sg.value_and_grad(function)(*args)
    assert value == pytest.approx(function(*[np.copy(a) for a in args]), rel=1e-13)
    expected = richardson_gradient(lambda *a: function(*[np.copy(v) for v in a]), args, 0)
    np.testing.assert_allclose(gradient, expected, rtol=1e-8, atol=1e-9)
