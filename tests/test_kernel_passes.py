"""The kernel passes of issue 13 (`write_once_adjoints`, `recurrence_order`, `name_sums` in forward mode,
`split_rows` and `vector_functions`): each
program is checked against central differences (Richardson) or a hand formula, with the pass on and off, and the
source is checked to show that the pass fired (or, where its precondition fails, that it did not)."""

import inspect
import math
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the benchmarks package

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.special import gammaln  # noqa: E402
from conftest import richardson_gradient  # noqa: E402

import symgrad as sg  # noqa: E402
from benchmarks.array_problems import logistic_nll, logistic_nll_vectorised, oscillator, rosen  # noqa: E402


def rosen_hand(x):
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


def stencil(x):
    """Three offsets, the lowest at the loop's start: x[i-1], x[i], x[i+1] for i in 1..n-2."""
    s = 0.0
    for i in range(1, len(x) - 1):
        s += math.sin(x[i - 1]) * x[i] + x[i + 1] ** 2 * x[i - 1]
    return s


def gapped(x):
    """Offsets 0 and 2 (none at 1), each element read twice at offset 0."""
    s = 0.0
    for i in range(len(x) - 2):
        s += x[i] * x[i + 2] + math.exp(0.1 * x[i])
    return s


def tail_only(x):
    """The loop covers elements 2.. only: the first two stay zeros, so the array keeps its zero fill."""
    s = 0.0
    for i in range(2, len(x)):
        s += x[i] ** 3
    return s


def from_the_end(x, k):
    """x[i - k] with i from 0 reads from the end (a negative index): the pass must not fire."""
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i - k]
    return s


def read_back(x):
    """A local array added into and read in the same loop: not the pass's pattern."""
    h = np.zeros(len(x))
    s = 0.0
    for i in range(len(x) - 1):
        h[i + 1] += x[i]
        s += h[i] * x[i]
    return s


def local_array(x):
    """A local array (not an adjoint) added into at two offsets, three stores, then read by the next loop."""
    n = len(x)
    h = np.zeros(n)
    for i in range(n - 1):
        h[i + 1] += x[i] * x[i]
        h[i] += math.sin(x[i + 1])
        h[i + 1] += 0.5 * x[i]
    s = 0.0
    for i in range(n):
        s += h[i] * h[i] * (i + 1)
    return s


OFF = {"write_once_adjoints": False}


@pytest.mark.parametrize("function", [rosen, stencil, gapped, tail_only, local_array])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 9])
def test_write_once_adjoints_against_richardson(function, n):
    x = np.random.default_rng(n).uniform(-1.5, 1.5, n)
    value, gradient = sg.value_and_grad(function)(x)
    assert value == pytest.approx(function(x), rel=1e-12, abs=1e-12)
    if n:
        np.testing.assert_allclose(gradient, richardson_gradient(function, (x,), 0), rtol=1e-7, atol=1e-7)
    else:
        assert gradient.shape == (0,)
    plain = sg.value_and_grad(function, optimize=OFF)(x)[1]
    assert np.array_equal(gradient, plain)  # the same sums in the same order


def test_write_once_adjoints_matches_the_hand_gradient_and_drops_the_zero_fill():
    x = np.random.default_rng(1).uniform(-2, 2, 1000)
    np.testing.assert_allclose(sg.grad(rosen)(x), rosen_hand(x), rtol=1e-12, atol=1e-9)
    source = sg.grad(rosen).source()
    assert "x_bar = np.empty((x_shape0, )) if" in source and "x_bar_carry0" in source
    assert "x_bar_carry" not in sg.grad(rosen, optimize=OFF).source()


def test_write_once_adjoints_fills_a_local_array_once():
    assert "h = np.empty((x_shape0, )) if" in sg.value_and_grad(local_array).source()


def test_write_once_adjoints_keeps_the_zeros_it_does_not_cover():
    source = sg.grad(tail_only).source()
    assert "np.empty" not in source and "x_bar[i] = " in source


@pytest.mark.parametrize("k", [1, 2])
def test_write_once_adjoints_leaves_negative_indices_alone(k):
    x = np.random.default_rng(k).uniform(-1, 1, 6)
    transform = sg.value_and_grad(from_the_end, wrt=0)
    assert "x_bar_carry" not in transform.source() and "np.empty" not in transform.source()
    np.testing.assert_allclose(transform(x, k)[1], richardson_gradient(from_the_end, (x, k), 0), rtol=1e-8)


def test_write_once_adjoints_leaves_an_array_read_in_its_loop_alone():
    x = np.random.default_rng(3).uniform(-1, 1, 7)
    transform = sg.value_and_grad(read_back)
    assert "h_carry" not in transform.source() and "x_bar_carry" not in transform.source()
    np.testing.assert_allclose(transform(x)[1], richardson_gradient(read_back, (x,), 0), rtol=1e-8)


def population_sphere(x):
    """One particle per row, its gradient row written by one inner sweep (PySwarms' sphere)."""
    return np.sum(np.sum(x**2.0, axis=1))


def skipped_sweep(x):
    """The sweep over a row is skipped while its row's adjoint is zero (`skip_zero_sweeps`): the zeros stay."""
    return np.sum(np.log1p(np.sum(x**2.0, axis=1)))


def population_columns(x):
    """Each row's gradient written at columns 0 and 1 (Goldstein-Price's spelling, x[:, 0] and x[:, 1])."""
    a, b = x[:, 0], x[:, 1]
    return np.sum((a + 2.0 * b) ** 2 * np.exp(0.1 * a) + b**3)


def population_twice(x):
    """Two sums over each row, whose sweeps `merge_stores` makes one."""
    return np.sum(np.sum(x**2, axis=1) * np.sum(np.sin(x), axis=1))


def rows_from_one(x):
    """The loop starts at row 1: row 0's gradient stays zeros."""
    s = 0.0
    for i in range(1, x.shape[0]):
        for j in range(x.shape[1]):
            s += x[i, j] ** 3
    return s


WRITE_ROWS_OFF = {"write_once_rows": False}


@pytest.mark.parametrize("function", [population_sphere, population_columns, population_twice, rows_from_one,
                                      skipped_sweep])
@pytest.mark.parametrize("shape", [(0, 2), (1, 2), (5, 2), (4, 3), (3, 1), (2, 0)])
def test_write_once_rows_against_richardson_and_the_unoptimised_kernel(function, shape):
    if function is population_columns and shape[1] < 2 or function is population_sphere and shape[1] < 1:
        shape = (shape[0], 2)  # (their columns must exist)
    x = np.random.default_rng(sum(shape)).uniform(-1.5, 1.5, shape)
    value, gradient = sg.value_and_grad(function)(x)
    assert value == pytest.approx(function(x), rel=1e-12, abs=1e-12)
    assert gradient.shape == x.shape
    if x.size:
        np.testing.assert_allclose(gradient, richardson_gradient(function, (x,), 0), rtol=1e-7, atol=1e-7)
    plain = sg.value_and_grad(function, optimize=WRITE_ROWS_OFF)(x)[1]
    assert np.array_equal(gradient, plain)  # one value per element either way


def population_source(function, optimize=True, shape=(4, 2)):
    """The gradient kernel's source once called on a 2-D array (a first call decides the argument's rank)."""
    transform = sg.grad(function, optimize=optimize)
    transform(np.random.default_rng(0).uniform(-1, 1, shape))
    return transform.source()


def test_write_once_rows_drops_the_zero_fill_only_where_every_element_is_written():
    assert "x_bar = np.empty((x_shape0, x_shape1, )) if (x_shape0 > 0)" in population_source(population_sphere)
    columns = population_source(population_columns)
    assert "if (x_shape1 == 2) and (x_shape0 > 0)" in columns and "x_bar[k, 0] = " in columns
    # (4, 3): the third column is never stored, so the zeros the fill made are the gradient there
    x = np.random.default_rng(5).uniform(-1, 1, (4, 3))
    assert np.all(sg.grad(population_columns)(x)[:, 2] == 0.0)
    assert "x_bar = np.empty" not in population_source(rows_from_one)
    skipped = population_source(skipped_sweep)
    assert "x_bar = np.empty" not in skipped and "x_bar[k, k_1] = " in skipped
    assert "x_bar = np.empty" not in population_source(population_sphere, optimize=WRITE_ROWS_OFF)


def column_and_row(x):
    """A sweep over each row and a store at its column 0: element 0 of each row gets two contributions."""
    return np.sum(np.sum(x**2.0, axis=1) + np.cos(x[:, 0]))


def test_write_once_rows_leaves_two_stores_into_one_element_alone():
    function = column_and_row
    source = population_source(function)
    assert "x_bar = np.empty" not in source and "x_bar[k, k_1] += " in source
    x = np.random.default_rng(6).uniform(-1, 1, (5, 3))
    np.testing.assert_allclose(sg.grad(function)(x), richardson_gradient(function, (x,), 0), rtol=1e-7, atol=1e-7)


def fixed_row(A, w):
    """Found by the fuzzer (seed 14000007): a loop over the columns storing into row 1 of A's gradient."""
    return A[1] @ w + np.sum(A**2)


def test_write_once_rows_reads_a_store_into_a_fixed_row_as_not_its_pattern():
    A, w = np.random.default_rng(7).uniform(-1, 1, (3, 2)), np.random.default_rng(8).uniform(-1, 1, 2)
    value, (A_bar, w_bar) = sg.value_and_grad(fixed_row, wrt=(0, 1))(A, w)
    assert value == pytest.approx(fixed_row(A, w), rel=1e-13)
    np.testing.assert_allclose(A_bar, richardson_gradient(fixed_row, (A, w), 0), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(w_bar, richardson_gradient(fixed_row, (A, w), 1), rtol=1e-8, atol=1e-9)


def population_rastrigin(x):
    """PySwarms' Rastrigin: cos of each element inside a sum over each row, sin in the gradient's sweep."""
    return np.sum(10.0 * x.shape[1] + (x**2.0 - 10.0 * np.cos(2.0 * np.pi * x)).sum(axis=1))


def population_schwefel(x, scale):
    """pymoo's Schwefel, scaled by a scalar argument inside the call: sin(sqrt(|x|)), cos of the same in the sweep."""
    return np.sum(418.9829 * x.shape[1] - np.sum(x * np.sin(np.sqrt(np.abs(scale * x))), axis=1))


def indexed_griewank(x):
    """The column index inside the call (cos(x / sqrt(j + 1))): not one value per element of x alone."""
    s = 0.0
    for i in range(x.shape[0]):
        p = 1.0
        for j in range(x.shape[1]):
            p *= math.cos(x[i, j] / math.sqrt(j + 1.0))
        s += p
    return s


def rows_after_the_first(x):
    """The rows from 1 on: computing every element first would compute what the loops never ask for."""
    s = 0.0
    for i in range(1, x.shape[0]):
        for j in range(x.shape[1]):
            s += math.exp(0.3 * x[i, j])
    return s


FLAT_OFF = {"flat_elementwise": False}


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1), (5, 4), (700, 2)])
def test_flat_elementwise_against_richardson_and_the_loops(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.uniform(-4.0, 4.0, shape)
    for function, args in ((population_rastrigin, (x,)), (population_schwefel, (x, 1.7))):
        transform = sg.value_and_grad(function, wrt=0)
        value, gradient = transform(*args)
        assert "_flat" in transform.source()
        assert value == pytest.approx(function(*args), rel=1e-12, abs=1e-12)
        plain_value, plain_gradient = sg.value_and_grad(function, wrt=0, optimize=FLAT_OFF)(*args)
        assert "_flat" not in sg.value_and_grad(function, wrt=0, optimize=FLAT_OFF).source()
        assert value == pytest.approx(plain_value, rel=1e-14, abs=1e-12)
        np.testing.assert_allclose(gradient, plain_gradient, rtol=1e-13, atol=1e-13)
        if 0 < x.size <= 20:
            np.testing.assert_allclose(gradient, richardson_gradient(function, args, 0), rtol=1e-7, atol=1e-7)


def test_flat_elementwise_computes_each_call_once_in_one_loop_over_the_argument():
    transform = sg.value_and_grad(population_schwefel, wrt=0)
    transform(np.ones((3, 2)), 1.0)
    source = transform.source()
    flat = source[source.index("def _value_and_grad_flat"):source.index("def value_and_grad")]
    assert flat.count("vector_sin(") == 1 and flat.count("vector_cos(") == 1 and "scale" in flat
    kernel = source[source.index("def value_and_grad"):]
    assert "math.sin" not in kernel and "math.cos" not in kernel


@pytest.mark.parametrize("function", [indexed_griewank, rows_after_the_first])
def test_flat_elementwise_leaves_calls_outside_its_precondition_alone(function):
    x = np.random.default_rng(4).uniform(-2.0, 2.0, (4, 3))
    transform = sg.value_and_grad(function)
    value, gradient = transform(x)
    assert "_flat" not in transform.source()
    assert value == pytest.approx(function(x), rel=1e-13)
    np.testing.assert_allclose(gradient, richardson_gradient(function, (x,), 0), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("optimize", [True, False, {"recurrence_order": False}, {"name_sums": False}])
def test_oscillator_tangents_against_richardson(optimize):
    obs = np.random.default_rng(0).normal(size=200)
    value, gradient = sg.value_and_grad(oscillator, wrt=(0, 1), optimize=optimize)(4.0, 0.3, obs)
    assert value == pytest.approx(oscillator(4.0, 0.3, obs), rel=1e-12)
    for position in (0, 1):
        assert gradient[position] == pytest.approx(richardson_gradient(oscillator, (4.0, 0.3, obs), position),
                                                   rel=1e-8)


def test_recurrence_order_adds_the_carried_term_last():
    source = sg.grad(oscillator, wrt=(0, 1)).source()
    assert "a_dot_k = -x - k*x_dot_k + (-c*v_dot_k)" in source  # v_dot_k's chain: one addition, not two
    plain = sg.grad(oscillator, wrt=(0, 1), optimize={"recurrence_order": False}).source()
    assert "a_dot_k = -x - c*v_dot_k - k*x_dot_k" in plain


def test_name_sums_shares_the_residual_in_forward_mode():
    source = sg.grad(oscillator, wrt=(0, 1)).source()
    assert "err_1_part = x_1 - obs[t]" in source and "= 2*err_1_part" in source


def logistic_hand(w, X, y):
    """The mean logistic NLL's gradient by hand: X^T (sigmoid(X w) - y) / n."""
    return X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / X.shape[0]


def tanh_rows(w, X):
    """A row loop calling tanh and log between two inner loops, its sum printed as three terms."""
    s = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        s += math.tanh(z) * X[i, 0] + math.log(1.0 + z * z)
    return s


def recurrence(x):
    """tanh on a loop-carried recurrence that is not a sum: the iterations depend on each other, no split."""
    s = 0.0
    for i in range(len(x)):
        s = 0.5 * s + math.tanh(x[i] + s)
    return s


VECTOR_OFF = {"vector_functions": False}
EXACT_SPLIT = {"vector_functions": False, "lane_sums": False}  # the split alone: the unsplit loop's bits


@pytest.mark.parametrize("function", [logistic_nll, logistic_nll_vectorised])
@pytest.mark.parametrize("rows", [0, 1, 511, 512, 513, 1500])
def test_split_rows_logistic_against_the_hand_gradient(function, rows):
    rng = np.random.default_rng(rows)
    X, w, y = rng.normal(size=(rows, 5)), rng.normal(size=5), (rng.random(rows) < 0.5) * 1.0
    value, gradient = sg.value_and_grad(function)(w, X, y)
    if rows:
        z = X @ w
        assert value == pytest.approx(np.mean(np.log1p(np.exp(-z)) + (1 - y) * z), rel=1e-13)
        np.testing.assert_allclose(gradient, logistic_hand(w, X, y), rtol=1e-12, atol=1e-15)
    # The split alone changes no bit; the vector functions change at most the last bits.
    exact = sg.value_and_grad(function, optimize=EXACT_SPLIT)(w, X, y)
    unsplit = sg.value_and_grad(function, optimize={"split_rows": False, **EXACT_SPLIT})(w, X, y)
    assert np.array_equal(exact[1], unsplit[1]) and (exact[0] == unsplit[0] or rows == 0)
    np.testing.assert_allclose(gradient, exact[1], rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("rows", [1, 7, 8, 9, 512, 1500, 20000])
def test_lane_sums_value_against_an_exact_sum(rows):
    """The logistic loss's sum over rows in eight partial sums: within a few ulp of the exactly rounded sum of the
    same terms (math.fsum), as close as the running sum of the unoptimised kernel or closer."""
    rng = np.random.default_rng(rows)
    X, w, y = rng.normal(size=(rows, 5)), rng.normal(size=5), (rng.random(rows) < 0.5) * 1.0
    transform = sg.value_and_grad(logistic_nll, optimize=VECTOR_OFF)
    assert "lane_sum(" in transform.source()
    value = transform(w, X, y)[0]
    running = sg.value_and_grad(logistic_nll, optimize=EXACT_SPLIT)(w, X, y)[0]
    z = X @ w
    exact = math.fsum(np.log1p(np.exp(-z)) + (1 - y) * z) / rows
    assert abs(value - exact) <= max(abs(running - exact), 4 * np.spacing(exact))


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 17, 512])
def test_lane_sum_against_fsum(count):
    from symgrad.runtime import lane_sum
    terms = np.random.default_rng(count).normal(size=count + 3)  # (longer: only the first `count` are added)
    total = lane_sum(terms, count)
    bound = count * np.finfo(float).eps * np.sum(np.abs(terms[:count]))
    assert abs(total - math.fsum(terms[:count])) <= bound
    if count < 8:  # fewer than one round of partial sums: the running sum itself
        running = 0.0
        for t in terms[:count]:
            running += t
        assert total == running


def _vector_divisions(transform):
    """The vector `fdiv`s in the LLVM IR of the value_and_grad kernel, compiled afresh (Numba shows no IR of a
    kernel it loaded from its cache)."""
    X, w, y = np.ones((8, 3)), np.ones(3), np.ones(8)
    transform(w, X, y)
    fresh = numba.njit(error_model="numpy")(transform.kernels.value_and_grad.py_func)
    fresh(w, X, y)
    return re.findall(r"fdiv <\d+ x double>", "\n".join(fresh.inspect_llvm().values()))


def test_split_rows_fires_on_the_logistic_row_loop_and_vectorises_it():
    transform = sg.value_and_grad(logistic_nll)
    source = transform.source()
    assert "_terms_total[i - _block_i] = _term_total" in source and "vector_log1p(" in source
    assert _vector_divisions(transform)  # exp's and log1p's divisions, on 4 or 8 rows at once
    unsplit = sg.value_and_grad(logistic_nll, optimize={"split_rows": False})
    assert "_block_" not in unsplit.source() and "vector_" not in unsplit.source()
    assert not _vector_divisions(unsplit)


@pytest.mark.parametrize("optimize", [True, VECTOR_OFF, {"split_rows": False}, {"accumulator_chain": False}])
def test_split_rows_tanh_rows_against_richardson(optimize):
    rng = np.random.default_rng(5)
    X, w = rng.normal(size=(700, 3)), rng.normal(size=3) * 0.5
    transform = sg.value_and_grad(tanh_rows, wrt=0, optimize=optimize)
    value, gradient = transform(w, X)
    assert value == pytest.approx(tanh_rows(w, X), rel=1e-12)
    np.testing.assert_allclose(gradient, richardson_gradient(tanh_rows, (w, X), 0), rtol=1e-8)
    # Three terms: the sum is taken apart only where it is printed phi + (rest).
    assert ("_terms_s" in transform.source()) == (optimize is True or optimize == VECTOR_OFF)


def test_split_rows_leaves_a_recurrence_alone():
    x = np.random.default_rng(2).uniform(-1, 1, 50)
    transform = sg.value_and_grad(recurrence)
    assert "_block_" not in transform.source() and "vector_" not in transform.source()
    np.testing.assert_allclose(transform(x)[1], richardson_gradient(recurrence, (x,), 0), rtol=1e-8, atol=1e-9)


def gaussian_log_density(mu, Y, scale):
    """A sum over rows of an inner sum over columns whose terms call a vector function (norm.logpdf lowered)."""
    s = 0.0
    for i in range(Y.shape[0]):
        for k in range(Y.shape[1]):
            r = Y[i, k] - mu[k]
            s += -math.log(scale) - 0.5 * math.log(2 * math.pi) - 0.5 * r * r / (scale * scale)
    return s


def test_split_rows_leaves_a_loop_inside_another_alone():
    """Split inside the row loop, the inner 1-column loop allocated its two block arrays at every row (a corpus
    network's loss paid 40 ns a row for them).  The row loop itself is not split either: the inner loop keeps it
    from vectorising."""
    rng = np.random.default_rng(4)
    mu, Y = rng.normal(size=1), rng.normal(size=(300, 1))
    transform = sg.value_and_grad(gaussian_log_density, wrt=0)
    source = transform.source()
    assert "_block_" not in source and "np.empty(512)" not in source
    value, gradient = transform(mu, Y, 0.3)
    assert value == pytest.approx(gaussian_log_density(mu, Y, 0.3), rel=1e-12)
    np.testing.assert_allclose(gradient, np.sum(Y - mu, axis=0) / 0.09, rtol=1e-12)


def two_sums(w, X):
    """Two sums in the run, one of them of a product with a row element, and their product returned."""
    s = 0.0
    t = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        s += math.exp(-z * z)
        t += math.log(1.0 + z * z) * X[i, 0]
    return s * t


def with_bias(w, b, X):
    """A scalar parameter read in every row: its adjoint adds up across rows."""
    s = 0.0
    for i in range(X.shape[0]):
        z = b
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        s += math.log1p(math.exp(-z)) + 0.1 * z
    return s


def running_max(w, X):
    """A carried value that is not a sum (a running maximum) beside the sum: it stays carried in its part."""
    s = 0.0
    m = -1e300
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        m = max(m, math.tanh(z))
        s += math.exp(0.3 * z)
    return s + m


@pytest.mark.parametrize("function, wrt", [(two_sums, 0), (with_bias, (0, 1)), (running_max, 0)])
def test_split_rows_shapes_equal_the_unsplit_loop(function, wrt):
    rng = np.random.default_rng(11)
    X, w = rng.normal(size=(1100, 3)), rng.normal(size=3) * 0.4
    args = (w, 0.3, X) if function is with_bias else (w, X)
    split = sg.value_and_grad(function, wrt=wrt, optimize=EXACT_SPLIT)
    assert "_block_" in split.source()
    unsplit = sg.value_and_grad(function, wrt=wrt, optimize={"split_rows": False, **EXACT_SPLIT})
    value, gradient = split(*args)
    plain_value, plain_gradient = unsplit(*args)

    def each(g):  # one gradient per argument in wrt
        return [g] if wrt == 0 else list(g)

    assert value == plain_value
    assert all(np.array_equal(mine, plain) for mine, plain in zip(each(gradient), each(plain_gradient)))
    fast_value, fast_gradient = sg.value_and_grad(function, wrt=wrt)(*args)
    assert fast_value == pytest.approx(function(*args), rel=1e-12)
    for position, got in enumerate(each(fast_gradient)):
        np.testing.assert_allclose(got, richardson_gradient(function, args, position), rtol=1e-7, atol=1e-9)


def _kernel_text(transform, name):
    """One kernel's text out of the transform's module source."""
    return re.search(rf"^def {name}\(.*?(?=^def |\Z)", transform.source(), re.S | re.M).group(0)


def logistic_hvp_hand(w, X, v):
    """The mean logistic NLL's Hessian times v by hand: X^T (s (1 - s) X v) / n, s = sigmoid(X w)."""
    s = 1 / (1 + np.exp(-(X @ w)))
    return X.T @ (s * (1 - s) * (X @ v)) / X.shape[0]


@pytest.mark.parametrize("rows", [1, 600])
def test_dead_carries_leaves_the_loss_out_of_the_gradient_and_hvp_kernels(rows):
    """A gradient needs no loss and an HVP no f nor f's directional derivative: with the pass their kernels sum
    neither, and so call no log1p (the loop stays, for the adjoint fused into it)."""
    rng = np.random.default_rng(rows)
    X, w, v = rng.normal(size=(rows, 4)), rng.normal(size=4), rng.normal(size=4)
    y = (rng.random(rows) < 0.5) * 1.0
    for make, args, hand in ((sg.grad, (w, X, y), logistic_hand(w, X, y)),
                             (sg.hvp, (w, X, y, v), logistic_hvp_hand(w, X, v))):
        fast, plain = make(logistic_nll), make(logistic_nll, optimize={"dead_carries": False})
        assert "log1p" not in _kernel_text(fast, "grad") and "log1p" in _kernel_text(plain, "grad")
        assert "log1p" in _kernel_text(fast, "value_and_grad") or make is sg.hvp  # (an HVP's value is f's slope)
        np.testing.assert_allclose(fast(*args), hand, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fast(*args), plain(*args), rtol=1e-14, atol=1e-17)


def test_dead_carries_keeps_the_index_error_of_a_read_it_drops():
    """The HVP of the logistic NLL reads y only for the loss it drops: a y one row short is still Python's
    IndexError naming y, from the entry check made before the pass."""
    rng = np.random.default_rng(4)
    X, w, v = rng.normal(size=(50, 3)), rng.normal(size=3), rng.normal(size=3)
    with pytest.raises(IndexError, match="'y'"):
        sg.hvp(logistic_nll)(w, X, np.ones(49), v)


# --- pass write_once_arrays -------------------------------------------------------------------------------------
ONCE_OFF = {"write_once_arrays": False}


def tanh_layer(W, b, v, X):
    """A vectorised layer: `h`, read by two statements, is written once per element into a local array."""
    h = np.tanh(X @ W.T + b)
    s = h @ v
    return np.sum(s * s) + np.sum(X[:, 0] @ h)


def rewritten_in_rounds(x):
    """Every element written again in each round, and read inside the nest: the stores need their undo."""
    w = np.zeros(len(x))
    s = 0.0
    for r in range(3):
        for i in range(len(x)):
            w[i] = math.tanh(x[i] * (r + 1))
            s += w[i] * x[i]
    return s


def written_twice(x):
    """Two loops store into the same array."""
    w = np.zeros(len(x))
    for i in range(len(x)):
        w[i] = math.tanh(x[i])
    for i in range(len(x)):
        w[i] = w[i] * x[i] + 1.0
    s = 0.0
    for i in range(len(x)):
        s += w[i] ** 2
    return s


def shifted_start(x, k):
    """Indices from k, which may be negative (counting from the end): not provably one element per iteration."""
    w = np.zeros(len(x))
    for i in range(k, len(x) + k):
        w[i] = math.tanh(x[i - k])
    s = 0.0
    for i in range(len(x)):
        s += w[i] * x[i]
    return s


def test_write_once_arrays_vectorised_mlp_against_jax_and_the_unoptimised_kernel():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jax.config.update("jax_enable_x64", True)
    from benchmarks import array_problems
    args = array_problems.make_args("mlp", 40, np.random.default_rng(5))
    wrt = (0, 1, 2, 3, 4, 5)
    transform = sg.value_and_grad(array_problems.mlp_loss_vectorised, wrt=wrt)
    unoptimised = sg.value_and_grad(array_problems.mlp_loss_vectorised, wrt=wrt, optimize=ONCE_OFF)
    value, gradient = transform(*args)
    plain_value, plain_gradient = unoptimised(*args)
    assert "tape_" not in transform.source() and "tape_h1" in unoptimised.source()

    def twin(W1, b1, W2, b2, w3, b3, X, y):
        h1 = jnp.maximum(X @ W1.T + b1, 0.0)
        h2 = jnp.maximum(h1 @ W2.T + b2, 0.0)
        data_loss = jnp.mean(jnp.maximum(1.0 - y * (h2 @ w3 + b3), 0.0))
        squares = jnp.sum(W1**2) + jnp.sum(b1**2) + jnp.sum(W2**2) + jnp.sum(b2**2) + jnp.sum(w3**2) + b3**2
        return data_loss + array_problems.ALPHA * squares

    expected = jax.grad(twin, argnums=wrt)(*args)
    assert value == pytest.approx(plain_value, rel=1e-14)
    for mine, plain, theirs in zip(gradient, plain_gradient, expected):
        np.testing.assert_allclose(mine, plain, rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(mine, np.asarray(theirs), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rows", [0, 1, 6])
def test_write_once_arrays_tanh_layer_against_richardson(rows):
    rng = np.random.default_rng(rows)
    args = (rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=4), rng.normal(size=(rows, 3)))
    transform = sg.value_and_grad(tanh_layer, wrt=(0, 1, 2))
    value, gradient = transform(*args)
    assert "tape_" not in transform.source()
    plain = sg.value_and_grad(tanh_layer, wrt=(0, 1, 2), optimize=ONCE_OFF)(*args)[1]
    assert value == pytest.approx(tanh_layer(*args), rel=1e-12, abs=1e-14)
    for position, (mine, unoptimised) in enumerate(zip(gradient, plain)):
        np.testing.assert_allclose(mine, unoptimised, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(mine, richardson_gradient(tanh_layer, args, position), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("function, extra", [(rewritten_in_rounds, ()), (written_twice, ()), (shifted_start, (-2,)),
                                             (shifted_start, (0,))])
def test_write_once_arrays_leaves_arrays_written_again_alone(function, extra):
    x = np.random.default_rng(4).uniform(-1, 1, 5)
    transform = sg.value_and_grad(function, wrt=0)
    gradient = transform(x, *extra)[1]
    assert "tape_w" in transform.source()  # the stores' undo kept
    np.testing.assert_allclose(gradient, richardson_gradient(function, (x, *extra), 0), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(gradient, sg.value_and_grad(function, wrt=0, optimize=ONCE_OFF)(x, *extra)[1])


# --- pass useful_activity ---------------------------------------------------------------------------------------
USEFUL_OFF = {"useful_activity": False}


def picked_twice(x):
    """The largest element read at np.argmax's position: the position carries no derivative."""
    return x[np.argmax(x)] * 2 + np.sum(x**2)


def nearest(w, d):
    return w[np.argmin(d)]


def nearest_by_method(w, d):
    return w[d.argmin()] * w[d.argmax()]


def nearest_scaled(w, d):
    return w[np.argmin(d)] * np.sum(d * w) + np.sin(d[np.argmax(w)])


def cubed_peak(x):
    return x[np.argmax(x)] ** 3 + np.sum(np.sin(x) * x)


def records(x):
    """The number of running records scaling a sum: the running maximum is read only by conditions."""
    best = -math.inf
    count = 0.0
    for i in range(len(x)):
        if x[i] > best:
            best = x[i]
            count += 1.0
    return count * np.sum(x**2)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


@pytest.mark.parametrize("n", [1, 2, 9, 200])
def test_useful_activity_argmax_against_jax_without_a_tape(n):
    jax, jnp = _jax()
    x = np.random.default_rng(n).normal(size=n)
    transform = sg.value_and_grad(picked_twice)
    value, gradient = transform(x)
    assert "tape_" not in transform.source() and "for k in range(-1 + x_shape0, 0, -1)" not in transform.source()
    assert "tape_best" in sg.value_and_grad(picked_twice, optimize=USEFUL_OFF).source()
    expected = jax.grad(lambda x: x[jnp.argmax(x)] * 2 + jnp.sum(x**2))(x)
    assert value == pytest.approx(picked_twice(x), rel=1e-14)
    np.testing.assert_allclose(gradient, np.asarray(expected), rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(gradient, sg.grad(picked_twice, optimize=USEFUL_OFF)(x))


@pytest.mark.parametrize("function, twin", [
    (nearest, lambda jnp: lambda w, d: w[jnp.argmin(d)]),
    (nearest_by_method, lambda jnp: lambda w, d: w[d.argmin()] * w[d.argmax()]),
    (nearest_scaled, lambda jnp: lambda w, d: w[jnp.argmin(d)] * jnp.sum(d * w) + jnp.sin(d[jnp.argmax(w)])),
])
def test_useful_activity_argmin_against_jax(function, twin):
    jax, jnp = _jax()
    rng = np.random.default_rng(7)
    w, d = rng.normal(size=12), rng.normal(size=12)
    transform = sg.grad(function, wrt=(0, 1))
    assert "tape_" not in transform.source()
    expected = jax.grad(twin(jnp), argnums=(0, 1))(w, d)
    for mine, plain, theirs in zip(transform(w, d), sg.grad(function, wrt=(0, 1), optimize=USEFUL_OFF)(w, d),
                                   expected):
        np.testing.assert_allclose(mine, np.asarray(theirs), rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(mine, plain)


def test_useful_activity_running_maximum_read_by_conditions_is_not_taped():
    x = np.random.default_rng(3).normal(size=15)
    transform = sg.grad(records)
    assert "tape_" not in transform.source() and "tape_best" in sg.grad(records, optimize=USEFUL_OFF).source()
    np.testing.assert_allclose(transform(x), richardson_gradient(records, (x,), 0), rtol=1e-8)
    np.testing.assert_array_equal(transform(x), sg.grad(records, optimize=USEFUL_OFF)(x))


@pytest.mark.parametrize("function", [picked_twice, cubed_peak])
def test_useful_activity_hessian_against_differences_of_the_gradient(function):
    x = np.random.default_rng(11).normal(size=8)
    hessian = sg.hessian(function)(x)
    gradient = sg.grad(function)
    step = 1e-5
    for j in range(len(x)):  # (the steps keep np.argmax where it is: the elements are far apart)
        up, down = x.copy(), x.copy()
        up[j] += step
        down[j] -= step
        np.testing.assert_allclose(hessian[:, j], (gradient(up) - gradient(down)) / (2 * step), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(hessian, sg.hessian(function, optimize=USEFUL_OFF)(x))


# --- pass fuse_sibling_loops -----------------------------------------------------------------------------------
SIBLINGS_OFF = {"fuse_sibling_loops": False}


def two_sums_loss(w, X, t):
    """autograd's logistic regression loss: two sums over the rows of one prediction array."""
    p = 0.5 * (np.tanh(X @ w) + 1.0)
    return -(np.sum(np.log(p) * t) + np.sum(np.log(1 - p) * (1 - t)))


def two_loops(x, y):
    """Two loops over the same range, the second scaled by nothing of the first."""
    a = 0.0
    for i in range(len(x)):
        a += math.sin(x[i]) * y[i]
    b = 1.0
    c = 2.0 * b
    for j in range(len(x)):
        b *= 1.0 + 0.1 * math.cos(x[j] + c)
    return a + b


def reads_the_first_sum(x):
    """The second loop reads the first one's sum: fusing them would read it before it is complete."""
    s = 0.0
    for i in range(len(x)):
        s += x[i] ** 2
    r = 0.0
    for i in range(len(x)):
        r += math.exp(-s * x[i])
    return r


def reads_the_first_array(x):
    """The second loop reads an element the first writes at a later index: fusing would read it unwritten."""
    h = np.zeros(len(x))
    for i in range(len(x)):
        h[i] = math.tanh(x[i])
    r = 0.0
    for i in range(len(x) - 1):
        r += h[i + 1] * x[i]
    s = 0.0
    for i in range(len(x)):
        s += h[len(x) - 1 - i] * x[i] ** 2
    return r + s


def _loop_count(transform, name="grad"):
    return len(re.findall(r"^\s+for ", _kernel_text(transform, name), re.M))


@pytest.mark.parametrize("rows", [1, 7, 1500])
def test_fuse_sibling_loops_two_sums_against_jax(rows):
    jax, jnp = _jax()
    rng = np.random.default_rng(rows)
    w, X, t = rng.normal(size=4), rng.normal(size=(rows, 4)), (rng.random(rows) > 0.5) * 1.0
    transform = sg.value_and_grad(two_sums_loss)
    unfused = sg.value_and_grad(two_sums_loss, optimize=SIBLINGS_OFF)
    value, gradient = transform(w, X, t)
    expected_value, expected = jax.value_and_grad(
        lambda w: -(jnp.sum(jnp.log(0.5 * (jnp.tanh(X @ w) + 1.0)) * t)
                    + jnp.sum(jnp.log(1 - 0.5 * (jnp.tanh(X @ w) + 1.0)) * (1 - t))))(w)
    # (log(1 - p) cancels when p nears 1: different summation orders agree to 1e-13 relative, not to the last bit)
    assert value == pytest.approx(float(expected_value), rel=1e-11)
    np.testing.assert_allclose(gradient, np.asarray(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gradient, unfused(w, X, t)[1], rtol=1e-13, atol=1e-15)
    assert _loop_count(transform, "value_and_grad") < _loop_count(unfused, "value_and_grad")


@pytest.mark.parametrize("function", [two_loops, reads_the_first_sum, reads_the_first_array])
def test_fuse_sibling_loops_against_richardson_and_the_unfused_kernel(function):
    x, y = np.random.default_rng(5).normal(size=(2, 9))
    args = (x, y)[:len(inspect.signature(function).parameters)]
    wrt = tuple(range(len(args)))
    fused, unfused = sg.grad(function, wrt=wrt), sg.grad(function, wrt=wrt, optimize=SIBLINGS_OFF)
    for position, (got, plain) in enumerate(zip(fused(*args), unfused(*args))):
        np.testing.assert_allclose(got, richardson_gradient(function, args, position), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(got, plain, rtol=1e-13, atol=1e-15)


def test_fuse_sibling_loops_fuses_only_independent_loops():
    assert _loop_count(sg.grad(two_loops, wrt=(0, 1))) < _loop_count(
        sg.grad(two_loops, wrt=(0, 1), optimize=SIBLINGS_OFF))
    for function in (reads_the_first_sum, reads_the_first_array):
        assert _loop_count(sg.grad(function)) == _loop_count(sg.grad(function, optimize=SIBLINGS_OFF))


def _sigmoid(x):
    return 0.5 * (np.tanh(x) + 1.0)


def _predictions(w, X):
    return _sigmoid(np.dot(X, w))


def helper_loss(w, X, t):
    """The same loss with its predictions made by helpers (as autograd's example does): `X @ w` is an array."""
    p = _predictions(w, X)
    return -(np.sum(np.log(p) * t) + np.sum(np.log(1 - p) * (1 - t)))


def test_a_tape_whose_values_nothing_reads_is_not_recorded():
    """The row loop of `X @ w` records each row's dot product, which the reverse sweep pops and never reads."""
    rng = np.random.default_rng(2)
    w, X, t = rng.normal(size=3), rng.normal(size=(20, 3)), (rng.random(20) > 0.5) * 1.0
    transform, taped = sg.grad(helper_loss), sg.grad(helper_loss, optimize={"useful_activity": False})
    gradient, taped_gradient = transform(w, X, t), taped(w, X, t)
    assert "tape_" not in transform.source() and "tape_" in taped.source()
    np.testing.assert_allclose(gradient, richardson_gradient(helper_loss, (w, X, t), 0), rtol=1e-8)
    np.testing.assert_array_equal(gradient, taped_gradient)


# --- pass dead_arrays ------------------------------------------------------------------------------------------
def two_layers(W1, b1, W2, b2, X):
    """autograd's nn_predict: the loop's last `np.tanh` makes an array that nothing reads."""
    inputs = X
    params = [(W1, b1), (W2, b2)]
    for W, b in params:
        outputs = inputs @ W + b
        inputs = np.tanh(outputs)
    return np.sum(outputs ** 2)


@pytest.mark.parametrize("rows", [1, 6, 300])
def test_dead_arrays_drops_the_unread_activation_and_matches_jax(rows):
    jax, jnp = _jax()
    rng = np.random.default_rng(rows)
    args = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)), rng.normal(size=2),
            rng.normal(size=(rows, 3)))
    wrt = (0, 1, 2, 3)
    transform, kept = sg.value_and_grad(two_layers, wrt=wrt), sg.value_and_grad(two_layers, wrt=wrt,
                                                                               optimize={"dead_arrays": False})
    (value, gradient), (kept_value, kept_gradient) = transform(*args), kept(*args)

    def twin(W1, b1, W2, b2):
        return jnp.sum((jnp.tanh(args[4] @ W1 + b1) @ W2 + b2) ** 2)

    expected_value, expected = jax.value_and_grad(twin, argnums=wrt)(*args[:4])
    assert value == pytest.approx(float(expected_value), rel=1e-13) and value == kept_value
    for ours, theirs, plain in zip(gradient, expected, kept_gradient):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(ours, plain)
    assert "inputs_1" not in _kernel_text(transform, "value_and_grad")
    assert "inputs_1 = np.zeros" in _kernel_text(kept, "value_and_grad")


# --- pass hoist_invariants -------------------------------------------------------------------------------------
def negative_binomial(r, p, x):
    """autograd's negative binomial log likelihood: lgamma(r), log(p), log(1 - p) are the same for every datum."""
    return np.sum(gammaln(r + x) - gammaln(r) - gammaln(x + 1) + x * np.log(p) + r * np.log(1 - p))


def invariant_in_a_guarded_loop(a, x):
    """A call that reads the loop's own values stays in it; the invariant `math.exp(a)` leaves the inner loop."""
    s = 0.0
    for i in range(len(x)):
        if x[i] > 0:
            for j in range(len(x)):
                s += math.exp(a) * x[i] ** 1.5 + math.sqrt(a + j)
    return s


@pytest.mark.parametrize("n", [0, 1, 40])
def test_hoist_invariants_likelihood_against_jax(n):
    jax, jnp = _jax()
    from jax.scipy.special import gammaln as jax_gammaln

    x = np.random.default_rng(n).integers(0, 9, n) * 1.0
    transform = sg.value_and_grad(negative_binomial, wrt=(0, 1))
    value, gradient = transform(2.5, 0.3, x)
    expected_value, expected = jax.value_and_grad(
        lambda r, p: jnp.sum(jax_gammaln(r + x) - jax_gammaln(r) - jax_gammaln(x + 1) + x * jnp.log(p)
                             + r * jnp.log(1 - p)), argnums=(0, 1))(2.5, 0.3)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient, np.asarray(expected), rtol=1e-11, atol=1e-12)
    unhoisted = sg.value_and_grad(negative_binomial, wrt=(0, 1), optimize={"hoist_invariants": False})
    np.testing.assert_allclose(gradient, unhoisted(2.5, 0.3, x)[1], rtol=1e-14, atol=1e-14)
    loop = _kernel_text(transform, "value_and_grad").split("for k in")[1]
    assert "lgamma(r)" not in loop and "digamma(r)" not in loop and "math.lgamma(r)" in _kernel_text(
        unhoisted, "value_and_grad")


def test_hoist_invariants_leaves_what_the_loop_changes_against_richardson():
    x = np.random.default_rng(4).normal(size=7)
    transform = sg.grad(invariant_in_a_guarded_loop, wrt=(0, 1))
    gradient = transform(0.4, x)
    for position, got in enumerate(gradient):
        np.testing.assert_allclose(got, richardson_gradient(invariant_in_a_guarded_loop, (0.4, x), position),
                                   rtol=1e-8, atol=1e-10)
    inner = _kernel_text(transform, "grad").split("for j in")[1].split("return")[0]
    assert "math.exp(a)" not in inner and "math.sqrt(" in inner


def reversed_reads_recurrence(x, w):
    """Found by test_array_properties: once the unread tape of `s` was dropped, the sweep's dead recompute
    `s_1 = s + 1.3 w` read a value nothing defines, and `hoist_invariants` moved it out of the sweep (NameError)."""
    n = len(x)
    s = 0.0
    for i in range(n):
        s += w * 1.3
        s = 0.9 * s + math.sin(x[n - 1 - i])
        s = 0.9 * s + math.exp(-(x[n - 1 - i]) ** 2)
    return s + math.tanh(-0.5)


def test_hoist_invariants_moves_only_what_is_defined_before_the_loop():
    x, w = np.array([0.18183572, 0.82, 0.20676352, 0.1]), -0.37
    gradient = sg.grad(reversed_reads_recurrence, wrt=(0, 1))(x, w)
    for position, got in enumerate(gradient):
        np.testing.assert_allclose(got, richardson_gradient(reversed_reads_recurrence, (x, w), position),
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("rows", [5, 5000])
def test_dead_arrays_leaves_no_empty_parallel_loop(rows):
    """With parallel=True, the loop whose stores `dead_arrays` dropped was cut into chunks with nothing to add up,
    which printed an empty block (IndentationError; autograd's neural_net.log_posterior in the corpus)."""
    rng = np.random.default_rng(1)
    args = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)), rng.normal(size=2),
            rng.normal(size=(rows, 3)))
    wrt = (0, 1, 2, 3)
    threaded, serial = sg.value_and_grad(two_layers, wrt=wrt, parallel=True), sg.value_and_grad(two_layers, wrt=wrt)
    (value, gradient), (serial_value, serial_gradient) = threaded(*args), serial(*args)
    assert value == pytest.approx(serial_value, rel=1e-12)
    for ours, theirs in zip(gradient, serial_gradient):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-13)


# --- pass fuse_row_layers ---------------------------------------------------------------------------------------
ROWS_OFF = {"fuse_row_layers": False}


def regression_network(W1, b1, W2, b2, W3, b3, X, y):
    """autograd's neural_net_regression: three layers, each an n x hidden array read by the next at its own row."""
    h = X
    for W, b in [(W1, b1), (W2, b2), (W3, b3)]:
        z = np.dot(h, W) + b
        h = np.tanh(z)
    return np.sum((z - y) ** 2) + np.sum(np.exp(-z * z))


def centred_layer(W, b, X):
    """A column mean between the layer and the loss: its loop runs over columns, so no loop reads h by rows."""
    h = np.tanh(X @ W + b)
    return np.sum((h - np.mean(h, axis=0)) ** 2)


def next_row_layer(W, b, X):
    """The loss reads h at the next row, which the fused iteration would not have made yet."""
    z = X @ W + b
    h = np.tanh(z)
    return np.sum(h[1:] * h[:-1]) + np.sum(z * z)


def normalised_rows(W, b, X):
    """A sum over every row read by the last loop, which cannot join the others: z, which it also reads, stays an
    n x hidden array, so the layer and the sum stay apart too (fused, they would store and read z: undone stores)."""
    z = X @ W + b
    e = np.exp(np.tanh(z))
    return np.sum(np.log(e / np.sum(e)) * z)


def relu_layer(W, b, X):
    """The ReLU's output named, then stored (`a = max(z, 0.0)`; `h[i, j] = a`) and read by the next layer's loop:
    read back from the whole array, it needs no tape, which one row rewritten every iteration would need, so the
    two loops stay apart (`fuse_row_layers` alone would fuse them)."""
    h = np.maximum(X @ W + b, 0.0)
    return np.sum(np.tanh(h @ W.T) ** 2)


def _same_source_in_jax(function):
    """`function`'s own code with `np` bound to jax.numpy."""
    import types

    jax, jnp = _jax()
    return jax, types.FunctionType(function.__code__, {**function.__globals__, "np": jnp})


def _network_args(rows, sizes, seed=0):
    rng = np.random.default_rng(seed)
    weights = []
    for m, k in zip(sizes[:-1], sizes[1:]):
        weights += [0.7 * rng.normal(size=(m, k)), 0.3 * rng.normal(size=k)]
    return weights + [rng.normal(size=(rows, sizes[0])), rng.normal(size=(rows, sizes[-1]))]


def _full_size_arrays(transform, name="value_and_grad"):
    """The local arrays the kernel makes with the rows of X as their first axis."""
    return re.findall(r"^\s*(\w+) = np\.zeros\(\(X_shape0, ", _kernel_text(transform, name), re.M)


@pytest.mark.parametrize("rows", [0, 1, 7, 300])
def test_fuse_row_layers_network_against_jax_on_and_off(rows):
    jax, twin = _same_source_in_jax(regression_network)
    args = _network_args(rows, (2, 5, 3, 2))
    wrt = tuple(range(6))
    fused = sg.value_and_grad(regression_network, wrt=wrt)
    unfused = sg.value_and_grad(regression_network, wrt=wrt, optimize=ROWS_OFF)
    (value, gradient), (plain_value, plain_gradient) = fused(*args), unfused(*args)
    expected_value, expected = jax.value_and_grad(twin, argnums=wrt)(*args)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    assert plain_value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    for mine, plain, theirs in zip(gradient, plain_gradient, expected):
        np.testing.assert_allclose(mine, np.asarray(theirs), rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(plain, np.asarray(theirs), rtol=1e-11, atol=1e-12)
    assert not _full_size_arrays(fused) and len(_full_size_arrays(unfused)) >= 6
    assert len(re.findall(r"^    for \w+ in range\(0, X_shape0\)", _kernel_text(fused, "grad"), re.M)) == 1


def test_fuse_row_layers_parallel_matches_serial():
    args = _network_args(5000, (3, 4, 4, 1), seed=3)
    wrt = tuple(range(6))
    serial = sg.value_and_grad(regression_network, wrt=wrt)(*args)
    threaded = sg.value_and_grad(regression_network, wrt=wrt, parallel=True)(*args)
    assert threaded[0] == pytest.approx(serial[0], rel=1e-12)
    for ours, theirs in zip(threaded[1], serial[1]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("function", [centred_layer, next_row_layer, normalised_rows, relu_layer])
@pytest.mark.parametrize("rows", [1, 6])
def test_fuse_row_layers_precondition_fails_against_jax(function, rows):
    """A mean over the rows, a read at another row, a sum over the rows read by a later loop, a named ReLU output:
    the pass leaves the kernels as they were, and the gradient is JAX's."""
    jax, twin = _same_source_in_jax(function)
    rng = np.random.default_rng(rows)
    args = (0.6 * rng.normal(size=(3, 4)), 0.2 * rng.normal(size=4), rng.normal(size=(rows, 3)))
    transform = sg.value_and_grad(function, wrt=(0, 1))
    unfused = sg.value_and_grad(function, wrt=(0, 1), optimize=ROWS_OFF)
    value, gradient = transform(*args)
    expected_value, expected = jax.value_and_grad(twin, argnums=(0, 1))(*args)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    for mine, plain, theirs in zip(gradient, unfused(*args)[1], expected):
        np.testing.assert_allclose(mine, np.asarray(theirs), rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(mine, plain, rtol=1e-12, atol=1e-14)
    assert _kernel_text(transform, "value_and_grad") == _kernel_text(unfused, "value_and_grad")


def constant_modulo_under_a_branch(x):
    """Found by the fuzzer (seed 9500227, minimised): the sweep's terms hold `s8 % 0.3` and a branch on `x[j]`;
    setting a candidate adjoint to 0 built a comparison of `zoo`, and the derivation raised SymPy's TypeError."""
    w3 = np.zeros(len(x))
    s8 = 0.0
    s9 = 0.0
    for i in range(len(w3)):
        for j in range(len(x)):
            s9 += (x[i] if np.log2(1.5 + x[j] * x[j]) <= 1.11 else s8) + s8 % 0.3
    return s9


def test_skip_zero_sweeps_leaves_a_sweep_it_cannot_evaluate_at_zero():
    x = np.array([1.2888841443546681, 0.7014186034996293, -1.1, 0.3658673964896444, 0.5])
    value, gradient = sg.value_and_grad(constant_modulo_under_a_branch)(x)
    assert value == pytest.approx(constant_modulo_under_a_branch(x), rel=1e-14)
    np.testing.assert_allclose(gradient, richardson_gradient(constant_modulo_under_a_branch, (x,), 0), rtol=1e-8)


def _shifted(u, v):
    return -0.25 - u


def recomputed_before_its_read(x, a):
    """Found by the fuzzer (seed 9500198, minimised): split_rows passed the values one part reads from an earlier
    one, less those the part defines; `u = 0.1*i` is defined in the vectorised part and again in the last part
    (the sweep's recompute), after the forward loop there reads it, which then read the block's last row."""
    m1 = len(x) - 1
    d2 = np.zeros(m1)
    for i in range(m1):
        d2[i] = x[i + 1] - x[i]
    s3 = 0.0
    for i in range(m1):
        s3 -= np.tanh(d2[i]) / (1.5 + d2[i] / (1.5 + a * a) * (d2[i] / (1.5 + a * a)))
    s4 = 0.0
    for i in range(m1):
        for j in range(len(x)):
            s4 += x[j] - _shifted(0.1 * i, d2[i]) / (1.5 + d2[i] % 0.1 * (d2[i] % 0.1))
    return 0.67 * s3 + 0.31 * s4


def test_split_rows_passes_a_value_read_before_the_part_recomputes_it():
    x = np.array([-1.279075470837665, -0.4, -1.0935435138907974, 0.15028012638959276, 1.4824950223439881,
                  0.2712036744123911])
    a = -0.9296391568556701
    value, gradient = sg.value_and_grad(recomputed_before_its_read, wrt=(0, 1))(x, a)
    assert value == pytest.approx(recomputed_before_its_read(x, a), rel=1e-13)
    np.testing.assert_allclose(gradient[0], richardson_gradient(recomputed_before_its_read, (x, a), 0), rtol=1e-7)
    assert gradient[1] == pytest.approx(richardson_gradient(recomputed_before_its_read, (x, a), 1), rel=1e-7)


def sum_then_guarded_pairs(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i]
    if s < 1.0:
        return s * 2.0
    t = 0.0
    for i in range(len(x)):
        if i > 0 and x[i - 1] > 0.18:
            t += (x[i - 1] - x[i]) ** 2
    return s + t


@pytest.mark.parametrize("x", [[0.1, 0.2, 0.3], [1.0, 2.0, 3.0, -0.5]])
def test_fuse_sibling_loops_sees_the_guard_a_later_loop_reads(x):
    """Fuzz seed 10300484: after the early return, the second loop's assignments are guarded by ``s >= 1.0``, read
    from the first loop's result; `fuse_sibling_loops` read only their values and fused the loops, so the guard
    read `s` before the loop defined it (UnboundLocalError interpreted, a compile error under Numba)."""
    x = np.array(x)
    value, x_bar = sg.value_and_grad(sum_then_guarded_pairs)(x)
    if x.sum() < 1.0:  # hand-derived: 2 * sum(x)
        expected_value, expected = 2 * x.sum(), np.full_like(x, 2.0)
    else:  # sum(x) + sum over active pairs of (x[i-1] - x[i])**2
        active = np.r_[False, x[:-1] > 0.18]
        d = np.r_[0.0, x[:-1] - x[1:]] * active
        expected_value, expected = x.sum() + np.sum(d ** 2), 1.0 + 2 * np.r_[d[1:], 0.0] - 2 * d
    assert value == pytest.approx(expected_value, rel=1e-14)
    np.testing.assert_allclose(x_bar, expected, rtol=1e-14)
