"""The Cholesky family lowered to loops: np.linalg.cholesky, scipy.linalg.cholesky, cho_factor, solve_triangular,
cho_solve and scipy.stats.multivariate_normal.logpdf, checked against NumPy/SciPy's values and JAX's gradients of
the same source."""

import numpy as np
import pytest
import scipy.linalg

import symgrad as sg
from symgrad import errors

from conftest import matches_jax, richardson_gradient, write_module

SOURCE = '''
import {numpy} as np
from {linalg} import cho_factor, cho_solve, cholesky, solve_triangular
from {stats} import multivariate_normal as mvn


def spd(B):
    n = B.shape[0]
    return B @ B.T + n * np.eye(n)


def numpy_factor(B, W):
    L = np.linalg.cholesky(spd(B))
    return np.sum(W * L) + np.sum(L ** 2 * W.T)


def scipy_factors(B, W):
    U = cholesky(spd(B))
    L = cholesky(spd(B), lower=True)
    return np.sum(W * U) + np.sum(np.sin(L) * W)


def substitutions(B, b):
    L = cholesky(spd(B), lower=True)
    x = solve_triangular(L, b, lower=True)
    y = solve_triangular(L, b, trans='T', lower=True)
    z = solve_triangular(L.T, b)
    return np.sum(x * x) + np.sum(y ** 3) + np.sum(np.cos(z))


def solved(B, b):
    L = np.linalg.cholesky(spd(B))
    x = cho_solve((L, True), b)
    y = cho_solve((L.T, False), b)
    return np.sum(x * b) + np.sum(np.tanh(y))


def factored(B, b):
    c, low = cho_factor(spd(B))
    x = cho_solve((c, low), b)
    f = cho_factor(spd(B), lower=True)
    return np.sum(x * b) + np.sum(np.tanh(cho_solve(f, b))) + 2 * np.sum(np.log(np.diag(c)))


def density(B, x, mean):
    return np.sum(mvn.logpdf(x, mean, spd(B)))


def advised(B, W):
    L = np.linalg.cholesky(spd(B))
    return np.sum(W * cho_solve((L, True), np.eye(B.shape[0]))) + 2 * np.sum(np.log(np.diag(L)))


def not_definite(A):
    return np.sum(np.linalg.cholesky(A))
'''

numpy_version = write_module(SOURCE.format(numpy="numpy", linalg="scipy.linalg", stats="scipy.stats"))


def jax_version():
    pytest.importorskip("jax", reason="JAX is the reference for the gradients")
    import jax

    jax.config.update("jax_enable_x64", True)
    return write_module(SOURCE.format(numpy="jax.numpy", linalg="jax.scipy.linalg", stats="jax.scipy.stats"))


SIZES = [1, 2, 5, 30]


def check(name, args, wrt):
    function = getattr(numpy_version, name)
    matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_version(), name), args, wrt,
                atol=1e-11)


@pytest.mark.parametrize("n", SIZES)
def test_factors_and_their_gradients_match_jax(n):
    rng = np.random.default_rng(n)
    args = (rng.standard_normal((n, n)), rng.standard_normal((n, n)))
    check("numpy_factor", args, (0, 1))
    check("scipy_factors", args, (0, 1))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("many", [False, True])
def test_solves_and_the_density_match_jax(n, many):
    """b a vector, or a matrix of 3 columns; x a vector, or a matrix of 4 rows; gradients with respect to the
    matrix's B, to b, x and the mean."""
    rng = np.random.default_rng(n)
    B, b = rng.standard_normal((n, n)), rng.standard_normal((n, 3) if many else n)
    check("substitutions", (B, b), (0, 1))
    check("solved", (B, b), (0, 1))
    check("factored", (B, b), (0, 1))
    check("density", (B, rng.standard_normal((4, n) if many else n), rng.standard_normal(n)), (0, 1, 2))


def test_flags_must_be_literals():
    module = write_module("import numpy as np\nfrom scipy.linalg import cholesky\n\n"
                          "def f(A, s):\n    return np.sum(cholesky(A, lower=s > 0))\n")
    with pytest.raises(errors.UnsupportedCallError, match="give lower as the literal True or False"):
        sg.value_and_grad(module.f)(np.eye(2), 1.0)


@pytest.mark.parametrize("n", [1, 5])
def test_the_cholesky_spellings_of_inv_and_slogdet_are_right(n):
    """For a positive definite matrix, cho_solve with np.eye and the log of L's diagonal are inv and slogdet (the
    spellings docs/language.md gives beside the general ones)."""
    rng = np.random.default_rng(n)
    B, W = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    A = B @ B.T + n * np.eye(n)
    assert numpy_version.advised(B, W) == pytest.approx(np.sum(W * np.linalg.inv(A)) + np.linalg.slogdet(A)[1],
                                                        rel=1e-12)
    check("advised", (B, W), (0, 1))


def test_a_matrix_that_is_not_positive_definite_gives_nan():
    A = -np.eye(3)
    with pytest.raises(np.linalg.LinAlgError):
        numpy_version.not_definite(A)
    value, gradient = sg.value_and_grad(numpy_version.not_definite)(A)
    assert np.isnan(value) and np.isnan(gradient[np.tril_indices(3)]).all()
    assert not gradient[np.triu_indices(3, 1)].any()  # (the upper triangle is not read, as in LAPACK)


def test_the_gaussian_process_of_the_corpus_matches_jax():
    jax_version()
    import corpus
    from corpus import reference

    entry = corpus.BY_NAME["autograd.gaussian_process.log_marginal_likelihood"]
    twin = reference.jax_namespace(entry.function.__module__)[entry.function.__name__]
    wrt = entry.positions()
    matches_jax(sg.value_and_grad(entry.function, wrt=wrt), entry.function, twin, entry.args(7), wrt, atol=1e-11)


def upper_factors(K, W):
    c, lower = scipy.linalg.cho_factor(K)
    return (np.sum(W * scipy.linalg.cholesky(K)) + np.sum(W.T * np.linalg.cholesky(K, upper=True))
            + np.sum(np.sin(c) * W))


def lower_factors(K, W):
    c, lower = scipy.linalg.cho_factor(K, lower=True)
    return (np.sum(W * scipy.linalg.cholesky(K, lower=True)) + np.sum(W.T * np.linalg.cholesky(K))
            + np.sum(np.sin(c) * W))


@pytest.mark.parametrize("function", [upper_factors, lower_factors])
def test_a_factor_reads_only_its_own_triangle_as_lapack_does(function):
    """An upper factor is made from the upper triangle alone, a lower one from the lower (LAPACK's potrf): with
    the other triangle changed (`np.triu(K)`, a common way to pass a symmetric matrix) the value is SciPy's, and
    the gradient there is zero except through cho_factor's copy of those entries.  The upper factors were once
    made from the lower triangle: a wrong value for np.triu(K), silently."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((4, 4))
    full = A @ A.T + 4 * np.eye(4)
    K = np.triu(full) if function is upper_factors else np.tril(full)
    W = rng.standard_normal((4, 4))
    value, gradient = sg.value_and_grad(function, wrt=0)(K, W)
    assert value == pytest.approx(function(K, W), rel=1e-13)
    np.testing.assert_allclose(gradient, richardson_gradient(function, (K, W), 0, step=1e-4), rtol=1e-8, atol=1e-9)
