"""symgrad.dask: a loss over dask arrays chunked by rows equals the in-memory kernel's up to the order of summation
(each chunk is a serial sum, the chunks are added by a tree: relative differences of a few ulps times the number
of chunks, checked at 1e-12), and its gradient matches central differences; chunkings are aligned, chunks along
the wrong axis are merged with a warning; functions that are not sums over the rows are refused naming the line;
workers of a LocalCluster compile the shipped module text in their own cache directories."""

import contextlib
import math
import os
import pathlib
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="the dask extra is not installed: pip install -e '.[dask]'")

import symgrad as sg  # noqa: E402
import symgrad.dask as sgd  # noqa: E402
from conftest import richardson_gradient  # noqa: E402

TOLERANCE = 1e-12  # summation order: chunk sums added by a tree instead of one running sum


def nll(w, X, y):
    """The mean logistic loss: a sum over rows divided once by their number."""
    s = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j]*w[j]
        s += math.log(1 + math.exp(z)) - y[i]*z
    return s / len(y)


def squares(w, b, X, y, scale):
    """A sum over rows with a scalar parameter and a shared float."""
    s = 0.0
    for i in range(len(y)):
        r = X[i, 0]*w[0] + X[i, 1]*w[1] + b - y[i]
        s += scale*r*r
    return 0.5*s


def vectorised_nll(w, X, y):
    """The same loss as NumPy users write it: `y * z` alone leaves y's rank open, so the call's arrays decide."""
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


RNG = np.random.default_rng(7)
X = RNG.normal(size=(2000, 3))
Y = (RNG.random(2000) < 0.5).astype(float)
W = RNG.normal(size=3) * 0.3


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=TOLERANCE, atol=TOLERANCE)


def test_a_vectorised_loss_takes_its_ranks_from_the_dask_arrays_passed():
    """Regression: the ranks of dask arrays were not observed, so y was read as a float and refused."""
    value, gradient = sgd.value_and_grad(vectorised_nll)(W, da.from_array(X, chunks=(300, 3)),
                                                         da.from_array(Y, chunks=300))
    close(value, nll(W, X, Y))
    np.testing.assert_allclose(gradient, richardson_gradient(nll, (W, X, Y), 0), rtol=1e-8, atol=1e-10)


def test_mean_over_chunks_matches_the_in_memory_kernel_and_central_differences():
    value, gradient = sgd.value_and_grad(nll)(W, da.from_array(X, chunks=(300, 3)), da.from_array(Y, chunks=300))
    reference_value, reference_gradient = sg.value_and_grad(nll)(W, X, Y)
    assert isinstance(value, float) and gradient.shape == (3,)
    close(value, reference_value)
    close(gradient, reference_gradient)
    np.testing.assert_allclose(gradient, richardson_gradient(nll, (W, X, Y), 0), rtol=1e-8, atol=1e-10)
    # divided once at the end: a mean of chunks of unequal sizes is still the mean of the rows
    close(sgd.grad(nll)(W, da.from_array(X, chunks=(700, 3)), da.from_array(Y, chunks=700)), reference_gradient)


def test_sum_with_tuple_wrt_shared_float_and_differently_chunked_arguments():
    transform = sgd.value_and_grad(squares, wrt=("w", "b"), parallel=True)
    w, b, scale = np.array([0.5, -1.0]), 0.25, 1.5
    Xd, yd = da.from_array(X[:, :2].copy(), chunks=(512, 2)), da.from_array(Y, chunks=300)  # aligned to X's
    value, (gw, gb) = transform(w, b, Xd, yd, scale)
    reference_value, (rw, rb) = sg.value_and_grad(squares, wrt=("w", "b"))(w, b, X[:, :2].copy(), Y, scale)
    close(value, reference_value)
    close(gw, rw)
    close(gb, rb)
    fd = richardson_gradient(squares, (w, b, X[:, :2].copy(), Y, scale), 1)
    assert gb == pytest.approx(fd, rel=1e-8)
    delayed = transform(w, b, Xd, yd, scale, compute=False)
    assert delayed.compute()[0] == value


def test_chunks_along_columns_are_merged_with_a_warning():
    with pytest.warns(sgd.RechunkWarning, match="argument 'X' is chunked along axis 1"):
        value, gradient = sgd.value_and_grad(nll)(W, da.from_array(X, chunks=(400, 2)), da.from_array(Y, chunks=400))
    reference_value, reference_gradient = sg.value_and_grad(nll)(W, X, Y)
    close(value, reference_value)
    close(gradient, reference_gradient)


def shifted(w, X):
    s = 0.0
    for i in range(X.shape[0] - 1):
        s += (X[i + 1, 0] - w[0]*X[i, 0])**2
    return s


def recurrence(w, X):
    s = 0.0
    for i in range(X.shape[0]):
        s = 0.5*s + (X[i, 0] - w[0])**2
    return s


def penalty_over_rows(w, X):
    s = 0.0
    for i in range(X.shape[0]):
        s += (X[i, 0] - w[0])**2
    return s + w[0]**2 / X.shape[0]


def regularised(w, X, lam):
    """A sum over the rows plus a penalty on the parameters, which one chunk alone adds."""
    s = 0.0
    for i in range(X.shape[0]):
        s += (X[i, 0] - w[0])**2 + X[i, 1]*w[1]
    return s + lam * (w[0]**2 + math.exp(w[1]))


def ridge_mean(w, X, y, lam):
    """A mean and a penalty, vectorised: np.mean(...) + lam * w @ w."""
    r = X @ w - y
    return np.mean(r**2) + lam * w @ w


def two_sums_mean(w, X):
    """Regression: a mean of two loops' sums was differentiated as an expression reverse mode did not seed, so
    the gradient was zero."""
    s = 0.0
    for i in range(X.shape[0]):
        s += (X[i, 0] - w[0])**2
    t = 0.0
    for i in range(X.shape[0]):
        t += math.sin(X[i, 1]*w[1])
    return (s + 2.0*t) / X.shape[0]


@pytest.mark.parametrize("function, args", [(regularised, (0.7,)), (ridge_mean, (Y, 0.3)), (two_sums_mean, ())])
def test_a_penalty_outside_the_sum_is_added_once_and_means_of_several_sums(function, args):
    Xd = da.from_array(X, chunks=(300, 3))
    chunked = tuple(da.from_array(a, chunks=300) if isinstance(a, np.ndarray) else a for a in args)
    value, gradient = sgd.value_and_grad(function)(W, Xd, *chunked)
    close(value, function(W, X, *args))
    np.testing.assert_allclose(gradient, richardson_gradient(function, (W, X, *args), 0), rtol=1e-8, atol=1e-10)
    close(gradient, sg.grad(function)(W, X, *args))


def shared_rows(w, X, y):
    s = 0.0
    for i in range(X.shape[0]):
        s += (X[i, 0]*w[0] - y[i])**2
    return s


def centred(w, X):
    s = 0.0
    for i in range(X.shape[0]):
        s += X[i, 0]
    t = 0.0
    for i in range(X.shape[0]):
        t += (X[i, 0]*w[0] - s)**2
    return t


def test_functions_that_are_not_sums_over_rows_are_refused_naming_the_line():
    Xd = da.from_array(X, chunks=(500, 3))
    with pytest.raises(sgd.RowSumError, match=r"test_dask.py:\d+: shifted\(\) .* must visit every row once"):
        sgd.value_and_grad(shifted)(W, Xd)
    with pytest.raises(sgd.RowSumError, match=r"recurrence\(\) .* carry a value from one row to the next"):
        sgd.value_and_grad(recurrence)(W, Xd)
    with pytest.raises(sgd.RowSumError, match=r"adds w\[0\]\*\*2/X_shape0, which uses the number of rows outside"):
        sgd.value_and_grad(penalty_over_rows)(W, Xd)
    with pytest.raises(sgd.RowSumError, match=r"centred\(\) .* uses s_\d, a sum over the rows made by an earlier"):
        sgd.value_and_grad(centred)(W, Xd)
    with pytest.raises(sgd.RowSumError, match=r"reads y\[i\] with the row index, but y is not chunked"):
        sgd.value_and_grad(shared_rows)(W, Xd, Y)
    with pytest.raises(sgd.RowSumError, match="the gradient with respect to the chunked data 'X'"):
        sgd.value_and_grad(shared_rows, wrt="X")(W, Xd, da.from_array(Y, chunks=500))
    with pytest.raises(ValueError, match="argument 'y' has 1999 rows, but argument 'X' has 2000"):
        sgd.value_and_grad(shared_rows)(W, Xd, da.from_array(Y[:-1], chunks=500))
    with pytest.raises(TypeError, match="argument 'X' must be a float64 array, got dtype float32"):
        sgd.value_and_grad(shared_rows)(W, Xd.astype(np.float32), da.from_array(Y, chunks=500))


def test_workers_compile_the_shipped_text_in_their_own_cache(tmp_path):
    distributed = pytest.importorskip("distributed")
    worker_cache = tmp_path / "worker-cache"
    environment = {"SYMGRAD_CACHE_DIR": str(worker_cache), "SYMGRAD_QUIET": "1"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own warnings about ports and resources
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      env=environment) as cluster, distributed.Client(cluster) as client:
            transform = sgd.value_and_grad(nll)
            Xd, yd = da.from_array(X, chunks=(250, 3)), da.from_array(Y, chunks=250)
            value, gradient = transform(W, Xd, yd)
            again = transform(W * 0.5, Xd, yd)
            directories = client.run(lambda: os.environ["SYMGRAD_CACHE_DIR"])
    assert set(directories.values()) == {str(worker_cache)} != {os.environ["SYMGRAD_CACHE_DIR"]}
    reference = sg.value_and_grad(nll)
    close(value, reference(W, X, Y)[0])
    close(gradient, reference(W, X, Y)[1])
    close(again[1], reference(W * 0.5, X, Y)[1])
    shipped = list(pathlib.Path(worker_cache).glob("symgrad_*.py"))
    assert len(shipped) == 1 and "MEAN_OF_ROWS = True" in shipped[0].read_text()


def test_a_worker_killed_mid_computation_is_retried_and_the_result_is_exact(tmp_path):
    distributed = pytest.importorskip("distributed")
    environment = {"SYMGRAD_CACHE_DIR": str(tmp_path / "worker-cache"), "SYMGRAD_QUIET": "1"}
    transform = sgd.value_and_grad(nll)
    Xd, yd = da.from_array(X, chunks=(100, 3)), da.from_array(Y, chunks=100)
    expected = transform(W, Xd, yd)  # the same tree of additions on the threaded scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      env=environment) as cluster, distributed.Client(cluster) as client:
            future = client.compute(transform(W, Xd, yd, compute=False))
            victim = sorted(client.scheduler_info()["workers"])[0]
            distributed.wait(client.submit(lambda: None, workers=[victim], pure=False))
            # the workers are compiling the shipped kernel (a second or more) or running chunks now
            with contextlib.suppress(Exception):
                client.run(os._exit, 1, workers=[victim])
            value, gradient = future.result(timeout=120)
    assert value == expected[0] and np.array_equal(gradient, expected[1])


def test_a_rebound_module_number_or_helper_is_seen_by_the_next_call(make_module):
    """A module-level number and a helper are folded into the per-chunk kernels; the transform once kept the module
    of its first call.  The reference is the in-memory gradient (itself checked against differences) of the same
    function with the same globals."""
    module = make_module("import numpy as np\nSCALE = 2.0\n\ndef link(z):\n    return np.tanh(z)\n\n"
                         "def cubic(z):\n    return z * z * z\n\n"
                         "def loss(w, X, y):\n    s = 0.0\n    for i in range(X.shape[0]):\n"
                         "        s += (link(X[i, 0] * w[0] + X[i, 1] * w[1]) - y[i]) ** 2\n"
                         "    return SCALE * s\n")
    transform = sgd.grad(module.loss)
    chunked = (da.from_array(X, chunks=(300, 3)), da.from_array(Y, chunks=300))
    for change in (None, ("SCALE", -0.5), ("link", module.cubic)):
        if change:
            setattr(module, *change)
        expected = richardson_gradient(module.loss, (W, X, Y), 0)
        np.testing.assert_allclose(transform(W, *chunked), expected, rtol=1e-8, atol=1e-10, err_msg=str(change))


ROW_ARRAY_SOURCE = '''
def layer(z):
    return np.tanh(z)


def network(W, v, X, y):
    H = layer(X @ W)
    return np.mean((H @ v - y) ** 2) + 0.1 * np.sum(W ** 2)
'''


def test_a_local_array_of_rows_is_made_chunk_by_chunk(make_module):
    """`layer(X @ W)` passes an array to a helper, so the lowering makes H, one row per data row, filled by one loop
    over the rows and read by another; the rule refused it ("writes a local array").  A chunk makes its own rows
    of it.  The reference is JAX's gradient of the same source on the whole data."""
    jax = pytest.importorskip("jax", reason="JAX's gradient on the whole data is the reference here")
    jax.config.update("jax_enable_x64", True)
    module = make_module("import numpy as np\n" + ROW_ARRAY_SOURCE)
    twin = make_module("import jax.numpy as np\n" + ROW_ARRAY_SOURCE)
    rng = np.random.default_rng(2)
    W, v = rng.normal(size=(3, 4)) * 0.5, rng.normal(size=4)
    chunked = (da.from_array(X, chunks=(300, 3)), da.from_array(Y, chunks=300))
    gradients = sgd.grad(module.network, wrt=(0, 1))(W, v, *chunked)
    expected = jax.grad(twin.network, argnums=(0, 1))(W, v, X, Y)
    for ours, theirs in zip(gradients, expected):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=TOLERANCE, atol=TOLERANCE)


def test_a_row_array_read_at_another_row_is_refused_naming_the_line(make_module):
    module = make_module("import numpy as np\n\ndef shifted(w, X, y):\n    z = np.tanh(X @ w)\n"
                         "    return np.sum(z[1:] * z[:-1] - y[1:])\n")
    with pytest.raises(sgd.RowSumError, match=r"shifted\(\) cannot be evaluated chunk by chunk"):
        sgd.grad(module.shifted)(W, da.from_array(X, chunks=(300, 3)), da.from_array(Y, chunks=300))
