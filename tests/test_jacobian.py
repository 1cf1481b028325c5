"""Jacobians (issue 11): sg.jacobian (forward, reverse, sparse), sg.jvp, sg.vjp, sg.value_and_jacobian, each checked
against JAX's jacfwd/jacrev/jvp/vjp of the same source and against central differences (Richardson)."""

import math
import pathlib
import sys

import numba
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import symgrad as sg  # noqa: E402
from benchmarks.fuzz.oracle import richardson  # noqa: E402
from tests.test_second_order import close, twin  # noqa: E402

jax = pytest.importorskip("jax", reason="JAX is the independent reference for Jacobians")
jax.config.update("jax_enable_x64", True)
RNG = np.random.default_rng(11)


# --- the functions -------------------------------------------------------------------------------------------
def decay(p, t, y):
    """Residuals of an exponential decay fitted to data: an array expression."""
    return p[0] * np.exp(-p[1] * t) + p[2] - y


def neighbours(x):
    """A residual built in a loop into a local array, each element reading its neighbours (a banded Jacobian)."""
    n = x.shape[0]
    r = np.zeros(n)
    for i in range(n):
        r[i] = (3.0 - 2.0 * x[i]) * x[i] + 1.0
        if i > 0:
            r[i] -= x[i - 1]
        if i < n - 1:
            r[i] -= 2.0 * x[i + 1]
    return r


def pairs(x, scale):
    """A 2-D output: row i holds two functions of x[i] and its successor (cyclic), scaled by a float."""
    n = x.shape[0]
    out = np.zeros((n, 2))
    for i in range(n):
        out[i, 0] = math.sin(x[i]) * x[(i + 1) % n] * scale
        out[i, 1] = math.exp(0.3 * x[i]) - scale * scale
    return out


def polar(r, theta):
    return r * math.cos(theta), r * math.sin(theta), r * r


def sums(p, t, y):
    """A tuple of sums over data and a product of the parameters."""
    a = 0.0
    b = 0.0
    for i in range(t.shape[0]):
        e = p[0] * math.exp(-p[1] * t[i]) - y[i]
        a += e * e
        b += e * t[i]
    return a, b, p[0] * p[1]


def repeat(x, n):
    out = np.zeros(n)
    for i in range(n):
        out[i] = x[i % x.shape[0]] ** 2
    return out


def column_of_differences(f, args, position):
    """d f / d args[position] by Richardson central differences, shaped output.shape + argument.shape."""
    x = args[position]

    def element(k, j):
        def moved(h):
            moved_args = list(args)
            if np.ndim(x):
                shifted = np.array(x, dtype=float)
                shifted.flat[j] += h
                moved_args[position] = shifted
            else:
                moved_args[position] = x + h
            return float(np.asarray(f(*moved_args), dtype=float).flat[k])
        value, error = richardson(moved, [0.0], 0, None)
        return value

    m = np.asarray(f(*args), dtype=float)
    return np.array([[element(k, j) for j in range(max(np.size(x), 1))] for k in range(m.size)]).reshape(
        m.shape + np.shape(x))


T = np.linspace(0.0, 3.0, 12)
Y = 2.0 * np.exp(-0.7 * T) + 0.1 + 0.01 * np.sin(7 * T)
P = np.array([1.8, 0.5, 0.05])


# --- dense ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [None, "fwd", "rev"])
def test_jacobian_of_an_array_expression_is_jax_jacfwd_and_differences(mode):
    jacobian = sg.jacobian(decay, mode=mode)(P, T, Y)
    assert jacobian.shape == (12, 3) and jacobian.dtype == np.float64
    close(jacobian, jax.jacfwd(twin(decay))(P, T, Y))
    close(jacobian, jax.jacrev(twin(decay))(P, T, Y))
    close(jacobian, column_of_differences(decay, (P, T, Y), 0), rtol=1e-7)


@pytest.mark.parametrize("mode", [None, "fwd", "rev"])
def test_jacobian_of_a_loop_built_array_through_branches(mode):
    x = RNG.normal(size=9)
    close(sg.jacobian(neighbours, mode=mode)(x), jax.jacfwd(twin(neighbours))(x))


def test_jacobian_of_a_2d_output_has_the_shape_output_plus_wrt():
    x = RNG.normal(size=5)
    for mode in (None, "fwd", "rev"):
        jacobian = sg.jacobian(pairs, mode=mode)(x, 1.3)
        assert jacobian.shape == (5, 2, 5)
        close(jacobian, jax.jacrev(twin(pairs))(x, 1.3))
    by_scale = sg.jacobian(pairs, wrt=1)(x, 1.3)
    assert by_scale.shape == (5, 2)
    close(by_scale, jax.jacfwd(twin(pairs), argnums=1)(x, 1.3))


def test_jacobian_of_a_tuple_wrt_is_a_tuple_of_blocks_as_jax():
    x = RNG.normal(size=4)
    for mode in ("fwd", "rev"):
        blocks = sg.jacobian(pairs, wrt=(0, 1), mode=mode)(x, 0.7)
        expected = jax.jacrev(twin(pairs), argnums=(0, 1))(x, 0.7)
        assert isinstance(blocks, tuple) and [b.shape for b in blocks] == [(4, 2, 4), (4, 2)]
        for block, reference in zip(blocks, expected):
            close(block, reference)


def test_jacobian_of_a_tuple_return_is_jax_jacrev_of_the_stacked_outputs():
    import jax.numpy as jnp

    for mode in (None, "fwd", "rev"):
        jacobian = sg.jacobian(polar, wrt=(0, 1), mode=mode)(2.0, 0.5)
        assert [block.shape for block in jacobian] == [(3,), (3,)]
        expected = jax.jacrev(lambda *a: jnp.array(twin(polar)(*a)), argnums=(0, 1))(2.0, 0.5)
        close(np.array(jacobian), np.array(expected))
    y = 1.9 * np.exp(-0.4 * T)
    both = sg.jacobian(sums, wrt=(0, 2))(P[:2], T, y)
    assert both[0].shape == (3, 2) and both[1].shape == (3, 12)
    close(both[1], jax.jacrev(lambda *a: jnp.array(twin(sums)(*a)), argnums=2)(P[:2], T, y))


def test_value_and_jacobian():
    value, jacobian = sg.value_and_jacobian(decay)(P, T, Y)
    close(value, decay(P, T, Y))
    close(jacobian, jax.jacfwd(twin(decay))(P, T, Y))
    value, _ = sg.value_and_jacobian(polar)(2.0, 0.5)
    close(value, polar(2.0, 0.5))


def grid(p, t):
    """A 2-D output from a parameter vector read at constant indices (one forward sweep writes J), with a
    negative power of a parameter."""
    n = t.shape[0]
    out = np.zeros((n, 2))
    for i in range(n):
        out[i, 0] = p[0] * math.exp(-p[1] * t[i]) + p[2] ** -2
        out[i, 1] = math.tanh(p[1] * t[i]) / p[0]
    return out


def peaks(p, x, y):
    """The residuals of benchmarks/jacobian.py: two Gaussian peaks on a baseline p[6] (p[7] is never read)."""
    n = x.shape[0]
    r = np.zeros(n)
    for i in range(n):
        s = p[6] - y[i]
        for k in range(2):
            s += p[3 * k] * math.exp(-(((x[i] - p[3 * k + 1]) / p[3 * k + 2]) ** 2))
        r[i] = s
    return r


PEAKS = np.array([1.0, -1.0, 0.7, 2.0, 0.5, 1.1, 0.1, 3.0])


def test_a_parameter_vector_read_at_constants_is_one_sweep_writing_j_as_jax():
    x = np.linspace(-3.0, 3.0, 40)
    y = np.cos(x)
    jacobian = sg.jacobian(peaks)
    for points in (40, 7, 40):  # (later calls go straight to the kernel, at any size)
        expected = jax.jacfwd(twin(peaks))(PEAKS, x[:points], y[:points])
        close(jacobian(PEAKS, x[:points], y[:points]), expected)
    assert jacobian._load().ELEMENTS == (0, 1, 2, 3, 4, 5, 6) and jacobian._sweep is not None
    assert not jacobian(PEAKS, x, y)[:, 7].any()  # (the element never read: a zero column)
    assert jacobian.kernels.jacobian is jacobian.kernels.grad  # (the sweep's kernel returns J itself)
    close(jacobian(PEAKS, x[:5], y[:5]), jax.jacrev(twin(peaks))(PEAKS, x[:5], y[:5]))  # (5 rows < 7: reverse)
    close(jacobian(PEAKS, x, y), column_of_differences(peaks, (PEAKS, x, y), 0), rtol=1e-7)
    value, matrix = sg.value_and_jacobian(peaks)(PEAKS, x, y)
    close(value, peaks(PEAKS, x, y))
    close(matrix, jax.jacfwd(twin(peaks))(PEAKS, x, y))
    with pytest.raises(TypeError, match="argument 'x' must be a float64 array"):
        jacobian(PEAKS, x.astype(np.float32), y)  # (after the direct calls: the dispatcher names it)
    with pytest.raises(TypeError, match="argument 'y' must be a 1-D float64 array, got list"):
        jacobian(PEAKS, x, [1.0])


def test_a_one_sweep_jacobian_of_a_2d_output_and_a_negative_power_is_jax():
    p, t = np.array([1.3, 0.4, 0.8, 5.0]), np.linspace(0.0, 2.0, 5)
    jacobian = sg.jacobian(grid)
    result = jacobian(p, t)
    assert result.shape == (5, 2, 4) and jacobian._load().ELEMENTS == (0, 1, 2)
    close(result, jax.jacfwd(twin(grid))(p, t))
    close(result, column_of_differences(grid, (p, t), 0), rtol=1e-7)
    assert "**(-" not in jacobian.source()  # (printed 1.0/x**n: Numba's x**-n check keeps a loop scalar)


# --- products ---------------------------------------------------------------------------------------------
def test_jvp_and_vjp_are_jax_jvp_and_vjp():
    t, u = np.array([0.3, -1.0, 2.0]), RNG.normal(size=12)
    expected_jvp = jax.jvp(lambda p: twin(decay)(p, T, Y), (P,), (t,))[1]
    expected_vjp = jax.vjp(lambda p: twin(decay)(p, T, Y), P)[1](u)[0]
    forward, reverse = sg.jvp(decay), sg.vjp(decay)
    close(forward(P, T, Y, t), expected_jvp)
    close(reverse(P, T, Y, u), expected_vjp)
    close(forward.kernels.jvp(P, T, Y, t), expected_jvp)
    with pytest.raises(AttributeError, match="has no vjp kernel"):
        forward.kernels.vjp
    jacobian = sg.jacobian(decay)
    close(jacobian.jvp(P, T, Y, t), expected_jvp)
    close(jacobian.vjp(P, T, Y, u=u), expected_vjp)
    x = RNG.normal(size=4)
    pair = sg.vjp(pairs, wrt=(0, 1))(x, 0.7, np.ones((4, 2)))
    expected = jax.vjp(twin(pairs), x, 0.7)[1](np.ones((4, 2)))
    close(pair[0], expected[0])
    close(pair[1], expected[1])
    close(sg.jvp(pairs, wrt=(0, 1))(x, 0.7, (np.ones(4), 2.0)),
          jax.jvp(twin(pairs), (x, 0.7), (np.ones(4), 2.0))[1])


def test_seeds_of_the_wrong_shape_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"t must have the shape \(3,\) of argument 'p', got \(2,\)"):
        sg.jvp(decay)(P, T, Y, np.ones(2))
    with pytest.raises(ValueError, match=r"u must have the shape \(12,\) of the output, got \(3,\)"):
        sg.vjp(decay)(P, T, Y, np.ones(3))
    with pytest.raises(ValueError, match="t must be a float, as argument 'scale' is"):
        sg.jvp(pairs, wrt=1)(np.ones(3), 1.0, np.ones(3))
    with pytest.raises(ValueError, match="t must be a tuple of 2 directions"):
        sg.jvp(pairs, wrt=(0, 1))(np.ones(3), 1.0, np.ones(3))
    with pytest.raises(TypeError, match="u is missing"):
        sg.vjp(decay)()


# --- errors -----------------------------------------------------------------------------------------------
def test_jacobian_with_respect_to_an_int_argument_is_refused_naming_it():
    with pytest.raises(sg.NonDifferentiableArgumentError, match="'n'"):
        sg.jacobian(repeat, wrt="n")(np.ones(3), 5)
    close(sg.jacobian(repeat)(np.array([1.0, 2.0]), 3), [[2.0, 0.0], [0.0, 4.0], [2.0, 0.0]])


def branch_of_arrays(x):
    if x[0] > 0:
        return x * 2.0
    return x * 3.0


def test_an_output_whose_shape_the_data_decide_is_refused():
    with pytest.raises(sg.UnsupportedSyntaxError, match="an array returned on one side of an `if`"):
        sg.jacobian(branch_of_arrays)(np.ones(3))
    with pytest.raises(sg.UnsupportedSyntaxError, match="returning an array: return a number, or use sg.jacobian"):
        sg.grad(decay)(P, T, Y)


def test_mode_and_sparse_options_are_checked():
    with pytest.raises(ValueError, match="mode='forward'"):
        sg.jacobian(decay, mode="forward")
    with pytest.raises(ValueError, match="sparse=True takes 1-D array arguments as wrt .*'scale' is a float"):
        sg.jacobian(pairs, wrt=1, sparse=True)(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="'c' is a float"):
        sg.jacobian(mix, wrt=(0, 2), sparse=True)(np.ones(3), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="sparse=True needs a function returning a 1-D array"):
        sg.jacobian(pairs, sparse=True)(np.ones(3), 1.0)


# --- sparse -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [None, "fwd", "rev"])
def test_a_sparse_jacobian_is_the_dense_one_and_its_pattern_holds_every_nonzero(mode):
    sparse = sg.jacobian(neighbours, sparse=True, mode=mode)
    n = 30
    pattern = sparse.sparsity(np.zeros(n)).toarray() != 0
    assert np.array_equal(pattern, np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1)
    for _ in range(3):
        x = RNG.normal(size=n)
        dense = np.asarray(jax.jacfwd(twin(neighbours))(x))
        assert not np.any(dense[~pattern])
        matrix = sparse(x)
        assert matrix.format == "csr" and matrix.nnz == 3 * n - 2
        close(matrix.toarray(), dense)
    assert sparse._pattern((np.zeros(n),))[4].shape[0] == 3  # a tridiagonal Jacobian: three products


def mix(x, w, c):
    """Residuals reading two arrays (x at i and its cyclic successor, w cyclically): a block of columns each."""
    n = x.shape[0]
    r = np.zeros(n)
    for i in range(n):
        r[i] = x[i] * w[i % w.shape[0]] + np.sin(x[(i + 1) % n]) * c
    return r


@pytest.mark.parametrize("mode", [None, "rev"])
def test_a_sparse_jacobian_wrt_a_tuple_is_a_csr_block_per_argument_as_jax(mode):
    x, w = RNG.normal(size=7), RNG.normal(size=3)
    sparse = sg.jacobian(mix, wrt=(0, 1), sparse=True, mode=mode)
    blocks, patterns = sparse(x, w, 0.5), sparse.sparsity(x, w, 0.5)
    expected = jax.jacfwd(twin(mix), argnums=(0, 1))(x, w, 0.5)
    assert [b.shape for b in blocks] == [(7, 7), (7, 3)] and all(b.format == "csr" for b in blocks)
    assert [b.nnz for b in blocks] == [14, 7]
    for block, pattern, reference in zip(blocks, patterns, expected):
        close(block.toarray(), reference)
        assert not np.any(np.asarray(reference)[pattern.toarray() == 0])
    value, (by_x, by_w) = sg.value_and_jacobian(mix, wrt=("x", "w"), sparse=True)(x, w, 0.5)
    close(value, mix(x, w, 0.5))
    close(by_w.toarray(), column_of_differences(mix, (x, w, 0.5), 1), rtol=1e-7)


def guarded_chain(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 3
        if i > 0:
            s += x[i] * x[i - 1]
    return s


def test_a_read_under_a_guard_that_never_holds_is_no_dependence_in_either_pattern():
    """x[i - 1] under `if i > 0`: the patterns (shared by the Hessian) never hold the element -1."""
    x = RNG.normal(size=6)
    hessian = sg.hessian(guarded_chain, sparse=True)
    close(hessian(x).toarray(), jax.hessian(twin(guarded_chain))(x))
    assert hessian(x).nnz == 6 + 2 * 5


def test_a_cyclic_pattern_with_a_float_argument():
    sparse = sg.jacobian(pairs, wrt=0, sparse=True)
    with pytest.raises(ValueError, match="1-D array"):
        sparse(np.ones(4), 1.0)  # a 2-D output
    x = RNG.normal(size=7)
    y = RNG.normal(size=7)
    sparse = sg.jacobian(sums, wrt=2, sparse=True)
    pattern = sparse.sparsity(P[:2], T[:7], y).toarray() != 0
    assert np.array_equal(pattern, np.array([[True] * 7, [True] * 7, [False] * 7]))
    close(sparse(P[:2], T[:7], x).toarray(), sg.jacobian(sums, wrt=2)(P[:2], T[:7], x))


# --- kernels, formulas, scipy -----------------------------------------------------------------------------
def test_kernels_run_inside_users_njit_code():
    """A Gauss-Newton step written in Numba, calling the compiled Jacobian and the function's value."""
    transform = sg.jacobian(decay)
    transform(P, T, Y)  # (the first call's arrays decide that t and y are arrays, not numbers)
    jacobian, residual = transform.kernels.jacobian, numba.njit(decay)

    @numba.njit
    def gauss_newton_step(p, t, y):
        J = jacobian(p, t, y)
        return p - np.linalg.solve(J.T @ J, J.T @ residual(p, t, y))

    J, r = transform(P, T, Y), decay(P, T, Y)
    close(gauss_newton_step(P, T, Y), P - np.linalg.solve(J.T @ J, J.T @ r))
    assert np.array_equal(transform.kernels.output_shape(P, T, Y), (12,))
    close(transform.kernels.jvp(P, T, Y, np.ones(3)), J @ np.ones(3))
    close(transform.kernels.vjp(P, T, Y, np.ones(12)), np.ones(12) @ J)


def test_jacobian_shows_source_and_formulas():
    jacobian = sg.jacobian(polar)
    assert "def grad(r, theta, t):" in jacobian.source()
    assert r"\cos" in jacobian.latex()
    assert "def grad(r, theta, u):" in sg.jacobian(polar, mode="rev").source()


def test_least_squares_converges_with_the_jacobian_in_fewer_evaluations():
    from scipy.optimize import least_squares

    t = np.linspace(0.0, 4.0, 200)
    y = 2.5 * np.exp(-1.3 * t) + 0.4 + 0.01 * np.sin(13 * t)
    calls = []

    def counted(p, t, y):
        calls.append(1)
        return decay(p, t, y)

    exact = least_squares(counted, np.array([1.0, 0.5, 0.0]), jac=sg.jacobian(decay), args=(t, y), xtol=1e-12)
    with_jacobian, calls[:] = len(calls), []
    guessed = least_squares(counted, np.array([1.0, 0.5, 0.0]), jac="2-point", args=(t, y), xtol=1e-12)
    assert exact.success and np.allclose(exact.x, [2.5, 1.3, 0.4], atol=0.02)
    assert np.allclose(exact.x, guessed.x, atol=1e-6)
    assert with_jacobian < len(calls)  # (each 2-point Jacobian costs 3 more evaluations of f)


def test_least_squares_with_the_sparsity_of_the_broyden_tridiagonal_function():
    from scipy.optimize import least_squares

    n = 200
    jacobian = sg.jacobian(neighbours, sparse=True)
    x0 = -np.ones(n)
    pattern = jacobian.sparsity(x0)
    with_pattern = least_squares(neighbours, x0, jac_sparsity=pattern, method="trf", xtol=1e-12)
    exact = least_squares(neighbours, x0, jac=jacobian, method="trf", xtol=1e-12)
    for result in (with_pattern, exact):
        assert result.success and np.abs(neighbours(result.x)).max() < 1e-8
    assert exact.nfev <= with_pattern.nfev


REBOUND_SOURCE = '''
SCALE = 2.0


def square(t):
    return t * t


def cube(t):
    return t * t * t


def residuals(p):
    return np.array([SCALE * np.sum(p ** 2), square(p[1]) - p[0]])
'''


def test_a_rebound_module_number_or_helper_is_seen_by_every_jacobian_product(make_module):
    """Module-level numbers and helpers are folded into the kernels.  The Jacobian's call path skipped the check
    that `grad` makes, so after `SCALE = 5.0` it kept returning the Jacobian for 2.0; its twins (the reverse
    kernels a dense call may use) and its sparsity patterns were kept too.  The reference is jax.jacfwd of the
    same source with the same globals."""
    module = make_module("import numpy as np\n" + REBOUND_SOURCE)
    twin = make_module("import jax.numpy as np\n" + REBOUND_SOURCE)
    p, t, u = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, -1.0, 2.0, 1.5]), np.array([1.5, -0.5])
    transforms = {"dense": sg.jacobian(module.residuals), "sparse": sg.jacobian(module.residuals, sparse=True),
                  "fwd": sg.jacobian(module.residuals, mode="fwd"), "rev": sg.jacobian(module.residuals, mode="rev")}
    jvp, vjp = sg.jvp(module.residuals), sg.vjp(module.residuals)

    def check():
        expected = np.asarray(jax.jacfwd(twin.residuals)(p))
        for name, transform in transforms.items():
            result = transform(p)
            np.testing.assert_allclose(result.toarray() if name == "sparse" else result, expected, rtol=1e-14,
                                       err_msg=name)
        np.testing.assert_allclose(jvp(p, t), expected @ t, rtol=1e-14)
        np.testing.assert_allclose(vjp(p, u), u @ expected, rtol=1e-14)

    check()
    module.SCALE = twin.SCALE = 5.0
    check()
    module.square, twin.square = module.cube, twin.cube
    check()


# --- pass write_once_arrays on the packed output of a tuple -------------------------------------------------------
def residual_tuple(p):
    return 1.0 - p[0], 10.0 * (p[1] - p[0] ** 2), math.tanh(p[0] * p[1]), p[2] * p[0]


def rewritten_output(p):
    """An element stored twice, and read between: its stores keep their undo."""
    r = np.zeros(3)
    r[0] = p[0] * p[1]
    r[1] = r[0] + p[2]
    r[0] = math.sin(r[0])
    r[2] = p[2] ** 2
    return r


def test_write_once_arrays_leaves_the_packed_output_of_a_tuple_untaped_in_reverse_mode():
    import jax.numpy as jnp

    p = np.array([0.3, 0.7, -1.2])
    transform = sg.jacobian(residual_tuple, mode="rev")
    unoptimised = sg.jacobian(residual_tuple, mode="rev", optimize={"write_once_arrays": False})
    jacobian = transform(p)
    assert "tape_" not in transform.source() and "tape_residual_tuple_output" in unoptimised.source()
    close(jacobian, jax.jacrev(lambda p: jnp.array(twin(residual_tuple)(p)))(p), rtol=1e-13)
    np.testing.assert_array_equal(jacobian, unoptimised(p))


def test_write_once_arrays_keeps_the_undo_of_an_output_element_stored_twice():
    p = np.array([0.3, 0.7, -1.2])
    transform = sg.jacobian(rewritten_output, mode="rev")
    assert "tape_r" in transform.source()
    close(transform(p), jax.jacrev(twin(rewritten_output))(p), rtol=1e-13)


def last_residual(u):
    r = np.zeros_like(u)
    r[-1] = u[0] ** 2
    r[:-1] = u[1:] * u[:-1]
    return r


def test_a_negative_index_store_is_in_the_sparse_jacobian_pattern():
    """r[-1] = ... of a local array crashed the sparse Jacobian with NumPy's 'list argument must have no negative
    elements' (found by probing): the pattern counts the index from the end as the kernels do."""
    u = np.array([0.5, -1.0, 2.0, 0.75])
    dense = sg.jacobian(last_residual)(u)
    sparse = sg.jacobian(last_residual, sparse=True)(u).toarray()
    by_hand = np.zeros((4, 4))
    by_hand[3, 0] = 2 * u[0]
    for k in range(3):
        by_hand[k, k], by_hand[k, k + 1] = u[k + 1], u[k]
    close(dense, by_hand)
    close(sparse, by_hand)
