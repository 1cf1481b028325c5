"""`parallel=True`: long loops whose iterations only add into sums run in chunks on Numba's threads.

Each gradient is checked against a hand-derived NumPy formula and against the serial kernels, on data long enough
for the threaded branch (`PARALLEL_MIN_ITERATIONS` rows) and short enough for the serial one; loops that must stay
serial (recurrences, stores indexed by the loop index, local arrays) are checked to stay serial and still right.
"""

import math

import numpy as np
import pytest

import symgrad as sg
from symgrad.cache import KERNEL_NAMES
from symgrad.codegen import PARALLEL_MIN_ITERATIONS
from test_arrays import rosen

LONG = PARALLEL_MIN_ITERATIONS + 37  # not a multiple of the chunk count: chunks of unequal length
SHORT = 50


def logistic_with_bias(w, b, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        z = b
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += math.log1p(math.exp(-z)) + (1 - y[i]) * z
    return total / X.shape[0]


def logistic_reference(w, b, X, y):
    """Value and (d/dw, d/db) derived by hand: d/dz = (1 - y) - sigmoid(-z)."""
    z = X @ w + b
    value = np.mean(np.log1p(np.exp(-z)) + (1 - y) * z)
    dz = ((1 - y) - 1 / (1 + np.exp(z))) / len(y)
    return value, X.T @ dz, float(np.sum(dz))


def squared_error(a, c, t, obs):
    err = 0.0
    for i in range(len(t)):
        r = a * math.exp(-c * t[i]) - obs[i]
        err += r * r
    return err


def decay(k, obs):
    x = 1.0
    err = 0.0
    for t in range(len(obs)):
        x = x - 0.01 * k * x
        err += (x - obs[t]) ** 2
    return err


def threaded_kernels(transform):
    """The names of `transform`'s kernels that run a loop on threads: those with a ``_<kernel>_chunks<k>``
    function beside them in their module."""
    module = vars(transform._load())
    return {name for name in KERNEL_NAMES if any(a.startswith(f"_{name}_chunks") for a in module)}


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (rng.random(n) > 0.5).astype(float)
    return rng.standard_normal(4) * 0.5, 0.3, X, y


@pytest.mark.parametrize("n", [LONG, SHORT])
def test_loss_over_rows_matches_hand_formula_and_serial_kernel(n):
    threaded = sg.value_and_grad(logistic_with_bias, wrt=("w", "b"), parallel=True)
    serial = sg.value_and_grad(logistic_with_bias, wrt=("w", "b"))
    w, b, X, y = data(n)
    value, (w_bar, b_bar) = threaded(w, b, X, y)
    expected_value, expected_w, expected_b = logistic_reference(w, b, X, y)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(w_bar, expected_w, rtol=1e-11, atol=1e-14)
    assert b_bar == pytest.approx(expected_b, rel=1e-11, abs=1e-14)
    serial_value, (serial_w, serial_b) = serial(w, b, X, y)
    assert value == pytest.approx(serial_value, rel=1e-13)
    np.testing.assert_allclose(w_bar, serial_w, rtol=1e-12, atol=1e-15)
    assert threaded.value(w, b, X, y) == pytest.approx(expected_value, rel=1e-12)
    assert threaded.kernels.grad(w, b, X, y)[1] == pytest.approx(expected_b, rel=1e-11, abs=1e-14)


def test_threaded_kernels_are_compiled_with_prange_and_give_the_same_result_every_call():
    threaded = sg.value_and_grad(logistic_with_bias, wrt=("w", "b"), parallel=True)
    w, b, X, y = data(LONG, seed=1)
    first = threaded(w, b, X, y)
    assert "prange(" in threaded.source()
    assert threaded_kernels(threaded) == {"value", "grad", "value_and_grad"}
    for _ in range(3):  # fixed chunks: the rounding does not depend on which thread ran which chunk
        again = threaded(w, b, X, y)
        assert again[0] == first[0] and np.array_equal(again[1][0], first[1][0])


def test_scalar_parameters_reduced_over_a_long_loop():
    threaded = sg.value_and_grad(squared_error, wrt=("a", "c"), parallel=True)
    t = np.linspace(0.0, 3.0, LONG)
    obs = 2.0 * np.exp(-0.7 * t) + 0.01 * np.sin(40 * t)
    a, c = 1.8, 0.6
    value, (a_bar, c_bar) = threaded(a, c, t, obs)
    residual = a * np.exp(-c * t) - obs
    assert value == pytest.approx(np.sum(residual ** 2), rel=1e-12)
    assert a_bar == pytest.approx(np.sum(2 * residual * np.exp(-c * t)), rel=1e-11)
    assert c_bar == pytest.approx(np.sum(-2 * residual * a * t * np.exp(-c * t)), rel=1e-11)
    assert "prange(" in threaded.source()


@pytest.mark.parametrize("function, wrt", [(rosen, "x"), (decay, "k")])
def test_gradient_loops_that_must_stay_serial_do_and_stay_right(function, wrt):
    threaded = sg.value_and_grad(function, wrt=wrt, parallel=True)
    rng = np.random.default_rng(3)
    if function is rosen:
        x = rng.standard_normal(LONG)
        value, x_bar = threaded(x)
        expected = np.zeros_like(x)
        expected[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
        expected[1:] += 200 * (x[1:] - x[:-1] ** 2)
        np.testing.assert_allclose(x_bar, expected, rtol=1e-12, atol=1e-9)
    else:
        obs = np.exp(-0.02 * np.arange(1, LONG + 1))
        k = 1.5
        value, k_bar = threaded(k, obs)
        h = 1e-6
        assert k_bar == pytest.approx((decay(k + h, obs) - decay(k - h, obs)) / (2 * h), rel=1e-6)
    # rosen's value is a plain sum, so only its value kernel may use threads; the decay is a recurrence
    assert threaded_kernels(threaded) == ({"value"} if function is rosen else set())


def test_parallel_is_part_of_the_cache_key():
    w, b, X, y = data(SHORT, seed=2)
    threaded = sg.value_and_grad(logistic_with_bias, wrt=("w", "b"), parallel=True)
    serial = sg.value_and_grad(logistic_with_bias, wrt=("w", "b"))
    threaded(w, b, X, y), serial(w, b, X, y)
    assert threaded._load() is not serial._load()
    assert "prange(" not in serial.source()


def linear_squares(w, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += (z - y[i]) ** 2
    return total


def softplus_loss(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += math.log1p(math.exp(z))
    return total


def test_each_threaded_loop_compiles_to_one_parallel_loop_however_many_kernels_compiled_before(monkeypatch, tmp_path):
    """Numba empties the dict of parallel options it is given: only the first threaded kernel of a process kept
    Numba's other conversions off, and later ones started threads for every np.zeros (the vectorised MLP ran 2.7x
    slower after the logistic loss had compiled).  Each chunk function holds its `prange` loop alone, and the
    kernel that calls it is compiled serially."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    w, _, X, y = data(LONG, seed=5)
    first = sg.value_and_grad(linear_squares, wrt="w", parallel=True)
    second = sg.value_and_grad(softplus_loss, wrt="w", parallel=True)
    value, w_bar = first(w, X, y)
    assert value == pytest.approx(np.sum((X @ w - y) ** 2), rel=1e-12)
    np.testing.assert_allclose(w_bar, 2 * X.T @ (X @ w - y), rtol=1e-11)
    value, w_bar = second(w, X)
    assert value == pytest.approx(np.sum(np.log1p(np.exp(X @ w))), rel=1e-12)
    np.testing.assert_allclose(w_bar, X.T @ (1 / (1 + np.exp(-X @ w))), rtol=1e-11)
    for transform in (first, second):
        module = transform._load()
        chunk_functions = [f for name, f in vars(module).items() if name.startswith("_value_and_grad_chunks")]
        assert chunk_functions
        for function in chunk_functions:
            (compiled,) = function.overloads.values()
            assert len(compiled.metadata["parfor_diagnostics"].initial_parfors) == 1
        assert transform.kernels.value_and_grad.targetoptions["parallel"] is False
