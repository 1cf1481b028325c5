"""A general matrix's solve, inverse and determinants (np.linalg.solve, inv, det, slogdet and SciPy's solve, inv,
det) lowered to LU with partial pivoting: values against NumPy/SciPy, gradients and Hessians against JAX of the same
source, on matrices that need pivoting (a zero leading entry, rows in the wrong order) and on the Gaussian process
and Newton-step code that calls them."""

import numpy as np
import pytest
import scipy.linalg

import symgrad as sg

from conftest import matches_jax, richardson_gradient, write_module

SOURCE = '''
import {numpy} as np
import {linalg} as linalg


def solved(A, b):
    x = np.linalg.solve(A, b)
    return np.sum(x ** 2) + np.sum(np.sin(x) * b)


def inverted(A, W):
    return np.sum(W * np.linalg.inv(A))


def determinants(A):
    sign, logdet = np.linalg.slogdet(A)
    result = np.linalg.slogdet(A)
    return (np.linalg.det(A) + sign * logdet + np.linalg.slogdet(A)[1] ** 2 + np.linalg.slogdet(A).logabsdet
            + result.sign * result.logabsdet ** 3)


def scipy_calls(A, B):
    return (np.sum(linalg.solve(A, B) ** 2) + np.sum(np.cos(linalg.inv(A))) + linalg.det(A)
            + np.sum(linalg.solve(A @ A.T + np.eye(A.shape[0]), B, assume_a='pos')))


def gaussian_process(log_scale, log_noise, X, y):
    sq = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2)
    K = np.exp(-0.5 * sq / np.exp(2 * log_scale)) + np.exp(log_noise) * np.eye(X.shape[0])
    alpha = np.linalg.solve(K, y)
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * y @ alpha + 0.5 * logdet + 0.5 * X.shape[0] * np.log(2 * np.pi)


def newton_steps(x, A, b):
    for _ in range(3):
        g = A @ x - b + np.sin(x)
        H = A + np.diag(np.cos(x))
        x = x - np.linalg.solve(H, g)
    return np.sum(x ** 2)
'''

numpy_version = write_module(SOURCE.format(numpy="numpy", linalg="scipy.linalg"))


def jax_version():
    pytest.importorskip("jax", reason="JAX is the reference for the gradients")
    import jax

    jax.config.update("jax_enable_x64", True)
    return write_module(SOURCE.format(numpy="jax.numpy", linalg="jax.scipy.linalg"))


def check(name, args, wrt, atol=1e-10):
    function = getattr(numpy_version, name)
    matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_version(), name), args, wrt, atol=atol)


def needing_pivots(n, rng):
    """A well-conditioned matrix whose rows are shuffled so that a leading entry is zero: LU without pivoting
    divides by 0 at the first step."""
    A = rng.standard_normal((n, n)) + n * np.eye(n)
    A[0, 0] = 0.0
    return A[rng.permutation(n)] if n > 1 else np.array([[2.0]])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20])
def test_solve_inverse_and_determinants_match_jax(n):
    rng = np.random.default_rng(n)
    for A in (rng.standard_normal((n, n)), needing_pivots(n, rng)):
        check("solved", (A, rng.standard_normal(n)), (0, 1))
        check("solved", (A, rng.standard_normal((n, 3))), (0, 1))
        check("inverted", (A, rng.standard_normal((n, n))), (0, 1))
        check("determinants", (A,), (0,))


@pytest.mark.parametrize("n", [1, 4, 9])
def test_scipy_spellings_match_jax(n):
    rng = np.random.default_rng(10 + n)
    check("scipy_calls", (needing_pivots(n, rng), rng.standard_normal((n, 2))), (0, 1))


def test_the_sign_of_the_determinant_follows_the_row_order():
    """Each permutation of the rows of the identity (and of a matrix) has NumPy's determinant, so the sign of the
    pivots' permutation is right for every order LU picks."""
    import itertools

    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    det = sg.value_and_grad(numpy_version.determinants)
    for order in itertools.permutations(range(4)):
        for A in (np.eye(4)[list(order)], base[list(order)]):
            sign, logdet = np.linalg.slogdet(A)
            assert det(A)[0] == pytest.approx(numpy_version.determinants(A), rel=1e-12, abs=1e-12)
            assert numpy_version.determinants(A) == pytest.approx(
                np.linalg.det(A) + sign * logdet + logdet ** 2 + logdet + sign * logdet ** 3, rel=1e-12, abs=1e-12)


def test_the_gaussian_process_likelihood_matches_jax_and_factors_once():
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((12, 2)), rng.standard_normal(12)
    check("gaussian_process", (0.3, -1.0, X, y), (0, 1, 2, 3))
    likelihood = sg.value_and_grad(numpy_version.gaussian_process, wrt=(0, 1))
    likelihood(0.3, -1.0, X, y)
    kernel = likelihood.source().split("def value_and_grad(")[1]
    assert kernel.count("lu_upper = np.") == 1  # (solve(K, y) and slogdet(K) share one factorisation)


def test_newton_steps_in_a_loop_match_jax():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((5, 5)) + 5 * np.eye(5)
    check("newton_steps", (rng.standard_normal(5), A, rng.standard_normal(5)), (0, 1, 2))


def test_the_hessian_of_a_solve_matches_jax():
    twins = jax_version()
    import jax

    rng = np.random.default_rng(8)
    A, b = needing_pivots(4, rng), rng.standard_normal(4)

    def twin(v):
        return twins.solved(v.reshape(4, 4), b)

    expected = np.asarray(jax.hessian(twin)(A.ravel())).reshape(4, 4, 4, 4)
    ours = sg.hessian(numpy_version.solved)(A, b)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_a_singular_matrix_gives_a_zero_determinant_and_an_infinite_log():
    A = np.array([[1.0, 2.0], [2.0, 4.0]])
    module = write_module("import numpy as np\n\ndef f(A):\n    return np.linalg.det(A)\n\n"
                          "def g(A):\n    s, l = np.linalg.slogdet(A)\n    return s + l\n")
    assert sg.value_and_grad(module.f)(A)[0] == pytest.approx(np.linalg.det(A), abs=1e-15)
    value, _ = sg.value_and_grad(module.g)(A)
    assert value == -np.inf and np.linalg.slogdet(A)[1] == -np.inf
    gradient = sg.grad(module.f)(A)
    np.testing.assert_allclose(gradient, richardson_gradient(module.f, (A,), 0), atol=1e-8)  # (adj(A).T)


def test_shapes_that_do_not_agree_raise_before_the_kernel_runs():
    with pytest.raises(ValueError, match="rows"):
        sg.value_and_grad(numpy_version.solved)(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="rows and the columns"):
        sg.value_and_grad(numpy_version.inverted)(np.ones((2, 3)), np.ones((2, 3)))


def test_scipy_values_equal_scipy():
    rng = np.random.default_rng(4)
    A, B = needing_pivots(5, rng), rng.standard_normal((5, 2))
    expected = (np.sum(scipy.linalg.solve(A, B) ** 2) + np.sum(np.cos(scipy.linalg.inv(A))) + scipy.linalg.det(A)
                + np.sum(scipy.linalg.solve(A @ A.T + np.eye(5), B, assume_a='pos')))
    assert sg.value_and_grad(numpy_version.scipy_calls)(A, B)[0] == pytest.approx(expected, rel=1e-12)


def test_a_zero_pivot_column_gives_numpys_zero_determinant():
    """A column with no nonzero entry left made every multiplier 0/0: det and slogdet were nan where NumPy gives 0
    and (0, -inf) (found by a probe).  A zero pivot scales nothing now, as LAPACK's getrf."""
    module = write_module("import numpy as np\n\ndef f(A):\n    sign, logdet = np.linalg.slogdet(A)\n"
                          "    return np.linalg.det(A) + sign + np.exp(logdet)\n")
    for A in (np.zeros((3, 3)), np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0], [5.0, 0.0, 6.0]]),
              np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])):
        value, gradient = sg.value_and_grad(module.f)(A)
        assert value == pytest.approx(module.f(A), abs=1e-12)


SCIPY_ASSUMED = '''
import numpy as np
import scipy.linalg


def symmetric_upper(A, b):
    return np.sum(scipy.linalg.solve(A, b, assume_a='sym') ** 2)


def symmetric_lower(A, b):
    return np.sum(scipy.linalg.solve(A, b, assume_a='sym', lower=True) ** 2)


def positive_lower(A, b):
    return np.sum(scipy.linalg.solve(A, b, assume_a='pos', lower=True) ** 2)
'''


@pytest.mark.parametrize("name", ["symmetric_upper", "symmetric_lower", "positive_lower"])
def test_scipy_solve_reads_the_triangle_its_assumption_names(name):
    """assume_a='sym' was solved as a general matrix (SciPy reads one triangle: 0.8668 for SciPy's 0.8519 on a
    matrix that is not symmetric), and assume_a='pos' with lower=True crashed (AttributeError); found by a probe."""
    from conftest import richardson_gradient

    module = write_module(SCIPY_ASSUMED)
    rng = np.random.default_rng(9)
    B = rng.standard_normal((4, 4))
    A = B @ B.T + 4 * np.eye(4) + np.triu(rng.standard_normal((4, 4)), 1)  # (the triangles differ)
    b = rng.standard_normal(4)
    function = getattr(module, name)
    value, (A_bar, b_bar) = sg.value_and_grad(function, wrt=(0, 1))(A, b)
    assert value == pytest.approx(function(A, b), rel=1e-12)
    np.testing.assert_allclose(A_bar, richardson_gradient(function, (A, b), 0), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b_bar, richardson_gradient(function, (A, b), 1), rtol=1e-7, atol=1e-9)
