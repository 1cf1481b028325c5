"""Array rank and indexing in the NumPy lowering: arrays of three axes, reshapes, gathers, carried arrays.

As in test_numpy_lowering.py, each function is written once as NumPy users write it and run by symgrad and by JAX
(float64, ``jax.numpy`` in place of NumPy) on the same source: value and gradient must agree to rounding.  The
refusals and call-time errors are checked for their message, and the advice they give is followed once.
"""

import numpy as np
import pytest

import symgrad as sg
from conftest import matches_jax, richardson_gradient, write_module

jax = pytest.importorskip("jax", reason="JAX is the independent reference of this file")
jax.config.update("jax_enable_x64", True)

SOURCE = '''
def tensor_elements(A, i, j, k):
    return A[i, j, k]**2 + A.shape[2]*np.sum(A[1:, :, ::2]**2) + np.sum(np.exp(A[i, :, k])) + np.sum(A[i]*A[0])

def tensor_axes(A):
    return (np.sum(A[..., 0]**2) + np.sum(A[1, ...]*A[0]) + np.sum(A/np.mean(A, axis=(0, -1), keepdims=True))
            + np.sum(np.max(A, axis=(1, 2))**2) + np.sum(np.sum(A, axis=2, keepdims=True)*A) + np.sum(np.mean(A, axis=1)**2) + np.sum(A.max(axis=0))
            + np.sum(np.sum(A, axis=-1)**3) + np.sum(np.min(A, axis=1, keepdims=True)*A) + A.sum(0).sum())

def tensor_broadcast(A, M, w, v):
    return np.sum((A + M)**2) + np.sum(np.tanh(A*w)) + np.sum(A*v[:, None, None]) + np.sum(A*M[None, :, :])

def tensor_transpose(A, w):
    return (np.sum(A.T**2*w[:, None, None]) + np.sum(np.transpose(A)[0]*A[:, :, 0].T)
            + np.sum(np.transpose(A, (1, 0, 2))[0]*w) + np.sum(np.sin(A.transpose(2, 0, 1))[-1]*A[:, :, 1])
            + np.sum(np.swapaxes(A, 0, 2)[1:]**3) + np.sum(np.transpose(A[0], axes=(1, 0))**2))

def differences(x, A):
    return (np.sum(np.diff(x)**2) + np.sum(np.diff(x, n=2)**2) + np.sum(np.diff(A, axis=1)**2)
            + np.sum(np.diff(np.exp(A), n=3, axis=-1)**2) + np.sum(np.diff(A, axis=0)*A[1:]))

def batched_products(A, B, x, y):
    return (np.sum(np.tanh(A @ B)) + np.sum((A @ x)**2) + np.sum(np.sin(y @ A)) + np.sum(np.matmul(A, B[0]))
            + np.sum(B[1].T @ B))

def inner_products(x, A, B):
    return np.sum(np.inner(x, A)**2) + np.sum(np.inner(A, B)**3) + np.sum(np.inner(A, x)) + np.inner(x, x)

def expanded(x, X, y):
    diffs = np.expand_dims(X / x, 1) - np.expand_dims(y / x, 0)
    return np.sum(np.exp(-0.5*np.sum(diffs**2, axis=2))) + np.sum(np.expand_dims(x, -1)*X.T)

def local_tensor(x, A):
    T = x[:, None, None]*x[None, :, None] + A[:x.shape[0], :x.shape[0], :x.shape[0]]
    U = np.sin(T)
    return np.sum(U*T) + np.sum(U.sum(axis=2)**2)

def tensor_loops(A):
    total = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            for k in range(A.shape[2]):
                total = total + A[i, j, k]*A[i, j, k]*(k + 1.0)
    return total

def reshapes(x, n):
    return (np.sum(np.tanh(x.reshape(n, 2)) @ np.array([1.0, -2.0])) + np.sum(x.reshape(-1, 3)[1]**2)
            + np.sum(np.reshape(x, (2, -1))[:, 0]) + np.sum(x.reshape((2, 3, -1))**3))

def ravels(A):
    return (np.sum(A.ravel()[::2]**3) + np.sum(A.T.flatten()*np.arange(A.size)) + np.sum(np.ravel(A.T)[:3])
            + np.sum(np.exp(A*2.0).reshape(-1)[1:]) + np.sum(A[1:].ravel()**2))

def tensor_reshape(A):
    return np.sum(A.reshape(A.shape[0], -1)**2 @ np.ones(A.shape[1]*A.shape[2])) + np.sum(A.reshape(-1)[::3])

def gathers(w, x, idx):
    return np.sum(w[idx]*x) + np.sum(np.exp(w[idx])) + np.sum(w[idx][1:]**2)

def gathered_rows(A, idx, j):
    return np.sum(A[idx]**2) + np.sum(A[idx, j]) + np.sum(A[:, idx]*A[:, :idx.shape[0]])

def computed_gathers(w, idx):
    return np.sum(w[np.arange(3)]**2) + np.sum(w[idx[::-1]]*w[:idx.shape[0]]) + np.sum(np.exp(w[2*idx + 1]))

def gathered_loop(w, idx):
    total = 0.0
    for k in range(idx.shape[0]):
        total = total + w[idx[k]]**2*(k + 1.0)
    return total

def masked_by_where(x):
    return np.sum(np.where(x > 0, x**2, 0.0)) + np.sum(np.where(x > 0, x, 0.0))/np.sum(x > 0)

def rnn_with_bias(W, U, b, h0, xs, ys):
    h = h0
    loss = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t] + b)
        loss = loss + np.sum((h - ys[t])**2)
    return loss

def batched_rnn(W, U, H0, X):
    H = H0
    for t in range(X.shape[0]):
        H = np.tanh(H @ W + X[t] @ U)
    return np.sum(H**2)
'''

NUMPY = write_module("import numpy as np\n" + SOURCE, name="numpy_rank_cases")
JAX = write_module("import jax.numpy as np\n" + SOURCE, name="numpy_rank_cases_jax")

RNG = np.random.default_rng(20261203)
TENSOR = RNG.normal(size=(3, 4, 5))

CASES = {
    "tensor_elements": ((TENSOR, 1, 2, 3), (0,)),
    "tensor_axes": ((TENSOR,), (0,)),
    "tensor_broadcast": ((TENSOR, RNG.normal(size=(4, 5)), RNG.normal(size=5), RNG.normal(size=3)), (0, 1, 2, 3)),
    "tensor_transpose": ((TENSOR, RNG.normal(size=5)), (0, 1)),
    "differences": ((RNG.normal(size=7), RNG.normal(size=(3, 4, 5))), (0, 1)),
    "batched_products": ((TENSOR, RNG.normal(size=(3, 5, 4)), RNG.normal(size=5), RNG.normal(size=4)),
                         (0, 1, 2, 3)),
    "inner_products": ((RNG.normal(size=4), RNG.normal(size=(3, 4)), RNG.normal(size=(5, 4))), (0, 1, 2)),
    "expanded": ((RNG.uniform(0.5, 2.0, size=3), RNG.normal(size=(4, 3)), RNG.normal(size=(5, 3))), (0, 1, 2)),
    "local_tensor": ((RNG.normal(size=3), RNG.normal(size=(4, 4, 4))), (0, 1)),
    "tensor_loops": ((TENSOR,), (0,)),
    "reshapes": ((RNG.normal(size=12), 6), (0,)),
    "ravels": ((RNG.normal(size=(3, 4)),), (0,)),
    "tensor_reshape": ((TENSOR,), (0,)),
    "gathers": ((RNG.normal(size=6), RNG.normal(size=5), np.array([0, 3, 3, -1, 2])), (0, 1)),
    "gathered_rows": ((RNG.normal(size=(4, 5)), np.array([2, 0, 2]), 1), (0,)),
    "computed_gathers": ((RNG.normal(size=8), np.array([3, 0, 1, 3])), (0,)),
    "gathered_loop": ((RNG.normal(size=6), np.array([5, 0, 5, 2, -2])), (0,)),
    "masked_by_where": ((RNG.normal(size=9),), (0,)),
    "rnn_with_bias": ((0.5*RNG.normal(size=(3, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=3), RNG.normal(size=3),
                       RNG.normal(size=(6, 2)), RNG.normal(size=(6, 3))), (0, 1, 2, 3)),
    "batched_rnn": ((0.5*RNG.normal(size=(3, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(4, 3)),
                     RNG.normal(size=(5, 4, 2))), (0, 1, 2, 3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_jax(name):
    args, wrt = CASES[name]
    transform = matches_jax(sg.value_and_grad(getattr(NUMPY, name), wrt=wrt), getattr(NUMPY, name),
                            getattr(JAX, name), args, wrt)
    assert transform.latex() and transform.pretty()  # the formulas display


def test_a_tensor_gradient_matches_central_differences():
    args, _ = CASES["batched_products"]
    gradient = sg.grad(NUMPY.batched_products, wrt=1)(*args)
    np.testing.assert_allclose(gradient, richardson_gradient(NUMPY.batched_products, list(args), 1), rtol=1e-7)


def test_a_gather_scatters_its_adjoints_into_repeated_indices():
    w, x, idx = CASES["gathers"][0]
    gradient = sg.grad(NUMPY.gathers, wrt=0)(w, x, idx)
    expected = np.zeros_like(w)
    np.add.at(expected, idx, x + np.exp(w[idx]))
    np.add.at(expected, idx[1:], 2*w[idx[1:]])
    np.testing.assert_allclose(gradient, expected, rtol=1e-13)


def test_the_rank_of_a_tensor_comes_from_its_indices_and_the_kernels_take_any_sizes():
    transform = sg.value_and_grad(NUMPY.tensor_loops)
    assert "array3" in transform.source()
    for shape in ((1, 2, 3), (4, 1, 2)):
        A = RNG.normal(size=shape)
        np.testing.assert_allclose(transform(A)[1], 2*A*np.arange(1, shape[2] + 1), rtol=1e-14)


def test_a_tensor_where_a_matrix_is_expected_is_a_type_error_naming_the_argument():
    def matrix_entry(A, i, j):
        return A[i, j]**2

    transform = sg.grad(matrix_entry, wrt=0)
    with pytest.raises(TypeError, match=r"'A' must be a 2-D float64 array, got an array of shape \(2, 3, 4\)"):
        transform(np.ones((2, 3, 4)), 0, 1)
    later = sg.grad(matrix_entry, wrt=0)
    later(np.ones((2, 3)), 0, 1)
    with pytest.raises(TypeError, match="'A' must be a 2-D"):
        later(np.ones((2, 3, 4)), 0, 1)


def test_the_first_call_decides_the_rank_of_an_elementwise_argument():
    def scaled(x):
        return np.sum(np.exp(x)*2.0)

    transform = sg.grad(scaled)
    np.testing.assert_allclose(transform(TENSOR), 2*np.exp(TENSOR), rtol=1e-14)
    with pytest.raises(TypeError, match="'x' must be a 3-D"):
        transform(np.ones((2, 3)))


def test_a_non_contiguous_argument_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'A' must be C-contiguous: pass np.ascontiguousarray"):
        sg.grad(NUMPY.ravels)(RNG.normal(size=(4, 3)).T)


def test_a_reshape_to_other_sizes_raises_before_the_kernel_runs():
    with pytest.raises(ValueError, match=r"reshapes\(\): x.reshape\(n, 2\) on line \d+: the sizes of x"):
        sg.grad(NUMPY.reshapes, wrt=0)(np.ones(12), 5)


def test_an_index_outside_the_gathered_array_is_an_index_error_naming_it():
    w, x, _ = CASES["gathers"][0]
    for wrong in ([0, 6, 1, 1, 1], [0, -7, 1, 1, 1]):
        with pytest.raises(IndexError, match="argument 'w' with idx"):
            sg.grad(NUMPY.gathers, wrt=0)(w, x, np.array(wrong))


def test_the_indices_must_be_an_int64_vector_and_are_not_differentiable():
    w, x, idx = CASES["gathers"][0]
    with pytest.raises(TypeError, match=r"'idx' indexes an array, so it must be a 1-D int64 array.*np.int64"):
        sg.grad(NUMPY.gathers, wrt=0)(w, x, idx.astype(np.int32))
    with pytest.raises(sg.NonDifferentiableArgumentError, match="'idx'.*array of indices"):
        sg.grad(NUMPY.gathers, wrt=2)(w, x, idx)


@pytest.mark.parametrize("body, message", [
    ("x[x > 0][1:] @ x[x > 0][:-1]", r"'x\[x > 0\]' \(a mask gather.*np.where\(m, x, 0.0\)"),
    ("np.sum(np.tensordot(x.reshape(2, 2, -1), x.reshape(2, 2, -1), 1))", r"tensordot.*makes an array of 4 axes"),
    ("np.sum(np.dot(x.reshape(2, 2, -1), x[:2]))", "write a @ b for one product per matrix"),
    ("np.sum(x.reshape(1, 1, 2, -1))", "one to three integer-expression sizes"),
    ("np.sum(x.reshape(2, -1, order='F'))", "keyword order="),
    ("np.sum(x[x])", "an int64 array argument of indices.*a float array is not one"),
    ("np.linalg.norm(x.reshape(2, -1), 2)", "ord=2 of a 2-D array"),
    ("np.prod(np.exp(x[x < 1.0] * x))", r"'x\[x < 1.0\]' \(a mask gather"),
    ("m = x > 0\n    return np.min(np.roll(x[m], 1) - x)", r"'x\[m\]' \(a mask gather.*x\[np.argmax\(m\)\]"),
])
def test_refusals_name_the_spelling_to_write(body, message):
    statements = body if "return" in body else f"return {body}"
    module = write_module(f"import numpy as np\n\ndef refused(x):\n    {statements}\n")
    with pytest.raises(sg.UnsupportedSyntaxError, match=message):
        sg.grad(module.refused)(np.ones(8))


def test_the_mask_advice_followed_matches_numpy():
    x = RNG.normal(size=9)
    masked = write_module("import numpy as np\n\ndef masked(x):\n    return np.sum(x[x > 0]**2)\n").masked
    expected = jax.grad(JAX.masked_by_where)(x)
    assert sg.value_and_grad(NUMPY.masked_by_where)(x)[0] == pytest.approx(
        masked(x) + np.mean(x[x > 0]), rel=1e-13)
    np.testing.assert_allclose(sg.grad(NUMPY.masked_by_where)(x), np.asarray(expected), rtol=1e-12)
    value, gradient = sg.value_and_grad(masked)(x)  # (np.sum of the masked elements is taken as written too)
    assert value == pytest.approx(masked(x), rel=1e-13)
    np.testing.assert_allclose(gradient, np.where(x > 0, 2 * x, 0.0), rtol=1e-14)


def test_the_formulas_name_the_three_sizes_of_a_tensor():
    transform = sg.value_and_grad(NUMPY.tensor_loops)
    latex = transform.latex()
    assert all(f"{letter}_{{A}}" in latex for letter in "NMK"), latex


def test_vmap_refuses_a_vector_of_indices_by_name():
    w, idx = CASES["gathered_loop"][0]  # (idx[k] indexes w: a vector of indices before any call)
    batched = sg.vmap(sg.grad(NUMPY.gathered_loop), in_axes=(0, None))
    with pytest.raises(TypeError, match="argument 'idx' is an array of indices"):
        batched(np.stack([w, w]), idx)


def tensor_stores(A, w):
    T = np.zeros((A.shape[0], A.shape[1], 2))
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            T[i, j, 0] = np.sum(A[i, j]*w)
            T[i, j, 1] = np.tanh(A[i, j, 0])
    G = np.zeros_like(A)
    G[0, 0, 0] = 2.0
    return np.sum(T**2) + np.sum(np.exp(T).sum(axis=1)*T[:, 0, :]) + np.sum(G*A)


def test_local_tensors_written_element_by_element_match_central_differences():
    A, w = RNG.normal(size=(3, 2, 4)), RNG.normal(size=4)
    value, (dA, dw) = sg.value_and_grad(tensor_stores, wrt=(0, 1))(A, w)
    assert value == pytest.approx(tensor_stores(A, w), rel=1e-13)
    np.testing.assert_allclose(dA, richardson_gradient(tensor_stores, [A, w], 0), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dw, richardson_gradient(tensor_stores, [A, w], 1), rtol=1e-7, atol=1e-9)


def test_np_dot_of_a_tensor_is_refused_even_where_the_body_reads_a_vector():
    def dotted(A, x):
        return np.sum(np.dot(A, x))

    with pytest.raises(sg.UnsupportedSyntaxError, match="write a @ b for one product per matrix"):
        sg.grad(dotted)(TENSOR, np.ones(5))


def test_an_array_of_four_axes_is_a_type_error_saying_so():
    def total(A):
        return np.sum(A**2)

    with pytest.raises(TypeError, match="'A' is an array of 4 axes .* one to three axes"):
        sg.grad(total)(np.ones((2, 2, 2, 2)))


def scattered_by_a_loop(x, idx):
    y = np.zeros(x.shape[0])
    for k in range(idx.shape[0]):
        y[idx[k]] = x[idx[k]]*2.0
    return np.sum(y**2) + np.sum(x)


@pytest.mark.parametrize("idx", [[0, 3, -1], [1, 1, 2], [0, 4, -1]], ids=["distinct", "repeated", "aliased"])
def test_a_store_at_a_vector_of_indices_and_its_loop_match_central_differences(idx):
    """`y[idx] = ...` (once refused with advice to write the loop) and the loop itself; a repeated index (or -1 and
    4, the same element of 5) keeps the last store, as NumPy does."""
    x, idx = RNG.normal(size=5), np.array(idx)
    module = write_module("import numpy as np\n\ndef stored(x, idx):\n    y = np.zeros(x.shape[0])\n"
                          "    y[idx] = x[idx]*2.0\n    return np.sum(y**2) + np.sum(x)\n")
    for function in (module.stored, scattered_by_a_loop):
        value, gradient = sg.value_and_grad(function)(x, idx)
        assert value == pytest.approx(function(x, idx), rel=1e-14)
        np.testing.assert_allclose(gradient, richardson_gradient(lambda v: function(v, idx), [x], 0), rtol=1e-8)


def test_a_rank_left_open_is_the_calls_even_after_the_formulas_were_shown_first(make_module):
    """`.latex()` (or `.source()`, `.kernels`) before the first call derives without seeing an argument: `X @ w`
    read X as a vector, and the call with a matrix was refused with a TypeError.  The call now derives again for
    its ranks; where the body decides a rank, the body still wins.  The reference is JAX's gradient of the same
    source."""
    source = "def loss(X, w):\n    return np.sum(np.tanh(X @ w))\n"
    module = make_module("import numpy as np\n" + source)
    twin = make_module("import jax.numpy as np\n" + source)
    rng = np.random.default_rng(11)
    X, w = rng.normal(size=(4, 3)), rng.normal(size=3)
    transform = sg.grad(module.loss, wrt=1)
    assert "tanh" in transform.latex() and "def " in transform.source()
    np.testing.assert_allclose(transform(X, w), np.asarray(jax.grad(twin.loss, argnums=1)(X, w)), rtol=1e-13)


def decay_fit(k, y0, data):
    y = y0
    loss = 0.0
    for t in range(len(data)):
        y = y - 0.1 * k * y
        loss += (y - data[t]) ** 2
    return loss


def test_a_first_call_that_does_not_derive_leaves_the_kinds_to_the_next_call():
    """The first call's arrays decide the kinds the body leaves open; when they do not derive (k passed as an
    array makes the loss an array), the next call, with a number, derives for its own arguments."""
    gradient = sg.grad(decay_fit, wrt=(0, 1))
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"the array loss used as a number"):  # (not loss_3)
        gradient(np.ones(3), 1.0, np.ones(4))
    data = np.linspace(0.0, 1.0, 5)
    k_bar, y0_bar = gradient(0.7, 1.2, data)
    assert k_bar == pytest.approx(richardson_gradient(decay_fit, (0.7, 1.2, data), 0), rel=1e-9)
    assert y0_bar == pytest.approx(richardson_gradient(decay_fit, (0.7, 1.2, data), 1), rel=1e-9)


def ridge(w, X, lam):
    return np.sum((X @ w) ** 2) + lam * np.sum(w ** 2)


def test_a_first_call_passing_an_array_for_a_number_names_it_and_leaves_the_next_call_free():
    """`lam` passed as an array makes the loss an array; the refusal named `X` (the body's own kinds read `X @ w`
    as a dot of vectors), and the kernels derived to name it refused every later call, good ones too."""
    gradient = sg.grad(ridge, wrt=0)
    w, X = np.array([0.5, -1.0, 2.0]), np.arange(12.0).reshape(4, 3) / 10
    with pytest.raises(TypeError, match=r"argument 'lam' must be a real number \(float\), got an ndarray"):
        gradient(w, X, np.ones(3))
    np.testing.assert_allclose(gradient(w, X, 0.3), 2 * X.T @ (X @ w) + 2 * 0.3 * w, rtol=1e-14)
    with pytest.raises(TypeError, match="argument 'lam' must be a real number"):
        gradient(w, X, np.ones(3))  # (refused by the kernels the good call derived)
    np.testing.assert_allclose(gradient(w, X, 0.1), 2 * X.T @ (X @ w) + 2 * 0.1 * w, rtol=1e-14)


def loop_ridge(w, X, y, lam):
    s = 0.0
    for i in range(X.shape[0]):
        r = 0.0
        for j in range(X.shape[1]):
            r += X[i, j] * w[j]
        s += (r - y[i]) ** 2
    return s + lam * np.sum(w ** 2)


def test_an_array_that_makes_the_loss_an_array_is_named_beside_the_refusal():
    """Found by probing: `lam` passed as an array makes the loss an array, and the refusal advised sg.jacobian
    alone; it now also names `lam`, with which as a number the function lifts, and the next call works."""
    gradient = sg.grad(loop_ridge, wrt=0)
    w, X, y = np.array([0.5, -1.0]), np.arange(6.0).reshape(3, 2) / 4, np.ones(3)
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"returning an array: .*sg.jacobian.*the first call passed "
                                                        r"'lam' as an array.*if lam is a number, pass a float"):
        gradient(w, X, y, np.array([0.3]))
    np.testing.assert_allclose(gradient(w, X, y, 0.3), 2 * X.T @ (X @ w - y) + 0.6 * w, rtol=1e-14)


def quadratic_form(x, A):
    return x.T @ A @ x + np.dot(x.T, x)


def test_the_transpose_of_a_vector_is_the_vector():
    """`x.T @ A @ x` with a vector x (found by probing): `.T` made x a matrix whatever the call passed, and the
    function was refused for returning an array.  `.T` now reads a matrix only until a call shows a vector."""
    x, A = np.array([1.0, 2.0, -1.0]), np.arange(9.0).reshape(3, 3)
    value, (x_bar, A_bar) = sg.value_and_grad(quadratic_form, wrt=(0, 1))(x, A)
    assert value == quadratic_form(x, A)
    np.testing.assert_allclose(x_bar, (A + A.T) @ x + 2 * x, rtol=1e-15)
    np.testing.assert_allclose(A_bar, np.outer(x, x), rtol=1e-15)
    X = np.arange(6.0).reshape(3, 2)  # (a matrix as before: X.T @ A @ X is a matrix, refused as a result)
    with pytest.raises(sg.UnsupportedSyntaxError):
        sg.value_and_grad(quadratic_form, wrt=(0,))(X, A)


def regularised_quadratic(x, A):
    return quadratic_form(x, A) + 0.5 * np.sum(x ** 2)


def test_the_transpose_of_a_vector_passed_to_a_helper_is_the_vector():
    """The same `x.T` inside a helper: the helper's kinds were inferred without the call's, so its `v.T` made the
    caller's vector a matrix, and the caller was refused for returning an array."""
    x, A = np.array([1.0, 2.0, -1.0]), np.arange(9.0).reshape(3, 3)
    value, x_bar = sg.value_and_grad(regularised_quadratic)(x, A)
    assert value == pytest.approx(regularised_quadratic(x, A), rel=1e-15)
    np.testing.assert_allclose(x_bar, (A + A.T) @ x + 3 * x, rtol=1e-15)
