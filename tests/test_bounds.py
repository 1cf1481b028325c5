"""Memory safety: a kernel never reads or writes outside an array (issue 8, items 7-13).

The reference is the plain Python function.  Where it raises IndexError, symgrad raises IndexError too (an
`ArrayIndexError`), naming the array and the source line; where it runs, the value matches it and the gradient
matches central differences.  The line of each access is found from a ``# HERE: <name>`` marker.
"""

import math
import os
import pathlib
import re
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import symgrad as sg
from conftest import richardson_gradient, write_module

os.environ.setdefault("SYMGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="symgrad_test_bounds_"))

SOURCE_LINES = pathlib.Path(__file__).read_text().splitlines()


def marker_line(marker):
    found = [k + 1 for k, line in enumerate(SOURCE_LINES) if line.rstrip().endswith(f"# HERE: {marker}")]
    assert len(found) == 1, f"marker {marker!r} found on lines {found}"
    return found[0]


def array_gradient(function, args, position, step=1e-6):
    """Central differences of `function` with respect to the array `args[position]`."""
    x = np.array(args[position], dtype=float)
    gradient = np.zeros_like(x)
    for k in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[k] += step
        minus.flat[k] -= step
        high = function(*args[:position], plus, *args[position + 1:])
        low = function(*args[:position], minus, *args[position + 1:])
        gradient.flat[k] = (high - low) / (2 * step)
    return gradient


def assert_like_python(function, *args):
    """Value and gradient (w.r.t. the first argument) of symgrad against the Python function."""
    value, gradient = sg.value_and_grad(function)(*args)
    assert value == pytest.approx(function(*args), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient, array_gradient(function, args, 0), rtol=1e-6, atol=1e-6)


def assert_raises_like_python(function, marker, name, *args):
    """Python raises IndexError; each symgrad kernel raises it too, naming `name` and the marked line."""
    with pytest.raises(IndexError):
        function(*args)
    transform = sg.value_and_grad(function)
    for entry in (transform, transform.value, sg.grad(function)):
        with pytest.raises(IndexError) as caught:
            entry(*args)
        assert isinstance(caught.value, sg.ArrayIndexError)
        message = str(caught.value)
        assert f"'{name}'" in message, message
        assert f"line {marker_line(marker)}" in message, message


# --- item 8: indices not affine in the loop index --------------------------------------------------------------
def square_index(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i * i]  # HERE: square-index
    return s


def halved_index(x):
    s = 0.0
    for i in range(len(x)):
        s += x[(3 * i) // 2] * x[i]  # HERE: halved-index
    return s


def modulo_index(x):
    s = 0.0
    for i in range(len(x)):
        s += x[(5 * i) % 7] ** 2  # HERE: modulo-index
    return s


def test_non_affine_indices_raise_like_python():
    assert_raises_like_python(square_index, "square-index", "x", np.arange(3.0))
    assert_raises_like_python(halved_index, "halved-index", "x", np.arange(4.0))
    assert_raises_like_python(modulo_index, "modulo-index", "x", np.arange(4.0))


def test_non_affine_indices_in_range_are_right():
    assert_like_python(square_index, np.array([0.5]))
    assert_like_python(halved_index, np.array([0.5, -1.0]))
    assert_like_python(modulo_index, np.linspace(-1.0, 2.0, 9))


# --- item 9: indices held in local ints ------------------------------------------------------------------------
def next_through_local(x):
    s = 0.0
    for i in range(len(x)):
        j = i + 1
        s += x[i] * x[j]  # HERE: next-through-local
    return s


def scaled_argument_index(x, n):
    s = 0.0
    for i in range(n):
        s += x[i]
    k = n * 1
    return s * x[k] ** 2  # HERE: scaled-argument-index


def pairs_through_local(x):
    s = 0.0
    for i in range(len(x) - 1):
        j = i + 1
        s += (x[j] - x[i]) ** 2
    return s


def test_local_int_indices_raise_like_python():
    assert_raises_like_python(next_through_local, "next-through-local", "x", np.arange(3.0))
    assert_raises_like_python(scaled_argument_index, "scaled-argument-index", "x", np.arange(3.0), 3)
    assert_raises_like_python(scaled_argument_index, "scaled-argument-index", "x", np.arange(3.0), -4)


def test_local_int_indices_in_range_are_right():
    assert_like_python(pairs_through_local, np.array([0.3, -1.2, 2.0, 0.7]))
    assert_like_python(scaled_argument_index, np.array([0.3, -1.2, 2.0]), 2)
    assert_like_python(scaled_argument_index, np.array([0.3, -1.2, 2.0]), 0)


def test_local_int_index_proven_at_entry_has_no_check_in_the_loop():
    source = sg.value_and_grad(pairs_through_local).source()
    assert "ArrayIndexError" not in source, source


# --- item 10: triangular loops ---------------------------------------------------------------------------------
def triangular(x):
    s = 0.0
    for i in range(len(x)):
        for j in range(i):
            s += x[i] * x[j] * (j + 1)
    return s


def triangular_past_the_end(x):
    s = 0.0
    for i in range(len(x)):
        for j in range(i):
            s += x[j + 2]  # HERE: triangular-past-the-end
    return s


def test_triangular_loops():
    assert_like_python(triangular, np.array([0.3, -1.2, 2.0, 0.7]))
    assert "ArrayIndexError" not in sg.value_and_grad(triangular).source()
    assert_raises_like_python(triangular_past_the_end, "triangular-past-the-end", "x", np.arange(4.0))
    assert_like_python(triangular_past_the_end, np.array([0.5]))  # the inner loop never runs


def square_rows(x, n, m):
    s = 0.0
    for i in range(n):
        for j in range(m):
            s += x[i * i + j] * x[j]  # HERE: square-rows
    return s


def test_check_depending_on_the_outer_index_runs_before_the_inner_loop():
    x = np.linspace(-1.0, 1.0, 10)
    assert_like_python(square_rows, x, 3, 2)
    assert_raises_like_python(square_rows, "square-rows", "x", x, 4, 2)
    kernel = sg.value_and_grad(square_rows).source().split("def value(")[1].split("\ndef ")[0]
    outer, inner = kernel.index("for i in"), kernel.index("for j in")
    assert "raise ArrayIndexError" in kernel[outer:inner] and "raise ArrayIndexError" not in kernel[inner:], kernel


# --- item 11: local arrays sized by local ints, flattened indices, negative sizes --------------------------------
def differences(x):
    m = len(x) - 1
    h = np.zeros(m)
    for i in range(m):
        h[i] = x[i + 1] - x[i]
    s = 0.0
    for i in range(m):
        s += h[i] ** 2
    return s


def writes_past_local(x):
    m = len(x) - 2
    h = np.zeros(m)
    for i in range(len(x)):
        h[i] = x[i]  # HERE: writes-past-local
    return h[0]


def negative_size(x):
    h = np.zeros(len(x) - 5)  # HERE: negative-size
    return x[0] + np.sum(h)


def flattened(x, n, m):
    s = 0.0
    for i in range(n):
        for j in range(m):
            s += x[i * m + j] * (i + 2 * j)  # HERE: flattened
    return s


def test_local_array_sized_by_local_int():
    assert_like_python(differences, np.array([0.3, -1.2, 2.0, 0.7]))
    assert_raises_like_python(writes_past_local, "writes-past-local", "h", np.arange(4.0))


def test_negative_size_raises_value_error_like_numpy():
    with pytest.raises(ValueError):
        negative_size(np.arange(3.0))
    with pytest.raises(ValueError, match=f"line {marker_line('negative-size')}"):
        sg.value_and_grad(negative_size)(np.arange(3.0))


def test_flattened_index():
    x = np.linspace(-1.0, 1.0, 6)
    assert_like_python(flattened, x, 2, 3)
    assert_raises_like_python(flattened, "flattened", "x", x, 3, 3)
    assert_raises_like_python(flattened, "flattened", "x", x, 2, 4)


# --- item 12: int arguments near or past int64 -----------------------------------------------------------------
def shifted(x, k):
    s = 0.0
    for i in range(len(x)):
        s += x[i + k]  # HERE: shifted
    return s


def strided(x, n, m):
    s = 0.0
    for i in range(n):
        s += x[i * m]  # HERE: strided
    return s


def test_int_arguments_that_would_overflow_are_refused():
    assert_raises_like_python(shifted, "shifted", "x", np.arange(3.0), 2**52)
    assert_raises_like_python(shifted, "shifted", "x", np.arange(3.0), -2**52)
    assert_raises_like_python(strided, "strided", "x", np.arange(3.0), 2**40, 2**40)  # (n - 1) * m wraps int64
    assert_raises_like_python(strided, "strided", "x", np.arange(3.0), 2, 2**62 // 2**10)
    transform = sg.value_and_grad(shifted)
    for k in (2**62, -2**62, 1e19, math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="'k'"):
            transform(np.arange(3.0), k)
    assert transform(np.arange(3.0), -3)[0] == pytest.approx(shifted(np.arange(3.0), -3))


# --- item 13: valid programs that were refused -----------------------------------------------------------------
def step_two(x):
    s = 0.0
    for i in range(0, len(x), 2):
        s += x[i] * x[i + 1]  # HERE: step-two
    return s


def stencil(x):
    s = 0.0
    for i in range(len(x)):
        if i + 1 < len(x):
            s += (x[i + 1] - x[i]) ** 2
    return s


def stencil_expression(x):
    s = 0.0
    for i in range(len(x)):
        s += (x[i + 1] - x[i]) ** 2 * x[i + 1] if i + 1 < len(x) else x[i] ** 2
    return s


def boundary_stencil(x):
    h = np.zeros_like(x)
    for i in range(len(x)):
        left = x[i - 1] if i > 0 else 0.0
        right = x[i + 1] if i < len(x) - 1 else 0.0
        h[i] = left - 2.0 * x[i] + right
    s = 0.0
    for i in range(len(x)):
        s += h[i] ** 2 * x[i]
    return s


def guarded_past_the_end(x):
    s = 0.0
    for i in range(len(x)):
        if i + 1 < len(x) + 1:
            s += x[i + 1]  # HERE: guarded-past-the-end
    return s


def scaled_stencil(x, a):
    s = 0.0
    for i in range(len(x)):
        if i + 1 < len(x):
            s += math.sin(a * x[i + 1]) * x[i]
        s += (x[i + 1] * a if i + 1 < len(x) else a) ** 2
    return s


def test_guarded_stencil_in_forward_mode():
    x, a, h = np.linspace(0.1, 1.0, 6), 0.7, 1e-6
    value, gradient = sg.value_and_grad(scaled_stencil, wrt="a")(x, a)  # one scalar: tangents, not adjoints
    assert value == pytest.approx(scaled_stencil(x, a), rel=1e-12)
    assert gradient == pytest.approx((scaled_stencil(x, a + h) - scaled_stencil(x, a - h)) / (2 * h), rel=1e-7)


def test_step_two_loop():
    assert_like_python(step_two, np.array([0.3, -1.2, 2.0, 0.7]))
    assert_raises_like_python(step_two, "step-two", "x", np.arange(5.0))
    source = sg.value_and_grad(step_two).source()
    for kernel in source.split("\ndef ")[1:]:  # proven at entry: no check inside the loops
        assert "ArrayIndexError" not in kernel[kernel.index("\n    for "):]


@pytest.mark.parametrize("function", [stencil, stencil_expression, boundary_stencil])
def test_guarded_stencils(function):
    for n in (1, 2, 5):
        assert_like_python(function, np.linspace(-1.0, 2.0, n) ** 2)


def test_guarded_read_that_python_makes_raises():
    assert_raises_like_python(guarded_past_the_end, "guarded-past-the-end", "x", np.arange(3.0))


def test_guarded_read_stays_in_its_branch():
    """The guarded element is read under `if` in every kernel, never hoisted out of it by CSE."""
    for name in ("value", "grad", "value_and_grad"):
        kernel = sg.value_and_grad(stencil_expression).source().split(f"\ndef {name}(")[1].split("\ndef ")[0]
        for line in kernel.splitlines():
            if "x[1 + i]" in line:
                assert " if " in line or line.startswith("            "), kernel


# --- item 7 and issue 9 item 7: generated names never collide with the user's ---------------------------------
def colliding(x, n, n_given, x_shape0, x_bar, _t0, tape_s):
    s = 0.0
    for i in range(n):
        s += x[i] ** 2 * n_given + x_shape0 * x[i] + x_bar * _t0 * tape_s
    return s * x_bar


def colliding_locals(x):
    x_bar = 0.0
    _t0 = 1.0
    tape_s = 2.0
    x_shape0 = 3.0
    for i in range(len(x)):
        x_bar += x[i] * x[i] * _t0 + tape_s * math.sin(x[i]) + x_shape0
    return x_bar


def test_argument_names_that_look_generated():
    x = np.array([0.3, -1.2, 2.0])
    args = (x, 2, 1.5, 0.5, -2.0, 3.0, 0.25)
    assert_like_python(colliding, *args)
    assert_like_python(colliding_locals, x)


def test_kernel_parameters_are_the_argument_names():
    transform = sg.value_and_grad(colliding)
    header = re.search(r"def value\((.*)\):", transform.source()).group(1)
    assert header == "x, n, n_given, x_shape0, x_bar, _t0, tape_s"
    x = np.array([0.3, -1.2, 2.0])
    keywords = dict(x=x, n=2, n_given=1.5, x_shape0=0.5, x_bar=-2.0, _t0=3.0, tape_s=0.25)
    assert transform.kernels.value(**keywords) == pytest.approx(colliding(**keywords))


# --- random index expressions against Python -------------------------------------------------------------------
INDEX_FORMS = ["i + {a}", "{a} - i", "i * i - {a}", "(3 * i + {a}) // 2", "(5 * i + {a}) % 7", "len(x) - i - {a}",
               "j + {a}", "i * j - {a}", "k - {a}"]


@settings(max_examples=25, deadline=None)
@given(form=st.sampled_from(INDEX_FORMS), a=st.integers(-4, 4), n=st.integers(1, 6))
def test_random_index_expressions_behave_like_python(form, a, n):
    index = form.format(a=a)
    module = write_module(f"""
        def f(x, k):
            s = 0.0
            for i in range(len(x)):
                for j in range(i):
                    s += x[{index}] * x[i]
            return s + x[0]
        """)
    x = np.linspace(0.5, 1.5, n)
    k = a + n // 2
    try:
        module.f(x, k)
    except IndexError:
        with pytest.raises(IndexError):
            sg.value_and_grad(module.f)(x, k)
        return
    assert_like_python(module.f, x, k)


def stencil_with_nested_if(x, c):
    s = 0.0
    n = len(x)
    for i in range(n):
        if i + 1 < n:
            if x[i + 1] > 0:
                s += x[i] * x[i + 1]
            else:
                s += x[i]
        else:
            s += x[i]
    return s * c


def stencil_with_and(x, c):
    s = 0.0
    n = len(x)
    for i in range(n):
        if i + 1 < n and x[i + 1] > 0:
            s += x[i] * x[i + 1]
        else:
            s += x[i]
    return s * c


def stencil_with_or(x, c):
    s = 0.0
    n = len(x)
    for i in range(n):
        if i + 1 >= n or x[i + 1] <= 0:
            s += x[i]
        else:
            s += x[i] * x[i + 1]
    return s * c


def stencil_with_and_in_a_value(x, c):
    s = 0.0
    n = len(x)
    for i in range(n):
        s += x[i] * x[i + 1] if i + 1 < n and x[i + 1] > 0 else x[i]
    return s * c


def backward_stencil_with_and(x, a):
    s = 0.0
    for i in range(len(x)):
        if i >= 1 and x[i - 1] < a:
            s += (x[i] - x[i - 1]) ** 2
    return s


@pytest.mark.parametrize("function", [stencil_with_nested_if, stencil_with_and, stencil_with_or,
                                      stencil_with_and_in_a_value])
@pytest.mark.parametrize("method", ["reverse", "forward"])
def test_a_condition_that_reads_past_the_end_only_behind_an_index_test(function, method):
    """`if i + 1 < n and x[i + 1] > 0:` (or the nested `if`, or `or` the other way round) reads x[i + 1] only
    when i + 1 < n: Python never reads x[n], and neither must the kernel nor its check refuse the call."""
    x = np.array([0.5, -1.0, 2.0, 3.0, 0.7])
    wrt = ("c",) if method == "forward" else (0, 1)  # forward mode carries float scalars only
    value, gradient = sg.value_and_grad(function, wrt=wrt, method=method)(x, 1.5)
    assert value == pytest.approx(function(x, 1.5), rel=1e-15)
    assert gradient[-1] == pytest.approx(function(x, 1.0), rel=1e-15)  # the sum is linear in c
    if method == "reverse":
        np.testing.assert_allclose(gradient[0], richardson_gradient(function, (x, 1.5), 0), rtol=1e-9, atol=1e-12)


def test_an_index_test_guards_a_backward_read():
    x = np.array([0.5, -1.0, 2.0, 3.0, 0.7])
    value, gradient = sg.value_and_grad(backward_stencil_with_and, wrt=(0, 1))(x, 1.0)
    assert value == pytest.approx(backward_stencil_with_and(x, 1.0), rel=1e-15)
    np.testing.assert_allclose(gradient[0], richardson_gradient(backward_stencil_with_and, (x, 1.0), 0), rtol=1e-9,
                               atol=1e-12)


def unguarded_condition(x):
    s = 0.0
    for i in range(len(x)):
        if x[i + 1] > 0:
            s += x[i]
    return s


def test_a_condition_read_past_the_end_without_an_index_test_raises():
    """Without the index test the read of x[i + 1] in the condition is Python's IndexError."""
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(IndexError):
        unguarded_condition(x)
    with pytest.raises(IndexError):
        sg.value_and_grad(unguarded_condition)(x)


def read_before_the_index_test(x):
    s = 0.0
    n = len(x)
    for i in range(n):
        if x[i + 1] > 0 and i + 1 < n:
            s += x[i]
    return s


def test_a_read_before_its_index_test_raises_as_in_python():
    """Python evaluates `x[i + 1] > 0` first, so the index test after it protects nothing."""
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(IndexError):
        read_before_the_index_test(x)
    with pytest.raises(IndexError):
        sg.value_and_grad(read_before_the_index_test)(x)


def branch_inside_a_comparison(x, a):
    s = 0.0
    for i in range(len(x)):
        s += a * a if (x[i + 1] if a > 5.0 else a) < 0.5 else 2.0 * a * x[i]
    return s


def branch_inside_a_comparison_in_a_triangle(y, a, b):
    s = 0.0
    for i in range(len(y)):
        for j in range(i + 1):
            s += (a if (y[j + 1] if b < -0.93 else y[i]) > 0.23 else b) * y[j]
    return s


@pytest.mark.parametrize("a", [0.0, 0.7])
def test_a_read_in_a_branch_inside_a_comparison_is_guarded(a):
    """SymPy turns `(x[i + 1] if a > 5 else a) < 0.5` into ITE(a > 5, x[i + 1] < 0.5, a < 0.5), which the kernel
    prints as a conditional expression: x[i + 1] is read only when a > 5 (fuzz seeds 1006926 and 1007969)."""
    x = np.array([0.1, 0.9, 0.3])
    value, gradient = sg.value_and_grad(branch_inside_a_comparison, wrt=(0, 1))(x, a)
    assert value == pytest.approx(branch_inside_a_comparison(x, a), rel=1e-15)
    for position in (0, 1):
        np.testing.assert_allclose(gradient[position], richardson_gradient(branch_inside_a_comparison, (x, a),
                                                                           position), rtol=1e-9, atol=1e-12)
    with pytest.raises(IndexError):
        branch_inside_a_comparison(x, 6.0)
    with pytest.raises(IndexError):
        sg.value_and_grad(branch_inside_a_comparison, wrt=(0, 1))(x, 6.0)


def test_a_read_in_a_branch_inside_a_comparison_in_a_triangle():
    y = np.array([-1.47])
    point = (y, 0.4, -0.5)
    value, gradient = sg.value_and_grad(branch_inside_a_comparison_in_a_triangle, wrt=(0, 1, 2))(*point)
    assert value == pytest.approx(branch_inside_a_comparison_in_a_triangle(*point), rel=1e-15)
    for position in (0, 1, 2):
        np.testing.assert_allclose(gradient[position], richardson_gradient(
            branch_inside_a_comparison_in_a_triangle, point, position), rtol=1e-9, atol=1e-12)


def branchy_helper(u, v):
    if v > 0.61:
        return v
    t = u
    return v if (u if np.maximum(u, t) < -0.04 else v) > 0.42 else 0.53


def condition_on_a_branchy_helper(x):
    s = 0.0
    for i in range(len(x)):
        if not branchy_helper(x[i], 0.1 * i) >= -0.03:
            s -= x[i] * 1.63
        else:
            s += x[i] * x[i]
    return s


def test_a_condition_of_nested_branches_of_comparisons_prints():
    """SymPy's printer rewrote the ITE of `(u if c else v) > w` into a Piecewise of booleans that SymPy itself
    rejects: an internal error at derivation (fuzz seed 1011251)."""
    x = np.array([-0.19, -0.63, -0.79, 0.52, 1.42])
    value, gradient = sg.value_and_grad(condition_on_a_branchy_helper)(x)
    assert value == pytest.approx(condition_on_a_branchy_helper(x), rel=1e-15)
    np.testing.assert_allclose(gradient, richardson_gradient(condition_on_a_branchy_helper, (x,), 0), rtol=1e-9,
                               atol=1e-12)


def dropped_read_in_a_branch(x, a):
    s = 0.0
    for i in range(len(x)):
        s += 0.0 * (x[2 * i] if a > 1.0 else a)  # HERE: dropped
    return s + a * a


def read_in_a_branch_of_a_condition(x, a, b, c):
    v2 = c + b
    s3 = 0.0
    for i in range(len(x)):
        j = 2 * i
        s3 -= v2 * (v2 if (x[j] if a * c < -1.04 else a) <= -0.26 or a > -0.59 else a)  # HERE: branch condition
    return 0.75


@pytest.mark.parametrize("function, marker, taken, untaken", [
    (dropped_read_in_a_branch, "dropped", (2.0,), (0.5,)),
    # fuzz seed 9500592 (`--interpret`), minimised: refused although Python never makes the read
    (read_in_a_branch_of_a_condition, "branch condition", (-2.0, -1.34, 0.61), (-0.75, -1.34, 0.61)),
])
def test_a_read_that_sympy_drops_is_checked_only_where_python_makes_it(function, marker, taken, untaken):
    """SymPy drops `x[2*i]` from `0.0 * (...)` and from a condition it decides; the read it keeps to check
    (a probe) happens in Python only when the branch around it is taken, so it is checked only then."""
    x = np.array([0.07, 1.47, -0.8, 1.27])
    transform = sg.value_and_grad(function, wrt=tuple(range(1 + len(untaken))))
    value, gradient = transform(x, *untaken)
    assert value == function(x, *untaken)
    for position in range(1 + len(untaken)):
        np.testing.assert_allclose(gradient[position], richardson_gradient(function, (x, *untaken), position),
                                   rtol=1e-9, atol=1e-12)
    with pytest.raises(IndexError):
        function(x, *taken)
    with pytest.raises(IndexError, match=f"line {marker_line(marker)} indexes argument 'x'"):
        transform(x, *taken)


def gathered_sum(x, idx, n):
    s = 0.0
    for k in range(n):
        s += x[idx[k]] ** 2
    return s


def gathered_in_a_condition(x, idx):
    s = 0.0
    for k in range(x.shape[0]):
        if x[idx[k + 1]] > 0:
            s += x[k]
    return s


def test_an_index_array_read_inside_an_index_is_checked_too():
    """`x[idx[k]]` read idx[k] unchecked: with n past the end of idx, the kernel read the memory after it (a view
    of a longer buffer: the gradient came from elements Python never reads).  Found by a probe."""
    x, buffer = np.array([10.0, 20.0, 30.0]), np.array([0, 1, 2, 2, 2], dtype=np.int64)
    transform = sg.value_and_grad(gathered_sum)
    for n in (3, 4):
        with pytest.raises(IndexError):
            gathered_sum(x, buffer[:2], n)
        with pytest.raises(IndexError, match="idx"):
            transform(x, buffer[:2], n)
    value, gradient = transform(x, buffer[:2], 2)
    assert value == gathered_sum(x, buffer[:2], 2)
    np.testing.assert_allclose(gradient, richardson_gradient(lambda v: gathered_sum(v, buffer[:2], 2), (x,), 0))
    with pytest.raises(IndexError):
        gathered_in_a_condition(x, buffer[:3])
    with pytest.raises(IndexError, match="idx"):
        sg.value_and_grad(gathered_in_a_condition)(x, buffer[:3])
