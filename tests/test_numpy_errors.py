"""Refusals and call-time shape errors of vectorised NumPy (symgrad/frontend/numpy_lowering.py).

A refusal is an `sg.UnsupportedSyntaxError` at the line of the construct (found from its ``# HERE: <name>``
marker), naming what is wrong and what to write instead; where the advice is code, following it works.  Sizes that
depend on the data raise ValueError when the kernel starts, naming the expression, the line and the sizes, never a
wrong number.
"""

import pathlib

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

SOURCE_LINES = pathlib.Path(__file__).read_text().splitlines()
RNG = np.random.default_rng(7)


def marker_line(marker):
    found = [k + 1 for k, line in enumerate(SOURCE_LINES) if line.rstrip().endswith(f"# HERE: {marker}")]
    assert len(found) == 1, f"marker {marker!r} found on lines {found}"
    return found[0]


def refusal(function, *args):
    """The UnsupportedSyntaxError of `function`'s first call with `args`."""
    with pytest.raises(sg.UnsupportedSyntaxError) as caught:
        sg.grad(function)(*args)
    return caught.value


def sizes_never_equal(x):
    return np.sum(x[1:] * x)  # HERE: sizes-never-equal


def sorted_values(A):
    return np.sum(np.sort(A, axis=None) * 2.0)  # HERE: sort


def median_value(A):
    return np.sum(np.median(A))  # HERE: median


def interpolated(x):
    return np.sum(np.interp(x, np.array([0.0, 1.0]), np.array([1.0, 3.0])))  # HERE: interp


def standard_deviation(x):
    return np.std(x)


def standard_deviation_written_out(x):
    return np.sqrt(np.mean((x - np.mean(x))**2))


def gather(x):
    return np.sum(x[x * 2.0])  # HERE: gather


def axis_out_of_range(x):
    return np.sum(x[1:], axis=1)  # HERE: axis-out-of-range


def unknown_keyword(x):
    return np.sum(x, dtype=float)  # HERE: unknown-keyword


def unknown_method(x):
    return x.searchsorted(0.5).sum()  # HERE: unknown-method


def returns_an_array(x):
    return np.exp(x)  # HERE: returns-array


def returns_a_tuple_with_an_array(x):
    return np.sum(x), x[1:]  # HERE: returns-tuple-array


def single_precision_eps(x):
    return np.sum(x) + np.finfo(np.float32).eps  # HERE: finfo-float32


def type_as_number(x):
    return np.sum(x) * x.dtype  # HERE: type-as-number


def array_used_as_number(x):
    return np.exp(x) + 1.0 if x[0] > 0 else 0.0  # HERE: array-as-number


def matmul_of_a_number(x, a):
    return np.sum((2.0 * a) @ x)  # HERE: matmul-number


def slice_step_from_data(x, k):
    return np.sum(x[::k])  # HERE: slice-step


def norm_order(x):
    return np.linalg.norm(x, 3)  # HERE: norm-order


def appends_to_a_started_list(X):
    terms = [X[:, 0]]
    for i in range(1, X.shape[1]):
        terms.append(X[:, i] ** 2)  # HERE: append-started
    return np.sum(np.column_stack(terms))


def appends_to_an_empty_list(X):
    first = X[:, 0]
    terms = []
    for i in range(1, X.shape[1]):
        terms.append(X[:, i] ** 2)
    return np.sum(first) + np.sum(np.column_stack(terms))


def appends_under_an_if(X):
    terms = []
    for i in range(X.shape[1]):
        if i > 0:
            terms.append(X[:, i])  # HERE: append-if
    return np.sum(np.stack(terms))


def appends_in_a_nested_loop(X):
    total = 0.0
    for k in range(X.shape[0]):
        terms = []
        for i in range(X.shape[1]):
            terms.append(X[:, i] * X[k, i])  # HERE: append-nested
        total = total + np.sum(np.column_stack(terms))
    return total


def loops_over_appended_rows(X):
    rows = []
    for i in range(X.shape[1]):
        rows.append(X[:, i] ** 2)
    total = 0.0
    for row in rows:  # HERE: loop-over-appended
        total = total + np.sum(row)
    return total


def list_as_number(x):
    return np.sum([x, x] * 2.0)  # HERE: list-as-number


def upper_pairs(x):
    d = x[:, None] - x[None, :]
    return np.sum(d[np.triu_indices(len(x), 1)] ** 2)  # HERE: triu-indices


def upper_pairs_as_advised(x):
    d = x[:, None] - x[None, :]
    return np.sum(np.triu(d ** 2, 1))


def diagonal_of_an_argument(A):
    np.fill_diagonal(A, 0.0)  # HERE: fill-argument
    return np.sum(A ** 2)


def sorted_in_place(x):
    y = x.copy()
    y.sort()  # HERE: in-place-method
    return np.sum(y * x)


REFUSALS = [
    (sizes_never_equal, "sizes-never-equal", ("x[1:] + x[:-1]", "differ")),
    (sorted_values, "sort", ("axis=None", "A.ravel()")),
    (median_value, "median", ("np.median", "A.ravel()", "axis=")),
    (interpolated, "interp", ("np.interp", "k = min(int((t - xp[0]) / h), len(xp) - 2)")),
    (gather, "gather", ("an int64 array argument of indices", "a float array")),
    (axis_out_of_range, "axis-out-of-range", ("axis=1", "from -1 to 0")),
    (unknown_keyword, "unknown-keyword", ("dtype=", "axis=", "keepdims=")),
    (unknown_method, "unknown-method", (".searchsorted()", ".sum()")),
    (returns_an_array, "returns-array", ("returning an array",)),
    (single_precision_eps, "finfo-float32", ("np.finfo(x.dtype)", "float64")),
    (type_as_number, "type-as-number", ("x.dtype used as a number", "np.finfo(float).eps")),
    (returns_a_tuple_with_an_array, "returns-tuple-array", ("returning an array", "a tuple of numbers")),
    (array_used_as_number, "array-as-number", ("used as a number", "np.sum")),
    (matmul_of_a_number, "matmul-number", ("`@` needs two arrays", "`*`")),
    (slice_step_from_data, "slice-step", ("integer literal",)),
    (norm_order, "norm-order", ("ord=3", "np.inf")),
    (appends_to_a_started_list, "append-started", ("not empty before it", "`terms = []`")),
    (appends_under_an_if, "append-if", ("under an `if`", "np.where")),
    (appends_in_a_nested_loop, "append-nested", ("inside another loop", "made before the loops")),
    (loops_over_appended_rows, "loop-over-appended", ("appended to in a loop", "np.stack")),
    (list_as_number, "list-as-number", ("list of arrays used as a number", "np.stack")),
    (upper_pairs, "triu-indices", ("np.triu_indices", "np.sum(np.triu(D, 1))", "for j in range(i + 1, n)")),
    (diagonal_of_an_argument, "fill-argument", ("writes into a local matrix", "A.copy()")),
    (sorted_in_place, "in-place-method", ("writes into an array", "as assignments")),
]
ARGUMENTS = {appends_to_a_started_list: (np.ones((3, 4)),), appends_under_an_if: (np.ones((3, 4)),),
             appends_in_a_nested_loop: (np.ones((3, 4)),), loops_over_appended_rows: (np.ones((3, 4)),),
             matmul_of_a_number: (np.ones(3), 2.0), diagonal_of_an_argument: (np.ones((3, 3)),),
             slice_step_from_data: (np.ones(4), 2), median_value: (np.ones((3, 4)),),
             sorted_values: (np.ones((3, 4)),)}


@pytest.mark.parametrize("function, marker, words", REFUSALS, ids=[r[1] for r in REFUSALS])
def test_refused_with_the_line_and_the_advice(function, marker, words):
    error = refusal(function, *ARGUMENTS.get(function, (np.ones(4),)))
    assert error.lineno == marker_line(marker), str(error)
    assert pathlib.Path(error.filename).resolve() == pathlib.Path(__file__).resolve()
    for word in words:
        assert word in str(error), (word, str(error))


def test_the_advice_for_triu_indices_is_right_when_followed():
    x = RNG.normal(size=5)
    value, x_bar = sg.value_and_grad(upper_pairs_as_advised)(x)
    assert value == pytest.approx(upper_pairs(x), rel=1e-14)
    np.testing.assert_allclose(x_bar, 2 * (len(x) * x - np.sum(x)), rtol=1e-12)  # (d/dx_k of sum over i < j)


def test_refusal_classes():
    assert isinstance(refusal(sorted_values, np.ones((3, 4))), errors.UnsupportedCallError)
    assert isinstance(refusal(sizes_never_equal, np.ones(3)), errors.UnsupportedExpressionError)


def test_std_and_its_formula_written_out_match_the_derivative_by_hand():
    x = RNG.normal(size=6)
    centred = x - x.mean()
    for function in (standard_deviation, standard_deviation_written_out):
        np.testing.assert_allclose(sg.grad(function)(x), centred / (len(x) * np.std(x)), rtol=1e-12)


def widened_accumulator(X):
    g = 1.0
    for i in range(1, X.shape[1]):
        g += X[:, i] ** 2
    return np.sum(g)


def test_a_number_made_an_array_by_a_loop_needs_the_loop_to_run():
    X = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(sg.grad(widened_accumulator)(X), np.column_stack([np.zeros(3), 2 * X[:, 1:]]),
                               rtol=1e-14)
    with pytest.raises(ValueError, match="must run at least once"):  # Python's g stays 1.0: np.sum(g) is 1.0
        sg.grad(widened_accumulator)(np.ones((3, 1)))


def test_the_advice_for_a_started_list_works_when_followed():
    X = RNG.normal(size=(3, 4))
    gradient = sg.grad(appends_to_an_empty_list)(X)
    np.testing.assert_allclose(gradient, np.column_stack([np.ones(3), 2 * X[:, 1:]]), rtol=1e-14)
    with pytest.raises(ValueError, match="must run at least once"):  # NumPy: "need at least one array to stack"
        sg.grad(appends_to_an_empty_list)(np.ones((3, 1)))


def ridge(w, X, y):
    return np.sum((X @ w - y)**2)  # HERE: ridge


def sums(x, y):
    return np.sum(x * y)  # HERE: sums


def outer_sum(A, b):
    return np.sum(A + b[:, None])  # HERE: outer-sum


@pytest.mark.parametrize("function, args, marker, words", [
    (ridge, (np.ones(5), np.ones((4, 3)), np.ones(4)), "ridge", ("X @ w", "X.shape[1]", "len(w)")),
    (ridge, (np.ones(3), np.ones((4, 3)), np.ones(5)), "ridge", ("X @ w - y", "X.shape[0]", "len(y)")),
    (sums, (np.ones(3), np.ones(4)), "sums", ("x * y", "len(x)", "len(y)")),
    (outer_sum, (np.ones((3, 2)), np.ones(2)), "outer-sum", ("axis 0", "A.shape[0]", "len(b)")),
], ids=["columns", "rows", "vectors", "broadcast"])
def test_data_dependent_shape_mismatch_is_a_value_error_before_the_kernel_runs(function, args, marker, words):
    transform = sg.value_and_grad(function)
    with pytest.raises(ValueError) as caught:
        transform(*args)
    message = str(caught.value)
    assert not isinstance(caught.value, IndexError), message  # the shape check, not the bounds check behind it
    assert f"line {marker_line(marker)}" in message
    for word in words:
        assert word in message, (word, message)


def test_matching_shapes_pass_the_checks():
    value, gradient = sg.value_and_grad(ridge)(np.ones(3), np.ones((4, 3)), np.zeros(4))
    assert value == 36.0
    np.testing.assert_allclose(gradient, np.full(3, 24.0))


def two_layers(W1, W2, X):
    h = np.tanh(X @ W1)
    return np.sum(h @ W2)  # HERE: formulas-before-a-call


def test_formulas_before_the_first_call_say_that_a_call_decides_the_ranks():
    transform = sg.value_and_grad(two_layers)
    with pytest.raises(sg.UnsupportedSyntaxError) as caught:
        transform.latex()  # X and W1 could be vectors: nothing in the body says they are matrices
    assert caught.value.lineno == marker_line("formulas-before-a-call")
    assert "call the function once" in str(caught.value)
    followed = sg.value_and_grad(two_layers)  # the advice, followed
    followed(RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=(5, 3)))
    assert "tanh" in followed.latex()

