"""Everyday NumPy spellings: boolean masks combined (`&`, `|`, `^`, `~`, np.logical_and/or/xor/not) and used in
np.where, as numbers, in np.sum / np.count_nonzero and .astype(float); NumPy's operators spelled as functions
(np.add, np.subtract, np.multiply, np.divide, np.true_divide, np.negative, np.reciprocal, np.power, np.square);
the methods x.clip, A.trace, A.squeeze and np.squeeze, reductions with axis=None, x.T of a vector, np.ravel; and
arrays bound on the two sides of an `if` (or of a conditional expression), chosen elementwise by its condition
(symgrad/frontend/numpy_functions.py, Lifter.select).

As in test_numpy_breadth.py, each function is written once and run by symgrad and by JAX (float64, ``jax.numpy`` in
place of NumPy) on the same source, at random points and on several shapes, square and not: value and gradient must
agree to rounding.  A float argument that an `if` tests is not differentiated by JAX (its `if` needs a concrete
value): its derivative is checked by central differences.
"""

import pathlib

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors
from conftest import case_matches_jax, numpy_and_jax_modules, richardson_gradient

jax = pytest.importorskip("jax", reason="JAX is the independent reference of this file")
jax.config.update("jax_enable_x64", True)

SOURCE = '''
def masks(x, A, a, b):
    m = (x > a) & (x < b)
    M = (A < a) | (A > b)
    return (np.sum(np.where(m, x**2, -x)) + np.sum(np.where(~M, np.sin(A), A**2)) + np.sum(m * x**3)
            + np.sum(x * ((x > a) ^ (x > b))) + np.sum(np.where(np.logical_and(x > a, x < b), x, 2.0 * x))
            + np.sum(np.where(np.logical_or(A > b, A < a), A, 0.5 * A) * np.logical_not(A > 0))
            + np.sum(np.logical_xor(A > a, A > b) * A**2) + np.sum(m) * np.sum(x) + np.count_nonzero(M) * np.sum(A)
            + np.sum(M.astype(float) * A) + np.sum(((A > a) & (A < b) & (A != 0.0)) * np.exp(A))
            + np.sum(np.where(m & (A > a), A, x)) + np.sum(np.where((x > a) | (x < -b), 1.0, x))
            + np.count_nonzero((x > a) & ~(x > b)) * np.sum(x**2) + np.sum(np.logical_not(x) * x))

def scalar_masks(a, b):
    return (((a > 0) & (b > 0)) * a * b + np.logical_or(a > 1, b < 0) * a + np.where((a > b) | (a < 0), a, b)
            + np.logical_and(a, b > 0.5) * b**2 + ((a > b) ^ (b > 0)) * a**3 + np.logical_xor(a > 0, b > 0) * b)

def operators(x, y, A, c):
    return (np.sum(np.add(x, y) ** 2) + np.sum(np.subtract(A, x) * A) + np.sum(np.multiply(A, y[None, :]) ** 2)
            + np.sum(np.divide(A, x**2 + 1.0)) + np.sum(np.true_divide(x, c)) + np.sum(np.negative(A) * np.exp(A))
            + np.sum(np.reciprocal(y**2 + 2.0)) + np.sum(np.power(A, 3) + np.power(1.5, x))
            + np.sum(np.square(np.subtract(x, c))) + np.add(c, 2.0) * np.multiply(c, c) + np.divide(1.0, c)
            + np.negative(c) + np.reciprocal(c) + np.power(c, 2) + np.subtract(c, 1.0) + np.sum(np.add(A, 2.0))
            + np.sum(np.multiply(x, 3) * np.divide(2, y**2 + 1.0)) + np.sum(np.square(A) * np.add(x, A)))

def methods(x, A, S, R, lo):
    return (np.sum(x.clip(lo, 0.5) ** 2) + np.sum(A.clip(-0.3, None) * A) + np.sum(np.clip(A, lo, 0.4))
            + S.trace() + np.trace(S @ S) + (S * 2.0).trace() + np.sum(np.exp(A).clip(min=1.0, max=2.0))
            + np.sum(np.squeeze(R, axis=0) ** 2) + np.sum(R.squeeze(0) * x) + np.sum(R.squeeze(axis=(0,)) ** 3)
            + np.sum(np.squeeze(np.sum(A, axis=1, keepdims=True)) ** 2) + np.sum(np.squeeze(x[None, :, None]) * x)
            + np.sum(x, axis=None) + x.sum(axis=None) + np.sum(A, axis=None) + A.mean(axis=None)
            + np.mean(A, axis=None) + A.max(axis=None) + np.min(A, axis=None) + np.prod(x, axis=None)
            + A.prod(axis=None) + x.min(axis=None) + np.max(x, axis=None) + np.sum(x.T * x)
            + np.sum(np.ravel(A) ** 3) + np.sum(np.ravel(x)) + np.squeeze(S[:1, :1]))

def branches(x, a):
    if a > 1:
        y = x * a
    else:
        y = x / a
    return np.sum(y) + np.sum(np.sin(y) * x)

def branched_products(X, W, a):
    if a > 0.5:
        H = np.tanh(X @ W)
    elif a > 0.0:
        H = X @ W * a
    else:
        H = np.exp(X @ W)
    G = X.T @ H
    if a < 0.2:
        G = G * 2.0
    return np.sum(H ** 2) + np.sum(H) + np.sum(G * G)

def conditional_expressions(x, A, mode):
    y = x**2 if mode > 0 else np.abs(x)
    B = A @ A.T if mode > 1 else np.exp(A) @ A.T
    return np.sum(y) + np.sum(B**2) + np.sum((A if mode < 0 else 2.0 * A) * A)
'''

NUMPY, JAX = numpy_and_jax_modules(SOURCE, "numpy_spellings_cases")

RNG = np.random.default_rng(20261204)


def normal(*shape):
    return RNG.normal(size=shape)


# name -> [(arguments, wrt)], several shapes each (square and not)
CASES = {
    "masks": [((normal(5), normal(3, 5), -0.3, 0.8), (0, 1)), ((normal(4), normal(4, 4), 0.1, 1.5), (0, 1)),
              ((normal(2), normal(1, 2), -1.0, 0.2), (0, 1))],
    "scalar_masks": [((0.7, 1.3), (0, 1)), ((-0.4, 0.9), (0, 1)), ((1.6, -0.2), (0, 1))],
    "operators": [((normal(4), normal(4), normal(3, 4), 1.3), (0, 1, 2, 3)),
                  ((normal(3), normal(3), normal(3, 3), -0.7), (0, 1, 2, 3)),
                  ((normal(1), normal(1), normal(5, 1), 2.1), (0, 1, 2, 3))],
    "methods": [((normal(4), normal(3, 4), normal(2, 2), normal(1, 4), -0.2), (0, 1, 2, 3, 4)),
                ((normal(3), normal(3, 3), normal(4, 4), normal(1, 3), -0.6), (0, 1, 2, 3, 4)),
                ((normal(2), normal(5, 2), normal(1, 1), normal(1, 2), 0.1), (0, 1, 2, 3, 4))],
    "branches": [((normal(5), 1.7), (0,)), ((normal(3), 0.4), (0,)), ((normal(1), -2.0), (0,))],
    "branched_products": [((normal(4, 3), normal(3, 2), 0.9), (0, 1)), ((normal(3, 3), normal(3, 3), 0.3), (0, 1)),
                          ((normal(2, 5), normal(5, 4), -0.5), (0, 1)), ((normal(5, 2), normal(2, 1), 0.1), (0, 1))],
    "conditional_expressions": [((normal(4), normal(3, 4), 2.0), (0, 1)), ((normal(3), normal(3, 3), 0.5), (0, 1)),
                                ((normal(2), normal(4, 2), -1.0), (0, 1))],
}
POINTS = [(name, k) for name, shapes in CASES.items() for k in range(len(shapes))]


@pytest.mark.parametrize("name, k", POINTS, ids=[f"{name}-{k}" for name, k in POINTS])
def test_value_and_gradient_match_jax_and_the_formulas_display(name, k):
    transform = case_matches_jax(NUMPY, JAX, CASES, name, k)
    if k == 0:
        assert transform.latex() and transform.pretty()


@pytest.mark.parametrize("name, k", [(n, k) for n in ("branches", "branched_products", "conditional_expressions")
                                     for k in range(len(CASES[n]))])
def test_the_derivative_by_the_tested_float_follows_the_branch_taken(name, k):
    args, _ = CASES[name][k]
    position = len(args) - 1
    gradient = sg.grad(getattr(NUMPY, name), wrt=position)(*args)
    assert gradient == pytest.approx(float(richardson_gradient(getattr(NUMPY, name), list(args), position)),
                                     rel=1e-7, abs=1e-9)


def test_a_mask_is_a_number_whose_derivative_is_zero():
    def counted(x, a):
        m = (x > a) & (x < 2.0 * a)
        return np.sum(m * x) + np.sum(m) * a + np.count_nonzero(np.logical_or(x < 0.0, m)) * a**2

    x, a = np.array([0.5, 1.5, 2.5, -1.0, 1.2]), 1.0
    value, (dx, da) = sg.value_and_grad(counted, wrt=(0, 1))(x, a)
    assert value == pytest.approx(counted(x, a), rel=1e-14)
    np.testing.assert_array_equal(dx, [0.0, 1.0, 0.0, 0.0, 1.0])
    assert da == pytest.approx(2.0 + 2 * 3 * a, rel=1e-14)


def test_a_store_through_combined_masks_matches_central_differences():
    def stored(x, a):
        out = np.zeros_like(x)
        out[(x > a) & (x < 1.0)] = x[(x > a) & (x < 1.0)] ** 2
        out[~((x > a) | (x < -1.0))] = 2.0 * x[~((x > a) | (x < -1.0))]
        out[x < -a] = out[x < -a] * 3.0
        return np.sum(out * x)

    x, a = np.array([0.1, 0.5, 1.5, -0.3, -1.7, 0.9]), 0.2
    value, gradient = sg.value_and_grad(stored, wrt=0)(x, a)
    assert value == pytest.approx(stored(x, a), rel=1e-14)
    np.testing.assert_allclose(gradient, richardson_gradient(stored, [x, a], 0), rtol=1e-8, atol=1e-10)


def test_a_squeezed_axis_of_another_size_raises_before_the_kernel_runs():
    args = list(CASES["methods"][0][0])
    args[3] = normal(2, 4)
    with pytest.raises(ValueError, match=r"methods\(\): .* on line \d+: the size along axis 0 of R \(squeezed\)"):
        sg.grad(NUMPY.methods)(*args)


# --- refusals ------------------------------------------------------------------------------------------------
SOURCE_LINES = pathlib.Path(__file__).read_text().splitlines()


def marker_line(marker):
    found = [k + 1 for k, line in enumerate(SOURCE_LINES) if line.rstrip().endswith(f"# HERE: {marker}")]
    assert len(found) == 1, f"marker {marker!r} found on lines {found}"
    return found[0]


def unparenthesised_masks(x, a, b):
    return np.sum(np.where(x > a & x < b, x, 0.0))  # HERE: unparenthesised


def parenthesised_masks(x, a, b):
    return np.sum(np.where((x > a) & (x < b), x, 0.0))


def bits_of_floats(x, a):
    return np.sum(x & x) * a  # HERE: bits


def squeeze_of_unknown_sizes(A):
    return np.sum(np.squeeze(A) ** 2)  # HERE: squeeze-unknown


def squeeze_with_its_axis(A):
    return np.sum(np.squeeze(A, axis=0) ** 2)


def squeeze_method_of_unknown_sizes(A):
    return np.sum(A.squeeze() ** 2)  # HERE: squeeze-method-unknown


def squeeze_method_with_its_axis(A):
    return np.sum(A.squeeze(axis=0) ** 2)


def squeeze_of_a_long_axis(x):
    return np.sum(np.squeeze(np.ones((2, 3)), axis=0) * x)  # HERE: squeeze-long


def reciprocal_of_an_int(x):
    return np.sum(x) * np.reciprocal(x.shape[0])  # HERE: reciprocal-int


def reciprocal_of_an_int_as_advised(x):
    return np.sum(x) * (1.0 / x.shape[0])


def branches_of_other_shapes(x, a):
    if a > 1:
        y = x[1:]
    else:
        y = x
    return np.sum(y**2)  # HERE: branch-shapes


def branches_of_other_shapes_as_advised(x, a):
    if a > 1:
        y = x[1:]
        return np.sum(y**2)
    else:
        y = x
        return np.sum(y**2)


def conditional_of_other_shapes(x, a):
    y = x[1:] if a > 0 else x  # HERE: conditional-shapes
    return np.sum(y)


def conditional_of_other_shapes_as_advised(x, a):
    return np.sum(np.where(a > 0, np.concatenate([np.zeros(1), x[1:]]), x))


REFUSALS = [
    (unparenthesised_masks, "unparenthesised", errors.UnsupportedExpressionError,
     ("`&` of 'a'", "each comparison in parentheses", "(x > a) & (x < b)"), (normal(4), 0.1, 0.9)),
    (bits_of_floats, "bits", errors.UnsupportedExpressionError, ("not a condition or a mask", "np.logical_and"),
     (normal(4), 0.5)),
    (squeeze_of_unknown_sizes, "squeeze-unknown", errors.UnsupportedCallError,
     ("'np.squeeze(A)'", "np.squeeze(A, axis=0)"), (normal(1, 4),)),
    (squeeze_method_of_unknown_sizes, "squeeze-method-unknown", errors.UnsupportedCallError,
     ("'A.squeeze()'", "A.squeeze(axis=0)"), (normal(1, 4),)),
    (squeeze_of_a_long_axis, "squeeze-long", errors.UnsupportedCallError, ("axis 0", "size 2, not 1"), (normal(3),)),
    (reciprocal_of_an_int, "reciprocal-int", errors.UnsupportedCallError, ("an integer in NumPy", "1.0 / x.shape[0]"),
     (normal(3),)),
    (branches_of_other_shapes, "branch-shapes", errors.UndefinedNameError,
     ("different shapes", "into each side"), (normal(4), 2.0)),
    (conditional_of_other_shapes, "conditional-shapes", errors.UnsupportedExpressionError,
     ("different shapes", "np.where(condition, a, b)"), (normal(4), 2.0)),
]


@pytest.mark.parametrize("function, marker, kind, words, args", REFUSALS, ids=[r[1] for r in REFUSALS])
def test_refused_with_the_line_and_the_advice(function, marker, kind, words, args):
    with pytest.raises(kind) as caught:
        sg.grad(function, wrt=0)(*args)
    error = caught.value
    assert isinstance(error, sg.UnsupportedSyntaxError)
    assert error.lineno == marker_line(marker), str(error)
    assert pathlib.Path(error.filename).resolve() == pathlib.Path(__file__).resolve()
    for word in words:
        assert word in str(error), (word, str(error))


@pytest.mark.parametrize("advised, args", [
    (parenthesised_masks, (normal(5), -0.2, 0.6)),
    (squeeze_with_its_axis, (normal(1, 4),)),
    (squeeze_method_with_its_axis, (normal(1, 3),)),
    (reciprocal_of_an_int_as_advised, (normal(3),)),
    (branches_of_other_shapes_as_advised, (normal(4), 2.0)),
    (branches_of_other_shapes_as_advised, (normal(4), 0.5)),
    (conditional_of_other_shapes_as_advised, (normal(4), 2.0)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_the_advice_works_when_followed(advised, args):
    value, gradient = sg.value_and_grad(advised, wrt=0)(*args)
    assert value == pytest.approx(advised(*args), rel=1e-13)
    np.testing.assert_allclose(gradient, richardson_gradient(advised, list(args), 0), rtol=1e-7, atol=1e-9)
