"""np.sort of a vector, np.median, np.percentile and np.quantile (linear), lowered to ranks: values against NumPy
(NaN sorted last, ties in order, a NaN making the median nan), gradients and Hessians against JAX of the same
source."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

from conftest import numpy_and_jax_modules, write_module

SOURCE = '''
def weighted_sorted(x):
    s = np.sort(x)
    return np.sum(s * np.arange(len(x))) + s[0] ** 2


def robust(x, w):
    r = x * w
    return np.median(r) + np.percentile(r, 90) + np.quantile(x, 0.25) + np.median(x[:4]) + np.percentile(w, 100)


def trimmed(x):
    return np.mean(np.sort((x - 0.2) ** 2)[:3]) + np.quantile(np.tanh(x), 0.5)
'''

numpy_module, jax_module = numpy_and_jax_modules(SOURCE, "order_statistics")


def jax():
    jax = pytest.importorskip("jax", reason="JAX is the reference for the gradients")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("name", ["weighted_sorted", "robust", "trimmed"])
def test_order_statistics_match_numpy_and_jax(name, n):
    if name != "weighted_sorted" and n < 4:
        n = 4  # (x[:4] and [:3] read that many)
    rng = np.random.default_rng(n)
    args = (rng.standard_normal(n), rng.standard_normal(n))[:2 if name == "robust" else 1]
    function, twin = getattr(numpy_module, name), getattr(jax_module, name)
    wrt = tuple(range(len(args)))
    value, gradient = sg.value_and_grad(function, wrt=wrt)(*args)
    expected_value, expected = jax().value_and_grad(twin, argnums=wrt)(*args)
    assert value == pytest.approx(function(*args), rel=1e-13, abs=1e-14)
    assert value == pytest.approx(float(expected_value), rel=1e-13, abs=1e-14)
    for ours, theirs in zip(gradient, expected):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-14)


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
    ("np.sum(np.sort(A))", "of a vector"),
    ("np.percentile(x, q)", "q a number written in the source"),
    ("np.percentile(x, 120)", "between 0 and 100"),
])
def test_what_is_refused_says_what_to_write(body, message):
    module = write_module(f"import numpy as np\n\ndef f(x, A, q):\n    return {body} + 0.0 * np.sum(A) * q\n")
    with pytest.raises(errors.UnsupportedCallError, match=message):
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
