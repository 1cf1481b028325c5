"""np.sort and np.argsort along an axis, np.median, np.percentile and np.quantile (linear), lowered to ranks: values
against NumPy (NaN sorted last, ties in order, a NaN making the median nan), gradients and Hessians against JAX of
the same source."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

from conftest import jax_float64 as jax, matches_jax, numpy_and_jax_modules, write_module

SOURCE = '''
def weighted_sorted(x):
    s = np.sort(x)
    return np.sum(s * np.arange(len(x))) + s[0] ** 2


def robust(x, w):
    r = x * w
    return np.median(r) + np.percentile(r, 90) + np.quantile(x, 0.25) + np.median(x[:4]) + np.percentile(w, 100)


def trimmed(x):
    return np.mean(np.sort((x - 0.2) ** 2)[:3]) + np.quantile(np.tanh(x), 0.5)


def sorted_by(x, w):
    order = np.argsort(x)
    gaps = 0.0
    for k in range(len(x) - 1):
        gaps += (x[order[k + 1]] - x[order[k]]) ** 2 * w[order[k]]
    return gaps + np.sum(w[order] * np.arange(len(x))) + np.sum(x[np.argsort(-x)[:2]] ** 2)


def ranks(x, w):
    return np.sum(np.argsort(np.argsort(x)) * w * x)


def rows_sorted(X):
    S = np.sort(X, axis=1)
    return np.sum(S[:, -1] * S[:, 0]) + np.sum(np.sort(X, axis=0)[0] ** 3) + np.sum(np.sort(X) * X)


def robust_columns(X, w):
    return (np.sum(np.median(X, axis=0) ** 2) + np.sum(np.percentile(X, 75, axis=1) * w)
            + np.sum(np.quantile(X, 0.3, axis=-1)) + np.median(X.ravel()))


def columns_by_order(X, w):
    o = np.argsort(X, axis=0)
    return np.sum(np.take_along_axis(X, o, axis=0)[1] ** 2) + np.sum(np.take_along_axis(X, o, axis=0) @ w)
'''

numpy_module, jax_module = numpy_and_jax_modules(SOURCE, "order_statistics")


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("name", ["weighted_sorted", "robust", "trimmed"])
def test_order_statistics_match_numpy_and_jax(name, n):
    if name != "weighted_sorted" and n < 4:
        n = 4  # (x[:4] and [:3] read that many)
    rng = np.random.default_rng(n)
    args = (rng.standard_normal(n), rng.standard_normal(n))[:2 if name == "robust" else 1]
    function, wrt = getattr(numpy_module, name), tuple(range(len(args)))
    matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_module, name), args, wrt, atol=1e-14,
                rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 4), (8, 2)])
@pytest.mark.parametrize("name", ["sorted_by", "ranks", "rows_sorted", "columns_by_order", "robust_columns"])
def test_argsort_and_sorts_along_an_axis_match_numpy_and_jax(name, shape):
    rng = np.random.default_rng(sum(shape))
    if name in ("sorted_by", "ranks"):
        args = (rng.standard_normal(shape[0] + shape[1]), rng.standard_normal(shape[0] + shape[1]))
    else:
        args = (rng.standard_normal(shape),) + (
            (rng.standard_normal(shape[1]),) if name == "columns_by_order" else
            (rng.standard_normal(shape[0]),) if name == "robust_columns" else ())
    if name == "columns_by_order" and shape[0] < 2:
        args = (np.vstack([args[0], args[0] + 1.0]), args[1])  # (the row [1] is read)
    function, wrt = getattr(numpy_module, name), tuple(range(len(args)))
    matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_module, name), args, wrt, atol=1e-14,
                rtol=1e-12)


def test_argsort_orders_ties_and_nans_as_numpys_stable_sort():
    module = write_module("import numpy as np\n\ndef f(x, w):\n    return np.sum(np.argsort(x) * w)\n\n"
                          "def g(X, w):\n    return np.sum(np.argsort(X, axis=0) @ w) + np.sum(np.argsort(X) @ w)\n")
    x = np.array([0.5, np.nan, -1.0, 0.5, 2.0, np.nan, -1.0])
    for w in np.eye(7):  # (each position of the order alone)
        assert sg.value_and_grad(module.f, wrt="w")(x, w)[0] == np.argsort(x, kind="stable") @ w
    X = np.array([[1.0, 0.0, 1.0], [np.nan, 0.0, -2.0], [1.0, 3.0, 1.0]])
    for w in np.eye(3):
        assert sg.value_and_grad(module.g, wrt="w")(X, w)[0] == (np.sum(np.argsort(X, axis=0, kind="stable") @ w)
                                                               + np.sum(np.argsort(X, kind="stable") @ w))


def test_the_advice_for_a_flattened_sort_works():
    module = write_module("import numpy as np\n\ndef f(A):\n    return np.sum(np.sort(A.ravel()) * np.arange(A.size))\n")
    A = np.array([[0.3, -1.0], [2.0, 0.7]])
    value, gradient = sg.value_and_grad(module.f)(A)
    assert value == pytest.approx(module.f(A), rel=1e-14)
    np.testing.assert_array_equal(gradient, [[1.0, 0.0], [3.0, 2.0]])  # (each element's place in the order)


def test_ties_and_nans_sort_as_numpy():
    module = write_module("import numpy as np\n\ndef f(x):\n    return np.sum(np.sort(x) * np.arange(len(x)))\n\n"
                          "def g(x):\n    return np.median(x) + np.percentile(x, 30)\n")
    x = np.array([0.5, np.nan, -1.0, 0.5, 2.0, np.nan, -1.0])
    assert np.isnan(sg.value_and_grad(module.f)(x)[0]) and np.isnan(module.f(x))
    assert np.isnan(sg.value_and_grad(module.g)(x)[0]) and np.isnan(module.g(x))
    tied = np.array([0.5, -1.0, 0.5, 2.0, -1.0])
    value, gradient = sg.value_and_grad(module.f)(tied)
    assert value == module.f(tied)
    np.testing.assert_array_equal(gradient, [2.0, 0.0, 3.0, 4.0, 1.0])  # (equal elements keep their order)


def test_the_hessian_of_a_sorted_sum_matches_jax():
    x = np.random.default_rng(2).standard_normal(6)
    np.testing.assert_allclose(sg.hessian(numpy_module.trimmed)(x), jax().hessian(jax_module.trimmed)(x),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("body, message", [
    ("np.median(A)", r"A\.ravel\(\), or give axis="),
    ("np.sum(np.sort(A, axis=None))", r"A\.ravel\(\)"),
    ("np.sum(np.argsort(x[x > 0]))", "mask"),
    ("np.percentile(x, q)", "q a number written in the source"),
    ("np.percentile(x, 120)", "between 0 and 100"),
])
def test_what_is_refused_says_what_to_write(body, message):
    module = write_module(f"import numpy as np\n\ndef f(x, A, q):\n    return {body} + 0.0 * np.sum(A) * q\n")
    with pytest.raises(errors.UnsupportedSyntaxError, match=message):
        sg.grad(module.f)(np.ones(3), np.ones((2, 2)), 30.0)


def test_axis_of_a_vector_empty_vectors_and_gathers():
    """np.median(x, axis=0) was refused with an empty list of keywords, np.median of an empty slice raised where
    NumPy gives nan, and the median of a mask gather was refused with a message about a loop (found by a probe)."""
    module = write_module("import numpy as np\n\ndef f(x):\n    return np.median(x, axis=0) + np.percentile(x, 50, "
                          "axis=-1) + np.median(x[x > -0.5])\n\ndef g(x):\n    return np.median(x[3:])\n")
    x = np.array([0.3, -1.0, 2.0, 0.7, -0.2])
    value, gradient = sg.value_and_grad(module.f)(x)
    assert value == pytest.approx(module.f(x), rel=1e-13)
    np.testing.assert_allclose(gradient, [2.5, 0.0, 0.0, 0.5, 0.0])  # (x[0] the median twice; of the gather,
    # [0.3, 2.0, 0.7, -0.2], the mean of x[0] and x[3])
    assert np.isnan(sg.value_and_grad(module.g)(x[:3])[0])
