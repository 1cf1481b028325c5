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

def masked_store_of_a_masked_sum(x):
    out = np.zeros_like(x)
    out[x > 0] = np.sum(x[x > 0])
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
    ("masked_store_of_a_masked_sum", "np.sum(np.where(m, x, 0.0))"),
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
