"""Refusals and call-time errors of functions over arrays and loops.

A construct outside the subset must raise `sg.UnsupportedSyntaxError` (a `SyntaxError`) pointing at the line of
the offending construct in this file; the expected line is found from a ``# HERE: <name>`` marker comment on that
line, never hard-coded.  Call-time mistakes (wrong ndim, dtype, layout, a non-whole number for an int argument,
arrays too small for the other arguments) raise `TypeError` / `ValueError` naming the argument, never a Numba
traceback and never a wrong number.
"""

import math
import os
import pathlib
import tempfile

import numpy as np
import pytest

import symgrad as sg

os.environ.setdefault("SYMGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="symgrad_test_array_errors_"))

THIS_FILE = pathlib.Path(__file__).resolve()
SOURCE_LINES = THIS_FILE.read_text().splitlines()


def marker_line(marker):
    """The 1-based line that ends with ``# HERE: <marker>`` (exactly one)."""
    found = [k + 1 for k, line in enumerate(SOURCE_LINES) if line.rstrip().endswith(f"# HERE: {marker}")]
    assert len(found) == 1, f"marker {marker!r} found on lines {found}"
    return found[0]


def refusal(function, wrt=0):
    """The UnsupportedSyntaxError raised when symgrad first derives `function` (at its first call)."""
    transform = sg.grad(function, wrt=wrt)
    with pytest.raises(sg.UnsupportedSyntaxError) as caught:
        transform.latex()
    return caught.value


def assert_points_at(error, marker, *words):
    assert isinstance(error, SyntaxError)
    assert pathlib.Path(error.filename).resolve() == THIS_FILE
    assert error.lineno == marker_line(marker), f"{error} points at line {error.lineno}"
    assert isinstance(error.offset, int) and error.offset >= 1
    assert str(error.lineno) in str(error)  # the message itself shows file:line:column
    message = str(error).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in {error}"


# --------------------------------------------------------------------------------------------------------------
# Functions outside the subset; the offending line carries a marker.
# --------------------------------------------------------------------------------------------------------------

def float_variable_index(x, w):
    m = w * 2.0
    return x[m] * w  # HERE: float-variable-index


def half_index(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i * 0.5]  # HERE: half-index
    return s


def division_index(x):
    s = 0.0
    for i in range(len(x) // 2):
        s += x[i / 2]  # HERE: division-index
    return s


def float_index_2d(A, w):
    return A[0, w * 1.5] + w  # HERE: float-index-2d


def bound_from_data(x):
    n = x[0] * 3.0
    s = 0.0
    for i in range(n):  # HERE: bound-from-data
        s += x[i]
    return s


def bound_from_float_argument(x, w):
    s = 0.0
    scaled = w * 2.0
    for i in range(len(x) - scaled):  # HERE: bound-from-float-argument
        s += x[i] * w
    return s


def stop_from_differentiated_value(x, w):
    s = 0.0
    for i in range(1, len(x) + w):
        s += x[i] * 2.0
    return s


def writes_argument(x):
    x[0] = 1.0  # HERE: writes-argument
    return x[0] * x[1]


def accumulates_into_argument(x):
    s = 0.0
    for i in range(len(x)):
        x[i] += 1.0  # HERE: accumulates-into-argument
        s += x[i]
    return s


def writes_2d_argument(A):
    for i in range(A.shape[0]):
        A[i, i] = 0.0  # HERE: writes-2d-argument
    return np.sum(A)


def returns_in_loop(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i]
        return s  # HERE: returns-in-loop
    return s


def step_from_argument(x, k):
    s = 0.0
    for i in range(0, len(x), k):  # HERE: step-from-argument
        s += x[i]
    return s


def returns_array(x):
    h = np.zeros_like(x)
    return h  # HERE: returns-array


def four_indices(x):
    return x[0, 1, 2, 3]  # HERE: four-indices


def indexes_a_number(x, w):
    return x[0] * w[0]


def _helper_writes_its_array(v):
    v[0] = 0.0  # HERE: helper-writes-its-array
    return v[1]


def calls_writing_helper(x):
    return _helper_writes_its_array(x) * x[0]


def _helper_with_float_index(v, t):
    return v[t * 0.5]  # HERE: helper-float-index


def calls_helper_with_float_index(x):
    s = 0.0
    for i in range(len(x)):
        s += _helper_with_float_index(x, i)
    return s


REFUSALS = [
    (float_variable_index, "float-variable-index", ("index", "integer")),
    (half_index, "half-index", ("index", "integer")),
    (division_index, "division-index", ("index", "integer")),
    (float_index_2d, "float-index-2d", ("index", "integer")),
    (bound_from_data, "bound-from-data", ("range", "integer")),
    (bound_from_float_argument, "bound-from-float-argument", ("range", "integer")),
    (writes_argument, "writes-argument", ("argument", "x")),
    (accumulates_into_argument, "accumulates-into-argument", ("argument", "x")),
    (writes_2d_argument, "writes-2d-argument", ("argument", "A")),
    (returns_in_loop, "returns-in-loop", ("return", "loop")),
    (step_from_argument, "step-from-argument", ("step",)),
    (returns_array, "returns-array", ("array",)),
    (four_indices, "four-indices", ("index",)),
    (calls_writing_helper, "helper-writes-its-array", ("argument",)),
    (calls_helper_with_float_index, "helper-float-index", ("index", "integer")),
]


@pytest.mark.parametrize("function, marker, words", REFUSALS, ids=[r[1] for r in REFUSALS])
def test_refused_with_the_line(function, marker, words):
    error = refusal(function)
    assert_points_at(error, marker, *words)


def test_refusal_is_raised_by_the_first_call_too():
    transform = sg.value_and_grad(half_index)
    with pytest.raises(sg.UnsupportedSyntaxError) as caught:
        transform(np.ones(4))
    assert caught.value.lineno == marker_line("half-index")


def test_specific_error_classes():
    from symgrad import errors

    assert isinstance(refusal(half_index), errors.UnsupportedExpressionError)
    assert isinstance(refusal(bound_from_data), errors.UnsupportedExpressionError)
    assert isinstance(refusal(writes_argument), errors.UnsupportedStatementError)


def test_float_for_an_indexed_argument_names_it():
    # `w[0]` makes w an array argument: a float passed for it is a TypeError naming w.
    transform = sg.value_and_grad(indexes_a_number, wrt=("x", "w"))
    with pytest.raises(TypeError, match="'w'"):
        transform(np.ones(2), 3.0)


# --------------------------------------------------------------------------------------------------------------
# Gradients with respect to int arguments
# --------------------------------------------------------------------------------------------------------------

def int_bound_and_index(x, n, k):
    s = 0.0
    for i in range(n):
        s += x[i] * x[k]
    return s


def test_gradient_wrt_int_arguments_is_refused_naming_them():
    for wrt in ("n", "k", 1, ("x", "k"), ("n", "x")):
        transform = sg.grad(int_bound_and_index, wrt=wrt)
        with pytest.raises(sg.NonDifferentiableArgumentError) as caught:
            transform(np.ones(3), 2, 1)
        name = wrt if isinstance(wrt, str) else "n" if wrt in (1, ("n", "x")) else "k"
        assert f"'{name}'" in str(caught.value)
    assert issubclass(sg.NonDifferentiableArgumentError, TypeError)


def test_differentiated_value_in_a_range_bound_is_refused_naming_it():
    transform = sg.grad(stop_from_differentiated_value, wrt=("x", "w"))
    with pytest.raises(sg.NonDifferentiableArgumentError, match="'w'"):
        transform(np.ones(4), 1)


def test_gradient_wrt_arrays_beside_int_arguments_works():
    transform = sg.grad(int_bound_and_index, wrt="x")
    x = np.array([1.0, 2.0, 3.0, 4.0])
    g = transform(x, 3, 3)
    expected = np.zeros(4)
    expected[:3] += x[3]
    expected[3] += x[:3].sum()
    np.testing.assert_allclose(g, expected, rtol=1e-14)


# --------------------------------------------------------------------------------------------------------------
# Call-time mistakes
# --------------------------------------------------------------------------------------------------------------

def logistic_nll(w, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += math.log(1.0 + math.exp(-z)) + (1.0 - y[i]) * z
    return total / X.shape[0]


def pick(x, k):
    return x[k] ** 2 + x[0]


LOGISTIC = sg.value_and_grad(logistic_nll)
PICK = sg.value_and_grad(pick)
W, X, Y = np.array([0.5, -0.2, 0.1]), np.arange(12.0).reshape(4, 3) / 10, np.array([1.0, 0.0, 1.0, 0.0])


def call_error(transform, *args):
    with pytest.raises((TypeError, ValueError)) as caught:
        transform(*args)
    assert "numba" not in type(caught.value).__module__, f"a Numba error leaked: {caught.value!r}"
    return caught.value


@pytest.mark.parametrize("args, name, kind", [
    ((W.reshape(1, 3), X, Y), "w", TypeError),  # 2-D for a 1-D argument
    ((W, X.ravel(), Y), "X", TypeError),  # 1-D for a 2-D argument
    ((W, X[None], Y), "X", TypeError),  # 3-D
    ((W, X, Y.astype(np.int64)), "y", TypeError),  # integer dtype
    ((W.astype(np.float32), X, Y), "w", TypeError),  # float32
    ((W, X.astype(complex), Y), "X", TypeError),  # complex
    ((W, np.asfortranarray(X), Y), "X", TypeError),  # not C-contiguous
    ((W, X[:, :2], Y), "X", TypeError),  # a non-contiguous view
    ((np.arange(6.0)[::2], X, Y), "w", TypeError),  # a strided 1-D view
    (([0.5, -0.2, 0.1], X, Y), "w", TypeError),  # a list, not an array
    ((W, X, 1.0), "y", TypeError),  # a float for an array
], ids=["2d-for-1d", "1d-for-2d", "3d", "int-dtype", "float32", "complex", "fortran", "column-view",
        "strided-view", "list", "float-for-array"])
def test_wrong_array_argument_names_it(args, name, kind):
    error = call_error(LOGISTIC, *args)
    assert isinstance(error, kind), repr(error)
    assert f"'{name}'" in str(error), str(error)


def test_wrong_argument_for_value_and_grad_kernels_alike():
    for entry in (LOGISTIC.value, sg.grad(logistic_nll)):
        error = call_error(entry, W, np.asfortranarray(X), Y)
        assert isinstance(error, TypeError) and "'X'" in str(error)


@pytest.mark.parametrize("k", [1.5, math.nan, "1", np.ones(1)], ids=["half", "nan", "str", "array"])
def test_non_whole_number_for_int_argument_names_it(k):
    error = call_error(PICK, np.arange(4.0), k)
    assert "'k'" in str(error), str(error)


def test_whole_numbers_for_int_argument_are_accepted():
    x = np.arange(1.0, 5.0)
    for k in (2, np.int64(2), 2.0):
        value, g = PICK(x, k)
        assert value == pytest.approx(pick(x, 2))
        np.testing.assert_allclose(g, [1.0, 0.0, 6.0, 0.0])


def test_array_for_float_argument_names_it():
    transform = sg.grad(stop_from_differentiated_value, wrt="x")
    error = call_error(transform, np.ones(3), np.ones(3))
    assert isinstance(error, TypeError) and "'w'" in str(error)


@pytest.mark.parametrize("args, name", [
    ((W[:2].copy(), X, Y), "w"),  # w shorter than X.shape[1]
    ((np.zeros(0), X, Y), "w"),
    ((W, X, Y[:3].copy()), "y"),  # y shorter than X.shape[0]
], ids=["w-short", "w-empty", "y-short"])
def test_shape_mismatch_raises_value_error_naming_the_argument(args, name):
    for entry in (LOGISTIC, LOGISTIC.value):
        error = call_error(entry, *args)
        assert isinstance(error, ValueError) and isinstance(error, IndexError), repr(error)  # Python's IndexError
        assert f"'{name}'" in str(error), str(error)


def test_index_argument_out_of_range_raises_instead_of_reading_past_the_end():
    for k in (4, 100, -5, math.inf):
        error = call_error(PICK, np.arange(4.0), k)
        assert isinstance(error, ValueError)  # an IndexError too, but for inf, which is no int
        assert "'x'" in str(error) or "'k'" in str(error), str(error)
    value, g = PICK(np.arange(4.0), -1)  # a negative index in range counts from the end, as in Python
    assert value == pytest.approx(pick(np.arange(4.0), -1))
    np.testing.assert_allclose(g, [1.0, 0.0, 0.0, 6.0])


def test_longer_arrays_than_needed_are_fine():
    # Python reads only w[:X.shape[1]]: the extra elements get a zero gradient.
    w = np.array([0.5, -0.2, 0.1, 7.0])
    value, g = LOGISTIC(w, X, Y)
    expected_value, expected = LOGISTIC(W, X, Y)
    assert value == pytest.approx(expected_value, rel=1e-14)
    np.testing.assert_allclose(g, np.append(expected, 0.0), rtol=1e-14)


def test_wrong_argument_count_is_a_type_error():
    error = call_error(LOGISTIC, W, X)
    assert isinstance(error, TypeError)
    error = call_error(LOGISTIC, W, X, Y, Y)
    assert isinstance(error, TypeError)


def loops_over_array(x):
    s = 0.0
    for v in x:
        s += v * v
    return s


def test_a_loop_over_the_elements_of_an_argument_makes_it_an_array():
    """`for v in x` was refused when nothing else said x is an array; it now marks x as one (as a comprehension
    over it does).  The reference is the hand-derived gradient 2x."""
    x = np.array([0.5, -1.5, 2.0])
    value, gradient = sg.value_and_grad(loops_over_array)(x)
    assert value == pytest.approx(float(x @ x), rel=1e-15)
    np.testing.assert_allclose(gradient, 2 * x, rtol=1e-15)
