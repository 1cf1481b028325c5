"""Regressions from a probe of realistic functions (stop 31): a NaN gradient of `x ** p` in `p` where `x == 0`, and
five refusals of programs NumPy runs (a row of a matrix rebound in a loop, `enumerate(zip(bi, bj))` over arrays of
indices, `agg[dst[k]] += Z[src[k]]`, an array of indices read only as `starts - 1`, `np.nan_to_num`), each against
JAX of the same source, central differences or a formula by hand."""

import numpy as np
import pytest
from conftest import jax_float64 as jax, matches_jax, numpy_and_jax_modules, richardson_gradient

import symgrad as sg

SOURCE = '''
def tweedie(mu, y, p):
    return np.sum(np.maximum(y, 0.0) ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p)
                  + mu ** (2 - p) / (2 - p))


def minkowski(a, b, p):
    return np.sum(np.abs(a - b) ** p) ** (1 / p)


def minimum_image(x, box):
    e = 0.0
    for i in range(x.shape[0]):
        d = x[i] - x[0]
        d = d - box * np.round(d / box)
        d = d * 1.5
        e += np.sum(d * d)
    return e


def bonds_enumerated(x, bi, bj, k):
    e = 0.0
    for b, (i, j) in enumerate(zip(bi, bj)):
        e += k[b] * (np.linalg.norm(x[i] - x[j]) - 1.0) ** 2
    return e


def scattered_rows(H, W, src, dst):
    Z = H @ W
    agg = np.zeros((H.shape[0], W.shape[1]))
    for k in range(len(src)):
        agg[dst[k]] += Z[src[k]]
        agg[dst[k]] *= 0.9
    return np.sum(np.tanh(agg) ** 2)


def segments(vals, starts, ends):
    return np.sum((vals[ends] - vals[starts - 1]) ** 2)


def cleaned(x, w):
    return np.sum(np.nan_to_num(np.log(x)) * w) + np.sum(np.nan_to_num(w / x, nan=1.0, posinf=2.0, neginf=-2.0))
'''

numpy_module, jax_module = numpy_and_jax_modules(SOURCE, "probe_findings")


def cases():
    rng = np.random.default_rng(31)
    y = np.array([0.0, 1.5, 0.0, 2.0, 0.4])  # (zeros: the base of y ** (2 - p) is 0 there)
    a = rng.standard_normal(5)
    b = a.copy()
    b[[1, 3]] += 0.5  # (three coordinates agree: |a - b| ** p at a zero base)
    return [("tweedie", (np.exp(rng.standard_normal(5)), y, 1.4), (0, 2)),
            ("minkowski", (a, b, 1.7), (0, 2)),
            ("minimum_image", (rng.standard_normal((4, 3)) * 3.0, 4.0), (0,)),
            ("bonds_enumerated", (rng.standard_normal((5, 3)), np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4]),
                                  rng.random(4) + 0.5), (0, 3)),
            ("scattered_rows", (rng.standard_normal((5, 3)), rng.standard_normal((3, 2)),
                                np.array([0, 1, 2, 3, 0, 4]), np.array([1, 2, 3, 4, 4, 4])), (0, 1)),
            ("segments", (rng.standard_normal(7), np.array([0, 2, 5]), np.array([1, 4, 6])), (0,)),
            ("cleaned", (np.array([0.5, -1.0, 2.0, -0.3, np.inf]), rng.standard_normal(5)), (0, 1))]


@pytest.mark.parametrize("name, args, wrt", cases(), ids=[c[0] for c in cases()])
def test_what_the_probe_found_matches_jax(name, args, wrt):
    """Against JAX, or central differences where JAX cannot run the source (a store into an array)."""
    function = getattr(numpy_module, name)
    transform = sg.value_and_grad(function, wrt=wrt)
    if name != "scattered_rows":
        matches_jax(transform, function, getattr(jax_module, name), args, wrt)
        return
    value, gradient = transform(*args)
    assert value == pytest.approx(function(*args), rel=1e-12)
    for ours, k in zip(gradient, wrt):  # (the arrays of indices stay int64)
        expected = richardson_gradient(lambda *floats: function(*floats, *args[2:]), list(args[:2]), k)
        np.testing.assert_allclose(ours, expected, rtol=1e-7, atol=1e-9)


def test_the_exponent_derivative_at_a_zero_base_is_the_limit():
    """d/dp 0 ** p = 0 for p > 0 (the limit of x ** p log x); it was 0 * log(0), a NaN that poisoned the gradient."""
    y, p = np.array([0.0, 1.5, 2.0]), 1.5
    module_f = numpy_module.tweedie
    mu = np.ones(3)
    assert sg.grad(module_f, wrt="p")(mu, y, p) == pytest.approx(
        richardson_gradient(module_f, [mu, y, p], 2), rel=1e-8)
    hessian = sg.hessian(module_f, wrt="p")(mu, y, p)
    assert np.isfinite(hessian) and hessian == pytest.approx(float(jax().hessian(jax_module.tweedie, argnums=2)(
        mu, y, p)), rel=1e-10)
