"""What real objective code also does (issue 10, item 6): module-level constant arrays, lists and numbers read
with Python's semantics (a change is seen by the next call), nested `def` helpers, lists of numbers as constant
arrays, loops over arrays and ranges, int() of sizes, np.size / np.atleast_2d / len of a slice, comparisons
used as numbers.

Each function is written once and run by symgrad and by JAX (float64) on the same source with ``jax.numpy`` in
place of NumPy; JAX reads module globals when it traces, and `jax.value_and_grad` traces at every call, so it is
an independent reference for a changed global too.  Where JAX cannot run the source (`float()` of a traced
comparison), Richardson-extrapolated central differences are the reference.
"""

import copy

import numpy as np
import pytest

import symgrad as sg
from conftest import matches_jax, richardson_gradient, write_module

jax = pytest.importorskip("jax", reason="JAX is the independent reference of this file")
jax.config.update("jax_enable_x64", True)

SOURCE = '''
A = np.array([[1.0, 2.0, 0.5], [3.0, -1.0, 2.0]])
GRID = np.linspace(0.0, 1.0, 3)
D = [1.0, 1000.0, 10.0, 100.0]
SCALE = 0.5
ROWS = 2
ROWS_OF_W = [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]


def scaled_squares(x):
    return np.sum(B * x**2)


def module_array(x):
    return np.sum(np.tanh(A @ x)) + np.sum(GRID * x ** 2)


def module_list(x):
    return np.sum(np.array(D) * x**2) + D[1] * x[0] + np.sum(np.asarray(D) * np.sin(x))


def module_number(x):
    return SCALE * np.sum(x**2) + np.sum(x[:ROWS])


def squared(t):
    return np.sum(t**2)


def cubed(t):
    return np.sum(t**3)


def through_a_plain_helper(x):
    return squared(x) + np.sum(np.sin(x))


def through_a_helper(x):
    return scaled_squares(x) + np.sum(A[0] * x[:3])


def nested_helpers(x, a):
    s = a * 2.0

    def model(t, power=2):
        return s * np.tanh(t) ** power

    def penalty(t):
        def square(u):
            return u * u
        return np.sum(square(t))

    return np.sum(model(x)) + model(x[0], 3) + penalty(x)


def shadowing_helper(t, x):
    def g(t):  # (its t is a vector: the outer t stays a float)
        return np.sum(t[0] * x)
    return t * g(x)


def nested_helper_in_a_loop(x):
    def term(v, k):
        return k * v**2
    total = 0.0
    for i in range(len(x)):
        total += term(x[i], i + 1)
    return total


def local_list(x):
    d = [1.0, 1000.0, 10.0, 100.0]
    s = 0.0
    for i in range(4):
        s += d[i] * x[i] ** 2
    return s + np.sum(np.array(d) * x)


def iterations(x, y, A2):
    s = 0.0
    for v in x:
        s += v**2
    for i, v in enumerate(y):
        s += i * v
    for u, v in zip(x, y):
        s += u * v
    for i, v in zip(range(len(x)), x):
        s += i * v**3
    for i, k in enumerate(range(1, len(x))):
        s += i * x[k] * y[k - 1]
    for row in A2:
        s += np.sum(row**2)
    return s


def enumerate_spellings(x, y):
    s = 0.0
    for i, (u, v) in enumerate(zip(x, y)):
        s += i * u * v
    for i, v in enumerate(x, 1):
        s += i * v**2
    for i, v in enumerate(y, start=2):
        s += i * np.sin(v)
    for u, v, w in zip(x, y, x):
        s += u * v * w
    return s


def tuple_and_nested_constants(x):
    d = (1.0, 2.0, 3.0)
    return np.sum(np.array(d) * x) + np.sum(np.array(ROWS_OF_W) @ x) + np.sum(d[1] * x)


def sizes(x):
    half = int(len(x) / 2)
    n = int(len(x) // 2)
    return np.sum(x[:half] ** 2) * len(x[1:]) + np.sum(x[n:]) / np.size(x) + np.sum(np.atleast_2d(x) ** 3)


def comparisons(x, a, b):
    return (a > b) * a + np.sum((x > 0) * x) + np.sum(np.where(x > a, x, 0.0))
'''

CASES_SOURCE = '''
B = np.array([0.5, 2.0, 1.0, 3.0])
'''

NUMPY = write_module("import numpy as np\n" + SOURCE + CASES_SOURCE, name="numpy_module_cases")
JAX = write_module("import jax.numpy as np\n" + SOURCE + CASES_SOURCE, name="numpy_module_cases_jax")

RNG = np.random.default_rng(20261203)
X = RNG.normal(size=4)
CASES = {
    "module_array": ((RNG.normal(size=3),), (0,)),
    "module_list": ((X,), (0,)),
    "module_number": ((X,), (0,)),
    "through_a_helper": ((X,), (0,)),
    "nested_helpers": ((X, 0.7), (0, 1)),
    "nested_helper_in_a_loop": ((X,), (0,)),
    "shadowing_helper": ((1.3, X), (0, 1)),
    "local_list": ((X,), (0,)),
    "iterations": ((RNG.normal(size=5), RNG.normal(size=5), RNG.normal(size=(3, 2))), (0, 1, 2)),
    "sizes": ((RNG.normal(size=7),), (0,)),
    "enumerate_spellings": ((RNG.normal(size=5), RNG.normal(size=5)), (0, 1)),
    "tuple_and_nested_constants": ((RNG.normal(size=3),), (0,)),
    "comparisons": ((RNG.normal(size=6), 0.3, -0.2), (0, 1, 2)),
}


def assert_matches_jax(transform, name, args, wrt):
    matches_jax(transform, getattr(NUMPY, name), getattr(JAX, name), args, wrt)


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_jax(name):
    args, wrt = CASES[name]
    assert_matches_jax(sg.value_and_grad(getattr(NUMPY, name), wrt=wrt), name, args, wrt)


@pytest.fixture
def restored_globals():
    """The module globals a test changes, put back afterwards (in both modules)."""
    names = ("A", "B", "D", "GRID", "SCALE", "ROWS", "squared")
    saved = [(module, {name: copy.deepcopy(getattr(module, name)) for name in names}) for module in (NUMPY, JAX)]
    yield
    for module, values in saved:
        for name, value in values.items():
            setattr(module, name, value)


def changed(name, value):
    """Set the global `name` of both modules (JAX's as a jax array where it is an array)."""
    setattr(NUMPY, name, value)
    setattr(JAX, name, jax.numpy.asarray(value) if isinstance(value, np.ndarray) else value)


def test_a_mutated_module_array_is_seen_by_the_next_call(restored_globals):
    """Python's semantics: the kernel reads the global's elements at each call, never a copy made earlier."""
    (x,), wrt = CASES["module_array"]
    transform = sg.value_and_grad(NUMPY.module_array, wrt=wrt)
    assert_matches_jax(transform, "module_array", (x,), wrt)
    changed("A", NUMPY.A.copy())
    transform(x)
    NUMPY.A[0, 0] = 5.0  # in place: the same object, new values
    JAX.A = jax.numpy.asarray(NUMPY.A)
    assert_matches_jax(transform, "module_array", (x,), wrt)
    NUMPY.GRID[:] = np.linspace(1.0, 2.0, 3)
    JAX.GRID = jax.numpy.asarray(NUMPY.GRID)
    assert_matches_jax(transform, "module_array", (x,), wrt)


def test_a_rebound_module_array_of_another_shape_or_rank_is_seen(restored_globals):
    (x,), wrt = CASES["module_array"]
    transform = sg.value_and_grad(NUMPY.module_array, wrt=wrt)
    transform(x)
    changed("A", RNG.normal(size=(5, 3)))  # another number of rows: the same kernels, sizes read at the call
    assert_matches_jax(transform, "module_array", (x,), wrt)
    changed("A", RNG.normal(size=3))  # a vector: A @ x is now a dot product, derived again
    assert_matches_jax(transform, "module_array", (x,), wrt)
    changed("A", np.array([[1, 2, 3]]))  # ints: read as float64, as NumPy would compute with them
    assert_matches_jax(transform, "module_array", (x,), wrt)
    changed("A", np.ones((2, 2)))  # A @ x no longer fits x: NumPy raises, and so does the kernel
    with pytest.raises(ValueError, match=r"A @ x.*A\.shape\[1\] and len\(x\)"):
        transform(x)


def test_a_mutated_module_list_is_seen(restored_globals):
    (x,), wrt = CASES["module_list"]
    transform = sg.value_and_grad(NUMPY.module_list, wrt=wrt)
    assert_matches_jax(transform, "module_list", (x,), wrt)
    NUMPY.D[1] = -3.0  # (JAX's module has its own list: change it too)
    JAX.D[1] = -3.0
    assert_matches_jax(transform, "module_list", (x,), wrt)
    changed("D", [2.0, 0.5, -1.0, 4.0])
    assert_matches_jax(transform, "module_list", (x,), wrt)


def test_a_rebound_module_number_is_seen(restored_globals):
    """A module-level number is folded into the kernels; a call that finds another value derives them again."""
    (x,), wrt = CASES["module_number"]
    transform = sg.value_and_grad(NUMPY.module_number, wrt=wrt)
    assert_matches_jax(transform, "module_number", (x,), wrt)
    changed("SCALE", 2.5)
    assert_matches_jax(transform, "module_number", (x,), wrt)
    changed("ROWS", 3)  # a slice bound: another kernel
    assert_matches_jax(transform, "module_number", (x,), wrt)
    gradient, batched = sg.grad(NUMPY.module_number), sg.vmap(sg.grad(NUMPY.module_number))
    gradient(x), batched(np.stack([x, -x]))
    changed("SCALE", -1.0)
    np.testing.assert_allclose(gradient(x), -2.0 * x + (np.arange(4) < 3), rtol=1e-14)
    np.testing.assert_allclose(batched(np.stack([x, -x])), [-2.0 * x + (np.arange(4) < 3),
                                                            2.0 * x + (np.arange(4) < 3)], rtol=1e-14)
    hessian = sg.hessian(NUMPY.module_number)
    np.testing.assert_allclose(hessian(x), -2.0 * np.eye(4), rtol=1e-14)
    changed("SCALE", 3.0)
    np.testing.assert_allclose(hessian(x), 6.0 * np.eye(4), rtol=1e-14)



def test_the_checked_call_of_a_module_number_binds_like_python(restored_globals):
    """The fast entry of a function reading module-level numbers (`module_values.checked_call`): keywords bind as
    in Python, a wrong count is Python's TypeError naming the function, an equal number rebound or a global
    deleted and set again gives the same kernel's result, a deleted global is Python's NameError."""
    (x,), wrt = CASES["module_number"]
    transform = sg.value_and_grad(NUMPY.module_number, wrt=wrt)
    value, gradient = transform(x)
    assert_matches_jax(transform, "module_number", (x,), wrt)
    by_keyword = transform(x=x)
    assert by_keyword[0] == value and np.array_equal(by_keyword[1], gradient)
    with pytest.raises(TypeError, match=r"module_number\(\).*'x'"):
        transform()
    with pytest.raises(TypeError, match=r"module_number\(\)"):
        transform(x, x)
    NUMPY.SCALE = float("0.5")  # equal, another object: the slow path's check passes
    assert transform(x)[0] == value
    del NUMPY.SCALE
    with pytest.raises(NameError, match="SCALE"):
        transform(x)
    changed("SCALE", 4.0)
    assert_matches_jax(transform, "module_number", (x,), wrt)


def test_a_helpers_module_array_is_read_at_each_call(restored_globals):
    (x,), wrt = CASES["through_a_helper"]
    transform = sg.value_and_grad(NUMPY.through_a_helper, wrt=wrt)
    assert_matches_jax(transform, "through_a_helper", (x,), wrt)
    NUMPY.B[2] = 7.0
    JAX.B = jax.numpy.asarray(NUMPY.B)
    assert_matches_jax(transform, "through_a_helper", (x,), wrt)


def test_a_closure_over_an_enclosing_array_is_read_at_each_call():
    weights = np.array([1.0, -2.0, 3.0])

    def weighted(x):
        return np.sum(weights * x**2)

    transform = sg.grad(weighted)
    x = RNG.normal(size=3)
    np.testing.assert_allclose(transform(x), 2 * weights * x, rtol=1e-14)
    weights[1] = 4.0
    np.testing.assert_allclose(transform(x), 2 * weights * x, rtol=1e-14)
    np.testing.assert_allclose(transform(x), richardson_gradient(weighted, [x], 0), rtol=1e-8)


def test_a_comparison_used_as_a_float_has_derivative_zero():
    """`float(a > b)` (JAX cannot trace float() of a comparison: central differences are the reference)."""
    def step(a, b):
        return float(a > b) * a**2 + float(b >= 1.0) * b

    transform = sg.value_and_grad(step, wrt=(0, 1))
    for a, b in ((2.0, 1.5), (0.5, 1.5), (0.5, 0.2)):
        value, gradient = transform(a, b)
        assert value == step(a, b)
        assert all(type(g) is float for g in gradient)
        np.testing.assert_allclose(gradient, [richardson_gradient(step, [a, b], k) for k in (0, 1)], atol=1e-9)


def slice_stores(x):
    w = np.zeros(x.shape)
    w[:, -1] = 2.0
    w[0, :2] = 3.0
    w[1:, 0] = x[0, 1]
    v = np.full(x.shape[1], 0.5)
    v[::2] = -1.0
    return np.sum(w * x) + np.sum(x @ v)


def masked_sums(x):
    mask = np.full(x.shape, False)
    mask[:, -1] = True
    masked = np.ma.array(x, mask=mask)
    shifted = np.ma.array(np.exp(x) - 1, mask=x > 0.5)
    return np.sum(((masked - 1) ** 2).sum(axis=1) * np.sin(masked.sum(axis=1))) + shifted.sum() + np.sum(
        np.ma.array(x, mask=False) ** 2) + np.prod(np.ma.array(x[0], mask=x[0] < 0))


def augmented_slices(x):
    f = x.copy()
    f[1:, 0] -= f[:-1, 0]  # (reads the elements it writes, shifted: NumPy computes the right side first)
    f[::2] *= 3.0
    g = np.copy(f)
    g[:, 1:] += x[:, :1] ** 2
    g[...] /= 1.5
    return np.sum(f ** 2) + np.sum(g ** 3)


@pytest.mark.parametrize("function", [slice_stores, masked_sums, augmented_slices])
def test_stores_into_slices_and_masked_arrays_match_numpy_and_differences(function):
    """JAX has neither (its arrays are immutable, it has no np.ma): NumPy's value and Richardson differences."""
    x = RNG.normal(size=(4, 3))
    value, gradient = sg.value_and_grad(function)(x)
    assert value == pytest.approx(float(function(x)), rel=1e-12)
    np.testing.assert_allclose(gradient, richardson_gradient(function, [x], 0), rtol=1e-7, atol=1e-9)


def decay_with_unpacked_parameters(theta, y0, data):
    k, c = theta
    y = y0
    loss = 0.0
    for t in range(len(data)):
        y = y + 0.1 * (-k * y + c)
        loss += (y - data[t]) ** 2
    return loss


def unpacked_rows(W, x):
    w1, w2 = W
    return np.sum(np.tanh(w1 * x) * w2)


def test_an_array_unpacked_into_names_gives_its_elements_or_rows():
    """`k, c = theta` was refused with "cannot unpack 1 value(s) into 2 names" (found by probing): Python unpacks
    along the first axis, and so does symgrad, checking the length when the kernel starts."""
    theta, data = np.array([0.7, 0.3]), np.linspace(0.0, 1.0, 5)
    value, (theta_bar,) = sg.value_and_grad(decay_with_unpacked_parameters, wrt=(0,))(theta, 1.2, data)
    assert value == pytest.approx(decay_with_unpacked_parameters(theta, 1.2, data), rel=1e-14)
    np.testing.assert_allclose(theta_bar, richardson_gradient(decay_with_unpacked_parameters, [theta, 1.2, data], 0),
                               rtol=1e-8)
    with pytest.raises(ValueError, match=r"k, c = theta on line \d+: the length of theta and the number of names"):
        sg.value_and_grad(decay_with_unpacked_parameters, wrt=(0,))(np.ones(3), 1.2, data)
    W, x = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    value, (W_bar,) = sg.value_and_grad(unpacked_rows, wrt=(0,))(W, x)
    assert value == pytest.approx(unpacked_rows(W, x), rel=1e-14)
    t = np.tanh(W[0] * x)
    np.testing.assert_allclose(W_bar, [(1 - t ** 2) * x * W[1], t], rtol=1e-13)


def test_masked_arrays_refuse_what_they_do_not_lower():
    def mean_of_masked(x):
        return np.mean(np.ma.array(x, mask=x > 0))

    def product_of_masked(x, y):
        return np.sum(np.ma.array(x, mask=x > 0) @ y)

    with pytest.raises(sg.UnsupportedSyntaxError, match="np.mean of a masked array"):
        sg.grad(mean_of_masked)(np.ones(3))
    with pytest.raises(sg.UnsupportedSyntaxError, match="needs the elements of the masked array"):
        sg.grad(product_of_masked)(np.ones(3), np.ones(3))


def test_module_arrays_are_refused_by_the_transforms_that_do_not_pass_them():
    x = CASES["module_array"][0][0]
    with pytest.raises(TypeError, match="module-level array 'A'.*pass it as an argument"):
        sg.hessian(NUMPY.module_array)(x)
    with pytest.raises(TypeError, match="vmap of module_array.*module-level array 'A'"):
        sg.vmap(sg.grad(NUMPY.module_array))(np.stack([x, x]))


def test_a_rebound_helper_function_is_seen_by_the_next_call(restored_globals):
    """A helper is inlined into the kernels, so it is checked at each call as a folded number is: rebinding it (a
    notebook cell defining it again with another body) derives the kernels again; the same body does not."""
    x = RNG.normal(size=4)
    name = "through_a_plain_helper"
    transform = sg.value_and_grad(NUMPY.through_a_plain_helper)
    hessian, batched = sg.hessian(NUMPY.through_a_plain_helper), sg.vmap(sg.grad(NUMPY.through_a_plain_helper))
    assert_matches_jax(transform, name, (x,), 0)
    hessian(x), batched(np.stack([x, -x]))
    NUMPY.squared, JAX.squared = NUMPY.cubed, JAX.cubed
    assert_matches_jax(transform, name, (x,), 0)
    np.testing.assert_allclose(hessian(x), np.asarray(jax.hessian(JAX.through_a_plain_helper)(x)), rtol=1e-13)
    np.testing.assert_allclose(batched(np.stack([x, -x])), [np.asarray(jax.grad(JAX.through_a_plain_helper)(x)),
                                                            np.asarray(jax.grad(JAX.through_a_plain_helper)(-x))],
                               rtol=1e-13)
    same_body = write_module("import numpy as np\n" + SOURCE + CASES_SOURCE, name="same_body_helpers")
    NUMPY.squared = same_body.cubed  # another object, the same source
    assert_matches_jax(transform, name, (x,), 0)
