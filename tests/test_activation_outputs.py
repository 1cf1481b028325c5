"""Pass `activation_outputs`: the reverse sweep takes tanh', exp', sigmoid' and relu' from the activation's output.

Each program is checked against central differences (Richardson), with the pass on and off, and (the layer) against
JAX; the source shows that the pass fired (the pre-activation untaped) or, where its precondition fails, that the
pre-activation keeps its tape."""

import inspect
import math
import re

import numpy as np
import pytest
from conftest import richardson_gradient, write_module

import symgrad as sg

OFF = {"activation_outputs": False}


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def half_exp(z):
    return math.exp(0.5 * z)


def relu(z):
    return max(z, 0.0)


def relu_flipped(z):
    return max(0.0, z)


def clip(z):
    return min(z, 0.25)


ACTIVATIONS = {"tanh": math.tanh, "exp": half_exp, "sigmoid": sigmoid, "relu": relu, "relu_flipped": relu_flipped,
               "clip": clip}


def layer(activation):
    """A dense layer per row, its units stored in an array made outside the row loop, then a weighted sum."""
    def loss(W, b, v, X):
        h = np.zeros(W.shape[0])
        s = 0.0
        for i in range(X.shape[0]):
            for j in range(W.shape[0]):
                acc = b[j]
                for k in range(X.shape[1]):
                    acc += W[j, k] * X[i, k]
                h[j] = activation(acc)
            for j in range(W.shape[0]):
                s += v[j] * h[j] * h[j] + X[i, 0] * h[j]
        return s
    return loss


def scalar_units(W, b, v, X):
    """The activation's output a scalar, `a = tanh(acc)`: taped in place of `acc`."""
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            a = math.tanh(acc + 0.5)
            s += v[j] * a * a
    return s


def overwritten(W, b, v, X):
    """The output overwritten in the same iteration (`h[j] = 2 h[j] + acc`): the read-back must see tanh(acc)."""
    h = np.zeros(W.shape[0])
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            h[j] = math.tanh(acc)
            h[j] = 2.0 * h[j] + v[j] * h[j] ** 2
        for j in range(W.shape[0]):
            s += v[j] * h[j]
    return s


def read_later(W, b, v, X):
    """The outputs of every row kept and read by a later loop, after the row loop."""
    H = np.zeros((X.shape[0], W.shape[0]))
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            H[i, j] = sigmoid(acc)
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            s += v[j] * H[i, j] * H[i, (j + 1) % W.shape[0]]
    return s


def input_also_read(W, b, v, X):
    """The pre-activation also read by a product (its partial needs it): it keeps its tape."""
    h = np.zeros(W.shape[0])
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            h[j] = math.tanh(acc)
            s += acc * acc * v[j]
        for j in range(W.shape[0]):
            s += v[j] * h[j]
    return s


def recurrence(W, b, v, X):
    """The activation inside a recurrence, `x = tanh(w x + ...)`: its argument is a carried value."""
    x = 0.1
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j] * x
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            x = math.tanh(acc + v[j] * x)
            s += x * x
    return s


def per_row_array(W, b, v, X):
    """The layer's array made inside the row loop (no restore of its stores): no read-back."""
    s = 0.0
    for i in range(X.shape[0]):
        h = np.zeros(W.shape[0])
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            h[j] = math.exp(0.3 * acc)
        for j in range(W.shape[0]):
            s += v[j] * h[j] * h[j]
    return s


def data(seed, rows=5, units=4, inputs=3):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (units, inputs)), rng.uniform(-0.5, 0.5, units), rng.uniform(-1, 1, units),
            rng.uniform(-1.5, 1.5, (rows, inputs)))


def check(function, args, exact=False):
    """The gradient with the pass on against Richardson and against the pass off; the two sources."""
    on = sg.value_and_grad(function, wrt=(0, 1, 2))
    off = sg.value_and_grad(function, wrt=(0, 1, 2), optimize=OFF)
    value, gradient = on(*args)
    value_off, gradient_off = off(*args)
    assert value == value_off == pytest.approx(function(*args), rel=1e-12)
    for position, (g, g_off) in enumerate(zip(gradient, gradient_off)):
        np.testing.assert_allclose(g, richardson_gradient(function, args, position), rtol=1e-7, atol=1e-8)
        if exact:
            assert np.array_equal(g, g_off)
        else:
            np.testing.assert_allclose(g, g_off, rtol=1e-13, atol=1e-15)
    return on.source(), off.source()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_layer_reads_the_output_back_and_drops_the_pre_activation_tape(name):
    source, plain = check(layer(ACTIVATIONS[name]), data(1), exact=name != "sigmoid")
    assert "tape_acc" in plain and "tape_acc" not in source
    assert "h_out = h[j]" in source and "h_out" not in plain


@pytest.mark.parametrize("name", ["relu", "clip"])
def test_a_kink_at_the_tie_follows_the_convention(name):
    """acc exactly at the kink (b = 0, W = 0): relu'(0) = 0 from the output as from the input."""
    W, b, v, X = data(2)
    W[1], b[1] = 0.0, 0.25 if name == "clip" else 0.0
    function = layer(ACTIVATIONS[name])
    gradient = sg.grad(function, wrt=(0, 1, 2))(W, b, v, X)
    plain = sg.grad(function, wrt=(0, 1, 2), optimize=OFF)(W, b, v, X)
    assert all(np.array_equal(g, p) for g, p in zip(gradient, plain))
    assert gradient[1][1] == 0.0


def test_layer_against_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jax.config.update("jax_enable_x64", True)
    args = data(3, rows=7, units=5, inputs=2)

    def twin(W, b, v, X):
        h = jnp.tanh(X @ W.T + b)
        return jnp.sum(v * h * h + X[:, :1] * h)

    expected = jax.grad(twin, argnums=(0, 1, 2))(*args)
    gradient = sg.grad(layer(math.tanh), wrt=(0, 1, 2))(*args)
    for g, e in zip(gradient, expected):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-12, atol=1e-14)


def test_scalar_output_is_taped_in_place_of_its_input():
    source, plain = check(scalar_units, data(4))
    assert "tape_acc" in plain and "tape_acc" not in source
    assert "tape_a[" in source and "tape_a[" not in plain


@pytest.mark.parametrize("function", [overwritten, read_later, recurrence, per_row_array])
def test_precondition_cases_against_richardson(function):
    check(function, data(5))


def test_an_input_read_by_another_partial_keeps_its_tape():
    source, _ = check(input_also_read, data(6))
    assert "tape_acc" in source


def test_an_array_made_per_row_is_hoisted_then_read_back():
    source, _ = check(per_row_array, data(7))
    assert "h_out" in source and "tape_" not in source
    kept = sg.grad(per_row_array, wrt=(0, 1, 2), optimize={"hoist_allocations": False}).source()
    assert "h_out" not in kept and "tape_" in kept  # made in the loop, its stores are not undone: no read-back


def read_before_rewritten(W, b, v, X):
    """Each row reads h[0] before rewriting h: a fresh array reads 0.0 there, a hoisted one the last row's value."""
    s = 0.0
    for i in range(X.shape[0]):
        h = np.zeros(W.shape[0])
        s += h[0] * v[0] + h[1]
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            h[j] = math.tanh(acc)
        for j in range(W.shape[0]):
            s += v[j] * h[j] * h[j]
    return s


def partly_rewritten(W, b, v, X):
    """Each row writes h[1:] only; h[0] stays 0.0 (hoisted, it would too, but the pass asks for the whole range)."""
    s = 0.0
    for i in range(X.shape[0]):
        h = np.zeros(W.shape[0])
        for j in range(1, W.shape[0]):
            h[j] = math.exp(0.2 * (b[j] + W[j, 0] * X[i, 0]))
        for j in range(W.shape[0]):
            s += v[j] * h[j] * h[(j + 1) % W.shape[0]]
    return s


def added_into(W, b, v, X):
    """Each row adds into h (`+=`), which reads it: the fresh zeros matter."""
    s = 0.0
    for i in range(X.shape[0]):
        h = np.zeros(W.shape[0])
        for j in range(W.shape[0]):
            h[j] += math.tanh(b[j] + W[j, 1] * X[i, 1])
        for j in range(W.shape[0]):
            s += v[j] * h[j] * h[j]
    return s


@pytest.mark.parametrize("function", [read_before_rewritten, partly_rewritten, added_into])
def test_hoist_allocations_refuses_an_array_not_rewritten_first(function):
    args = data(9)
    check(function, args)
    made = [line for line in sg.grad(function, wrt=(0, 1, 2)).source().splitlines()
            if re.match(r"h(_\d+)? = np\.zeros", line.strip())]
    assert made and all(line.startswith(" " * 8) for line in made)  # still made inside the row loop
    grad = sg.grad(function, wrt=(0, 1, 2), optimize={"hoist_allocations": False})
    for g, expected in zip(sg.grad(function, wrt=(0, 1, 2))(*args), grad(*args)):
        assert np.array_equal(g, expected)


def test_the_output_read_back_before_the_overwrite_is_undone():
    """In `overwritten` the read-back of tanh(acc) comes after the second store is undone: h holds tanh(acc)."""
    source, _ = check(overwritten, data(8))
    assert "h_out" in source


def relu_as_if(W, b, v, X):
    """ReLU as `if z > 0: h[j] = z` / `else: h[j] = 0.0`: one store of `z if z > 0 else 0.0`, read back."""
    h = np.zeros(W.shape[0])
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            if acc > 0:
                h[j] = acc
            else:
                h[j] = 0.0
        for j in range(W.shape[0]):
            s += v[j] * h[j] * h[j]
    return s


def clip_as_if(W, b, v, X):
    """min(z, 0.25) as `if z >= 0.25: h[j] = 0.25` / `else: h[j] = z`, read linearly: a NaN `z` takes the branch
    `z`, and its adjoint `v[j]` is finite."""
    h = np.zeros(W.shape[0])
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            if acc >= 0.25:
                h[j] = 0.25
            else:
                h[j] = acc
        for j in range(W.shape[0]):
            s += v[j] * h[j]
    return s


def leaky_as_if(W, b, v, X):
    """`if z >= 0: z else 0.1 z`: its slope at 0 is 1, not written from the output: the input keeps its tape."""
    h = np.zeros(W.shape[0])
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(W.shape[0]):
            acc = b[j]
            for k in range(X.shape[1]):
                acc += W[j, k] * X[i, k]
            if acc >= 0:
                h[j] = acc
            else:
                h[j] = 0.1 * acc
        for j in range(W.shape[0]):
            s += v[j] * h[j] * h[j]
    return s


def relu_as_if_float_zero():
    """`relu_as_if` tested against 0.0, as often written: SymPy's Piecewise holds `acc > 0.0` as `acc > 0`, and the
    `else:` side's store was once not matched with it (two stores, the input taped)."""
    source = "import numpy as np\n\n" + inspect.getsource(relu_as_if).replace("if acc > 0:", "if acc > 0.0:")
    return write_module(source).relu_as_if


@pytest.mark.parametrize("function", [relu_as_if, relu_as_if_float_zero(), clip_as_if])
def test_an_activation_written_as_an_if_is_one_store_read_back(function):
    source, plain = check(function, data(10), exact=True)
    assert not re.search(r"h_at\w* = h\[j\]", source)  # the two branches' stores are one: no read of the old value
    assert "tape_acc" in plain and "tape_acc" not in source
    W, b, v, X = data(10)
    W[2], b[2] = 0.0, 0.25 if function is clip_as_if else 0.0  # a unit exactly at the kink: slope 0 there
    gradient = sg.grad(function, wrt=(0, 1, 2))(W, b, v, X)
    assert all(np.array_equal(g, p) for g, p in zip(gradient, sg.grad(function, wrt=(0, 1, 2), optimize=OFF)(
        W, b, v, X)))
    assert gradient[1][2] == 0.0 and not gradient[0][2].any()


@pytest.mark.parametrize("function", [relu_as_if, clip_as_if])
def test_a_nan_input_gets_the_slope_of_the_branch_python_takes(function):
    """Python sends a NaN `z` to the `else` branch: relu's 0 (slope 0), clip's `z` (slope 1, not the 0 that a
    step of the NaN output would give).  The output-slope kernel agrees with the plain one, element for element."""
    W, b, v, X = data(12)
    X[1, 0] = np.nan
    gradient = sg.grad(function, wrt=(0, 1, 2))(W, b, v, X)
    plain = sg.grad(function, wrt=(0, 1, 2), optimize=OFF)(W, b, v, X)
    assert all(np.array_equal(g, p, equal_nan=True) for g, p in zip(gradient, plain))
    if function is clip_as_if:
        assert np.isfinite(gradient[0][:, 1:]).all() and np.isfinite(gradient[1]).all()
        assert "tape_acc" not in sg.grad(function, wrt=(0, 1, 2)).source()  # (the output slope is what is tested)


def relu_numpy_zero_first(W, b, v, X):
    """np.maximum(0.0, z): `numpy_extreme` writes `z if isnan(z) else max(0.0, z)` (a NaN `z` gives NaN)."""
    return np.sum(np.maximum(0.0, X @ W.T + b) @ v)


def clip_numpy_minimum_first(W, b, v, X):
    return np.sum(np.minimum(0.25, X @ W.T + b) @ v)


def clip_numpy_fmin(W, b, v, X):
    """np.fmin(z, 0.25): `0.25 if isnan(z) else min(z, 0.25)` (a NaN `z` gives the constant)."""
    return np.sum(np.fmin(X @ W.T + b, 0.25) @ v)


@pytest.mark.parametrize("function", [relu_numpy_zero_first, clip_numpy_minimum_first, clip_numpy_fmin])
def test_a_numpy_clamp_with_its_nan_test_is_read_back_from_its_output(function):
    """The NaN test that np.maximum(c, z) and np.fmin(z, c) carry does not cost the output slope (no tape of `z`);
    at a NaN `z` the slope is the branch's: 1 where the output is `z`, 0 where it is `c`."""
    source, plain = check(function, data(13))
    assert "tape" in plain and "tape" not in source
    W, b, v, X = data(13)
    X[1, 0] = np.nan
    gradient = sg.grad(function, wrt=(0, 1, 2))(W, b, v, X)
    unoptimised = sg.grad(function, wrt=(0, 1, 2), optimize=OFF)(W, b, v, X)
    assert all(np.array_equal(g, p, equal_nan=True) for g, p in zip(gradient, unoptimised))
    assert np.isfinite(gradient[1]).all()


@pytest.mark.parametrize("ordering", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("z_first", [True, False])
def test_every_branch_clamp_is_read_back_with_the_slope_of_the_branch_taken(make_module, ordering, z_first):
    """`np.where(z OP c, z, c)` and `np.where(z OP c, c, z)` for each ordering: a max or a min of z and c, whose tie
    (z == c) and NaN go to the branch `z` or to `c` as the ordering says.  Where the tie takes c the slope is read
    from the output (no tape), equal to the plain kernel's element for element at a tie and at a NaN."""
    pieces = "z, 0.25" if z_first else "0.25, z"
    module = make_module(f"""
        import numpy as np

        def clamp(W, b, v, X):
            z = X @ W.T + b
            return np.sum(np.where(z {ordering} 0.25, {pieces}) @ v)
        """)
    source, _ = check(module.clamp, data(14))
    tie_slope = float((ordering in ("<=", ">=")) == z_first)
    assert ("tape" in source) == bool(tie_slope)  # (the output is c at the tie as on the clamped side: 0 there)
    W, b, v, X = data(14)
    W[1], b[1] = 0.0, 0.25  # unit 1 at the tie in every row
    X[2, 0] = np.nan
    gradient = sg.grad(module.clamp, wrt=(0, 1, 2))(W, b, v, X)
    unoptimised = sg.grad(module.clamp, wrt=(0, 1, 2), optimize=OFF)(W, b, v, X)
    assert all(np.array_equal(g, p, equal_nan=True) for g, p in zip(gradient, unoptimised))
    # By hand: unit 1 sits at the tie in every row but row 2, where z = 0.0 * nan is NaN; np.where sends a NaN
    # to its second argument.  Each row adds v[1] times the slope of the branch taken, 1 for z and 0 for c.
    nan_slope = float(not z_first)
    assert gradient[1][1] == pytest.approx(v[1] * ((X.shape[0] - 1) * tie_slope + nan_slope), rel=1e-12)


def test_an_if_whose_slope_needs_the_input_keeps_its_tape():
    source, _ = check(leaky_as_if, data(11), exact=True)
    assert "tape_acc" in source and "h_out" not in source


def hinge_sum(x, y):
    """`if m > 0: s += m`, the hinge written as an `if`."""
    s = 0.0
    for i in range(len(x)):
        m = 1.0 - y[i] * x[i] * x[i]
        if m > 0:
            s += m
    return s


def capped_sum(x, y):
    """The condition reads the sum (`if s < 1`): s is not an accumulator, the pass must not fire."""
    s = 0.0
    for i in range(len(x)):
        if s < 1.0:
            s += x[i] * y[i]
    return s


@pytest.mark.parametrize("function", [hinge_sum, capped_sum])
def test_guarded_sums_against_richardson_and_bit_for_bit(function):
    rng = np.random.default_rng(12)
    x, y = rng.uniform(-1, 1, 9), rng.uniform(0.5, 3, 9)
    on = sg.value_and_grad(function, wrt=0)
    off = sg.value_and_grad(function, wrt=0, optimize={"guarded_sums": False, "useful_activity": False})
    (value, gradient), (value_off, gradient_off) = on(x, y), off(x, y)
    assert value == value_off == pytest.approx(function(x, y), rel=1e-13)
    np.testing.assert_allclose(gradient, richardson_gradient(function, (x, y), 0), rtol=1e-7, atol=1e-9)
    assert np.array_equal(gradient, gradient_off)
    assert ("tape_s" in on.source()) == (function is capped_sum)
    assert "tape_s" in off.source()


def hinge_from(x, y, s):
    """`hinge_sum` from a given start (a constant -0.0 would be folded to 0.0 when lifted)."""
    for i in range(len(x)):
        m = 1.0 - y[i] * x[i] * x[i]
        if m > 0:
            s += m
    return s


def test_guarded_sums_keep_a_negative_zero():
    x, y = np.full(4, 2.0), np.ones(4)  # m < 0 everywhere: no term is added, s stays -0.0
    transform = sg.value_and_grad(hinge_from, wrt=0)
    assert "tape_s" not in transform.source()  # the pass fired
    value = transform(x, y, -0.0)[0]
    assert value == 0.0 and math.copysign(1.0, value) == -1.0 == math.copysign(1.0, hinge_from(x, y, -0.0))


def chained(w, x):
    """h[j + 1] = tanh(h[j]) w[j]: the sweep reads h_bar[j + 1] and adds into h_bar[j], so it keeps its order."""
    h = np.zeros(len(w) + 1)
    h[0] = x[0]
    for j in range(len(w)):
        h[j + 1] = math.tanh(h[j]) * w[j]
    s = 0.0
    for j in range(len(w) + 1):
        s += h[j] * x[j]
    return s


def test_a_layer_sweep_runs_first_to_last():
    """The layer's sweep reads and resets h_bar[j] alone (pass any_order_sweeps): it runs j = 0, 1, ..."""
    source = sg.grad(layer(relu), wrt=(0, 1, 2)).source()
    ordered = sg.grad(layer(relu), wrt=(0, 1, 2), optimize={"any_order_sweeps": False}).source()
    assert "range(-1 + W_shape0, -1, -1)" in ordered and "range(-1 + W_shape0, -1, -1)" not in source


def test_a_sweep_reading_another_element_keeps_its_order():
    rng = np.random.default_rng(13)
    w, x = rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 7)
    transform = sg.grad(chained, wrt=0)
    np.testing.assert_allclose(transform(w, x), richardson_gradient(chained, (w, x), 0), rtol=1e-7, atol=1e-9)
    assert np.array_equal(transform(w, x), sg.grad(chained, wrt=0, optimize=False)(w, x))
    assert "range(-1 + w_shape0, -1, -1)" in transform.source()
