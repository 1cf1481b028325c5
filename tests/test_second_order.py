"""Second order (issue 11): hvp, hessian (dense, sparse, tuple wrt) and grad of a grad, each checked against an
independent reference: JAX (jax.hessian, jax.jvp of jax.grad) running the same source, or Richardson central
differences of a symgrad gradient that is itself checked against JAX elsewhere."""

import ast
import inspect
import math
import pathlib
import sys
import textwrap

import numba
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import symgrad as sg  # noqa: E402
from benchmarks.fuzz.oracle import FunctionalStores, jax_namespace, richardson  # noqa: E402
from symgrad.second_order import colouring  # noqa: E402

jax = pytest.importorskip("jax", reason="JAX is the independent reference for second derivatives")
jax.config.update("jax_enable_x64", True)


def twin(function):
    """The same source run by JAX (`math`/`np` as jax.numpy, stores made functional), as the fuzz oracle does."""
    tree = ast.fix_missing_locations(FunctionalStores().visit(ast.parse(textwrap.dedent(inspect.getsource(function)))))
    namespace = jax_namespace()
    exec(compile(tree, "<jax twin>", "exec"), namespace)  # noqa: S102 - the source of this file
    return namespace[function.__name__]


def close(actual, expected, rtol=1e-9):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    assert np.allclose(actual, expected, rtol=rtol, atol=rtol * (1 + np.abs(expected).max()))


# --- the functions -------------------------------------------------------------------------------------------
def straight(a, b):
    return a * a * b + math.sin(a * b) + math.exp(a) / b


def rosen(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def mirrored(x, y):
    """A loop with a sum whose pairs are x[i] and x[n-1-i]: an antidiagonal besides the diagonal."""
    n = x.shape[0]
    s = 0.0
    for i in range(n):
        s += math.log(1.0 + math.exp(x[i] * y[i])) + x[i] * x[n - 1 - i] * y[i]
    return s


def oscillator(k, c):
    """A recurrence: an integrated damped oscillator, differentiated w.r.t. stiffness and damping."""
    p = 1.0
    q = 0.0
    for t in range(50):
        a = -k * p - c * q
        p, q = p + 0.05 * q, q + 0.05 * a
    return p * p + q * q * q


def hinge(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += max(0.0, 1.0 - x[i] * x[i + 1]) ** 2 + math.tanh(x[i]) * x[i + 1]
    return s


def cases(x):
    """A branch JAX cannot trace (an `if` on a value): checked by differences instead."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        t = x[i] * x[i + 1] - 0.2
        if t > 0:
            s += t ** 3
        else:
            s += 0.5 * t * t
    return s


def smoothed(x):
    """A local array written in one loop and updated as a recurrence in another."""
    n = x.shape[0]
    y = np.zeros(n)
    for i in range(n):
        y[i] = math.tanh(x[i]) * 2.0
    for i in range(1, n):
        y[i] += y[i - 1] * 0.5
    s = 0.0
    for i in range(n):
        s += y[i] * y[i]
    return s


def relax(x):
    """A local array read and overwritten in the same iteration of a nested loop: its tangent array's reads must
    be taped as its own are, or the reverse sweep reads values a later store replaced."""
    n = x.shape[0]
    y = np.zeros(n)
    for i in range(n):
        y[i] = x[i]
    for t in range(3):
        for i in range(n):
            y[i] = math.sin(y[i]) * x[i] + 0.1 * y[i] * y[i]
    s = 0.0
    for i in range(n):
        s += y[i] * y[(i + 1) % n]
    return s


def repeat(x, n):
    s = 0.0
    for i in range(n):
        s += x * x * i
    return s


X6 = np.array([-0.9, 0.4, 1.3, -0.2, 0.7, 1.1])


# --- hvp -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", [rosen, hinge, smoothed, relax])
def test_hvp_of_an_array_argument_is_jax_jvp_of_grad(function):
    v = np.array([0.3, -1.0, 2.0, 0.5, -0.25, 1.5])
    expected = jax.jvp(jax.grad(twin(function)), (X6,), (v,))[1]
    close(sg.hvp(function)(X6, v), expected)


def test_hvp_through_a_recurrence_with_respect_to_a_float():
    expected = jax.jvp(jax.grad(twin(oscillator)), (2.0, 0.3), (-0.7, 0.0))[1]
    close(sg.hvp(oscillator)(2.0, 0.3, -0.7), expected)


def test_hvp_of_a_branch_matches_differences_of_the_gradient():
    v = np.array([1.0, -0.5, 0.25, 2.0, 0.0, -1.0])
    gradient = sg.grad(cases)
    slope, error = richardson(lambda t: float(gradient(X6 + t * v) @ np.ones(6)), [0.0], 0, None)
    # H v is the derivative of the gradient along v: summed, so one difference checks every entry's sum, and
    # then entry by entry
    product = sg.hvp(cases)(X6, v)
    assert abs(product.sum() - slope) <= 1e-6 + error
    for k in range(6):
        entry, error = richardson(lambda t, k=k: float(gradient(X6 + t * v)[k]), [0.0], 0, None)
        assert abs(product[k] - entry) <= 1e-6 * (1 + abs(entry)) + error


def test_hvp_refuses_a_v_of_the_wrong_shape_naming_v():
    h = sg.hvp(rosen)
    with pytest.raises(ValueError, match=r"v must have the shape \(6,\) of argument 'x', got \(5,\)"):
        h(X6, np.ones(5))
    with pytest.raises(ValueError, match="v must be a float"):
        sg.hvp(straight)(1.0, 2.0, np.ones(2))


def scaled(x, v):  # (an argument named as hvp's direction)
    return np.sum(x ** 3) * v[0]


def decay(p, t):  # (an argument named as jvp's tangent)
    return p[0] * np.exp(-p[1] * t) + p[2]


def test_a_direction_keyword_named_as_an_argument_of_f_is_refused_not_guessed():
    """`hvp(x, v, v=d)` of f(x, v) took d as f's v and f's v as the direction (found by probing): [0, 0, 0] where
    H d = [0, 3, 0].  Either reading is possible, so the keyword is refused; by position the product is right."""
    x, v, d = np.array([1.0, 0.5, 0.2]), np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0])
    for call in (lambda: sg.hvp(scaled)(x, v, v=d), lambda: sg.hvp(scaled)(x, v=v)):
        with pytest.raises(TypeError, match="the keyword v= names both scaled's argument v"):
            call()
    close(sg.hvp(scaled)(x, v, d), 6 * x * d * v[0])  # (H = diag(6 x) v[0])
    p, times, tangent = np.array([1.0, 0.5, 0.2]), np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.0, 0.0])
    for transform in (sg.jvp(decay), sg.jacobian(decay).jvp):
        with pytest.raises(TypeError, match="the keyword t= names both decay's argument t"):
            transform(p, times, t=tangent)
    close(sg.jvp(decay)(p, times, tangent), np.exp(-0.5 * times))  # (d/dp0 of p0 exp(-p1 t))
    close(sg.jvp(straight)(1.2, 0.7, t=0.5), sg.jvp(straight)(1.2, 0.7, 0.5))  # (no clash: the keyword is the seed)


def test_hvp_kernels_reject_a_short_v_called_directly():
    """The kernel itself (callable from @njit, no Python check in front) proves or checks v's length."""
    with pytest.raises(sg.ArrayIndexError, match="'v'"):
        sg.hvp(rosen).kernels.hvp(X6, np.ones(3))


# --- hessian -----------------------------------------------------------------------------------------------
def test_hessian_of_rosen_is_jax_hessian_and_its_sparse_pattern_is_tridiagonal():
    x = np.linspace(-1.2, 1.4, 10)
    expected = np.asarray(jax.hessian(twin(rosen))(x))
    dense = sg.hessian(rosen)(x)
    close(dense, expected)
    assert np.array_equal(dense, dense.T)
    sparse = sg.hessian(rosen, sparse=True)
    pattern = sparse.sparsity(x).toarray()
    assert np.array_equal(pattern != 0, np.abs(np.subtract.outer(np.arange(10), np.arange(10))) <= 1)
    matrix = sparse(x)
    assert matrix.nnz == 28 and matrix.format == "csr"
    close(matrix.toarray(), dense)


def test_a_sparse_pattern_holds_every_nonzero_at_random_points():
    rng = np.random.default_rng(11)
    sparse = sg.hessian(mirrored, sparse=True)
    y = rng.normal(size=7)
    pattern = sparse.sparsity(np.zeros(7), y).toarray() != 0
    expected_pattern = np.eye(7, dtype=bool) | np.eye(7, dtype=bool)[::-1]
    assert np.array_equal(pattern, expected_pattern)
    for _ in range(3):
        x = rng.normal(size=7)
        expected = np.asarray(jax.hessian(twin(mirrored))(x, y))
        assert not np.any(expected[~pattern])
        close(sparse(x, y).toarray(), expected)


def test_a_cyclic_pattern_through_a_local_array():
    sparse = sg.hessian(relax, sparse=True)
    distance = np.abs(np.subtract.outer(np.arange(6), np.arange(6)))
    assert np.array_equal(sparse.sparsity(X6).toarray() != 0, (distance <= 1) | (distance == 5))
    close(sparse(X6).toarray(), jax.hessian(twin(relax))(X6))


def test_the_colouring_separates_columns_that_share_a_row():
    x = np.zeros(10)
    rows, columns, n = sg.hessian(rosen, sparse=True)._pattern([x])
    colours = colouring(rows, columns, n)
    assert colours.max() + 1 == 3  # a tridiagonal matrix: three products, not ten
    for i in range(n):
        in_row = colours[columns[rows == i]]
        assert len(set(in_row)) == len(in_row)


@pytest.mark.parametrize("function", [hinge, smoothed])
def test_hessian_through_max_and_local_arrays_is_jax_hessian(function):
    close(sg.hessian(function)(X6), jax.hessian(twin(function))(X6))


def test_hessian_of_a_branch_matches_differences_of_the_gradient():
    gradient, hessian = sg.grad(cases), sg.hessian(cases)(X6)
    for j in range(6):
        for i in range(6):
            entry, error = richardson(lambda x, i=i: float(gradient(x)[i]), [X6], 0, j)
            assert abs(hessian[i, j] - entry) <= 1e-6 * (1 + abs(entry)) + error


def test_hessian_of_a_tuple_wrt_is_nested_tuples_as_jax():
    for function, args in ((straight, (1.2, 0.7)), (oscillator, (2.0, 0.3))):
        result = sg.hessian(function, wrt=(0, 1))(*args)
        expected = jax.hessian(twin(function), argnums=(0, 1))(*args)
        assert isinstance(result, tuple) and all(isinstance(row, tuple) and len(row) == 2 for row in result)
        close(np.array(result, dtype=float), np.array(expected, dtype=float))


def test_hessian_of_a_mixed_tuple_wrt_has_jax_shapes():
    y = np.array([0.5, -1.0, 2.0, 0.3, 0.1, -0.4])
    result = sg.hessian(mirrored, wrt=(0, 1))(X6, y)
    expected = jax.hessian(twin(mirrored), argnums=(0, 1))(X6, y)
    for a in range(2):
        for b in range(2):
            close(result[a][b], expected[a][b])


def test_hessian_of_a_float_is_a_float():
    value = sg.hessian(straight)(1.2, 0.7)
    assert isinstance(value, float)
    close(value, jax.hessian(twin(straight))(1.2, 0.7))


def test_hessian_with_respect_to_an_int_argument_is_refused():
    with pytest.raises(sg.NonDifferentiableArgumentError, match="'n'"):
        sg.hessian(repeat, wrt="n")(1.5, 3)
    close(sg.hessian(repeat)(1.5, 4), 12.0)


def test_hessian_kernel_runs_inside_users_njit_code():
    """A Newton step written in Numba, calling the compiled Hessian and gradient."""
    hessian = sg.hessian(rosen).kernels.hessian
    gradient = sg.grad(rosen).kernels.grad

    @numba.njit
    def newton_step(x):
        return x - np.linalg.solve(hessian(x), gradient(x))

    x = np.linspace(0.8, 1.2, 6)
    close(newton_step(x), x - np.linalg.solve(sg.hessian(rosen)(x), sg.grad(rosen)(x)))


# --- nesting -----------------------------------------------------------------------------------------------
def test_grad_of_grad_is_jax_to_third_order():
    f = twin(straight)
    close(sg.grad(sg.grad(straight))(1.2, 0.7), jax.grad(jax.grad(f))(1.2, 0.7))
    close(sg.grad(sg.grad(straight), wrt=1)(1.2, 0.7), jax.grad(jax.grad(f), argnums=1)(1.2, 0.7))
    close(sg.grad(sg.grad(sg.grad(straight, wrt=1)))(1.2, 0.7),
          jax.grad(jax.grad(jax.grad(f, argnums=1)))(1.2, 0.7))
    value, second = sg.value_and_grad(sg.grad(oscillator))(2.0, 0.3)
    close(value, jax.grad(twin(oscillator))(2.0, 0.3))
    close(second, jax.grad(jax.grad(twin(oscillator)))(2.0, 0.3))


def test_grad_of_anything_but_a_scalar_gradient_is_refused():
    for inner in (sg.hvp(straight), sg.value_and_grad(straight), sg.grad(straight, wrt=(0, 1))):
        with pytest.raises(TypeError, match="the inner transform must be a grad with respect to one float"):
            sg.grad(inner)


def test_grad_of_an_array_gradient_is_refused():
    with pytest.raises(sg.NonDifferentiableArgumentError, match="array"):
        sg.grad(sg.grad(rosen))(X6)


def test_second_order_transforms_show_source_and_formulas():
    h = sg.hvp(straight)
    assert "def grad(a, b, v):" in h.source()
    assert r"\frac" in h.latex()


def test_value_grad_and_hessian_for_newton():
    x = np.linspace(-1.2, 1.4, 10)
    value, gradient, hessian = sg.value_grad_and_hessian(rosen, sparse=True)(x)
    close(value, rosen(x))
    close(gradient, jax.grad(twin(rosen))(x))
    close(hessian.toarray(), jax.hessian(twin(rosen))(x))


def test_hvp_has_no_value_of_f():
    with pytest.raises(TypeError, match="has no value of f: use sg.value_and_grad"):
        sg.hvp(straight).value(1.0, 2.0)


def test_hvp_of_a_tuple_wrt_takes_a_tuple_v():
    expected = jax.jvp(jax.grad(twin(straight), argnums=(0, 1)), (1.2, 0.7), (0.5, -2.0))[1]
    close(np.array(sg.hvp(straight, wrt=(0, 1))(1.2, 0.7, (0.5, -2.0))), np.array(expected))
    with pytest.raises(ValueError, match="v must be a tuple of 2 directions"):
        sg.hvp(straight, wrt=(0, 1))(1.2, 0.7, 0.5)


def frobenius(a, t):
    s = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            s += a[i, j] ** 2 * t
    return s


def test_hessian_with_respect_to_a_2d_array_in_a_tuple_is_refused():
    a = np.ones((2, 3))  # (alone, a 2-D wrt is supported: test_hessian.py)
    with pytest.raises(sg.NonDifferentiableArgumentError, match=r"'a': a 2-D array in a tuple wrt, which takes floats and 1-D arrays: take "
                                                                r"its Hessian alone \(wrt='a'\)"):
        sg.hessian(frobenius, wrt=(1, 0))(a, 2.0)
    close(sg.hvp(frobenius)(a, 2.0, np.ones((2, 3))), np.full((2, 3), 4.0))


def test_scipy_newton_methods_converge_with_hvp_and_hessian():
    from scipy.optimize import minimize

    x0 = np.full(20, -0.5)
    gradient, product = sg.grad(rosen), sg.hvp(rosen)
    newton = minimize(rosen, x0, jac=gradient, hessp=product, method="Newton-CG", options={"xtol": 1e-10})
    exact = minimize(rosen, x0, jac=gradient, hess=sg.hessian(rosen), method="trust-exact")
    sparse = minimize(rosen, x0, jac=gradient, hess=sg.hessian(rosen, sparse=True), method="trust-constr",
                      options={"gtol": 1e-10, "xtol": 1e-14})
    for result in (newton, exact, sparse):
        assert result.success and np.allclose(result.x, 1.0, atol=1e-6), result.message
