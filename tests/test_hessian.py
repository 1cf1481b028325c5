"""Hessians by colouring, the summarised pattern, value_grad_and_hessian in one kernel call, nested transforms to
third order, the Hessian's display and its refusals.  Each derivative is checked against an independent
reference: JAX (the same source, through the fuzz oracle's twin), `sympy.hessian`/`sympy.diff` of a hand-written
SymPy expression, or Richardson central differences of a symgrad gradient (itself checked against JAX)."""

import math
import re

import numba
import numpy as np
import pytest
import sympy

import symgrad as sg
from benchmarks.array_problems import logistic_nll, rosen_vectorised
from benchmarks.fuzz.oracle import richardson
from symgrad import sparsity
from symgrad.second_order import colouring
from test_second_order import X6, close, hinge, mirrored, relax, rosen, straight, twin

jax = pytest.importorskip("jax", reason="JAX is the independent reference for second derivatives")
jax.config.update("jax_enable_x64", True)


def blend(a, x):
    """A float and an array interacting in a loop: hessian(grad(blend, wrt=a), wrt=x) is a third derivative."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += a * a * x[i] * x[i + 1] + math.sin(a * x[i]) + math.exp(0.1 * a * x[i + 1])
    return s


def cubic(a, b):
    return a ** 3 * b + math.exp(a * b) - math.log(b) * a * a


A, B = 0.7, 1.3


def symbols():
    a, b = sympy.symbols("a b")
    return a, b, a ** 3 * b + sympy.exp(a * b) - sympy.log(b) * a * a  # cubic, written by hand


def last_of_a_local(x):
    w = 1 + x
    return np.sum(w[:-1] ** 3) + w[-1] ** 3 + np.sum(w[:-2] ** 2) * w[-1]


def last_of_a_running_sum(x):
    c = np.cumsum(x)
    return np.sum(c[:-1] ** 2) + c[-1] ** 3


def levy(x):
    w = 1 + (x - 1) / 4
    term1 = np.sin(np.pi * w[0]) ** 2
    term3 = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    wi = w[:-1]
    return term1 + np.sum((wi - 1) ** 2 * (1 + 10 * np.sin(np.pi * wi + 1) ** 2)) + term3


# --- dense and sparse by colouring --------------------------------------------------------------------------
@pytest.mark.parametrize("function", [last_of_a_local, last_of_a_running_sum, levy])
def test_a_negative_index_into_a_local_array_is_in_the_hessian_pattern(function):
    """`w[-1]` of a local array was a different element from `w[n - 1]` to the pattern, so its row and column were
    left out of the Hessian (Levy's last diagonal entry was 0) and colours shared by mistake corrupted others
    (found by probing): the pattern counts a negative index from the end as the kernels do."""
    x = np.array([0.5, 1.0, 2.0, -0.5, 0.25])
    expected = jax.hessian(twin(function))(x)
    close(sg.hessian(function)(x), expected)
    close(sg.hessian(function, sparse=True)(x).toarray(), expected)
    close(sg.value_grad_and_hessian(function)(x)[2], expected)


def test_dense_hessian_by_colours_is_jax_and_the_unit_vector_loop():
    x = np.linspace(-1.2, 1.4, 30)
    hessian = sg.hessian(rosen)
    dense = hessian(x)
    close(dense, jax.hessian(twin(rosen))(x))
    close(dense, hessian.kernels.hessian(x))  # n products with unit vectors, the kernel for @njit code
    assert np.array_equal(dense, dense.T)  # each entry computed once and mirrored
    assert hessian._plan([x]).colours.max() + 1 == 3


@pytest.mark.parametrize("function", [mirrored, relax, hinge])
def test_coloured_hessians_through_local_arrays_and_kinks_are_jax(function):
    args = (X6, X6[::-1].copy()) if function is mirrored else (X6,)
    close(sg.hessian(function)(*args), jax.hessian(twin(function))(*args))
    close(sg.hessian(function, sparse=True)(*args).toarray(), jax.hessian(twin(function))(*args))


def test_a_straight_line_hessian_is_sympy_hessian_of_the_hand_written_expression():
    a, b, expression = symbols()
    expected = np.array(sympy.hessian(expression, (a, b)).subs({a: A, b: B}), dtype=float)
    close(np.array(sg.hessian(cubic, wrt=(0, 1))(A, B), dtype=float), expected)
    assert r"\begin{pmatrix}" in sg.hessian(cubic, wrt=(0, 1)).latex()


def test_the_summarised_pattern_is_the_pattern_run_iteration_by_iteration(monkeypatch):
    from symgrad.api import lifted

    def run(function, values, name="x"):
        return sparsity.hessian_pattern(lifted(function, (name,)), name, values)

    data = np.zeros((30, 4))
    cases = [(rosen, [np.zeros(40)]), (mirrored, [np.zeros(9), np.zeros(9)]), (relax, [np.zeros(8)]),
             (hinge, [np.zeros(12)]), (blend, [0.5, np.zeros(10)]), (logistic_nll, [np.zeros(4), data, np.zeros(30)]),
             (rosen_vectorised, [np.zeros(15)]), (quartic_rows, [np.zeros(5), data[:, :3]])]
    names = {logistic_nll: "w", quartic_rows: "w"}
    summarised = [run(f, v, names.get(f, "x")) for f, v in cases]
    monkeypatch.setattr(sparsity._Pattern, "summarised", lambda self, loop: False)
    for (function, values), fast in zip(cases, summarised):
        assert np.array_equal(fast, run(function, values, names.get(function, "x"))), function.__name__


def quartic_rows(w, X):
    """Rows of data through an inner loop, with a product of two row sums: every pair of w interacts."""
    s = 0.0
    for i in range(X.shape[0]):
        a = 0.0
        b = 0.0
        for j in range(X.shape[1]):
            a += X[i, j] * w[j]
            b += w[j + 2] * X[i, j]
        s += a * b + w[i % 5] ** 2
    return s


def test_a_nested_loop_over_data_is_summarised_and_its_hessian_is_jax():
    rng = np.random.default_rng(9)
    w, X = rng.normal(size=5), rng.normal(size=(12, 3))
    expected = np.asarray(jax.hessian(twin(quartic_rows))(w, X))
    close(sg.hessian(quartic_rows)(w, X), expected)
    close(sg.hessian(quartic_rows, sparse=True)(w, X).toarray(), expected)
    w4, data = rng.normal(size=4), rng.normal(size=(40, 4))
    y = (rng.random(40) < 0.5).astype(float)
    close(sg.hessian(logistic_nll)(w4, data, y), jax.hessian(twin(logistic_nll))(w4, data, y))


def test_a_summarised_pattern_holds_every_nonzero_of_jax_at_random_points():
    rng = np.random.default_rng(3)
    sparse = sg.hessian(rosen, sparse=True)
    pattern = sparse.sparsity(np.zeros(25)).toarray() != 0
    assert np.array_equal(pattern, np.abs(np.subtract.outer(np.arange(25), np.arange(25))) <= 1)
    for _ in range(3):
        x = rng.normal(size=25)
        expected = np.asarray(jax.hessian(twin(rosen))(x))
        assert not np.any(expected[~pattern])
        close(sparse(x).toarray(), expected)


def test_each_sparse_hessian_is_a_checked_csr_matrix_of_its_own():
    """The CSR matrix is made past scipy's per-call checks: it must be what the checked constructor makes, and
    changing one result's structure in place (eliminate_zeros) must not reach the next call's."""
    import scipy.sparse

    sparse = sg.hessian(rosen, sparse=True)
    x = np.linspace(-1.2, 1.4, 25)
    x[10] = 0.0  # entries 400 x_i of the off-diagonals become exact zeros at x_i = 0
    first = sparse(x)
    first.check_format(full_check=True)
    checked = scipy.sparse.csr_matrix((first.data, first.indices, first.indptr), shape=first.shape)
    assert type(first) is type(checked) and first.has_canonical_format and first.shape == (25, 25)
    assert (first != checked).nnz == 0
    close(first.toarray(), jax.hessian(twin(rosen))(x))
    structural, indptr = first.nnz, first.indptr.copy()
    first.eliminate_zeros()
    assert first.nnz < structural
    second = sparse(x)
    assert second.nnz == structural and np.array_equal(second.indptr, indptr)
    close(second.toarray(), jax.hessian(twin(rosen))(x))
    assert sparse.sparsity(x).nnz == structural


def test_the_compiled_colouring_separates_columns_that_share_a_row():
    rng = np.random.default_rng(5)
    n = 40
    dense = rng.random((n, n)) < 0.08
    dense = dense | dense.T | np.eye(n, dtype=bool)
    rows, columns = np.nonzero(dense)
    colours = colouring(rows, columns, n)
    for i in range(n):
        in_row = colours[columns[rows == i]]
        assert len(set(in_row)) == len(in_row)


# --- value, gradient and Hessian in one compiled call ---------------------------------------------------------
def test_value_grad_and_hessian_is_one_kernel_callable_from_njit():
    x = np.linspace(-1.2, 1.4, 12)
    transform = sg.value_grad_and_hessian(rosen)
    value, gradient, hessian = transform(x)
    close(value, rosen(x))
    close(gradient, jax.grad(twin(rosen))(x))
    close(hessian, jax.hessian(twin(rosen))(x))
    kernel, plan = transform.kernels.value_grad_and_hessian, transform.plan(x)

    @numba.njit
    def newton(x, steps):
        for _ in range(steps):
            _, g, h = kernel(x, plan)
            x = x - np.linalg.solve(h, g)
        return x

    assert np.allclose(newton(np.full(12, 0.9), 12), 1.0, atol=1e-10)


def test_a_plan_made_for_another_size_raises_not_a_wrong_hessian():
    """A plan made at 5 elements, passed with 8, read a 5-element colouring into an (8, 8) Hessian: wrong by 414
    with no error (found by probing)."""
    transform = sg.value_grad_and_hessian(rosen)
    plan = transform.plan(np.linspace(-1, 1, 5))
    x = np.linspace(-1, 1, 8)
    for kernel in (transform.kernels.value_grad_and_hessian, transform.kernels.coloured_hessian,
                   transform.kernels.sparse_data):
        with pytest.raises(ValueError, match="the plan was made for a wrt argument of another size"):
            kernel(x, plan)
    close(transform.kernels.coloured_hessian(x, transform.plan(x)), jax.hessian(twin(rosen))(x))


# --- nesting -------------------------------------------------------------------------------------------------
def test_hessian_of_a_grad_is_a_third_derivative_as_jax_and_sympy():
    a, b, expression = symbols()
    third = float(sympy.diff(expression, a, 3).subs({a: A, b: B}))
    close(sg.hessian(sg.grad(cubic))(A, B), third)
    close(sg.grad(sg.grad(sg.grad(cubic)))(A, B), third)
    mixed = np.array(sympy.hessian(sympy.diff(expression, b), (a, b)).subs({a: A, b: B}), dtype=float)
    close(np.array(sg.hessian(sg.grad(cubic, wrt=1), wrt=(0, 1))(A, B), dtype=float), mixed)
    close(sg.hessian(sg.grad(cubic))(A, B), jax.hessian(jax.grad(twin(cubic)))(A, B))


def test_hessian_of_a_grad_wrt_an_array_is_jax_and_differences():
    x = np.linspace(-0.8, 1.1, 7)
    composed = sg.hessian(sg.grad(blend), wrt=1)
    expected = np.asarray(jax.hessian(jax.grad(twin(blend)), argnums=1)(0.6, x))
    close(composed(0.6, x), expected)
    close(sg.hessian(sg.grad(blend), wrt=1, sparse=True)(0.6, x).toarray(), expected)
    inner = sg.grad(sg.grad(blend), wrt=1)  # the gradient of d blend / da w.r.t. x, differenced once more
    matrix = composed(0.6, x)
    for i in range(7):
        for j in range(7):
            entry, error = richardson(lambda y, i=i: float(inner(0.6, y)[i]), [x], 0, j)
            assert abs(matrix[i, j] - entry) <= 1e-6 * (1 + abs(entry)) + error
    value, gradient, hessian = sg.value_grad_and_hessian(sg.grad(blend), wrt=1)(0.6, x)
    close(value, jax.grad(twin(blend))(0.6, x))
    close(gradient, jax.grad(jax.grad(twin(blend)), argnums=1)(0.6, x))
    close(hessian, expected)
    product = sg.hvp(sg.grad(blend), wrt=1)(0.6, x, np.ones(7))
    close(product, expected @ np.ones(7))
    assert composed.kernels.hvp is not None and r"\begin{aligned}" in composed.latex()


def test_hessian_of_a_float_and_an_array_has_jax_blocks():
    x = np.linspace(-0.8, 1.1, 5)
    result = sg.hessian(blend, wrt=(0, 1))(0.6, x)
    expected = jax.hessian(twin(blend), argnums=(0, 1))(0.6, x)
    assert isinstance(result[0][0], float) and result[0][1].shape == (5,) and result[1][1].shape == (5, 5)
    for i in range(2):
        for j in range(2):
            close(result[i][j], expected[i][j])


@pytest.mark.parametrize("inner", ["hessian", "hvp", "value_and_grad", "tuple grad"])
def test_nestings_that_make_no_sense_are_refused(inner):
    transform = {"hessian": lambda: sg.hessian(cubic), "hvp": lambda: sg.hvp(cubic),
                 "value_and_grad": lambda: sg.value_and_grad(cubic),
                 "tuple grad": lambda: sg.grad(cubic, wrt=(0, 1))}[inner]()
    for outer in (sg.hessian, sg.hvp, sg.value_grad_and_hessian, sg.grad):
        with pytest.raises(TypeError, match="the inner transform must be a grad with respect to one float"):
            outer(transform)


def test_hessian_of_a_grad_wrt_an_array_is_refused_naming_it():
    with pytest.raises(sg.NonDifferentiableArgumentError, match="'x', which is an array"):
        sg.hessian(sg.grad(blend, wrt=1))(0.6, X6)


# --- a 2-D array argument ----------------------------------------------------------------------------------
def layer(W, x):
    """A matrix read at (i, j), at the cyclic neighbour (i, j + 1) and through a row sum: a banded Hessian over
    W's C-order elements."""
    s = 0.0
    for i in range(W.shape[0]):
        row = 0.0
        for j in range(W.shape[1]):
            s += math.sin(W[i, j] * x[j]) * W[i, (j + 1) % W.shape[1]]
            row += W[i, j] * x[j]
        s += math.tanh(row)
    return s


def test_hessian_wrt_a_2d_array_is_jax_dense_and_sparse_with_its_pattern():
    W, x = RNG_2D.normal(size=(3, 4)), RNG_2D.normal(size=4)
    expected = np.asarray(jax.hessian(twin(layer))(W, x))  # (3, 4, 3, 4)
    dense = sg.hessian(layer)(W, x)
    assert dense.shape == (3, 4, 3, 4)
    close(dense, expected)
    sparse = sg.hessian(layer, sparse=True)
    matrix, pattern = sparse(W, x), sparse.sparsity(W, x).toarray() != 0
    assert matrix.format == "csr" and matrix.shape == (12, 12) and matrix.nnz == 3 * 16  # (a row's 4 x 4 block)
    close(matrix.toarray(), expected.reshape(12, 12))
    for _ in range(3):  # no nonzero outside the pattern at random points
        assert not np.any(np.asarray(jax.hessian(twin(layer))(RNG_2D.normal(size=(3, 4)), x)).reshape(12, 12)[~pattern])
    value, gradient, hessian = sg.value_grad_and_hessian(layer)(W, x)
    close(value, layer(W, x))
    close(gradient, jax.grad(twin(layer))(W, x))
    close(hessian, expected)


def test_hessian_wrt_a_2d_array_is_differences_of_the_gradient_and_hvp_is_jax():
    W, x = RNG_2D.normal(size=(2, 3)), RNG_2D.normal(size=3)
    gradient = sg.grad(layer)
    columns = []
    for k in range(W.size):
        def moved(h, k=k):
            shifted = W.copy()
            shifted.flat[k] += h
            return gradient(shifted, x).reshape(-1)
        columns.append(np.array([richardson(lambda h, e=e: moved(h)[e], [0.0], 0, None)[0] for e in range(W.size)]))
    close(sg.hessian(layer)(W, x).reshape(6, 6), np.array(columns).T, rtol=1e-7)
    v = RNG_2D.normal(size=(2, 3))
    close(sg.hvp(layer)(W, x, v), np.einsum("ijkl,kl->ij", np.asarray(jax.hessian(twin(layer))(W, x)), v))


def test_the_compiled_hessian_loops_refuse_a_2d_array_naming_it():
    hessian = sg.hessian(layer)
    with pytest.raises(sg.NonDifferentiableArgumentError, match="'W': a 2-D array, where the compiled loops of "
                                                                r"\.kernels take floats and 1-D arrays: pass it "
                                                                "flattened"):
        hessian.kernels.hessian


RNG_2D = np.random.default_rng(1102)


# --- refusals and conventions --------------------------------------------------------------------------------
def pair(a, b):
    return a * b, a + b


def test_hessian_of_a_tuple_return_is_refused_with_advice():
    for transform in (sg.hessian, sg.hvp, sg.value_grad_and_hessian):
        with pytest.raises(TypeError, match=r"returns a tuple of 2 values; .*hessian.* one number \(sg.jacobian"):
            transform(pair)(1.0, 2.0) if transform is not sg.hvp else transform(pair)(1.0, 2.0, 1.0)


def stepped(x):
    """floor, sign and abs: piecewise constant or linear, their second derivative zero away from the kinks."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += math.floor(x[i]) * x[i + 1] ** 2 + np.sign(x[i + 1]) * x[i] ** 3 + abs(x[i] - x[i + 1]) * x[i]
    return s


def test_second_derivatives_through_floor_sign_and_abs_are_zero_away_from_kinks_as_jax():
    x = np.array([0.3, -1.7, 2.2, 0.9, -0.4, 1.6])  # no element at a kink
    close(sg.hessian(stepped)(x), jax.hessian(twin(stepped))(x))
    gradient = sg.grad(stepped)
    hessian = sg.hessian(stepped)(x)
    for i in range(6):
        for j in range(6):
            entry, error = richardson(lambda y, i=i: float(gradient(y)[i]), [x], 0, j)
            assert abs(hessian[i, j] - entry) <= 1e-6 * (1 + abs(entry)) + error


def test_floor_and_sign_add_no_pair_to_the_pattern():
    def floored(x):
        s = 0.0
        for i in range(x.shape[0] - 1):
            s += math.floor(x[i] * x[i + 1]) + np.sign(x[i]) * x[i + 1]
        return s

    assert sg.hessian(floored, sparse=True).sparsity(X6).nnz == 0
    close(sg.hessian(floored)(X6), np.zeros((6, 6)))


# --- display -------------------------------------------------------------------------------------------------
def test_latex_shows_the_matrix_up_to_six_rows_and_the_entries_beyond():
    small = sg.hessian(rosen)
    small(np.ones(5))
    assert r"\begin{pmatrix}" in small.latex() and "x_{4}" in small.latex()
    large = sg.hessian(rosen)
    large(np.ones(40))
    shown = large.latex()
    assert r"\begin{pmatrix}" not in shown
    assert r"tridiagonal Hessian, $40 \times 40$" in shown and "H_{i,i}, H_{i,i+1} = H_{i+1,i}" in shown
    # the interior entries, as sympy.hessian of the hand-written terms that involve x_i gives them
    x = sympy.symbols("x0:3")
    terms = sum(100 * (x[k + 1] - x[k] ** 2) ** 2 + (1 - x[k]) ** 2 for k in range(2))
    diagonal = sympy.expand(sympy.diff(terms, x[1], 2))  # 1200 x1^2 - 400 x2 + 202
    assert diagonal == 1200 * x[1] ** 2 - 400 * x[2] + 202
    assert r"H_{i,i} &= - 400.0 x_{i + 1} + 1200.0 x_{i}^{2} + 202.0" in shown
    assert sympy.diff(terms, x[1], x[2]) == -400 * x[1] and r"H_{i,i + 1} &= - 400.0 x_{i}" in shown


@pytest.mark.parametrize("sparse", [False, True])
def test_a_wrong_argument_after_a_good_call_is_a_type_error_naming_it(sparse):
    """The compiled Hessians are plain njit functions: the call checks the arguments before they reach one."""
    hessian = sg.hessian(rosen, sparse=sparse)
    hessian(X6)
    for bad, problem in (([0.1] * 6, "must be a 1-D float64 array, got list"),
                         (np.arange(6), "must be a float64 array, got dtype int64")):
        with pytest.raises(TypeError, match=f"rosen\\(\\): argument 'x' {re.escape(problem)}"):
            hessian(bad)
    with pytest.raises(TypeError, match="argument 'x'"):
        sg.value_grad_and_hessian(rosen)(np.arange(6))


RIDGE_SOURCE = '''
def ridge(w, X, y):
    r = X @ w - y
    return np.sum(r * r) + np.sum(w ** 4)
'''


@pytest.fixture
def ridge_pair(make_module):
    """ridge() in NumPy and in jax.numpy: X is used only in `X @ w`, so its rank comes from the first call."""
    return (make_module("import numpy as np\n" + RIDGE_SOURCE).ridge,
            make_module("import jax.numpy as np\n" + RIDGE_SOURCE).ridge)


def test_second_order_transforms_take_a_matrix_rank_from_the_first_call_as_grad_does(ridge_pair):
    """hvp, hessian and value_grad_and_hessian once derived before looking at the arguments, read X as a vector
    and refused the call (a TypeError naming X), while grad took it."""
    ridge, twin_ridge = ridge_pair
    rng = np.random.default_rng(3)
    w, X, y, v = rng.random(3), rng.random((5, 3)), rng.random(5), rng.random(3)
    expected = np.asarray(jax.hessian(twin_ridge)(w, X, y))
    np.testing.assert_allclose(sg.hessian(ridge)(w, X, y), expected, rtol=1e-12)
    np.testing.assert_allclose(sg.hessian(ridge, sparse=True)(w, X, y).toarray(), expected, rtol=1e-12)
    np.testing.assert_allclose(sg.hvp(ridge)(w, X, y, v), expected @ v, rtol=1e-12)
    value, gradient, hessian = sg.value_grad_and_hessian(ridge)(w, X, y)
    assert value == pytest.approx(float(twin_ridge(w, X, y)), rel=1e-13)
    np.testing.assert_allclose(gradient, np.asarray(jax.grad(twin_ridge)(w, X, y)), rtol=1e-12)
    np.testing.assert_allclose(hessian, expected, rtol=1e-12)


@pytest.mark.parametrize("transform", ["hvp", "hessian", "sparse hessian", "value_grad_and_hessian"])
def test_second_order_kernels_check_the_shapes_a_matrix_product_needs(ridge_pair, transform):
    """The directional program dropped the lowering's shape checks: with w longer than X has columns, the HVP read
    X past its rows and returned numbers.  Now every second-order kernel raises the gradient's ValueError."""
    ridge = ridge_pair[0]
    X, y, w = np.ones((5, 3)), np.ones(5), np.ones(4)
    call = {"hvp": lambda: sg.hvp(ridge)(w, X, y, np.ones(4)), "hessian": lambda: sg.hessian(ridge)(w, X, y),
            "sparse hessian": lambda: sg.hessian(ridge, sparse=True)(w, X, y),
            "value_grad_and_hessian": lambda: sg.value_grad_and_hessian(ridge)(w, X, y)}[transform]
    with pytest.raises(ValueError, match=r"X @ w on line 4: the last axis of X and the first axis of w"):
        call()


def test_value_grad_and_hessian_sees_a_rebound_module_number_in_all_three(make_module):
    """The one-kernel value_grad_and_hessian calls the gradient's kernel, which a changed module-level number did
    not derive again: after `SCALE = 5.0` it returned the new Hessian with the old value and gradient.  The
    reference is the hand-derived value, gradient and Hessian of SCALE * sum(p**4)."""
    module = make_module("import numpy as np\nSCALE = 2.0\n\ndef quartic(p):\n    return SCALE * np.sum(p ** 4)\n")
    p = np.array([1.0, 2.0, -0.5])
    transforms = [sg.value_grad_and_hessian(module.quartic), sg.value_grad_and_hessian(module.quartic, sparse=True)]
    hvp = sg.hvp(module.quartic)
    for scale in (2.0, 5.0, -1.5):
        module.SCALE = scale
        for transform in transforms:
            value, gradient, hessian = transform(p)
            assert value == pytest.approx(scale * np.sum(p ** 4), rel=1e-15)
            np.testing.assert_allclose(gradient, 4 * scale * p ** 3, rtol=1e-15)
            hessian = hessian.toarray() if transform.sparse else hessian
            np.testing.assert_allclose(hessian, np.diag(12 * scale * p ** 2), rtol=1e-15)
        np.testing.assert_allclose(hvp(p, np.ones(3)), 12 * scale * p ** 2, rtol=1e-15)


def scaled_cubes(x, scale=2.0):
    return scale * np.sum(x ** 3)


def test_an_hvp_of_a_function_with_a_default_argument_takes_the_last_argument_as_v():
    """hvp(x, v) of f(x, scale=2.0) read v as scale on the first call, which then failed with a misleading message
    about scale's rank (found by probing): v is the last positional argument, as documented."""
    x, v = np.array([0.5, 1.0, -2.0]), np.array([1.0, 0.5, 2.0])
    close(sg.hvp(scaled_cubes)(x, v), 2.0 * 6 * x * v)
    close(sg.hvp(scaled_cubes)(x, 3.0, v), 3.0 * 6 * x * v)


def rows_under_an_early_return(x, y, a):
    if a < -0.41:
        return a
    s = 0.0
    for i in range(x.size):
        h = np.zeros(len(y))
        for j in range(len(y)):
            h[j] = x[i] * y[j]
        r = 0.0
        for j in range(len(y)):
            r += h[j] * x[1]
        s += r * r
    return s


def test_a_local_array_read_under_a_guard_is_taped_for_the_hessian():
    """A read of a local array made anew in each iteration, under the guard of an early return, had a tangent
    wrapped in a Piecewise, which reverse mode did not record: the Hessian read the tangent array as the last
    iteration left it (found by the fuzzer's coloured/unit-vector Hessian check, seed 12900031)."""
    x, y = np.array([-1.3, -1.19, -1.03]), np.array([-0.36, 0.43, -0.61])
    expected = jax.hessian(twin(rows_under_an_early_return))(x, y, 0.1)
    close(sg.hessian(rows_under_an_early_return)(x, y, 0.1), expected)
    close(sg.hessian(rows_under_an_early_return).kernels.hessian(x, y, 0.1), expected)


def matrix_quadratic(W, b):
    return np.sum((W @ b) ** 2) + np.sum(b ** 3)


def test_a_matrix_in_a_tuple_wrt_is_refused_with_advice_that_works():
    """A 2-D array in a tuple wrt was told 'a call takes ... a 2-D array ... pass it flattened', which contradicts
    itself (found by a probe); the advice now is its Hessian alone, which is jax.hessian's."""
    jax = pytest.importorskip("jax", reason="JAX is the reference for the Hessian")
    jax.config.update("jax_enable_x64", True)
    W, b = np.arange(6.0).reshape(2, 3) / 7, np.array([0.5, -1.0, 2.0])
    with pytest.raises(sg.NonDifferentiableArgumentError, match=r"take its Hessian alone \(wrt='W'\)"):
        sg.hessian(matrix_quadratic, wrt=(0, 1))(W, b)
    twin = lambda W, b: jax.numpy.sum((W @ b) ** 2) + jax.numpy.sum(b ** 3)  # noqa: E731
    np.testing.assert_allclose(sg.hessian(matrix_quadratic, wrt="W")(W, b), jax.hessian(twin)(W, b), rtol=1e-12)
