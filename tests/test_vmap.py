"""sg.vmap: the batch kernel gives, at every point, exactly what the transform's serial kernel gives (same code, each
point in its own row), whatever the number of threads; the gradients agree with central differences; wrong
in_axes, batch sizes and ranks are refused naming the argument."""

import hashlib
import math
import pathlib

import numba
import numpy as np
import pytest

import symgrad as sg
from conftest import central_difference, richardson_gradient


def rosen2(x, y):
    return (1 - x)**2 + 100*(y - x**2)**2


def neuron(w1, w2, b, x1, x2, y):
    z = w1*x1 + w2*x2 + b
    p = (math.tanh(z) + 1)/2
    return -(y*math.log(p) + (1 - y)*math.log(1 - p))


def partial_sum(w, X, n):
    """Reads the first n rows of X: n is an int argument (a loop bound)."""
    s = 0.0
    for i in range(n):
        s += (X[i, 0]*w[0] - 1.0)**2 + w[1]*math.sin(X[i, 1])
    return s


def weighted(W, v, c):
    """A 2-D array argument, a 1-D one and a float."""
    s = 0.0
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            s += math.tanh(W[i, j]*v[j] + c)
    return s


RNG = np.random.default_rng(12)


def test_scalars_batched_match_the_serial_kernel_exactly_and_central_differences():
    g = sg.value_and_grad(rosen2, wrt=(0, 1))
    x, y = RNG.uniform(-2, 2, 5000), RNG.uniform(-2, 2, 5000)
    values, (gx, gy) = sg.vmap(g, in_axes=(0, 0))(x, y)
    assert values.shape == gx.shape == gy.shape == (5000,)
    for k in range(0, 5000, 97):
        value, (dx, dy) = g(x[k], y[k])
        assert (values[k], gx[k], gy[k]) == (value, dx, dy)
        assert gx[k] == pytest.approx(central_difference(rosen2, (x[k], y[k]), 0), rel=1e-6, abs=1e-6)
        assert gy[k] == pytest.approx(central_difference(rosen2, (x[k], y[k]), 1), rel=1e-6, abs=1e-6)


def test_grad_with_one_wrt_and_a_shared_scalar():
    g = sg.grad(neuron, wrt=0)
    w1 = RNG.uniform(-1, 1, 300)
    shared = (-0.2, 0.1, 0.5, 1.5, 1.0)
    gradients = sg.vmap(g, in_axes=(0, None, None, None, None, None))(w1, *shared)
    assert gradients.shape == (300,)
    for k in range(0, 300, 7):
        assert gradients[k] == g(w1[k], *shared)
        assert gradients[k] == pytest.approx(central_difference(neuron, (w1[k], *shared), 0), rel=1e-6)


def test_arrays_batched_with_shared_and_batched_int_arguments():
    g = sg.value_and_grad(partial_sum, wrt=(0,))
    W, X = RNG.normal(size=(40, 2)), RNG.normal(size=(6, 2))
    n = RNG.integers(0, 7, 40)  # an int array: each point reads another number of rows
    batched = sg.vmap(g, in_axes=(0, None, 0))
    values, (gradients,) = batched(W, X, n)
    assert values.shape == (40,) and gradients.shape == (40, 2)
    for k in range(40):
        value, (gradient,) = g(W[k], X, int(n[k]))
        assert values[k] == value and np.array_equal(gradients[k], gradient)
        reference = richardson_gradient(partial_sum, (W[k], X, int(n[k])), 0)
        np.testing.assert_allclose(gradients[k], reference, rtol=1e-8, atol=1e-8)
    assert np.array_equal(batched.value(W, X, n), values)


def test_2d_argument_batched_as_3d_and_gradient_of_a_shared_array():
    g = sg.value_and_grad(weighted, wrt=("W", "v"))
    Ws, v, c = RNG.normal(size=(9, 3, 4)), RNG.normal(size=4), RNG.normal(size=9)
    values, (gW, gv) = sg.vmap(g, in_axes=(0, None, 0))(Ws, v, c)
    assert gW.shape == (9, 3, 4) and gv.shape == (9, 4)  # a shared wrt still gets one gradient per point
    for k in range(9):
        value, (dW, dv) = g(Ws[k], v, c[k])
        assert values[k] == value and np.array_equal(gW[k], dW) and np.array_equal(gv[k], dv)
        np.testing.assert_allclose(gv[k], richardson_gradient(weighted, (Ws[k], v, c[k]), 1), rtol=1e-8)


def test_results_do_not_depend_on_the_number_of_threads():
    batched = sg.vmap(sg.value_and_grad(neuron, wrt=(0, 1, 2)), in_axes=(0, 0, 0, 0, 0, 0))
    points = [RNG.uniform(-1, 1, 20000) for _ in range(5)] + [RNG.integers(0, 2, 20000).astype(float)]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = batched(*points)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = batched(*points)
    finally:
        numba.set_num_threads(before)
    assert one[0].tobytes() == two[0].tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(one[1], two[1]))


def test_parallel_transform_runs_its_serial_twin_and_kernels_work_from_njit():
    g = sg.value_and_grad(rosen2, wrt=(0, 1), parallel=True)
    batched = sg.vmap(g, in_axes=(0, None))
    kernel = batched.kernels.value_and_grad

    @numba.njit
    def through(xs, y):  # (arrays, not their sums: Numba and NumPy add up in different orders)
        values, (gx, gy) = kernel(xs, y)
        return values * 1.0, gx * 1.0, gy * 1.0

    xs = RNG.uniform(-2, 2, 100)
    values, (gx, gy) = batched(xs, 0.5)
    assert all(np.array_equal(a, b) for a, b in zip(through(xs, 0.5), (values, gx, gy)))
    assert values[3] == g.value(xs[3], 0.5)


def test_empty_batch_and_keywords():
    batched = sg.vmap(sg.value_and_grad(rosen2, wrt=(0, 1)), in_axes=(0, None))
    values, (gx, gy) = batched(np.empty(0), 1.0)
    assert values.shape == gx.shape == (0,)
    values, _ = batched(y=1.0, x=np.array([1.0, 2.0]))
    assert values.tolist() == [rosen2(1.0, 1.0), rosen2(2.0, 1.0)]


def test_errors_name_the_argument():
    g = sg.value_and_grad(partial_sum, wrt=0)
    with pytest.raises(ValueError, match=r"in_axes has 2 entries but partial_sum\(\) has 3 arguments"):
        sg.vmap(g, in_axes=(0, None))
    with pytest.raises(ValueError, match="argument 'X': symgrad batches along the leading axis only"):
        sg.vmap(g, in_axes=(0, 1, None))
    with pytest.raises(ValueError, match="marks no argument as batched"):
        sg.vmap(g, in_axes=None)
    with pytest.raises(TypeError, match="maps a symgrad transform"):
        sg.vmap(partial_sum, in_axes=0)
    batched = sg.vmap(g, in_axes=(0, None, 0))
    W, X = RNG.normal(size=(4, 2)), RNG.normal(size=(6, 2))
    with pytest.raises(ValueError, match="argument 'n' has 3 points along axis 0, but argument 'w' has 4"):
        batched(W, X, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"argument 'w' \(batched, in_axes 0\) must be a 2-D float64 array"):
        batched(W[0], X, np.array([1, 2, 3, 4]))
    with pytest.raises(TypeError, match=r"argument 'X' \(shared, in_axes None\) must be a 2-D float64 array"):
        batched(W, X[None], np.array([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="argument 'n' .* must hold real numbers"):
        batched(W, X, np.array([True, False, True, True]))
    with pytest.raises(sg.ArrayIndexError, match="indexes argument 'X'"):  # raised, not lost on a thread
        batched(np.zeros((5000, 2)), X, np.r_[np.ones(4999), 7.0])
    with pytest.raises(ValueError, match="argument 'n' is used as an integer"):
        batched(np.zeros((5000, 2)), X, np.r_[np.ones(4999), 1.5])


def test_batch_kernel_is_a_sealed_cache_entry_loaded_again_by_a_second_vmap(fresh_symgrad_cache):
    g = sg.value_and_grad(rosen2, wrt=(0, 1))
    first = sg.vmap(g, in_axes=(None, 0))
    kernel = first.kernels.grad
    module = kernel.py_func.__module__
    path = pathlib.Path(fresh_symgrad_cache) / f"{module}.py"
    seal, _, body = path.read_bytes().partition(b"\n")
    assert seal == b"# symgrad sha256 " + hashlib.sha256(body).hexdigest().encode()
    assert b"batch kernel: grad of rosen2() over in_axes=(None, 0)" in body
    second = sg.vmap(sg.value_and_grad(rosen2, wrt=(0, 1)), in_axes=(None, 0))
    assert second.kernels.grad.py_func.__module__ == module
    ys = RNG.uniform(-1, 1, 50)
    assert all(np.array_equal(a, b) for a, b in zip(first.kernels.grad(1.5, ys), second(1.5, ys)[1]))


def test_results_the_caller_holds_are_never_overwritten_and_dropped_ones_are_reused():
    """The call reuses result arrays of earlier calls (fresh pages cost 10x the batch), but only those nothing
    else refers to: held results, and arrays a held view was taken from, keep their values."""
    batched = sg.vmap(sg.value_and_grad(rosen2, wrt=(0, 1)), in_axes=(0, 0))
    batches = [(RNG.uniform(-2, 2, 64), RNG.uniform(-2, 2, 64)) for _ in range(6)]
    expected = [(rosen2(x, y), ((1 - x) * -2 - 400 * x * (y - x**2), 200 * (y - x**2))) for x, y in batches]

    def check(result, k):
        values, (gx, gy) = result
        np.testing.assert_allclose(values, expected[k][0], rtol=1e-13)
        np.testing.assert_allclose(gx, expected[k][1][0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gy, expected[k][1][1], rtol=1e-12, atol=1e-12)

    held = [batched(*batches[k]) for k in range(3)]  # three sets held at once: more than are kept
    view = batched(*batches[3])[1][0][:10]  # only a view of one gradient survives
    for k in range(3):
        check(held[k], k)
    np.testing.assert_allclose(view, expected[3][1][0][:10], rtol=1e-12, atol=1e-12)
    first = batched(*batches[4])
    identity = id(first[0])
    del first
    again = batched(*batches[5])
    assert id(again[0]) == identity  # the dropped set was written again
    check(again, 5)
    for k in range(3):
        check(held[k], k)
    np.testing.assert_allclose(view, expected[3][1][0][:10], rtol=1e-12, atol=1e-12)


VECTORISED_SOURCE = '''
def energy(x, w):
    return np.sum(w * x ** 2) + np.sum(np.sin(x)) * np.sum(w)
'''


def test_vmap_takes_the_rank_of_an_argument_from_one_point_of_the_first_call(make_module):
    """`np.sum(x**2)` leaves x's rank open; a plain call takes it from the array passed.  vmap once derived before
    looking, read x as a float, and refused points of shape (3,); it now observes one point (the batched
    argument without its leading axis, a shared one whole).  The reference is JAX's vmap of its grad."""
    jax = pytest.importorskip("jax", reason="JAX's vmap(grad) is the reference here")
    jax.config.update("jax_enable_x64", True)
    module = make_module("import numpy as np\n" + VECTORISED_SOURCE)
    twin = make_module("import jax.numpy as np\n" + VECTORISED_SOURCE)
    rng = np.random.default_rng(5)
    points, w = rng.normal(size=(6, 3)), rng.normal(size=3)
    batched = sg.vmap(sg.grad(module.energy, wrt=(0, 1)), in_axes=(0, None))(points, w)
    expected = jax.vmap(jax.grad(twin.energy, argnums=(0, 1)), in_axes=(0, None))(points, w)
    for ours, theirs in zip(batched, expected):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-13)
