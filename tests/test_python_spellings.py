"""Python spellings of objective code (issue 10, item 6): comprehensions and generator expressions, a lambda bound
to a name, reversed and stepped ranges, counted `while` loops (symgrad/frontend/comprehensions.py,
symgrad/frontend/desugar.py), array stores into slices and rows, np.all/np.any/isnan/isfinite in conditions,
np.argmax/np.argmin as indices.

Each function is written once and run by symgrad and by JAX (float64) on the same source with ``jax.numpy`` in
place of NumPy; where JAX cannot run the source (math.fsum, np.sum of a list, max of a generator of tracers, stores into an
array, stores through a mask, a Python `if` on np.all of traced values), by central differences
with Richardson extrapolation.
"""

import ast
import math

import numpy as np
import pytest

import symgrad as sg
from symgrad.errors import UndefinedNameError
from conftest import richardson_gradient, write_module

jax = pytest.importorskip("jax", reason="JAX is the independent reference of this file")
jax.config.update("jax_enable_x64", True)

SOURCE = '''
import math

def squares_by_index(x):
    n = len(x)
    return sum([x[i]**2 for i in range(n)])

def squares_by_element(x):
    return sum([xi**2 for xi in x]) + sum(np.sin(xi) for xi in x)

def neighbour_products(x):
    n = len(x)
    return np.sum(np.array([x[i]*x[i + 1] for i in range(n - 1)]))

def array_of_a_comprehension_read_twice(x):
    n = len(x)
    d = np.array([x[i + 1] - x[i] for i in range(n - 1)])
    return np.sum(d**2) + d[0]*d[-1]

def filtered_by_index(x):
    n = len(x)
    return sum(x[i]**2 for i in range(n) if i % 2 == 0) + sum([x[i] for i in range(n) if i > 1 and i < n - 1])

def enumerated(x):
    return sum(i*xi**2 for i, xi in enumerate(x)) + sum((k*xi for k, xi in enumerate(x, 1)), x[0])

def zipped(x, y):
    return sum(a*b for a, b in zip(x, y)) + sum([(a - b)**2 for a, b in zip(x[1:], y[:-1])])

def stepped_comprehension(x):
    n = len(x)
    return sum(x[i]**3 for i in range(n - 1, -1, -2)) + sum(x[i] for i in range(1, n, 3))

def any_and_all(x):
    n = len(x)
    s = np.sum(x**2)
    if any(x[i] > 1.0 for i in range(n)) and all(xi > -3.0 for xi in x):
        s = s * x[0]
    if all(x[i] > 0 for i in range(n) if i % 2 == 0) or any([xi > 5.0 for xi in x]):
        s = s + x[1]**3
    return s

def row_sums(A):
    return sum(np.sum(row**2) for row in A) + max(np.sum(np.sin(row)) for row in A.T)

def local_lambda(x):
    f = lambda t: t**2 + 1
    g = lambda a, b=2.0: a*b + f(a)
    n = len(x)
    s = f(x[0])
    for i in range(n):
        s = s + g(x[i])
    return s + sum(f(xi) for xi in x)

def reversed_recurrence(x):
    n = len(x)
    s = 0.0
    for i in reversed(range(n)):
        s = 0.5*s + x[i]**2
    t = 0.0
    for i in reversed(range(1, n, 2)):
        t = 0.3*t + x[i]
    return s + t

def selected_by_argmax(x, w):
    d = (x - 0.3)**2
    return x[np.argmax(x)]**2 + w[np.argmin(d)]*np.sum(d) + 3.0*x[x.argmin()]

def several_clauses(x, y):
    n = len(x)
    return (sum(a*b for a in x for b in y) + sum(x[i]*y[j] for i in range(n) for j in range(i) if j % 2 == 0)
            + max(x[i] - y[j] for i in range(n) for j in range(1, n)) + sum(w[0]*k for w in (x, y) for k in (1, 2, 3))
            + float(all(x[i] < 10.0 + y[j] for i in range(n) for j in range(n))) * y[1])

def comprehension_as_a_list(W, b, V, c):
    params = [(W, b), (V, c)]
    flat = np.concatenate([np.ravel(a) for layer in params for a in layer])
    rows = np.stack([k * a for a in (b, c) for k in (1.0, 2.0, 3.0) if k != 2.0])
    numbers = np.array([a[0] * k for a in (b, c) for k in (1.0, 2.0)])
    return np.dot(flat, flat) + np.sum(np.tanh(rows) * rows[0]) + np.sum(numbers**3)

def split(a, B):
    return a - np.max(a), B

def zip_of_a_helpers_tuple(a, B):
    total = 0.0
    for s, row in zip(*split(a, B)):
        total = total + s * np.sum(row**2)
    return total + sum(s * row[0] for s, row in zip(*split(a, B)))

def one_column_treated_apart(y_true, y_prob):
    y_prob = np.clip(y_prob, 1e-9, 1 - 1e-9)
    if y_prob.shape[1] == 1:
        y_prob = np.append(1 - y_prob, y_prob, axis=1)
    if y_true.shape[1] != 1:
        pass
    else:
        y_true = np.append(1 - y_true, y_true, axis=1)
    return -np.sum(y_true * np.log(y_prob)) / y_prob.shape[0]

def negative_steps(x):
    n = len(x)
    s = 0.0
    for i in range(n - 1, -1, -1):
        s = np.sin(s) + x[i]
    for i in range(n - 1, 0, -3):
        s = s * x[i]
    for i in range(0, n, 2):
        s = s + x[i]**2
    return s

def counted_whiles(x, n):
    s = 0.0
    i = 1
    while i < n:
        s += x[i] * x[i - 1]
        i += 2
    k = n - 1
    while k >= 0:
        s = s * 0.5 + np.sin(x[k])
        k = k - 1
    j = 0
    while 3 > j:
        s += x[j] ** 3
        j += 1
    m = 0
    while m <= n - 2:
        t = 0
        while t < m:
            s += x[t] * x[m + 1] * 0.25
            t += 1
        m -= -1
    return s

def argmax_of_a_row_at_a_gathered_column(Z, A, idx):
    s = 0.0
    for i in range(Z.shape[0]):
        s += A[np.argmax(Z[i]), idx[i]] * Z[i, 0]
    return s
'''

RICHARDSON_SOURCE = '''
def numpy_sum_of_a_list(x):
    return np.sum([np.exp(0.5*xi) for xi in x])

def fsum_of_a_generator(x):
    return math.fsum(xi**2 for xi in x) + math.fsum([x[i]*x[0] for i in range(len(x))])

def extremes_of_a_generator(x):
    n = len(x)
    return max(xi**2 for xi in x) - min(x[i] - x[i - 1] for i in range(1, n)) + np.max([np.sin(xi) for xi in x])

def differences_by_slice_stores(x):
    y = np.zeros_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - x[:-1]
    return np.sum(y**2) + y[-1]*y[1]

def overlapping_slice_store(x):
    y = np.zeros_like(x)
    y[:] = np.sin(x)
    y[1:] = y[:-1]*x[1:]
    return np.sum(y**3)

def rows_and_columns_stored(x):
    n = len(x)
    A = np.zeros((3, n))
    A[0] = x
    A[1, :] = x**2
    A[2, 1:] = x[:-1]*0.5
    A[:, 0] = 1.5
    return np.sum(np.tanh(A)*A)

def masked_stores(x):
    out = np.empty_like(x)
    idx = x > 0
    out[idx] = np.log(1 + np.exp(-x[idx]))
    out[~idx] = -x[~idx] + np.log(1 + np.exp(x[~idx]))
    y = np.zeros_like(x)
    y[x < 0.5] = 2.0
    y[np.abs(x) > 1.0] = x[np.abs(x) > 1.0]**2 * np.sum(x)
    return out.sum() + np.sum(y * x)

def predicates(x):
    s = np.sum(x**2)
    if np.all(x > -5.0) and not np.any(np.isnan(x)):
        s = s + x[0]**3
    if np.any(x > 10.0) or math.isnan(x[1]) or not np.isfinite(x[2]) or np.isinf(x[3]):
        s = s - 100.0*x[1]
    return s + float(np.all(np.abs(x) < 10.0))*x[2] + (x > 0).any()*x[3]

def reversed_stepped_down(x):
    n = len(x)
    s = 0.0
    for i in reversed(range(n - 1, 0, -2)):
        s = 0.5*s + x[i]**2
    return s

'''

NUMPY = write_module("import math\nimport numpy as np\n" + SOURCE + RICHARDSON_SOURCE, name="python_spellings_cases")
JAX = write_module("import math\nimport jax.numpy as np\n" + SOURCE, name="python_spellings_cases_jax")

RNG = np.random.default_rng(20261202)
N = 9
CASES = {
    "squares_by_index": ((RNG.normal(size=N),), (0,)),
    "squares_by_element": ((RNG.normal(size=N),), (0,)),
    "neighbour_products": ((RNG.normal(size=N),), (0,)),
    "array_of_a_comprehension_read_twice": ((RNG.normal(size=N),), (0,)),
    "filtered_by_index": ((RNG.normal(size=N),), (0,)),
    "enumerated": ((RNG.normal(size=N),), (0,)),
    "zipped": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "stepped_comprehension": ((RNG.normal(size=N),), (0,)),
    "local_lambda": ((RNG.normal(size=N),), (0,)),
    "row_sums": ((RNG.normal(size=(4, 3)),), (0,)),
    "any_and_all": ((RNG.normal(size=N),), (0,)),
    "any_and_all[positive]": ((np.abs(RNG.normal(size=N)) + 0.1,), (0,)),
    "reversed_recurrence": ((RNG.normal(size=N),), (0,)),
    "negative_steps": ((RNG.normal(size=N),), (0,)),
    "several_clauses": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "comprehension_as_a_list": ((RNG.normal(size=(3, 2)), RNG.normal(size=2), RNG.normal(size=(2, 2)),
                                 RNG.normal(size=2)), (0, 1, 2, 3)),
    "zip_of_a_helpers_tuple": ((RNG.normal(size=4), RNG.normal(size=(4, 3))), (0, 1)),
    "one_column_treated_apart": ((np.eye(3)[[0, 2, 1, 1]], RNG.uniform(0.1, 0.9, (4, 3))), (1,)),
    "selected_by_argmax": ((RNG.normal(size=N), RNG.normal(size=N)), (0, 1)),
    "counted_whiles": ((RNG.normal(size=N), 7), (0,)),
    "argmax_of_a_row_at_a_gathered_column": ((RNG.normal(size=(5, 3)), RNG.normal(size=(3, 4)),
                                              np.array([1, 3, 0, 3, 2])), (0, 1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_jax(name):
    args, wrt = CASES[name]
    name = name.split("[")[0]  # (a second point for the same function)
    value, gradient = sg.value_and_grad(getattr(NUMPY, name), wrt=wrt)(*args)
    expected_value, expected_gradient = jax.value_and_grad(getattr(JAX, name), argnums=wrt)(*args)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    assert value == pytest.approx(getattr(NUMPY, name)(*args), rel=1e-12, abs=1e-12)
    for ours, theirs in zip(gradient, expected_gradient):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n.name for n in ast.parse(RICHARDSON_SOURCE).body])
def test_value_and_gradient_match_central_differences(name):
    function = getattr(NUMPY, name)
    x = RNG.normal(size=N)
    value, gradient = sg.value_and_grad(function)(x)
    assert value == pytest.approx(function(x), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient, richardson_gradient(function, [x], 0), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_reversed_and_negative_ranges_cover_every_length(n):
    """The rewritten bounds of reversed(range(a, b, k)) visit Python's numbers for short and odd lengths."""
    x = RNG.normal(size=n)
    for name in ("reversed_recurrence", "negative_steps", "stepped_comprehension"):
        value, gradient = sg.value_and_grad(getattr(NUMPY, name))(x)
        expected_value, expected_gradient = jax.value_and_grad(getattr(JAX, name))(x)
        assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(gradient, np.asarray(expected_gradient), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 2, 6])
def test_counted_whiles_run_as_many_times_as_python_for_every_count(n):
    x = RNG.normal(size=N)
    value, (gradient,) = sg.value_and_grad(NUMPY.counted_whiles, wrt=(0,))(x, n)
    expected_value, (expected,) = jax.value_and_grad(JAX.counted_whiles, argnums=(0,))(x, n)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient, np.asarray(expected), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_a_comprehension_over_an_empty_range_makes_an_empty_array(n):
    x = RNG.normal(size=n)
    value, gradient = sg.value_and_grad(NUMPY.neighbour_products)(x)
    assert value == NUMPY.neighbour_products(x)
    np.testing.assert_allclose(gradient, [x[1], x[0]] if n == 2 else np.zeros(n))


def test_a_comprehension_array_is_one_loop_not_an_unrolled_expression():
    source = sg.value_and_grad(NUMPY.neighbour_products).source()
    value_kernel = source[source.index("def value("):source.index("def grad(")]
    assert value_kernel.count("for ") <= 2  # (n is unknown when lifting: nothing to unroll)
    value, _ = sg.value_and_grad(NUMPY.neighbour_products)(np.arange(200.0))
    assert value == NUMPY.neighbour_products(np.arange(200.0))


REFUSED = '''
def lambda_in_a_call(x):
    return helper(lambda t: t**2, x[0])

def helper(g, v):
    return g(v)

def list_comprehension_as_a_value(x):
    d = [xi**2 for xi in x]
    return d[0]

def filtered_max(x):
    return max(xi for i, xi in enumerate(x) if i > 0)

def filtered_array(x):
    return np.sum(np.array([xi for xi in x if xi > 0]))

def array_of_two_ranges(x):
    n = len(x)
    return np.sum(np.array([x[i]*x[j] for i in range(n) for j in range(n)]))

def list_filtered_by_the_data(x):
    return np.sum(np.concatenate([a for a in (x, 2*x) if a[0] > 0]))

def masked_store_of_another_array(x):
    out = np.zeros_like(x)
    out[x > 0] = np.sin(x)
    return np.sum(out)

def max_over_a_triangle(x):
    n = len(x)
    return max(x[i] * x[j] for i in range(n) for j in range(i))

def inverted_floats(x):
    return np.sum(~x)

def zip_of_an_array(x):
    return sum(a for (a,) in zip(*x))

def iterated_until_converged(x):
    y = x[0]
    while abs(y * y - x[1]) > 1e-12:
        y = 0.5 * (y + x[1] / y)
    return y

def counter_changed_first(x):
    s = 0.0
    i = 0
    while i < len(x):
        i += 1
        s += x[i - 1]
    return s

def counter_read_after_the_loop(x):
    s = 0.0
    i = 0
    while i < len(x):
        s += x[i]
        i += 1
    return s * i

def bound_changed_in_the_loop(x):
    s = 0.0
    i = 0
    n = len(x)
    while i < n:
        s += x[i]
        n = n - 1
        i += 1
    return s

def while_up_to_a_float(x):
    s = 0.0
    i = 0
    while i < x[0]:
        s += x[i]
        i += 1
    return s

def loop_variable_read_after_the_loop(x):
    s = 0.0
    i = 0
    for i in range(len(x)):
        s += x[i]
    return s * x[i]

def the_advice_of_a_converging_while(x):
    y = x[0]
    for _ in range(60):
        if abs(y * y - x[1]) > 1e-12:
            y = 0.5 * (y + x[1] / y)
    return y

def the_advice_of_filtered_max(x):
    best = -math.inf
    for i in range(len(x)):
        if i > 0:
            best = max(best, x[i])
    return best
'''
REFUSING = write_module("import math\nimport numpy as np\n" + REFUSED, name="python_spellings_refused")
REFUSED_LINES = {node.name: node.lineno + 2 for node in ast.parse(REFUSED).body}  # (after the two imports)


@pytest.mark.parametrize("name, words", [
    ("lambda_in_a_call", "`lambda` that is not bound to a name"),
    ("list_comprehension_as_a_value", "wrap it in np.array"),
    ("filtered_max", "best = -math.inf"),
    ("filtered_array", "np.where"),
    ("array_of_two_ranges", "range(n * m)"),
    ("list_filtered_by_the_data", "depends on the data"),
    ("masked_store_of_another_array", "x[m] with the same spelling of the mask"),
    ("max_over_a_triangle", "nested `for` loops with `best = max(best, <element>)`"),
    ("inverted_floats", "not an array of conditions"),
    ("zip_of_an_array", "unpacks a tuple or list of arrays"),
    ("iterated_until_converged", "use `for _ in range(m)` with a fixed count m, its body under `if`"),
    ("counter_changed_first", "as the body's last statement"),
    ("counter_read_after_the_loop", "is the counter of the `while` loop above"),
    ("bound_changed_in_the_loop", "the only one changing i or n"),
    ("while_up_to_a_float", "condition 'i < x[0]' compares a counter or a bound that is not an integer"),
    ("loop_variable_read_after_the_loop", "compute it from the range (n - 1 after `for i in range(n)`)"),
])
def test_refusals_name_the_line_and_what_to_write(name, words):
    with pytest.raises(sg.UnsupportedSyntaxError) as info:
        sg.grad(getattr(REFUSING, name))(RNG.normal(size=N))
    assert words in str(info.value)
    assert info.value.filename.endswith("python_spellings_refused.py") and info.value.lineno > 1
    assert info.value.offset >= 1


def test_a_size_tested_against_1_raises_when_it_is_1():
    """The `if` on a size is lifted for the size other than 1 (as broadcasting is); a size of 1 raises ValueError
    naming the line, never the other side's arrays silently."""
    function = sg.grad(NUMPY.one_column_treated_apart, wrt=1)
    with pytest.raises(ValueError, match=r"the `if` on line \d+ is lifted for y_prob.shape\[1\] other than 1"):
        function(np.ones((4, 1)), np.full((4, 1), 0.5))


def test_the_advice_for_a_filtered_max_lifts_and_is_right():
    x = RNG.normal(size=N)
    function = REFUSING.the_advice_of_filtered_max
    value, gradient = sg.value_and_grad(function)(x)
    assert value == max(x[1:])
    expected = np.zeros(N)
    expected[1 + np.argmax(x[1:])] = 1.0
    np.testing.assert_array_equal(gradient, expected)


def test_the_advice_for_a_converging_while_lifts_and_is_right():
    x = np.array([1.0, 2.0])
    value, gradient = sg.value_and_grad(REFUSING.the_advice_of_a_converging_while)(x)
    assert value == pytest.approx(np.sqrt(2.0), rel=1e-14)
    np.testing.assert_allclose(gradient, [0.0, 0.5 / np.sqrt(2.0)], rtol=1e-10, atol=1e-12)  # (d sqrt(a) / da)


def test_the_loop_variable_after_a_kept_loop_is_refused_not_its_value_before():
    """Once the value of `i` before the loop (0) was read after it, where Python reads the last (n - 1)."""
    with pytest.raises(UndefinedNameError) as info:
        sg.grad(REFUSING.loop_variable_read_after_the_loop)(RNG.normal(size=N))
    assert info.value.lineno == REFUSED_LINES["loop_variable_read_after_the_loop"] + 5


def test_a_lambda_inside_a_dict_is_refused_with_its_place(tmp_path):
    module = write_module('''
        losses = {
            "square": lambda x: x**2,
        }
    ''', directory=tmp_path)
    with pytest.raises(sg.UnsupportedSyntaxError) as info:
        sg.grad(module.losses["square"])(3.0)
    assert "define it with `def" in str(info.value)
    assert (info.value.lineno, info.value.offset) == (3, 15)


TRUTH = write_module('''
import numpy as np

def truth_tests(x, t):
    return (float(np.all(x > 0)) + 2*float(np.any(x > 1.5)) + 4*float(np.isnan(x[0])) + 8*float(np.isinf(x[1]))
            + 16*float(np.all(np.isfinite(x))) + 32*float(np.all(x)) + 64*float(np.any(np.isnan(x))) + t)
''', name="python_spellings_truth")


@pytest.mark.parametrize("x", [np.array([np.nan, 1.0, 2.0]), np.array([1.0, np.nan, np.inf]),
                               np.array([np.inf, 1.0, -np.inf]), np.array([-6.0, 1.0, 2.0])])
def test_predicates_follow_numpy_at_nan_and_inf(x):
    """Each test decides as NumPy does, NaN and infinities included (a NaN is true, and not `<= 0`)."""
    value, gradient = sg.value_and_grad(TRUTH.truth_tests, wrt="t")(x, 0.5)
    with np.errstate(invalid="ignore"):
        assert value == TRUTH.truth_tests(x, 0.5)
    assert gradient == 1.0


def test_argmax_takes_the_first_of_equal_elements_and_a_nan_as_numpy_does():
    function = NUMPY.selected_by_argmax
    for x in (np.array([1.0, 3.0, 3.0, -2.0, -2.0]), np.array([1.0, np.nan, 3.0, np.nan, 0.0])):
        w = np.arange(5.0)
        value, _ = sg.value_and_grad(function, wrt=(0, 1))(x, w)
        np.testing.assert_equal(value, function(x, w))


def test_hessian_through_an_argmax_index_matches_central_differences():
    """The Hessian's pattern takes a read at an index the floats decide as a read of any element."""
    source = write_module('''
import numpy as np

def peaked(x):
    k = np.argmax(x)
    return np.sum(x**3) + x[k]**2 * x[k - 1] + np.sum(np.isnan(x))
''', name="python_spellings_hessian")
    x = np.array([0.3, 1.2, -0.4, 0.8])
    gradient = sg.grad(source.peaked)
    expected = np.array([richardson_gradient(lambda y: gradient(y)[j], [x], 0) for j in range(len(x))])
    np.testing.assert_allclose(sg.hessian(source.peaked)(x), expected, rtol=1e-7, atol=1e-9)


def layers_over_a_written_list(W1, b1, W2, b2, X):
    """`for` over a list or tuple written out in the loop: layers as tuples, arrays, numbers (unrolled)."""
    h = X
    for W, b in [(W1, b1), (W2, b2)]:
        h = np.tanh(h @ W + b)
    s = 0.0
    for v in (W1, W2):
        s += np.sum(v ** 2)
    for c in [0.5, 1.5]:
        s += c * np.sum(h)
    return np.sum(h ** 2) + s


def test_a_loop_over_a_written_list_of_layers_matches_jax():
    jnp = jax.numpy
    twin = {**layers_over_a_written_list.__globals__, "np": jnp}
    twin_function = type(layers_over_a_written_list)(layers_over_a_written_list.__code__, twin)
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)), rng.normal(size=2),
            rng.normal(size=(5, 3)))
    value, gradient = sg.value_and_grad(layers_over_a_written_list, wrt=(0, 1, 2, 3))(*args)
    expected_value, expected = jax.value_and_grad(twin_function, argnums=(0, 1, 2, 3))(*args)
    assert value == pytest.approx(float(expected_value), rel=1e-13)
    for ours, theirs in zip(gradient, expected):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-14)


# --- rounding: Python's ints and NumPy's floats ----------------------------------------------------------------
def table_lookup_by_floor(table, t, h):
    """Linear interpolation in a table, its cell found with math.floor (an int, as in Python)."""
    k = math.floor(t / h)
    w = t / h - k
    return (1 - w) * table[k] ** 2 + w * table[k + 1] ** 2


def table_lookup_by_int(table, t, h):
    """The same cell found with int() of a float (toward zero), and with int(np.floor(...)) for the next one."""
    k = int(t / h)
    j = int(np.floor(t / h)) + 1
    w = t / h - k
    return (1 - w) * table[k] * t + w * table[j]


def rounded_terms(x, s):
    """NumPy's rounding functions (floats) elementwise and Python's round and math.ceil (ints) of a scalar."""
    return (np.sum(np.round(x * s, 2) * x) + np.sum(np.rint(x) * np.floor(x) * x) + round(s) * s
            + math.ceil(s) * np.sum(np.trunc(x * 3) * x) + np.sum(np.fix(x) * np.around(x) * x))


def test_a_table_cell_found_with_math_floor_or_int_indexes_and_matches_the_hand_derivative():
    """Both gave a kernel Numba could not compile (a float index), and int() of a float was refused with advice,
    math.floor, that failed the same way."""
    table, t, h = np.array([0.3, 1.7, 2.5, -1.2, 3.3]), 0.73, 0.25
    k = 2  # floor(0.73 / 0.25)
    w = t / h - k
    value, (d_table, d_t) = sg.value_and_grad(table_lookup_by_floor, wrt=(0, 1))(table, t, h)
    assert value == pytest.approx(table_lookup_by_floor(table, t, h), rel=1e-14)
    expected = np.zeros(5)
    expected[k], expected[k + 1] = 2 * (1 - w) * table[k], 2 * w * table[k + 1]
    np.testing.assert_allclose(d_table, expected, rtol=1e-14)
    assert d_t == pytest.approx((table[k + 1] ** 2 - table[k] ** 2) / h, rel=1e-14)
    value, (d_table, d_t) = sg.value_and_grad(table_lookup_by_int, wrt=(0, 1))(table, t, h)
    assert value == pytest.approx(table_lookup_by_int(table, t, h), rel=1e-14)
    expected = np.zeros(5)
    expected[k], expected[k + 1] = (1 - w) * t, w
    np.testing.assert_allclose(d_table, expected, rtol=1e-14)
    assert d_t == pytest.approx(-table[k] * t / h + (1 - w) * table[k] + table[k + 1] / h, rel=1e-13)


def test_int_of_a_negative_float_truncates_toward_zero_as_python_does():
    table = np.arange(1.0, 6.0)
    assert sg.value_and_grad(table_lookup_by_int)(table, -0.3, 0.25)[0] == \
        pytest.approx(table_lookup_by_int(table, -0.3, 0.25), rel=1e-14)  # k = int(-1.2) = -1: the last element


@pytest.mark.parametrize("t, error", [(float("nan"), ValueError), (float("inf"), OverflowError)])
def test_an_int_of_nan_or_of_an_infinity_raises_as_python_does(t, error):
    with pytest.raises(error):
        table_lookup_by_floor(np.ones(5), t, 0.25)  # (Python's own error, of the same class)
    with pytest.raises(error):
        sg.value_and_grad(table_lookup_by_floor)(np.ones(5), t, 0.25)


def test_an_int_past_int64_raises_where_pythons_would_grow_never_wraps():
    def scaled_by_floor(x, t):
        return x * math.floor(t)

    assert sg.grad(scaled_by_floor)(2.0, 1e18) == scaled_by_floor(1.0, 1e18)
    with pytest.raises(OverflowError, match="past 2\\*\\*63"):
        sg.grad(scaled_by_floor)(2.0, 1e19)


def test_rounding_functions_give_numpys_values_and_a_zero_derivative_through_themselves():
    x, s = np.array([0.3, 1.7, 2.5, -1.2, 3.5, -2.5, 0.125]), 2.5
    value, (d_x, d_s) = sg.value_and_grad(rounded_terms, wrt=(0, 1))(x, s)
    assert value == pytest.approx(rounded_terms(x, s), rel=1e-14)
    expected = np.round(x * s, 2) + np.rint(x) * np.floor(x) + 3 * np.trunc(x * 3) + np.fix(x) * np.around(x)
    np.testing.assert_allclose(d_x, expected, rtol=1e-14)
    assert d_s == round(s)  # (2, half to even: the terms rounded elementwise contribute nothing)


def test_a_numpy_rounding_used_as_an_index_is_refused_with_the_int_spelling():
    def indexed_by_np_floor(x, t):
        return x[np.floor(t)]

    with pytest.raises(sg.UnsupportedSyntaxError, match=r"int\(\.\.\.\) or math.floor"):
        sg.grad(indexed_by_np_floor)(np.ones(3), 1.5)
    with pytest.raises(IndexError):  # (NumPy refuses a float index too)
        indexed_by_np_floor(np.ones(3), 1.5)


def test_round_with_digits_is_refused_for_np_round_whose_advice_lifts():
    def python_digits(x):
        return round(x, 2) * x

    def numpy_digits(x):
        return np.round(x, 2) * x

    with pytest.raises(sg.UnsupportedSyntaxError, match=r"np.round\(x, ndigits\)"):
        sg.grad(python_digits)(1.2345)
    assert sg.grad(numpy_digits)(1.2345) == 1.23


# --- lists and tuples of numbers, products, divmod, fmod --------------------------------------------------------
def reductions_of_displays(x, y):
    """A list or tuple of computed numbers reduced as Python and NumPy reduce it, bound to a name and read."""
    terms = [x[0] * y, np.sin(x[1]), 2.0]
    pair = (x[2], y * y)
    return (sum([x[0], x[1], y]) + max([x[0] * y, x[2]]) + np.mean([x[0], y]) + math.prod([x[0], x[2], y])
            + np.sum(terms) + terms[1] * x[2] + np.array(terms) @ x[:3] + sum(pair) + min(pair) + math.prod(pair)
            + np.sum(np.zeros([2, len(x)]) + x))


def products_of_comprehensions(x):
    return (math.prod(x) + math.prod(x[i] ** 2 for i in range(len(x)) if i % 2 == 0)
            + np.prod([x[i] + 1 for i in range(len(x))]))


def quotients_and_remainders(x, y):
    q, r = divmod(len(x), 2)
    a, b = divmod(y, 0.7)
    return x[q] * a + b * x[r] + np.fmod(y, 0.3) * x[0] + np.sum(np.fmod(x * y, 0.4) * x)


def test_lists_and_tuples_of_computed_numbers_reduce_as_in_python_and_match_jax():
    """`sum([a, b])`, `np.mean([a, b])`, `max((a, b))` and a named list were refused (only lists of literals were
    taken); they are arrays, as NumPy reads them.  (JAX takes no lists: central differences.)"""
    x, y = np.array([0.3, 1.7, 2.5, -1.2]), 1.9
    value, gradient = sg.value_and_grad(reductions_of_displays, wrt=(0, 1))(x, y)
    assert value == pytest.approx(reductions_of_displays(x, y), rel=1e-14)
    for position, ours in enumerate(gradient):
        np.testing.assert_allclose(ours, richardson_gradient(reductions_of_displays, [x, y], position), rtol=1e-8)


def test_math_prod_of_an_array_and_of_a_filtered_comprehension_matches_jax():
    """A filtered term of a product is 1, not 0."""
    def twin(x):
        return (jax.numpy.prod(x) + jax.numpy.prod(x[::2] ** 2) + jax.numpy.prod(x + 1))

    x = np.array([0.3, 1.7, 2.5, -1.2, 3.5])
    value, gradient = sg.value_and_grad(products_of_comprehensions)(x)
    expected_value, expected = jax.value_and_grad(twin)(x)
    assert value == pytest.approx(products_of_comprehensions(x), rel=1e-14)
    assert value == pytest.approx(float(expected_value), rel=1e-14)
    np.testing.assert_allclose(gradient, np.asarray(expected), rtol=1e-13)


def test_divmod_and_fmod_are_pythons_and_cs_with_the_hand_derivative():
    x, y = np.array([0.3, 1.7, 2.5, -1.2, 3.5]), -1.9
    value, (d_x, d_y) = sg.value_and_grad(quotients_and_remainders, wrt=(0, 1))(x, y)
    assert value == pytest.approx(quotients_and_remainders(x, y), rel=1e-14)
    a, b = divmod(y, 0.7)  # (-3.0, 0.2: Python's, with the sign of the divisor; np.fmod keeps the sign of y)
    expected = np.fmod(x * y, 0.4) + x * y  # d/dx_i of fmod(x_i y, 0.4) x_i
    expected[2] += a
    expected[1] += b
    expected[0] += np.fmod(y, 0.3)
    np.testing.assert_allclose(d_x, expected, rtol=1e-13)
    assert d_y == pytest.approx(x[1] + x[0] + np.sum(x * x), rel=1e-13)  # (b = y - 0.7 a: slope 1)


def signs_copied(x, y):
    return math.copysign(x, y) * y + math.copysign(2.0, x - 1.0) * x + math.copysign(x * y, -1.0)


@pytest.mark.parametrize("x, y", [(0.7, -1.3), (-0.4, 2.5), (1.6, 0.8), (-2.0, -0.5)])
def test_copysign_is_maths_with_the_hand_derivative(x, y):
    """math.copysign (and np.copysign) were refused as unknown functions.  d/dx copysign(x, y) = sign(x) sign(y)."""
    value, (d_x, d_y) = sg.value_and_grad(signs_copied, wrt=(0, 1))(x, y)
    assert value == signs_copied(x, y)
    sign = np.sign
    assert d_x == pytest.approx(sign(x) * sign(y) * y + math.copysign(2.0, x - 1.0) - sign(x * y) * y, rel=1e-14)
    assert d_y == pytest.approx(math.copysign(x, y) - sign(x * y) * x, rel=1e-14)


def test_copysign_of_a_literal_negative_zero_is_refused_not_read_as_positive():
    """SymPy has no -0.0: copysign(2.0, -0.0) read as copysign(2.0, 0.0) was +2.0, where Python gives -2.0."""
    module = write_module("import math\n\ndef f(x):\n    return math.copysign(2.0, -0.0) * x\n", name="negative_zero")
    with pytest.raises(sg.UnsupportedSyntaxError, match="write -1.0"):
        sg.grad(module.f)(1.5)
    d_y = sg.grad(signs_copied, wrt=1)(1.5, -0.0)  # (a -0.0 argument keeps its sign: copysign(1.5, -0.0) = -1.5)
    assert d_y == math.copysign(1.5, -0.0) - np.sign(1.5 * -0.0) * 1.5 == -1.5


@pytest.mark.parametrize("source", ["[1.0, 2.0] + [3.0]", "[x[0], y] * 2", "d + [y]", "-d", "d * y"])
def test_arithmetic_on_python_lists_is_refused_where_numpy_would_differ(source, tmp_path):
    """`[1.0, 2.0] + [3.0]` is a list of three in Python and was added elementwise (broadcast) as arrays: a
    wrong value.  A list with a NumPy array is NumPy's, and taken."""
    module = write_module(f"import numpy as np\n\ndef f(x, y):\n    d = [x[0], y]\n"
                          f"    return np.sum(np.array({source})) * x[1]\n", name="list_arithmetic")
    with pytest.raises(sg.UnsupportedSyntaxError, match="arithmetic on a Python list"):
        sg.grad(module.f)(np.array([0.5, 2.0]), 1.5)


def test_a_list_with_an_array_is_numpys_arithmetic():
    def scaled(x, y):
        return np.sum(x * [y, 2.0] + [1.0, y])

    x = np.array([0.5, 2.0])
    assert sg.value_and_grad(scaled, wrt=(0, 1))(x, 1.5)[1][1] == pytest.approx(x[0] + 1.0, rel=1e-15)


def squares_appended(x):
    terms = []
    for i in range(len(x)):
        terms.append(x[i] ** 2)
    return sum(terms)


def differences_appended(x):
    out = []
    for i in range(len(x) - 1):
        out.append(x[i + 1] - x[i])
    d = np.array(out)
    return np.sum(d ** 2) + out[0] + np.dot(out, x[1:]) + len(out) + out[-1] * np.std(out)


def numbers_appended_outside_a_loop(x):
    terms = []
    terms.append(x[0] * x[1])
    terms.append(np.sin(x[2]))
    exps = []
    for v in x:
        exps.append(math.exp(v))
    total = 0.0
    for e in exps:
        total += e * e
    return np.mean(terms) + max(terms) + total


@pytest.mark.parametrize("function", [squares_appended, differences_appended, numbers_appended_outside_a_loop])
def test_numbers_appended_to_a_list_match_central_differences(function):
    """`terms.append(x[i] ** 2)` then `sum(terms)` was refused (lists held arrays only): a list of numbers appended
    once per iteration is a vector of the loop's length."""
    x = np.array([0.3, 1.7, 2.5, -1.2])
    value, gradient = sg.value_and_grad(function)(x)
    assert value == pytest.approx(function(x), rel=1e-13)
    np.testing.assert_allclose(gradient, richardson_gradient(function, [x], 0), rtol=1e-8)


def test_a_list_appended_to_in_a_loop_that_does_not_run_is_empty():
    def counted(x, n):
        out = []
        for i in range(n):
            out.append(x[i] ** 2)
        return sum(out) + 1.0

    gradient = sg.value_and_grad(counted, wrt=(0,))
    value, (x_bar,) = gradient(np.ones(3), 0)
    assert value == 1.0
    np.testing.assert_array_equal(x_bar, np.zeros(3))
    np.testing.assert_array_equal(gradient(np.ones(3), 2)[1][0], [2.0, 2.0, 0.0])  # (d/dx_i x_i ** 2)


def test_a_list_read_inside_the_loop_that_appends_to_it_is_refused_with_a_rewrite():
    def reads_back(x):
        out = []
        for i in range(len(x)):
            out.append(x[i] * 2.0)
            s = sum(out)
        return s

    with pytest.raises(sg.UnsupportedSyntaxError, match="inside the loop that appends to it"):
        sg.grad(reads_back)(np.ones(3))


def _append_to(values, v):
    values.append(v * 2.0)
    return 0.0


def test_an_append_another_name_or_the_caller_would_not_see_is_refused():
    """symgrad's append makes a new list; Python's grows the one list every name bound to it sees."""
    def through_an_alias(x):
        terms = []
        alias = terms
        terms.append(x[0])
        return sum(alias)

    def in_a_helper(x):
        terms = []
        _ = _append_to(terms, x[0])
        return sum(terms) + x[1]

    with pytest.raises(sg.UnsupportedSyntaxError, match="also bound to 'alias'"):
        sg.grad(through_an_alias)(np.ones(2))
    with pytest.raises(sg.UnsupportedSyntaxError, match="a list the caller passed"):
        sg.grad(in_a_helper)(np.ones(2))


# --- found by probing the spellings above (each failed before its fix) ------------------------------------------
def cents_lookup(x, table):
    return table[int(np.round(x, 2) * 100)] * x


def branch_on_a_rounded_value(x):
    if np.round(x, 1) == 0.3:
        return x
    return 2.0 * x


@pytest.mark.parametrize("x", [0.57, 1.13, 2.01, 0.3, 0.28, -0.125, 2.675])
def test_np_round_to_decimals_is_numpys_to_the_last_bit(x):
    """np.round(x, 2) was rint(100 x) * 0.01, which is not NumPy's rint(100 x) / 100 in the last bit: 0.57 gave
    56 cents, and `np.round(0.3, 1) == 0.3` was false."""
    table = np.arange(300.0)
    assert sg.value_and_grad(cents_lookup)(x, table) == (cents_lookup(x, table), table[int(np.round(x, 2) * 100)])
    assert sg.value_and_grad(branch_on_a_rounded_value)(x) == (branch_on_a_rounded_value(x),
                                                               1.0 if np.round(x, 1) == 0.3 else 2.0)


def test_np_round_to_many_decimals_compiles():
    """np.round(v, 20) of an array made the int literal 10**20, which Numba could not compile."""
    def rounded_finely(v):
        return np.sum(np.round(v, 20) * v)

    v = np.array([1.5, -0.25])
    value, gradient = sg.value_and_grad(rounded_finely)(v)
    assert value == rounded_finely(v)
    np.testing.assert_array_equal(gradient, np.round(v, 20))


def table_at_int(x, table):
    return table[int(x)] * x + table[math.floor(x)] * x + table[round(x)]


def test_an_index_made_by_int_of_a_float_argument_inline_is_taken():
    """`table[int(x)]` with a float x was refused: the kinds read every name inside an index as an int."""
    table = np.arange(6.0) ** 2
    value, (x_bar, table_bar) = sg.value_and_grad(table_at_int, wrt=(0, 1))(2.3, table)
    assert value == table_at_int(2.3, table)
    assert x_bar == 2 * table[2]
    np.testing.assert_array_equal(table_bar, [0.0, 0.0, 2 * 2.3 + 1.0, 0.0, 0.0, 0.0])


def lists_of_arrays_and_casts(x, a, v, table):
    parts = [x * a, x ** 2]
    rows = []
    for i in range(3):
        rows.append(x * (a + i))
    terms = [a]
    terms.extend([a * a, 2.0])
    index = np.floor(v).astype(int)
    return (np.sum(parts[0] * parts[1]) + np.sum(np.array(rows) @ x) + rows[1][0] + sum([a, x[0]], 10.0)
            + sum(terms) + np.sum(table[index] * v) + np.sum(np.tile(a, 3) * x) + np.sum(np.repeat(a, 2)))


def test_lists_of_arrays_extend_astype_and_tiles_of_a_number_match_central_differences():
    """Each was refused with advice that was wrong or beside the point: `parts[0]` ("a number, not an array"),
    `np.array(rows)` ("pass arrays as arguments"; NumPy stacks them), `sum([a, b], 10.0)`, `terms.extend([...])`,
    `np.floor(v).astype(int)` ("'int' is a type"), and `np.tile(a, 3)` of a float (taken for an array)."""
    x, a, v, table = np.array([0.5, -1.5, 2.0]), 0.7, np.array([0.5, 2.5, 4.2]), np.arange(5.0) ** 2
    value, gradient = sg.value_and_grad(lists_of_arrays_and_casts, wrt=(0, 1, 2))(x, a, v, table)
    assert value == pytest.approx(lists_of_arrays_and_casts(x, a, v, table), rel=1e-14)
    for position, ours in enumerate(gradient):
        np.testing.assert_allclose(ours, richardson_gradient(lists_of_arrays_and_casts, [x, a, v, table], position),
                                   rtol=1e-8, atol=1e-10)


def test_a_helper_called_for_its_side_effect_is_refused_with_advice_to_return_the_value():
    def add_square(values, v):
        values.append(v * v)

    def squares(a, b):
        terms = []
        add_square(terms, a)
        return sum(terms) + b

    with pytest.raises(sg.UnsupportedSyntaxError, match=r"values.append to a list the caller passed.*return the "
                                                        r"value and append it in the caller"):
        sg.grad(squares)(1.0, 2.0)


def shapes_as_lists(x):
    n = len(x)
    return (np.sum(np.reshape(x, [2, -1])[0] ** 2) + np.sum(x.reshape([2, 3])[1] * 2.0) + np.sum(np.ones([n]) * x)
            + np.sum(np.full([2, 2], x[0])) + np.sum(np.transpose(x.reshape(2, 3), [1, 0])[0] * x[:2]))


def test_shapes_and_axes_written_as_lists_are_numpys():
    """`np.ones([n])` raised AttributeError from inside symgrad, and `x.reshape([2, 3])`, `np.transpose(A, [1, 0])`
    were refused, once a list display of numbers became an array."""
    x = np.arange(1.0, 7.0)
    value, gradient = sg.value_and_grad(shapes_as_lists)(x)
    assert value == shapes_as_lists(x)
    np.testing.assert_allclose(gradient, richardson_gradient(shapes_as_lists, [x], 0), rtol=1e-9)


def _pair(x):
    return x * 2.0, np.sin(x)


def read_from_a_helpers_tuple(x):
    return np.sum(_pair(x)[1] * _pair(x)[0])


def test_an_element_of_a_tuple_a_helper_returns_is_read():
    """`pair(x)[1]` was refused as "indexing a number" (found by probing)."""
    x = np.array([0.3, -1.2, 2.0])
    value, gradient = sg.value_and_grad(read_from_a_helpers_tuple)(x)
    assert value == pytest.approx(read_from_a_helpers_tuple(x), rel=1e-15)
    np.testing.assert_allclose(gradient, 2.0 * np.sin(x) + 2.0 * x * np.cos(x), rtol=1e-14)


def test_the_advice_for_an_update_through_indices_is_numpys_and_right_when_followed():
    """The advice said an array of indices does not write, which `y[idx] = ...` does, and suggested a loop whose
    natural `+=` adds a repeated index twice, where NumPy's `y[idx] += v` adds it once."""
    def updated(x, idx):
        y = np.zeros(len(x))
        y[idx] += x[idx] * 2.0
        return np.sum(y * x)

    def as_advised(x, idx):
        y = np.zeros(len(x))
        y[idx] = y[idx] + x[idx] * 2.0
        return np.sum(y * x)

    x, idx = np.array([0.5, -1.0, 2.0]), np.array([2, 0, 2])
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"y\[idx\] = y\[idx\] \+ \.\.\."):
        sg.grad(updated, wrt=(0,))(x, idx)
    value, (x_bar,) = sg.value_and_grad(as_advised, wrt=(0,))(x, idx)
    assert value == updated(x, idx) == as_advised(x, idx)
    np.testing.assert_allclose(x_bar, [4 * x[0], 0.0, 4 * x[2]], rtol=1e-15)  # (d/dx of 2 x_k^2 where k is hit)


def test_an_unknown_function_with_keywords_is_refused_as_unknown():
    """np.trapezoid(y, dx=0.1) was told to pass its keywords by position, which led to another refusal (it is
    taken now: np.insert stands for a function symgrad does not know)."""
    def integral(x):
        return np.sum(np.insert(x ** 2, 0, values=0.1))

    with pytest.raises(sg.UnsupportedSyntaxError, match="which symgrad cannot lift"):
        sg.grad(integral)(np.ones(3))


def masked_store_of_a_masked_sum(x):
    out = np.zeros_like(x)
    out[x > 0] = np.sum(x[x > 0])
    return np.sum(out)


def test_a_masked_sum_stored_through_the_mask_is_numpys():
    """out[x > 0] = np.sum(x[x > 0]) was refused; np.sum over the masked elements is taken now, a number stored
    into every masked element, as NumPy stores it."""
    x = np.array([0.5, -1.0, 2.0, 0.25, -0.5])
    value, gradient = sg.value_and_grad(masked_store_of_a_masked_sum)(x)
    assert value == pytest.approx(masked_store_of_a_masked_sum(x), rel=1e-14)
    np.testing.assert_allclose(gradient, np.where(x > 0, 3.0, 0.0), rtol=1e-14)  # (3 masked elements hold the sum)


def bond_energy(pos, bi, bj):
    e = 0.0
    for b in range(len(bi)):
        i = bi[b]
        j = bj[b]
        e += np.sum((pos[i] - pos[j]) ** 2) + pos[i, 0] * pos[j, 1]
    return e


def bond_energy_zipped(pos, bi, bj):
    e = 0.0
    for i, j in zip(bi, bj):
        e += np.sum((pos[i] - pos[j]) ** 2)
    for k, i in enumerate(bi):
        e += k * pos[i, 1]
    return e


@pytest.mark.parametrize("function", [bond_energy, bond_energy_zipped])
def test_indices_read_from_int_arrays_into_names_index(function):
    """`i = bi[b]` or `for i, j in zip(bi, bj)`, then `pos[i]`: bi and bj are int64 vectors of indices.  They were
    read as float arrays, and `pos[i]` refused as 'not an integer expression' (found by a probe: bond lists)."""
    rng = np.random.default_rng(3)
    pos = rng.standard_normal((5, 2))
    bi, bj = np.array([0, 2, 3, 4], dtype=np.int64), np.array([1, 1, 0, 2], dtype=np.int64)
    value, gradient = sg.value_and_grad(function)(pos, bi, bj)
    assert value == pytest.approx(function(pos, bi, bj), rel=1e-13)
    expected = richardson_gradient(lambda p: function(p, bi, bj), (pos,), 0)
    np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-10)
    with pytest.raises(IndexError):
        sg.value_and_grad(function)(pos, np.array([0, 5], dtype=np.int64), np.array([1, 1], dtype=np.int64))
