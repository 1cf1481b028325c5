"""NumPy as people write it in objective functions: np.std / np.var (with axis=, ddof=, keepdims=), np.cumsum along
an axis, joins of matrices (np.concatenate, np.stack, np.vstack, np.hstack, np.column_stack, np.append), norms along
axes, np.diag, np.triu / np.tril, np.roll, np.pad, np.flip, np.sinc, np.polyval, np.einsum (with `...`), np.tensordot,
np.vdot and np.kron, and NumPy's conveniences (np.ptp, np.average, np.count_nonzero, np.select, the NaN-skipping
reductions, np.moveaxis, np.diagonal, np.cumprod), constructors sized by int arguments (np.zeros(n), np.eye(N, M, k),
np.identity, np.linspace), np.exp2, np.logaddexp2, np.heaviside, np.cov, np.linalg.matrix_power, np.diff with
prepend= and append= (symgrad/frontend/numpy_functions.py), np.argmax / np.argmin along an axis and the gathers by
several vectors of indices that read at them; np.tile and np.repeat (symgrad/frontend/numpy_lowering.py).

As in test_numpy_lowering.py, each function is written once and run by symgrad and by JAX (float64, ``jax.numpy`` in
place of NumPy) on the same source, at random points and on several shapes, square and not: value and gradient must
agree to rounding.  The refused variants are checked for their line and their advice.
"""

import pathlib

import numpy as np
import pytest

import symgrad as sg
from conftest import case_formulas_display, case_matches_jax, numpy_and_jax_modules, richardson_gradient

jax = pytest.importorskip("jax", reason="JAX is the independent reference of this file")
jax.config.update("jax_enable_x64", True)

SOURCE = '''
def statistics(x, A):
    return (np.std(x) + np.var(x) + np.sum(np.var(A, axis=0)) + np.sum(A.std(axis=-1, ddof=1, keepdims=True) * A)
            + x.var(ddof=1) + np.sum(np.std(A, 1)**3) + A.std() + np.sum(np.var(A, axis=(0, 1), keepdims=True))
            + np.sum(np.std(np.exp(A), axis=-2, keepdims=False) * A[0]))

def tensor_statistics(T):
    return np.sum(np.var(T, axis=1)**2) + np.sum(T.std(axis=(0, 2), ddof=1)) + np.sum(np.std(T, axis=-1, keepdims=True) * T)

def cumulative(x, A, T):
    return (np.sum(np.cumsum(A, axis=0)**2) + np.sum(np.sin(np.cumsum(A, axis=1))) + np.sum(np.cumsum(A)**3)
            + np.sum(np.cumsum(T, axis=-1)**2) + np.sum(np.cumsum(T, axis=1) * T) + np.sum(A.cumsum(axis=-1) * A)
            + np.sum(np.cumsum(x)**2) + np.sum(np.cumsum(np.exp(A), -2)[-1]))

def joins(A, B, x):
    C = np.concatenate([A, B], axis=0)
    return (np.sum(C**2 * np.arange(C.shape[0])[:, None]) + np.sum(np.concatenate((A, B[:, :1]**2), axis=1)**3)
            + np.sum(np.concatenate([A, A * 2.0], axis=-1) * np.concatenate([B, B], axis=1))
            + np.sum(np.stack([A, B**2], axis=0)**3 * np.arange(2)[:, None, None]) + np.sum(np.stack([A, B], axis=-1)[:, :, 1] * A)
            + np.sum(np.stack([A, B], 1)**2 * np.arange(2)[None, :, None]) + np.sum(np.vstack([A, B, A])**3)
            + np.sum(np.hstack([A, np.exp(B)])**2) + np.sum(np.column_stack([A, x[:, None], x])**3)
            + np.sum(np.vstack([x, x**2])**3) + np.sum(np.hstack([x, x[1:]])**2) + np.sum(np.append(A, B, axis=0)**3)
            + np.sum(np.append(x, A)**3) + np.sum(np.append(x**2, 2.5)**3) + np.sum(np.vstack([A, A[0] * 2.0])**3))

def norms(x, A, T):
    return (np.sum(np.linalg.norm(A, axis=1)) + np.sum(np.linalg.norm(A, axis=0, keepdims=True) * A)
            + np.sum(np.linalg.norm(A, 1, axis=-1)) + np.sum(np.linalg.norm(A, ord=np.inf, axis=0))
            + np.sum(np.linalg.norm(A, -np.inf, 1)) + np.linalg.norm(A, 'fro') + np.linalg.norm(A, ord='fro')
            + np.linalg.norm(A, 1) + np.linalg.norm(A, np.inf) + np.sum(np.linalg.norm(T, axis=-1)**2)
            + np.sum(np.linalg.norm(T, axis=(1, 2))) + np.linalg.norm(T) + np.linalg.norm(x, ord=2, keepdims=True)[0]
            + np.sum(np.linalg.norm(x[:, None] - x[None, :] + 1.5, axis=-1)) + np.sum(np.linalg.norm(A, axis=1, ord=2)))

def matrices(x, A, S):
    return (np.sum(np.diag(x) @ A) + np.sum(np.diag(x, 1)**2 * np.arange(x.shape[0] + 1)) + np.sum(np.diag(x, -2)[2:, :2] * 3.0)
            + np.sum(np.diag(A)**3) + np.sum(np.diag(A, 1)**2) + np.sum(np.diag(A, -1)**3) + np.sum(np.diag(np.exp(S)))
            + np.sum(np.triu(A)**2 * np.arange(A.shape[1])) + np.sum(np.tril(A, -1)**3) + np.sum(np.triu(S, 1) @ S)
            + np.sum(np.tril(S, k=1) * S.T))

def shifts(x, A, n):
    return (np.sum((np.roll(x, 1) - x)**2 * np.arange(x.shape[0])) + np.sum(np.roll(x, -2) * x**2)
            + np.sum(np.roll(A, 1, axis=0)**3 * np.arange(A.shape[1])) + np.sum(np.roll(A, -1, axis=-1) * A**2)
            + np.sum(np.roll(A, 2) * A**2) + np.sum(np.roll(x, n) * np.arange(x.shape[0]) * x)
            + np.sum(np.flip(x) * x**2 * np.arange(x.shape[0])) + np.sum(np.flip(A, axis=0) * A**2)
            + np.sum(np.flip(A) * A**2) + np.sum(np.fliplr(A)**3 * np.arange(A.shape[1])) + np.sum(np.flipud(A) * A**2)
            + np.sum(np.flip(A, (0, 1))[0] * A[1]))

def pads(x, A, n):
    p = np.pad(x, 1)
    return (np.sum((p[1:] - p[:-1])**2 * np.arange(p.shape[0] - 1)) + np.sum(np.pad(x**2, (2, 1), constant_values=3.0) * np.arange(x.shape[0] + 3))
            + np.sum(np.pad(A, ((1, 0), (0, 2)))**2 * np.arange(A.shape[1] + 2)) + np.sum(np.pad(A, 1, mode='constant')[:, 1:]**3)
            + np.sum(np.pad(x, (n, 0)) * np.arange(x.shape[0] + n)) + np.sum(np.pad(A, ((2, 1),))**3 * np.arange(A.shape[1] + 3)))

def special(x, c, y):
    return (np.sum(np.sinc(x)**2) + np.sinc(y) + np.sum(np.polyval(c, x)**2) + np.polyval(c, y)
            + np.sum(np.polyval(np.array([1.0, -2.0, 0.5]), x) * x) + np.polyval(np.array([2.0, y, 1.0]), 0.5))

def einsums(x, y, A, B, T, S):
    return (np.einsum('i,i->', x, x**2) + np.sum(np.einsum('ij,j->i', A, y)**2) + np.sum(np.einsum('ij,jk->ik', A, B)**2)
            + np.einsum('ii', S) + np.sum(np.einsum('ii->i', S)**3) + np.sum(np.einsum('ij->ji', A) * A.T**2)
            + np.sum(np.einsum('i,j->ij', x, y)**2) + np.sum(np.einsum('bij,jk->bik', T, B)**2)
            + np.einsum('ij,ij', A, A**2) + np.sum(np.einsum('ij', A)**3) + np.sum(np.einsum('ijk->k', T)**2)
            + np.sum(np.einsum('bij,bkj->bik', T, T)**2) + np.sum(np.einsum('ij,jk,kl->il', A, B, B.T)**2)
            + np.sum(np.einsum('ij,kj', A, A)**2) + np.einsum('i,ij,j', x, A, y) + np.sum(np.einsum('ij->j', np.exp(A))**2))

def tensordots(x, y, A, B, T, U):
    return (np.sum(np.tensordot(A, B, axes=1)**2) + np.tensordot(A, A**2) + np.sum(np.tensordot(T, B, 1)**2)
            + np.sum(np.tensordot(T, U, axes=([1, 2], [0, 1]))**2) + np.sum(np.tensordot(T, A, axes=((0,), (0,)))**2)
            + np.sum(np.tensordot(x, y, axes=0)**3) + np.tensordot(x, x**2, 1)
            + np.sum(np.tensordot(T, T, axes=([0, -1], [0, 2]))**2) + np.sum(np.tensordot(A, T, axes=(0, 1))**2)
            + np.tensordot(T, T**2, 3) + np.sum(np.tensordot(np.exp(A), B, axes=[[1], [0]])**2))

def ellipsis_einsums(x, A, B, T):
    return (np.sum(np.einsum('...ij,...jk->...ik', T, B)**2) + np.sum(np.einsum('...i,...i', A, A**2)**2)
            + np.sum(np.einsum('...ii->...i', T)**3) + np.sum(np.einsum('i...->...', T)**2)
            + np.sum(np.einsum('...ij', T) * T) + np.sum(np.einsum('...,...', x, x**2)) + np.einsum('ij...->...', A)
            + np.sum(np.einsum('...ij,...jk', T, B)**3) + np.sum(np.einsum('b...,b...->b...', T, T)**2))

def kronecker_products(x, y, A, B):
    return (np.sum(np.kron(x, y)**2 * np.arange(x.shape[0] * y.shape[0])) + np.sum(np.kron(A, B)**3)
            + np.sum(np.kron(x, A)**2 * np.arange(A.shape[1] * x.shape[0])) + np.sum(np.kron(A, y) * np.kron(A, y**2))
            + np.vdot(x, x**3) + np.vdot(A, np.exp(A)) + np.vdot(A.T, B[:A.shape[1], :A.shape[0]]))

def arg_extremes(Z, X, y, T):
    n = Z.shape[0]
    return (np.sum(X[np.arange(n), np.argmax(Z, axis=1)]**2) + np.sum(X[np.argmin(Z, axis=0), np.arange(Z.shape[1])] * 3.0)
            + np.sum(np.where(np.argmax(Z, axis=1) == y, Z[:, 0], 0.0)) + np.sum(np.log(np.exp(Z)[np.arange(n), y]))
            + np.sum(Z.argmax(axis=1) * Z[:, 1]) + np.sum(np.argmin(T, axis=2) * T[:, :, 0])
            + np.sum(T[np.arange(T.shape[0]), np.argmax(T[:, :, 0], 1), 1]) + np.sum(Z.argmin(0) == 1) * Z[0, 0]
            + np.sum(X[np.argmax(Z, -1), y]) + np.sum(T[1, np.argmax(Z, axis=1), y]) + np.sum(np.argmax(T, axis=0) * T[0]))

def repetitions(x, A, k):
    return (np.sum(np.tile(x, 2) * np.arange(2 * x.shape[0])) + np.sum(np.tile(x, (3, 1)) * A[:1, :1])
            + np.sum(np.tile(A, (2, k)) ** 2) + np.sum(np.tile(A, 2)[0] * np.arange(2 * A.shape[1]))
            + np.sum(np.repeat(x, 3) * np.arange(3 * x.shape[0])) + np.sum(np.repeat(A, k, axis=1) ** 3)
            + np.sum(np.repeat(A, 2) * np.arange(2 * A.size)) + np.sum(np.tile(x, k) ** 2 * x[0]))

def conveniences(x, A, T):
    return (np.ptp(x) * 2 + np.sum(np.ptp(A, axis=1) ** 2) + np.sum(np.ptp(A, 0, keepdims=True) * A)
            + np.average(x) + np.average(x, weights=x ** 2) + np.sum(np.average(A, axis=0, weights=np.exp(A)))
            + np.sum(np.average(A, axis=1, weights=np.arange(1.0, A.shape[1] + 1.0)) ** 2)
            + np.count_nonzero(x > 0.5) * np.sum(x) + np.sum(np.count_nonzero(A > 0, axis=0) * A[0])
            + np.sum(np.select([x < -0.5, x < 0.5], [x, x ** 2], default=1.0) * x) + np.sum(np.select([A > 0], [A]))
            + np.nansum(x ** 2) + np.nanmean(A) + np.sum(np.nanmax(A, axis=1)) + np.nanmin(x * 3) + np.nanprod(x)
            + np.sum(np.moveaxis(T, 0, -1)[:, :, 0] * T[0]) + np.sum(np.moveaxis(T, (0, 1), (2, 0)) ** 2)
            + np.sum(np.diagonal(A) ** 2) + np.sum(np.diagonal(A, 1)) + np.sum(A.diagonal(-1) * 3)
            + np.sum(np.cumprod(x)) + np.sum(np.cumprod(A, axis=1) ** 2) + np.sum(A.cumprod(0)) + np.sum(np.cumprod(T))
            + np.sum(np.copysign(x, -1.0) ** 2 * x) + np.sum(np.copysign(1.0, x) * x) + np.sum(np.float_power(A ** 2, 1.5))
            + np.sum(np.diff(x, 2) ** 2) + np.sum(np.diff(A, 1, 0) ** 3) + np.sum(np.expand_dims(x, axis=1) * np.expand_dims(x, 0))
            + np.sum(np.where(x[0] > 0, x, 0.0)) + np.where(x[1] > 0, x[1] * x[2], 0.0)
            + np.sum(np.arange(0.5, x.shape[0]) * x) + np.sum(np.exp(-np.arange(0.0, 1.0, 0.25) * x[0])))

def sized_constructors(x, A, n, k):
    return (np.sum((np.zeros(n) + x[0]) ** 2) + np.sum(np.ones((n, 2)) * x[1]) + np.sum(np.full(n, 2.0) * x[0] ** 3)
            + np.sum(np.eye(A.shape[0], A.shape[1], k) * A) + np.sum(np.eye(A.shape[1], k=-k) * (A.T @ A))
            + np.sum(np.eye(n, M=A.shape[0]) @ A) + np.sum(np.identity(n) * x[0]) + np.sum(np.linspace(0.0, 1.0, n) * x[1])
            + np.sum(np.eye(A.shape[0]) @ A ** 2))

def diff_ends(x, A):
    return (np.sum(np.diff(x, prepend=x[0]) ** 2) + np.sum(np.diff(x, append=0.0) ** 3)
            + np.sum(np.diff(x, 2, prepend=1.0, append=x[-1]) ** 2) + np.sum(np.diff(A, axis=0, prepend=A[:1]) ** 2)
            + np.sum(np.diff(A, prepend=0.5) * A))

def base_two(x, A):
    return (np.sum(np.exp2(x) * x) + np.sum(np.logaddexp2(A, A ** 2)) + np.logaddexp2(x[0], 3.0)
            + np.sum(np.heaviside(x, 0.5) * x ** 2) + np.sum(np.heaviside(A - 0.1, 1.0) * A))

def covariances(x, A, B):
    return (np.sum(np.cov(A) ** 2) + np.sum(np.cov(A, rowvar=False) * B) + np.cov(x) + np.cov(x, bias=True) * 2.0
            + np.sum(np.cov(A, ddof=0) * A[:, :1]) + np.trace(np.cov(A.T, bias=True)))

def powers(x, S):
    return (x @ np.linalg.matrix_power(S, 5) @ x + np.sum(np.linalg.matrix_power(S, 0) * S)
            + np.sum(np.linalg.matrix_power(S, 1) ** 2) + np.trace(np.linalg.matrix_power(S * 0.5, 4)))

def power_of_an_argument(S, n):
    return np.sum(np.linalg.matrix_power(S, n))

def power_as_advised(S, n):
    P = np.eye(S.shape[0])
    for _ in range(n):
        P = P @ S
    return np.sum(P)
'''

NUMPY, JAX = numpy_and_jax_modules(SOURCE, "numpy_breadth_cases")

RNG = np.random.default_rng(20261202)


def normal(*shape):
    return RNG.normal(size=shape)


# name -> [(arguments, wrt)], several shapes each (square and not)
CASES = {
    "statistics": [((normal(5), normal(3, 4)), (0, 1)), ((normal(2), normal(4, 4)), (0, 1)),
                   ((normal(7), normal(5, 2)), (0, 1))],
    "tensor_statistics": [((normal(2, 3, 4),), (0,)), ((normal(3, 3, 3),), (0,))],
    "cumulative": [((normal(4), normal(3, 4), normal(2, 3, 4)), (0, 1, 2)),
                   ((normal(6), normal(5, 2), normal(4, 1, 3)), (0, 1, 2))],
    "joins": [((normal(3, 4), normal(3, 4), normal(3)), (0, 1, 2)),
              ((normal(2, 5), normal(2, 5), normal(2)), (0, 1, 2))],
    "norms": [((normal(4), normal(3, 5), normal(2, 3, 4)), (0, 1, 2)),
              ((normal(6), normal(4, 4), normal(3, 2, 2)), (0, 1, 2))],
    "matrices": [((normal(4), normal(4, 6), normal(3, 3)), (0, 1, 2)),
                 ((normal(5), normal(5, 3), normal(4, 4)), (0, 1, 2))],
    "shifts": [((normal(5), normal(3, 4), 2), (0, 1)), ((normal(7), normal(4, 2), -3), (0, 1)),
               ((normal(3), normal(2, 2), 7), (0, 1))],
    "pads": [((normal(5), normal(3, 4), 2), (0, 1)), ((normal(2), normal(2, 5), 0), (0, 1))],
    "special": [((RNG.uniform(-2, 2, 6), normal(4), 0.7), (0, 1, 2)), ((np.array([0.0, 1.0, -0.5]), normal(2), 0.0),
                                                                      (0, 1, 2))],
    "einsums": [((normal(3), normal(4), normal(3, 4), normal(4, 2), normal(2, 3, 4), normal(3, 3)), (0, 1, 2, 3, 4, 5)),
                ((normal(4), normal(4), normal(4, 4), normal(4, 4), normal(3, 4, 4), normal(4, 4)),
                 (0, 1, 2, 3, 4, 5))],
    "tensordots": [((normal(3), normal(3), normal(3, 4), normal(4, 2), normal(3, 3, 4), normal(3, 4, 2)),
                    (0, 1, 2, 3, 4, 5)),
                   ((normal(4), normal(2), normal(4, 4), normal(4, 4), normal(4, 4, 4), normal(4, 4, 3)),
                    (0, 1, 2, 3, 4, 5))],
    "ellipsis_einsums": [((normal(4), normal(3, 3), normal(3, 5), normal(2, 3, 3)), (0, 1, 2, 3)),
                         ((normal(2), normal(4, 2), normal(2, 2), normal(3, 2, 2)), (0, 1, 2, 3))],
    "kronecker_products": [((normal(3), normal(2), normal(2, 4), normal(5, 3)), (0, 1, 2, 3)),
                           ((normal(1), normal(4), normal(3, 3), normal(3, 3)), (0, 1, 2, 3))],
    "arg_extremes": [((normal(5, 3), normal(5, 3), np.array([0, 2, 1, 1, 0]), normal(5, 3, 4)), (0, 1, 3)),
                     ((normal(4, 4), normal(4, 4), np.array([3, 2, -1, 0]), normal(4, 4, 4)), (0, 1, 3))],
    "repetitions": [((normal(4), normal(3, 4), 2), (0, 1)), ((normal(1), normal(2, 5), 0), (0, 1)),
                    ((normal(3), normal(1, 1), 3), (0, 1))],
    "conveniences": [((normal(5), normal(3, 4), normal(2, 3, 4)), (0, 1, 2)),
                     ((normal(3), normal(4, 4), normal(3, 2, 2)), (0, 1, 2))],
    "sized_constructors": [((normal(3), normal(3, 4), 3, 1), (0, 1)), ((normal(2), normal(5, 2), 5, 0), (0, 1)),
                           ((normal(2), normal(2, 3), 2, 2), (0, 1))],
    "base_two": [((normal(5), normal(3, 4)), (0, 1)), ((normal(2), normal(2, 2)), (0, 1))],
    "diff_ends": [((normal(5), normal(3, 4)), (0, 1)), ((normal(3), normal(2, 2)), (0, 1))],
    "covariances": [((normal(5), normal(3, 5), normal(5, 5)), (0, 1, 2)),
                    ((normal(3), normal(4, 2), normal(2, 2)), (0, 1, 2))],
    "powers": [((normal(3), normal(3, 3) / 2), (0, 1)), ((normal(1), normal(1, 1)), (0, 1))],
}
POINTS = [(name, k) for name, shapes in CASES.items() for k in range(len(shapes))]


@pytest.mark.parametrize("name, k", POINTS, ids=[f"{name}-{k}" for name, k in POINTS])
def test_value_and_gradient_match_jax(name, k):
    case_matches_jax(NUMPY, JAX, CASES, name, k)


@pytest.mark.parametrize("name", list(CASES))
def test_the_formulas_display(name):
    case_formulas_display(NUMPY, CASES, name)


def test_a_join_gradient_matches_central_differences():
    args, _ = CASES["joins"][0]
    gradient = sg.grad(NUMPY.joins, wrt=0)(*args)
    np.testing.assert_allclose(gradient, richardson_gradient(NUMPY.joins, list(args), 0), rtol=1e-7, atol=1e-9)


def test_einsum_gradient_matches_central_differences():
    args, _ = CASES["einsums"][0]
    gradient = sg.grad(NUMPY.einsums, wrt=4)(*args)
    np.testing.assert_allclose(gradient, richardson_gradient(NUMPY.einsums, list(args), 4), rtol=1e-7, atol=1e-9)


def looped(A, W, n):
    total = 0.0
    for t in range(n):
        C = np.cumsum(A * (t + 1.0), axis=1)
        total = (total + np.sum(np.tanh(C) * W) + np.std(C[:, t]) + np.sum(np.einsum('ij,ij->i', C, W)**2)
                 + np.sum(np.roll(C, t, axis=1) * W))
    return total


def test_the_functions_inside_a_kept_loop_match_central_differences():
    A, W = normal(3, 4), normal(3, 4)
    value, gradient = sg.value_and_grad(looped, wrt=(0, 1))(A, W, 3)
    assert value == pytest.approx(looped(A, W, 3), rel=1e-13)
    for k in (0, 1):
        np.testing.assert_allclose(gradient[k], richardson_gradient(looped, [A, W, 3], k), rtol=1e-7, atol=1e-9)


def test_polyval_of_a_list_written_out_matches_its_derivative_by_hand():
    def quadratic(x, a):
        return np.sum(np.polyval([a, -2.0, 0.5], x))

    x, a = normal(5), 0.3
    value, (dx, da) = sg.value_and_grad(quadratic, wrt=(0, 1))(x, a)
    assert value == pytest.approx(np.sum(a * x**2 - 2 * x + 0.5), rel=1e-13)
    np.testing.assert_allclose(dx, 2 * a * x - 2, rtol=1e-13)
    assert da == pytest.approx(np.sum(x**2), rel=1e-13)


def test_einsum_infers_the_rank_of_its_operands():
    def contracted(A, x):
        return np.sum(np.einsum('ij,j', A, x))

    A, x = normal(3, 4), normal(4)
    np.testing.assert_allclose(sg.grad(contracted)(A, x), np.ones(3)[:, None] * x[None, :], rtol=1e-14)


def test_a_covariance_of_one_variable_raises_before_the_kernel_runs():
    """NumPy's np.cov of a matrix of one row is a number (0-d), not the 1 x 1 matrix the kernels compute."""
    with pytest.raises(ValueError, match=r"np.cov\(A\) on line \d+ is lifted for more than one variable"):
        sg.grad(NUMPY.covariances, wrt=1)(normal(4), normal(1, 4), normal(4, 4))


def test_the_advice_for_a_power_given_at_the_call_is_right():
    S = normal(3, 3) / 2
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"write the products in a loop \(P = np.eye"):
        sg.grad(NUMPY.power_of_an_argument, wrt=0)(S, 3)
    np.testing.assert_allclose(sg.grad(NUMPY.power_as_advised, wrt=0)(S, 3),
                               richardson_gradient(NUMPY.power_of_an_argument, (S, 3), 0), rtol=1e-8, atol=1e-10)


def test_a_join_of_other_sizes_raises_before_the_kernel_runs():
    with pytest.raises(ValueError, match=r"joins\(\): .* on line \d+: the sizes along axis 1 of the joined arrays"):
        sg.grad(NUMPY.joins, wrt=0)(normal(3, 4), normal(3, 5), normal(3))


# --- refusals ------------------------------------------------------------------------------------------------
SOURCE_LINES = pathlib.Path(__file__).read_text().splitlines()


def marker_line(marker):
    found = [k + 1 for k, line in enumerate(SOURCE_LINES) if line.rstrip().endswith(f"# HERE: {marker}")]
    assert len(found) == 1, f"marker {marker!r} found on lines {found}"
    return found[0]


def ddof_from_data(x, d):
    return np.std(x, ddof=d * 0.5)  # HERE: ddof


def std_dtype(x):
    return np.std(x, dtype=float)  # HERE: std-dtype


def einsum_ellipsis_dropped(T):
    return np.sum(np.einsum('...ij->ij', T))  # HERE: ellipsis


def einsum_ellipsis_rank(A):
    return np.sum(np.einsum('...ijk->...', A * 2.0))  # HERE: ellipsis-rank


def tensordot_axes(A, B):
    return np.sum(np.tensordot(A, B, axes=3))  # HERE: tensordot-axes


def tensordot_axes_argument(A, B, k):
    return np.sum(np.tensordot(A, B, k))  # HERE: tensordot-argument


def tensordot_repeated(A, B):
    return np.sum(np.tensordot(A, B, axes=([0, 0], [0, 1])))  # HERE: tensordot-repeated


def tensordot_too_deep(T):
    return np.sum(np.tensordot(T, T, axes=1))  # HERE: tensordot-rank


def argmax_flat(A):
    return A[0, np.argmax(A)]  # HERE: argmax-flat


def argmax_axis_range(A):
    return np.sum(np.argmax(A * 1.0, axis=2) * A[0])  # HERE: argmax-axis


def gathers_around_a_slice(T, idx):
    return np.sum(T[idx, :, idx])  # HERE: gather-slice


def einsum_wrong_rank(A, x):
    return np.sum(np.einsum('ijk,j->i', A * 2.0, x))  # HERE: einsum-rank


def pad_reflect(x):
    return np.sum(np.pad(x, 2, mode='reflect'))  # HERE: pad-mode


def norm_spectral(A):
    return np.linalg.norm(A, 2)  # HERE: norm-2


def concatenate_ranks(A, x):
    return np.sum(np.concatenate([A, x], axis=0))  # HERE: ranks


def stack_too_deep(T):
    return np.sum(np.stack([T, T]))  # HERE: too-deep


def cumsum_axis_range(A):
    return np.sum(np.cumsum(A * 1.0, axis=2))  # HERE: cumsum-axis


def diag_of_tensor(T):
    return np.sum(np.diag(T))  # HERE: diag-3d


REFUSALS = [
    (ddof_from_data, (normal(4), 1.0), "ddof", ("ddof must be an integer expression",)),
    (std_dtype, (normal(4),), "std-dtype", ("dtype=", "axis=", "ddof=", "keepdims=")),
    (einsum_ellipsis_dropped, (normal(2, 3, 3),), "ellipsis", ("`...` stands for 1 axes", "'...ij->...'")),
    (einsum_ellipsis_rank, (normal(3, 3),), "ellipsis-rank", ("'...ijk' names 3 axes of A * 2.0, which has 2",)),
    (tensordot_axes, (normal(3, 3), normal(3, 3)), "tensordot-axes", ("axes= must be an integer literal from 0",)),
    (tensordot_axes_argument, (normal(3, 3), normal(3, 3), 1), "tensordot-argument", ("an integer literal",)),
    (tensordot_repeated, (normal(3, 3), normal(3, 3)), "tensordot-repeated", ("as many distinct axes",)),
    (tensordot_too_deep, (normal(2, 2, 2),), "tensordot-rank", ("4 axes",)),
    (argmax_flat, (normal(3, 3),), "argmax-flat", ("(a flat index)", "axis=k")),
    (argmax_axis_range, (normal(3, 3),), "argmax-axis", ("axis=2", "from -2 to 1")),
    (gathers_around_a_slice, (normal(2, 2, 2), np.array([0, 1])), "gather-slice",
     ("np.transpose(T, (0, 2, 1))[idx, jdx]",)),
    (einsum_wrong_rank, (normal(3, 3), normal(3)), "einsum-rank", ("'ijk' names 3 axes of A * 2.0, which has 2",)),
    (pad_reflect, (normal(4),), "pad-mode", ("mode='constant'",)),
    (norm_spectral, (normal(3, 3),), "norm-2", ("ord=2 of a 2-D array", "'fro'")),
    (concatenate_ranks, (normal(3, 3), normal(3)), "ranks", ("different numbers of axes", "x[:, None]")),
    (stack_too_deep, (normal(2, 2, 2),), "too-deep", ("4 axes",)),
    (cumsum_axis_range, (normal(2, 2),), "cumsum-axis", ("axis=2", "from -2 to 1")),
    (diag_of_tensor, (normal(2, 2, 2),), "diag-3d", ("a vector or a matrix",)),
]


@pytest.mark.parametrize("function, args, marker, words", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_refused_with_the_line_and_the_advice(function, args, marker, words):
    with pytest.raises(sg.UnsupportedSyntaxError) as caught:
        sg.grad(function, wrt=0)(*args)
    error = caught.value
    assert error.lineno == marker_line(marker), str(error)
    assert pathlib.Path(error.filename).resolve() == pathlib.Path(__file__).resolve()
    for word in words:
        assert word in str(error), (word, str(error))


def test_a_tensordot_gradient_matches_central_differences():
    args, _ = CASES["tensordots"][0]
    gradient = sg.grad(NUMPY.tensordots, wrt=4)(*args)
    np.testing.assert_allclose(gradient, richardson_gradient(NUMPY.tensordots, list(args), 4), rtol=1e-7, atol=1e-9)


def test_tensordot_takes_the_rank_of_its_operands_from_the_first_call():
    def contracted(T, A):
        return np.sum(np.tensordot(T, A) ** 2)

    T, A = normal(2, 3, 4), normal(3, 4)
    expected = jax.grad(lambda t, a: jax.numpy.sum(jax.numpy.tensordot(t, a) ** 2))(T, A)
    np.testing.assert_allclose(sg.grad(contracted)(T, A), np.asarray(expected), rtol=1e-12)


def test_gathers_of_other_lengths_raise_before_the_kernel_runs():
    def picked(X, rows, columns):
        return np.sum(X[rows, columns] ** 2)

    with pytest.raises(ValueError, match=r"picked\(\): X\[rows, columns\] on line \d+: the sizes along axis 0 of "
                                         r"the arrays of indices must be equal"):
        sg.grad(picked)(normal(3, 3), np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(IndexError, match="columns"):
        sg.grad(picked)(normal(3, 3), np.array([0, 1]), np.array([0, 3]))


def test_the_gather_advice_followed_matches_numpy():
    def transposed_first(T, idx, jdx):
        return np.sum(np.transpose(T, (0, 2, 1))[idx, jdx] ** 2)

    T, idx, jdx = normal(3, 2, 4), np.array([0, 2, 2]), np.array([3, 0, 1])
    expected = np.zeros_like(T)
    np.add.at(expected, (idx, slice(None), jdx), 2 * T[idx, :, jdx])
    assert sg.value_and_grad(transposed_first)(T, idx, jdx)[0] == pytest.approx(np.sum(T[idx, :, jdx] ** 2), rel=1e-13)
    np.testing.assert_allclose(sg.grad(transposed_first)(T, idx, jdx), expected, rtol=1e-13)


def test_the_einsum_advice_followed_works():
    def batched(A, B):
        return np.sum(np.einsum('bij,bjk->bik', A, B)**2)

    A, B = normal(2, 3, 4), normal(2, 4, 3)
    expected = jax.grad(lambda a, b: jax.numpy.sum(jax.numpy.einsum('...ij,...jk->...ik', a, b)**2))(A, B)
    np.testing.assert_allclose(sg.grad(batched)(A, B), np.asarray(expected), rtol=1e-12)


def diagonal_filled(A, x):
    B = A * 2.0
    np.fill_diagonal(B, 0.5)
    C = A.T @ A
    np.fill_diagonal(C, x ** 2)
    return np.sum(B ** 3) + np.sum(np.sin(C))


@pytest.mark.parametrize("rows, columns", [(3, 3), (3, 5), (5, 2)])
def test_fill_diagonal_writes_the_diagonal_of_a_local_matrix(rows, columns):
    """np.fill_diagonal(B, v) was refused as a call whose value is thrown away, with the advice to remove the line,
    which gave a different function (found by probing)."""
    A, x = normal(rows, columns), normal(columns)
    value, (A_bar, x_bar) = sg.value_and_grad(diagonal_filled, wrt=(0, 1))(A, x)
    assert value == pytest.approx(diagonal_filled(A, x), rel=1e-13)
    np.testing.assert_allclose(A_bar, richardson_gradient(diagonal_filled, [A, x], 0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(x_bar, richardson_gradient(diagonal_filled, [A, x], 1), rtol=1e-8, atol=1e-10)


def listed_indices(x, A):
    return (np.sum(A[:, [0, 2]] ** 2) + np.sum(x[[0, 2, -1]] * x[[1, 1, 0]]) + np.sum(A[[1, 0]] * A[:2])
            + np.sum(A[[0, -1], 1:] ** 3) + np.sum(A[1, [2, 0, 2]] * x[:3]))


def listed_index_past_the_end(x):
    return np.sum(x[[0, 7]])


@pytest.mark.parametrize("n, rows, columns", [(5, 3, 4), (3, 2, 3)])
def test_a_list_of_indices_gathers_as_in_numpy(n, rows, columns):
    """A[:, [0, 2]] and x[[0, 2, -1]] were refused as gathers by a float array (found by probing); JAX refuses a
    list as an index, so the references are NumPy's value and central differences."""
    x, A = normal(n), normal(rows, columns)
    value, (x_bar, A_bar) = sg.value_and_grad(listed_indices, wrt=(0, 1))(x, A)
    assert value == pytest.approx(listed_indices(x, A), rel=1e-13)
    np.testing.assert_allclose(x_bar, richardson_gradient(listed_indices, [x, A], 0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(A_bar, richardson_gradient(listed_indices, [x, A], 1), rtol=1e-8, atol=1e-10)
    with pytest.raises(IndexError, match=r"indexes argument 'x' with \[0, 7\]\[k\] along axis 0, outside"):
        sg.value_and_grad(listed_index_past_the_end)(normal(5))


def running_extremes(x, A):
    peak = np.maximum.accumulate(x)
    drawdown = (peak - x) / peak
    return (np.sum(drawdown ** 2) + np.sum(np.minimum.accumulate(A, axis=1) ** 2) + np.sum(np.add.accumulate(x) * x)
            + np.sum(np.multiply.accumulate(A) * A) + np.sum(np.maximum.accumulate(A, 1)))


@pytest.mark.parametrize("n", [1, 5])
def test_ufunc_accumulate_is_the_running_value_numpy_keeps(n):
    """np.maximum.accumulate (a drawdown's running peak) was refused as an unknown attribute (found by probing);
    the four accumulations of add, multiply, maximum and minimum now match NumPy and central differences."""
    x, A = np.linspace(1.5, 2.5, n) + 0.3 * np.sin(np.arange(n) * 2.0), normal(2, 3)
    value, (x_bar, A_bar) = sg.value_and_grad(running_extremes, wrt=(0, 1))(x, A)
    assert value == pytest.approx(running_extremes(x, A), rel=1e-13)
    np.testing.assert_allclose(x_bar, richardson_gradient(running_extremes, [x, A], 0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(A_bar, richardson_gradient(running_extremes, [x, A], 1), rtol=1e-8, atol=1e-10)


def masked_reductions(x, y):
    m = (x > 0.2) & (y < 1.0)
    return (np.sum(x[x > 0.8]) + np.mean((x[m] - y[m]) ** 2) + np.sum(np.log1p(np.exp(-x[~m])))
            + np.mean(x[y > 0]) * 2.0)


def masked_meets_unmasked(x, y):
    return np.sum(x[x > 0] * y)


def test_np_sum_and_np_mean_of_masked_elements_are_numpys():
    """np.sum(x[x > 0.8]) and np.mean((x[m] - y[m]) ** 2) were refused (a size that depends on the data; found by
    probing): inside np.sum and np.mean, arrays gathered through one mask are reduced over its true elements.
    JAX cannot take a gradient through a mask that depends on x, so the references are NumPy's value and
    central differences; an array not gathered through the mask is refused, never aligned by mistake."""
    x, y = np.array([0.5, 1.2, -0.3, 0.9, 0.1, 2.0]), np.array([0.3, 1.5, 0.2, -0.4, 0.8, 0.5])
    value, (x_bar, y_bar) = sg.value_and_grad(masked_reductions, wrt=(0, 1))(x, y)
    assert value == pytest.approx(masked_reductions(x, y), rel=1e-14)
    np.testing.assert_allclose(x_bar, richardson_gradient(masked_reductions, [x, y], 0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(y_bar, richardson_gradient(masked_reductions, [x, y], 1), rtol=1e-8, atol=1e-10)
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"'x\[x > 0\]' \(a mask gather.*an array of the full "
                                                        r"size"):
        sg.grad(masked_meets_unmasked)(x, y)
