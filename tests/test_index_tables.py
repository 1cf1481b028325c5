"""Tables of indices (an int64 array of two axes: bond lists, triangle meshes, padded neighbour lists) and arrays of
indices read as loop bounds (CSR's `range(indptr[i], indptr[i + 1])`): values against NumPy, gradients and Hessians
against JAX of the same source, and every index read from a table checked."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

from conftest import jax_float64 as jax, matches_jax, numpy_and_jax_modules, write_module

SOURCE = '''
def bonds_by_column(pos, bonds, k):
    e = 0.0
    for b in range(bonds.shape[0]):
        i = bonds[b, 0]
        j = bonds[b, 1]
        d = pos[i] - pos[j]
        e += k * (np.sqrt(d @ d) - 1.0) ** 2
    return e


def bonds_by_row(pos, bonds, k):
    e = 0.0
    for i, j in bonds:
        e += k * (np.linalg.norm(pos[i] - pos[j]) - 1.0) ** 2
    return e


def bonds_unpacked(pos, bonds, k):
    e = 0.0
    for b in range(len(bonds)):
        i, j = bonds[b]
        e += k * np.sum((pos[i] - pos[j]) ** 2) + np.sum(pos[bonds[b, 0]] * pos[bonds[b, 1]])
    return e


def bonds_vectorised(pos, bonds, k):
    r = np.linalg.norm(pos[bonds[:, 0]] - pos[bonds[:, 1]], axis=1)
    return k * np.sum((r - 1.0) ** 2)


def mesh_area(V, F):
    t = 0.0
    for f in range(F.shape[0]):
        i, j, k = F[f, 0], F[f, 1], F[f, 2]
        c = np.cross(V[j] - V[i], V[k] - V[i])
        t += np.sqrt(c @ c)
    return t


def mesh_area_vectorised(V, F):
    c = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    return np.sum(np.sqrt(np.sum(c ** 2, axis=1)))


def angles(pos, triples, theta0):
    e = 0.0
    for i, j, k in triples:
        a = pos[i] - pos[j]
        b = pos[k] - pos[j]
        cosine = a @ b / np.sqrt((a @ a) * (b @ b))
        e += (cosine - np.cos(theta0)) ** 2
    return e


def neighbours(X, nbr):
    e = 0.0
    for i in range(nbr.shape[0]):
        for m in range(nbr.shape[1]):
            j = nbr[i, m]
            if j >= 0:
                d = X[i] - X[j]
                r2 = d @ d
                e += 1.0 / r2 ** 6 - 1.0 / r2 ** 3
    return e


def neighbours_vectorised(X, nbr):
    d = X[:, None, :] - X[nbr]
    r2 = np.sum(d * d, axis=2)
    return np.sum(np.where(nbr >= 0, 1.0 / r2 ** 6 - 1.0 / r2 ** 3, 0.0))


def csr_residual(x, indptr, indices, data, y):
    r = 0.0
    for i in range(len(indptr) - 1):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        r += (s - y[i]) ** 2
    return r


def cross_entropy(Z, labels):
    logp = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
    return -np.mean(np.take_along_axis(logp, labels[:, None], axis=1))


def taken(x, idx, X):
    return (np.sum(np.take(x, idx) ** 2) + np.sum(np.take(X, idx[:2], axis=1) ** 3) + np.take(x, 2)
            + np.sum(np.take(X, -1, axis=0)) + np.sum(np.take(X, idx[1:], axis=0)))


def submatrix(A, idx):
    S = A[idx[:, None], idx]
    return np.sum(S * S.T) + np.trace(S) + np.sum(A[idx, idx] ** 3)
'''

numpy_module, jax_module = numpy_and_jax_modules(SOURCE, "index_tables")


def _csr():
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((6, 5)) < 0.4, rng.standard_normal((6, 5)), 0.0)
    dense[2] = 0.0  # (an empty row: an empty range)
    indptr = np.concatenate([[0], np.cumsum((dense != 0).sum(axis=1))]).astype(np.int64)
    indices = np.nonzero(dense)[1].astype(np.int64)
    return rng.standard_normal(5), indptr, indices, dense[dense != 0], rng.standard_normal(6)


def cases():
    rng = np.random.default_rng(0)
    pos = rng.standard_normal((6, 3))
    bonds = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, -6]])  # (a negative index counts from the end)
    V, F = rng.standard_normal((5, 3)), np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4], [0, 2, 4]])
    triples = np.array([[0, 1, 2], [1, 2, 3], [3, 4, 5], [5, 0, 1]])
    nbr = np.array([[1, 2, -1], [0, 2, 3], [0, 1, 3], [1, 2, 0]])  # (-1 pads: read as the last row, skipped)
    return [("bonds_by_column", (pos, bonds, 2.0), (0, 2)), ("bonds_by_row", (pos, bonds, 2.0), (0, 2)),
            ("bonds_unpacked", (pos, bonds, 2.0), (0,)), ("bonds_vectorised", (pos, bonds, 2.0), (0, 2)),
            ("mesh_area", (V, F), (0,)), ("mesh_area_vectorised", (V, F), (0,)),
            ("angles", (pos, triples, 1.9), (0, 2)), ("neighbours", (rng.standard_normal((4, 2)), nbr), (0,)),
            ("neighbours_vectorised", (rng.standard_normal((4, 2)), nbr), (0,)),
            ("csr_residual", _csr(), (0, 3)),
            ("cross_entropy", (rng.standard_normal((6, 3)), np.array([0, 2, 1, 1, 0, 2])), (0,)),
            ("taken", (rng.standard_normal(5), np.array([4, 0, -1]), rng.standard_normal((3, 5))), (0, 2)),
            ("submatrix", (rng.standard_normal((5, 5)), np.array([0, 3, 2])), (0,))]


@pytest.mark.parametrize("name, args, wrt", cases(), ids=[c[0] for c in cases()])
def test_tables_of_indices_match_numpy_and_jax(name, args, wrt):
    function = getattr(numpy_module, name)
    matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_module, name), args, wrt, atol=1e-9,
                rtol=1e-9)


@pytest.mark.parametrize("name", ["bonds_by_column", "bonds_vectorised", "mesh_area", "csr_residual"])
@pytest.mark.parametrize("sparse", [False, True])
def test_the_hessian_through_a_table_matches_jax(name, sparse):
    """The sparse Hessian's pattern reads the table's values (which elements a bond couples)."""
    args, wrt = next((args, wrt) for n, args, wrt in cases() if n == name)
    hessian = sg.hessian(getattr(numpy_module, name), wrt=wrt[0], sparse=sparse)(*args)
    hessian = hessian.toarray() if sparse else hessian
    expected = np.asarray(jax().hessian(getattr(jax_module, name), argnums=wrt[0])(*args))
    np.testing.assert_allclose(hessian, expected.reshape(hessian.shape), rtol=1e-9, atol=1e-9)


def test_an_index_of_a_table_past_the_array_raises_index_error():
    pos = np.random.default_rng(1).standard_normal((6, 3))
    bonds = np.array([[0, 1], [1, 6]])
    with pytest.raises(IndexError):
        numpy_module.bonds_by_column(pos, bonds, 1.0)
    for name in ("bonds_by_column", "bonds_by_row", "bonds_vectorised"):
        with pytest.raises(errors.ArrayIndexError, match="pos"):
            sg.value_and_grad(getattr(numpy_module, name), wrt="pos")(pos, bonds, 1.0)
    with pytest.raises(errors.ArrayIndexError, match="pos"):
        sg.hessian(numpy_module.bonds_by_column, wrt="pos", sparse=True)(pos, bonds, 1.0)


def test_a_table_of_another_dtype_is_named_at_the_call():
    pos = np.ones((3, 3))
    transform = sg.grad(numpy_module.bonds_by_column, wrt="pos")
    transform(pos, np.array([[0, 1]]), 1.0)
    with pytest.raises(TypeError, match="'bonds'.*2-D int64.*int32"):
        transform(pos, np.array([[0, 1]], dtype=np.int32), 1.0)


def test_indices_passed_as_floats_are_told_to_pass_int64_and_that_works():
    """The advice names the argument and the spelling; followed, the function derives."""
    x, ends = np.arange(5.0), np.array([0.0, 2.0, 5.0])
    with pytest.raises(errors.UnsupportedExpressionError, match=r"np\.asarray\(indptr, dtype=np\.int64\)"):
        sg.grad(numpy_module.csr_residual, wrt="x")(x, ends, np.arange(5.0), np.ones(5), np.ones(2))
    module = write_module("def f(x, indptr):\n    s = 0.0\n    for i in range(len(indptr) - 1):\n"
                          "        for k in range(indptr[i], indptr[i + 1]):\n            s += (i + 1) * x[k] ** 2\n"
                          "    return s\n")
    with pytest.raises(errors.UnsupportedExpressionError, match=r"np\.asarray\(indptr, dtype=np\.int64\)"):
        sg.grad(module.f)(x, ends)
    np.testing.assert_allclose(sg.grad(module.f)(x, np.asarray(ends, dtype=np.int64)),
                               2 * x * np.array([1, 1, 2, 2, 2]))
