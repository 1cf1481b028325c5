"""Regressions from two probes of realistic functions (stop 31): wrong answers (a NaN gradient of `x ** p` in `p`
where `x == 0`, a Hessian kept for other indices, a condition read as the index 1 or 0, a median beside an
infinity) and refusals of programs NumPy runs (a row of a matrix rebound in a loop, `enumerate(zip(bi, bj))` over
arrays of indices, `agg[dst[k]] += Z[src[k]]`, an array of indices read only as `starts - 1`, `np.nan_to_num`,
elements or columns of a table passed to a helper, `bonds.T`, `x[np.argsort(x)][:3]`, masks over leading axes and masks of an array used
nowhere else), each against JAX of the same source, central differences, NumPy or a formula by hand."""

import numpy as np
import pytest
from conftest import jax_float64 as jax, matches_jax, numpy_and_jax_modules, richardson_gradient, write_module

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


def _pair(pos, i, j):
    d = pos[i] - pos[j]
    return np.sum(d * d)


def pairs_through_a_helper(pos, bonds):
    s = 0.0
    for i, j in bonds:
        s += _pair(pos, i, j) ** 2
    return s


def _gathered(v, idx):
    return v[idx]


def table_transposed_and_columns(x, bonds):
    bt = bonds.T
    return np.sum(x[bt[0]] * x[bt[1]]) + np.sum(_gathered(x, bonds[:, 0]) * _gathered(x, bonds[:, 1]) ** 2)


def lowest_three(x):
    return np.sum(x[np.argsort(x)][:3] * np.arange(1.0, 4.0))


def masked_leading_axes(T, M):
    return np.sum(T[M > 0] ** 2)


def observed_only(x, y):
    return np.mean((x - y)[~np.isnan(y)] ** 2) + np.sum(x[np.isfinite(y)] ** 3)


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
            ("cleaned", (np.array([0.5, -1.0, 2.0, -0.3, np.inf]), rng.standard_normal(5)), (0, 1)),
            ("pairs_through_a_helper", (rng.standard_normal((4, 2)), np.array([[0, 1], [1, 2], [3, 0]])), (0,)),
            ("lowest_three", (rng.standard_normal(6),), (0,)),
            ("table_transposed_and_columns", (rng.standard_normal(4), np.array([[0, 1], [1, 2], [2, 3]])), (0,)),
            ("masked_leading_axes", (rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4))), (0,)),
            ("observed_only", (rng.standard_normal(4), np.array([0.4, np.nan, 1.0, np.inf])), (0,))]


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


def test_a_hessian_follows_the_contents_of_an_array_of_indices_from_call_to_call():
    """The sparsity pattern was kept per shape: a second call with other indices of the same shape got its values
    only at the first call's positions (np.sum(x[idx] ** 3) with idx [0, 1, 2], then [4, 3, 1]: diagonal
    [0, 12, 0, 0, 0] where it is [0, 12, 0, 24, 30])."""
    module = write_module("import numpy as np\n\ndef f(x, idx):\n    return np.sum(x[idx] ** 3)\n")
    x = np.arange(1.0, 6.0)
    for sparse in (False, True):
        hessian = sg.hessian(module.f, sparse=sparse)
        for idx in (np.array([0, 1, 2]), np.array([4, 3, 1]), np.array([4, 4, 0])):
            expected = np.diag(np.bincount(idx, minlength=5) * 6.0 * x)  # (d2/dx_k2 of the sum of x[idx] ** 3)
            ours = hessian(x, idx)
            np.testing.assert_allclose(ours.toarray() if sparse else ours, expected, rtol=1e-14)
    jacobian = sg.jacobian(write_module("import numpy as np\n\ndef g(x, idx):\n    return x[idx] ** 2\n").g,
                           sparse=True)
    for idx in (np.array([0, 1]), np.array([3, 2])):
        expected = np.zeros((2, 5))
        expected[[0, 1], idx] = 2 * x[idx]
        np.testing.assert_allclose(jacobian(x, idx).toarray(), expected, rtol=1e-14)


@pytest.mark.parametrize("index", ["True", "a > 0", "m"])
def test_a_condition_as_an_index_is_refused_not_read_as_one_or_zero(index):
    """NumPy reads x[True] as all of x under a new axis and x[a > 0] of a number as a mask; symgrad read x[1]."""
    module = write_module(f"import numpy as np\n\ndef f(x, a):\n    m = a > 0\n    return np.sum(x[{index}] ** 2)\n")
    with pytest.raises(sg.UnsupportedSyntaxError, match="NumPy reads a boolean index as a mask"):
        sg.grad(module.f)(np.arange(3.0), 1.0)
    explicit = write_module("import numpy as np\n\ndef f(x, a):\n    return x[int(a > 0)] ** 2\n")
    np.testing.assert_allclose(sg.grad(explicit.f)(np.arange(3.0), 1.0), [0.0, 2.0, 0.0])


def test_a_median_or_quantile_beside_an_infinity_is_numpys():
    """The interpolation multiplied an infinite neighbour by a weight of 0: nan where NumPy gives a number."""
    module = write_module("import numpy as np\n\ndef f(x):\n    return np.median(x)\n\n"
                          "def g(A):\n    return np.sum(np.median(A, axis=1))\n\n"
                          "def h(x):\n    return np.quantile(x, 0.25) + np.percentile(x, 60)\n")
    for function, argument in ((module.f, np.array([np.inf, 1.0, 2.0])), (module.f, np.array([np.inf, 1.0, 2.0, 3.0])),
                               (module.g, np.array([[np.inf, 1.0, 2.0], [0.5, 0.1, -np.inf]])),
                               (module.h, np.array([-np.inf, 1.0, 2.0])), (module.h, np.array([0.3, -1.0, 2.0, 5.0]))):
        assert sg.value_and_grad(function)(argument)[0] == function(argument)
