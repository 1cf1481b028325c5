"""Pass `chunk_scratch`: with `parallel=True`, a loop over the rows whose iterations use local arrays as scratch
(a vectorised network or loss after its layers are fused row by row), store into rows of their own or hold guarded
blocks runs in chunks on Numba's threads, each chunk with scratch arrays of its own.

The gradients are checked against formulas derived by hand and against the serial kernels, with the pass on and
off, on data long enough for the threaded branch; the precondition (`codegen._chunkable`) is checked on loops
written in the IR, where each way of breaking it keeps the loop serial.
"""

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from conftest import richardson_gradient
from symgrad.codegen import PARALLEL_MIN_ITERATIONS, ChunkedLoop, in_chunks
from symgrad.ir import Allocate, Assign, Carried, Loop, Pop, Push, ReverseLoop, Store, When
from test_parallel import threaded_kernels

LONG = PARALLEL_MIN_ITERATIONS + 37  # not a multiple of the chunk count: chunks of unequal length


def predict(params, inputs):  # autograd's examples/neural_net_regression.py, as written there
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs


def regression_log_likelihood(W1, b1, W2, b2, W3, b3, X, y):
    predictions = predict([(W1, b1), (W2, b2), (W3, b3)], X)
    return np.sum(-0.5 * ((predictions - y) / 0.1) ** 2)


def regression_reference(W1, b1, W2, b2, W3, b3, X, y):
    """Value and gradients by hand: backpropagation through the three layers."""
    layers, inputs, pre = [(W1, b1), (W2, b2), (W3, b3)], [X], []
    for W, b in layers:
        pre.append(inputs[-1] @ W + b)
        inputs.append(np.tanh(pre[-1]))
    residual = (pre[-1] - y) / 0.1
    d_pre, gradients = -residual / 0.1, []
    for at in (2, 1, 0):
        gradients[:0] = [inputs[at].T @ d_pre, d_pre.sum(axis=0)]
        d_pre = (d_pre @ layers[at][0].T) * (1 - inputs[at] ** 2)
    return np.sum(-0.5 * residual ** 2), gradients


def tanh_regression(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    return np.sum((out - y) ** 2)


def clipped_log_loss(y_true, y_prob):
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    return -np.sum(y_true * np.log(y_prob)) / y_prob.shape[0]


def softmax_cross_entropy(W, X, Y):
    z = X @ W
    z = z - np.max(z, axis=1, keepdims=True)
    return -np.sum(Y * (z - np.log(np.sum(np.exp(z), axis=1, keepdims=True)))) / X.shape[0]


def lagged(w, x):
    buffer = np.zeros(2)
    s = 0.0
    for i in range(x.shape[0]):
        s += w * buffer[0] + buffer[1]
        buffer[0] = x[i]
        buffer[1] = x[i] * x[i]
    return s


def network_arguments(n, seed=0):
    rng = np.random.default_rng(seed)
    sizes = (2, 5, 4, 3)
    weights = [(rng.standard_normal((a, b)) * 0.7, rng.standard_normal(b) * 0.1) for a, b in zip(sizes, sizes[1:])]
    return (*[array for layer in weights for array in layer], rng.standard_normal((n, 2)),
            rng.standard_normal((n, 3)))


def test_a_network_over_long_data_runs_in_chunks_with_scratch_of_its_own_and_matches_backpropagation():
    arguments = network_arguments(LONG)
    threaded = sg.value_and_grad(regression_log_likelihood, wrt=(0, 1, 2, 3, 4, 5), parallel=True)
    serial = sg.value_and_grad(regression_log_likelihood, wrt=(0, 1, 2, 3, 4, 5))
    value, gradients = threaded(*arguments)
    expected_value, expected = regression_reference(*arguments)
    assert value == pytest.approx(expected_value, rel=1e-12)
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    serial_value, serial_gradients = serial(*arguments)
    assert value == pytest.approx(serial_value, rel=1e-13)
    for got, want in zip(gradients, serial_gradients):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert "value_and_grad" in threaded_kernels(threaded)
    assert "_chunk = np.zeros(" in threaded.source()  # each chunk's own scratch rows
    for _ in range(3):  # fixed chunks: the rounding does not depend on which thread ran which chunk
        again_value, again = threaded(*arguments)
        assert again_value == value and all(np.array_equal(a, b) for a, b in zip(again, gradients))


def test_a_network_read_back_by_its_sweep_runs_every_phase_in_chunks_and_matches_backpropagation():
    """The hidden layer stays an n x hidden array that the sweep reads back: the forward map over the rows, the
    loss (its output layer taped and popped row by row) and the sweep over the hidden layer each run in chunks."""
    rng = np.random.default_rng(6)
    W1, b1, W2, b2 = rng.standard_normal((2, 5)), rng.standard_normal(5), rng.standard_normal((5, 3)), \
        rng.standard_normal(3)
    X, y = rng.standard_normal((LONG, 2)), rng.standard_normal((LONG, 3))
    threaded = sg.value_and_grad(tanh_regression, wrt=(0, 1, 2, 3), parallel=True)
    value, gradients = threaded(W1, b1, W2, b2, X, y)
    h = np.tanh(X @ W1 + b1)
    d_out = 2 * (h @ W2 + b2 - y)
    d_pre = (d_out @ W2.T) * (1 - h ** 2)
    assert value == pytest.approx(np.sum((h @ W2 + b2 - y) ** 2), rel=1e-12)
    for got, want in zip(gradients, (X.T @ d_pre, d_pre.sum(axis=0), h.T @ d_out, d_out.sum(axis=0))):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
    assert threaded.source().count("def _value_and_grad_chunks") == 3  # (each chunked loop, a function)
    assert threaded.value(W1, b1, W2, b2, X, y) == pytest.approx(value, rel=1e-13)


def test_the_pass_off_keeps_the_network_serial_with_the_same_numbers():
    arguments = network_arguments(LONG, seed=1)
    off = sg.value_and_grad(regression_log_likelihood, wrt=(0, 1, 2, 3, 4, 5), parallel=True,
                            optimize={"chunk_scratch": False})
    value, gradients = off(*arguments)
    expected_value, expected = regression_reference(*arguments)
    assert value == pytest.approx(expected_value, rel=1e-12)
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert "value_and_grad" not in threaded_kernels(off) and "_chunk = np.zeros(" not in off.source()


def test_a_clipped_loss_stores_its_gradient_rows_from_the_chunks_and_matches_the_formula():
    rng = np.random.default_rng(2)
    y_prob = rng.uniform(0.05, 0.95, (LONG, 3))
    y_prob[:5, 0] = [0.0, 1.0, 1e-20, 0.5, 1.0 - 1e-20]  # some clipped (zero slope there)
    y_true = (rng.random((LONG, 3)) > 0.5) * 1.0
    threaded = sg.value_and_grad(clipped_log_loss, wrt="y_prob", parallel=True)
    value, gradient = threaded(y_true, y_prob)
    eps = np.finfo(float).eps
    clipped = np.clip(y_prob, eps, 1 - eps)
    assert value == pytest.approx(-np.sum(y_true * np.log(clipped)) / LONG, rel=1e-12)
    inside = (y_prob > eps) & (y_prob < 1 - eps)
    np.testing.assert_allclose(gradient, np.where(inside, -y_true / clipped / LONG, 0.0), rtol=1e-12, atol=1e-300)
    assert "value_and_grad" in threaded_kernels(threaded)
    serial_value, serial_gradient = sg.value_and_grad(clipped_log_loss, wrt="y_prob")(y_true, y_prob)
    assert value == pytest.approx(serial_value, rel=1e-13)
    np.testing.assert_array_equal(gradient, serial_gradient)  # each element is written by one iteration


def test_a_softmax_whose_rows_tape_their_maximum_runs_in_chunks_with_tapes_of_their_own():
    rng = np.random.default_rng(4)
    W, X = rng.standard_normal((4, 3)), rng.standard_normal((LONG, 4))
    Y = np.eye(3)[rng.integers(0, 3, LONG)]
    threaded = sg.value_and_grad(softmax_cross_entropy, wrt="W", parallel=True)
    value, W_bar = threaded(W, X, Y)
    z = X @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert value == pytest.approx(-np.sum(Y * np.log(p)) / LONG, rel=1e-12)
    np.testing.assert_allclose(W_bar, X.T @ (p - Y) / LONG, rtol=1e-10, atol=1e-13)
    assert "value_and_grad" in threaded_kernels(threaded)
    assert "_chunk = np.empty(64)" in threaded.source()  # each chunk's own tape of the row's maximum


def fuzz_9960057(x, a):  # the fuzzer's minimised program: Numba's names for the versions of s1 met symgrad's
    s1 = 0.0
    for i in range(len(x)):
        s1 += x[i] - a
    s2 = 0.0
    for i in range(len(x)):
        s2 += x[i] / (1.5 + a / (1.5 + -0.87 * -0.87) * np.maximum(0.25, s1)
                      * (a / (1.5 + -0.87 * -0.87) * np.maximum(0.25, s1)))
    return s2


def test_a_threaded_kernel_compiles_where_numbas_names_for_versions_meet_symgrads():
    """Numba writes the versions of `s1` as s1.1, s1.2 and, compiling the prange loop, as s1_2: symgrad's own name
    for s1's value after its loop (fuzz seed 9960057: the kernel did not compile)."""
    x = np.random.default_rng(5).standard_normal(LONG) * 0.01 + 0.001
    threaded = sg.value_and_grad(fuzz_9960057, wrt=("x", "a"), parallel=True)
    value, (x_bar, a_bar) = threaded(x, 0.1)
    assert value == pytest.approx(fuzz_9960057(x, 0.1), rel=1e-12)
    assert a_bar == pytest.approx(richardson_gradient(fuzz_9960057, (x, 0.1), 1), rel=1e-7)
    serial_value, (serial_x, serial_a) = sg.value_and_grad(fuzz_9960057, wrt=("x", "a"))(x, 0.1)
    np.testing.assert_allclose(x_bar, serial_x, rtol=1e-12)
    assert {"value_and_grad", "grad"} <= threaded_kernels(threaded)


def test_an_array_that_passes_values_between_iterations_keeps_its_loop_serial_and_right():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(LONG)
    threaded = sg.value_and_grad(lagged, wrt="w", parallel=True)
    value, w_bar = threaded(0.7, x)
    assert value == pytest.approx(np.sum(0.7 * x[:-1] + x[:-1] ** 2), rel=1e-12)
    assert w_bar == pytest.approx(np.sum(x[:-1]), rel=1e-12)
    assert not threaded_kernels(threaded)


# --- the precondition, on loops written in the IR --------------------------------------------------------------
i, j, k, n, m = sp.symbols("i j k n m", integer=True)
x, A, g = sp.IndexedBase("x"), sp.IndexedBase("A"), sp.IndexedBase("g")
t, s, s_next, total = sp.symbols("t s s_next total", real=True)
ZERO, ONE = sp.Integer(0), sp.Integer(1)  # (loop bounds are SymPy numbers in the IR)


def rows_loop(body, start=0):
    return Loop(i, sp.Integer(start), n, ONE, body, [])


def chunked(loop, *before):
    """What `in_chunks` makes of `loop`, after `A` (m elements) and `g` (n x m, returned) are made."""
    statements = [Allocate(g, (n, m)), Allocate(A, (m,)), *before, loop]
    return in_chunks(statements, [g.label], data={x.label})[-1]


FILL = Loop(j, ZERO, m, ONE, [Store(A, (j,), x[i, j] ** 2)], [])  # every element stored before any read
USE = Loop(k, ZERO, m, ONE, [Store(g, (i, k), 3 * A[k], True)], [])  # g at rows of the iteration's own
ADD = Loop(k, ZERO, m, ONE, [Store(A, (k,), x[i, k], True)], [])  # adds into A
RESET = ReverseLoop(Loop(j, ZERO, m, ONE, [], []), [Assign(t, A[j]), Store(A, (j,), sp.Integer(0)),
                                              Store(g, (i, j), t, True)])  # reads, then zeros every element


@pytest.mark.parametrize("body", [[FILL, USE], [ADD, RESET], [When(sp.Ne(x[i, 0], 0), [ADD, RESET])]],
                         ids=["overwritten first", "zeros after", "zeros after, guarded"])
def test_scratch_that_each_iteration_overwrites_or_leaves_zero_is_made_per_chunk(body):
    result = chunked(rows_loop(body))
    assert isinstance(result, ChunkedLoop)
    assert [a.base.label for a in result.scratch] == [A.label] and result.rows == (g.label,)


@pytest.mark.parametrize("body, before", [
    ([USE, FILL], ()),  # read before it is overwritten: the last iteration's values
    ([Loop(j, ZERO, m - 1, ONE, [Store(A, (j,), x[i, j])], []), USE], ()),  # one element left unwritten
    ([Loop(j, ZERO, m, ONE, [When(sp.Gt(x[i, j], 0), [Store(A, (j,), x[i, j])])], []), USE], ()),  # stored only if
    ([ADD, Loop(k, ZERO, m, ONE, [Store(g, (i, k), A[k], True)], [])], ()),  # added into, never reset
    ([ADD, RESET, ADD], ()),  # added into after the reset
    ([ADD, When(sp.Ne(x[i, 0], 0), [RESET])], ()),  # the reset skipped on some rows
    ([ADD, ReverseLoop(RESET.loop, RESET.body, unless_zero=t)], ()),  # the reset skipped while t is zero
    ([FILL, USE], (Store(A, (0,), sp.Integer(1)),)),  # touched outside the loop too
], ids=["read first", "partly overwritten", "overwritten under a condition", "never reset", "added after reset",
        "reset guarded", "reset skipped", "touched outside"])
def test_scratch_that_can_pass_values_between_iterations_keeps_the_loop_serial(body, before):
    result = chunked(rows_loop(body), *before)
    assert not isinstance(result, ChunkedLoop) or A.label not in [a.base.label for a in result.scratch]
    assert not isinstance(result, ChunkedLoop)


@pytest.mark.parametrize("store, start", [
    (Store(g, (i + 1, k), x[i, k], True), 0),  # two iterations reach row i + 1
    (Store(g, (k, i), x[i, k], True), 0),  # g[k, i], with g[i, k] below: the index along two axes
    (Store(g, (i, k), x[i, k], True), -1),  # g[-1] is g[n - 1]: two iterations reach it
], ids=["shifted row", "two axes", "negative start"])
def test_stores_that_two_iterations_can_reach_keep_the_loop_serial(store, start):
    body = [Loop(k, ZERO, m, ONE, [store], [])]
    if store.indices[1] == i:
        body.append(Loop(k, ZERO, m, ONE, [Store(g, (i, k), x[i, k], True)], []))
    assert not isinstance(chunked(rows_loop(body, start)), ChunkedLoop)


PUSH, POP = Push("tape_t", x[i, k]), Pop("tape_t", t)


@pytest.mark.parametrize("body, balanced", [
    ([Loop(k, ZERO, m, ONE, [PUSH], []), ReverseLoop(Loop(k, ZERO, m, ONE, [], []), [POP])], True),
    ([Loop(k, ZERO, m, ONE, [PUSH], []), ReverseLoop(Loop(k, ONE, m, ONE, [], []), [POP])], False),  # one left over
    ([Loop(k, ZERO, m, ONE, [When(sp.Gt(x[i, k], 0), [PUSH])], []), ReverseLoop(Loop(k, ZERO, m, ONE, [], []), [POP])],
     False),  # pushed under a condition
    ([Loop(k, ZERO, m, ONE, [PUSH], []), ReverseLoop(Loop(k, ZERO, m, ONE, [], []), [POP], unless_zero=s)], False),
], ids=["balanced", "one left over", "pushed under a condition", "popped unless zero"])
def test_a_tape_is_made_per_chunk_only_when_every_iteration_pops_what_it_pushes(body, balanced):
    body = body + [Loop(j, ZERO, m, ONE, [Store(g, (i, j), t, True)], [])]
    assert isinstance(chunked(rows_loop(body)), ChunkedLoop) is balanced


def test_a_sum_and_scratch_together_are_chunked_over_data_and_the_pass_off_refuses_the_scratch():
    loop = Loop(i, ZERO, n, ONE, [FILL, Assign(s_next, s + A[0])], [Carried(s, sp.Float(0.0), s_next, total)])
    statements = [Allocate(A, (m,)), loop]
    assert isinstance(in_chunks(statements, [total], data={x.label})[-1], ChunkedLoop)
    assert not isinstance(in_chunks(statements, [total], scratch=False, data={x.label})[-1], ChunkedLoop)
    assert not isinstance(in_chunks(statements, [total])[-1], ChunkedLoop)  # over the parameters alone: serial
