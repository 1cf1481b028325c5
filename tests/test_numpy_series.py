"""NumPy's functions of sampled series (symgrad/frontend/numpy_series.py): np.trapezoid and
scipy.integrate.trapezoid, np.gradient (even and uneven sample points, edge_order 1 and 2, along an axis),
np.convolve and np.correlate in their three modes, np.cross of 3-vectors with broadcasting.

Each function is written once as users write it; its value must be NumPy's own and its gradient must match central
differences with Richardson extrapolation, on series of several lengths (the first one longer, the second one, equal,
and of one element, where NumPy's windows and swaps differ)."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors
from conftest import richardson_gradient, write_module

CASES = write_module('''
import numpy as np
import scipy.integrate


def integrals(y, x, A):
    return (np.trapezoid(y ** 2) + np.trapezoid(y, x) + np.trapezoid(np.sin(y), dx=0.1)
            + np.sum(np.trapezoid(A, axis=0) ** 2) + np.sum(np.trapezoid(A ** 2, x[:3]))
            + scipy.integrate.trapezoid(y * x, x=x))


def derivatives(y, x, A):
    return (np.sum(np.gradient(y) ** 2) + np.sum(np.gradient(y, 0.3) * y) + np.sum(np.gradient(y, x) ** 2)
            + np.sum(np.gradient(y, x, edge_order=2) ** 2) + np.sum(np.gradient(y ** 3, edge_order=2) * x)
            + np.sum(np.gradient(A, axis=1) ** 2) + np.sum(np.gradient(A, 0.5, axis=0, edge_order=2) * A))


def convolutions(a, v):
    n = max(len(a), len(v))
    return (np.sum(np.convolve(a, v) ** 2) + np.sum(np.convolve(a, v, 'same') * np.arange(n))
            + np.sum(np.convolve(a, v, mode='valid') ** 3) + np.sum(np.correlate(a, v) ** 2)
            + np.sum(np.correlate(a, v, 'same') * np.arange(n)) + np.sum(np.correlate(a, v, 'full') ** 2 * 0.5))


def cross_products(p, q, P, Q):
    return (np.sum(np.cross(p, q) ** 2) + np.sum(np.cross(P, Q) * P) + np.sum(np.cross(P, q) ** 3)
            + np.sum(np.cross(p, Q)))


def short_gradient(y):
    return np.sum(np.gradient(y, edge_order=2))


def planar_cross(p, q):
    return np.sum(np.cross(p, q))


def every_axis(A):
    return np.sum(np.gradient(A))
''', name="numpy_series_cases")

RNG = np.random.default_rng(20261204)


def points(n):
    return np.cumsum(RNG.uniform(0.1, 1.0, n))


ARGUMENTS = {
    "integrals": [(RNG.normal(size=6), points(6), RNG.normal(size=(4, 3))),
                  (RNG.normal(size=3), points(3), RNG.normal(size=(2, 3)))],
    "derivatives": [(RNG.normal(size=6), points(6), RNG.normal(size=(4, 3))),
                    (RNG.normal(size=3), points(3), RNG.normal(size=(3, 4)))],
    "convolutions": [(RNG.normal(size=5), RNG.normal(size=3)), (RNG.normal(size=2), RNG.normal(size=4)),
                     (RNG.normal(size=4), RNG.normal(size=4)), (RNG.normal(size=1), RNG.normal(size=6)),
                     (RNG.normal(size=7), RNG.normal(size=1))],
    "cross_products": [(RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))),
                       (RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(1, 3)), RNG.normal(size=(1, 3)))],
}
POINTS = [(name, k) for name, shapes in ARGUMENTS.items() for k in range(len(shapes))]


@pytest.mark.parametrize("name, k", POINTS, ids=[f"{name}-{k}" for name, k in POINTS])
def test_value_is_numpys_and_gradient_matches_central_differences(name, k):
    function, args = getattr(CASES, name), ARGUMENTS[name][k]
    value, gradient = sg.value_and_grad(function, wrt=tuple(range(len(args))))(*args)
    assert value == pytest.approx(function(*args), rel=1e-13, abs=1e-13)
    for position, ours in enumerate(gradient):
        np.testing.assert_allclose(ours, richardson_gradient(function, list(args), position), rtol=1e-8, atol=1e-9)


def test_the_formulas_display():
    transform = sg.value_and_grad(CASES.convolutions)
    transform(*ARGUMENTS["convolutions"][0])
    assert transform.latex() and transform.pretty()


def test_sizes_numpy_needs_are_checked_and_the_advice_is_right():
    with pytest.raises(ValueError, match=r"needs at least 3 samples along axis 0 for edge_order=2 \(len\(y\)\)"):
        sg.value_and_grad(CASES.short_gradient)(np.ones(2))
    assert sg.value_and_grad(CASES.short_gradient)(np.arange(3.0))[0] == CASES.short_gradient(np.arange(3.0))
    with pytest.raises(ValueError, match=r"the size of the last axis of p and 3 \(np.cross takes 3-vectors\) must be "
                                         r"equal"):
        sg.value_and_grad(CASES.planar_cross)(np.ones(2), np.ones(2))
    with pytest.raises(errors.UnsupportedCallError, match=r"gives one array per axis: name one, np.gradient\(f, "
                                                      r"axis=0\), and call it once per axis"):
        sg.value_and_grad(CASES.every_axis)(np.ones((3, 3)))
