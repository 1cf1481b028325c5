"""Regressions for silently wrong gradients and values (the trust issue), each against an independent reference.

References: central differences with Richardson extrapolation (`richardson_gradient`), hand-derived formulas, and
the Python function itself for values and for the exceptions Python raises.  Every program is also compiled with
every optimisation pass off (``optimize=False``) and, where it applies, in forward mode: the three must agree.
"""

import math

import numpy as np
import pytest
from conftest import richardson_gradient

import symgrad as sg
from symgrad import passes
from symgrad.errors import UnsupportedSyntaxError

X = np.array([0.3, -1.2, 0.7, 2.0, -0.4])
T = np.array([0.1, 0.2, 0.3, 0.15, 0.25])


def softmax_ce(x, t):
    s = 0.0
    for i in range(len(x)):
        s += math.exp(x[i])
    loss = 0.0
    for i in range(len(x)):
        loss -= t[i] * math.log(math.exp(x[i]) / s)
    return loss


def trigonometric_mgh(x):
    """More-Garbow-Hillstrom's trigonometric function: a sum of cosines read by the next loop."""
    n = len(x)
    c = 0.0
    for j in range(n):
        c += math.cos(x[j])
    f = 0.0
    for i in range(n):
        r = n - c + (i + 1) * (1 - math.cos(x[i])) - math.sin(x[i])
        f += r * r
    return f


def centred_variance(x):
    total = 0.0
    for i in range(len(x)):
        total += x[i]
    mean = total / len(x)
    v = 0.0
    for i in range(len(x)):
        v += (x[i] - mean) ** 2
    return v / len(x)


def three_loops(x, t):
    a = 0.0
    for i in range(len(x)):
        a += x[i] * x[i]
    b = 0.0
    for i in range(len(x)):
        b += math.tanh(a * x[i]) * t[i]
    c = 0.0
    for i in range(len(x)):
        c += math.sin(b + x[i])
    return c + a * b


def prefix_sums(x, a):
    z = 0.0
    s = 0.0
    for i in range(len(x)):
        z += x[i]
        s += z * z
    return s + z * a


def prefix_sums_plain(x, a):
    z = 0.0
    s = 0.0
    for i in range(len(x)):
        z += x[i]
        s += z * z
    return s + z


def running_sum_read_later_in_body(x):
    z = 0.0
    s = 0.0
    for i in range(len(x)):
        s += math.sin(z) * x[i]
        z += x[i] * x[i]
    return s * z


LOOP_PROGRAMS = [softmax_ce, trigonometric_mgh, centred_variance, three_loops, prefix_sums, prefix_sums_plain,
                 running_sum_read_later_in_body]


def _arguments(function):
    return [X if name == "x" else T if name == "t" else 0.7 for name in function.__code__.co_varnames[
        :function.__code__.co_argcount]]


@pytest.mark.parametrize("function", LOOP_PROGRAMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("optimize", [True, False], ids=["optimised", "unoptimised"])
def test_loop_programs_match_richardson(function, optimize):
    args = _arguments(function)
    wrt = tuple(k for k, a in enumerate(args) if not (a is T))
    value, gradient = sg.value_and_grad(function, wrt=wrt, optimize=optimize)(*args)
    assert value == pytest.approx(function(*args), rel=1e-12)
    for k, g in zip(wrt, gradient):
        np.testing.assert_allclose(g, richardson_gradient(function, args, k), rtol=1e-8, atol=1e-9)


def test_softmax_cross_entropy_against_hand_formula():
    """d/dx_i of -sum t log softmax(x) = softmax(x)_i * sum(t) - t_i."""
    softmax = np.exp(X) / np.exp(X).sum()
    np.testing.assert_allclose(sg.grad(softmax_ce)(X, T), softmax * T.sum() - T, rtol=1e-12)


def test_prefix_sum_return_plus_total_derives():
    """`return s + z` with z a running sum read in its own loop crashed the derivation (a number as adjoint)."""
    # hand formula: d/dx_k [sum_i z_i^2 + z_n] = 2 sum_{i>=k} z_i + 1
    z = np.cumsum(X)
    expected = 2 * np.cumsum(z[::-1])[::-1] + 1
    np.testing.assert_allclose(sg.grad(prefix_sums_plain)(X, 0.7), expected, rtol=1e-12)


def test_forward_mode_agrees_with_reverse_mode():
    def sums_of_scalars(a, b):
        z = 0.0
        s = 0.0
        for i in range(7):
            z += a * i + b
            s += z * z + math.sin(z)
        return s + z * a

    args = (0.3, -0.2)
    reverse = sg.grad(sums_of_scalars, wrt=(0, 1), method="reverse")(*args)
    forward = sg.grad(sums_of_scalars, wrt=(0, 1), method="forward")(*args)
    np.testing.assert_allclose(forward, reverse, rtol=1e-12)
    np.testing.assert_allclose(reverse, [richardson_gradient(sums_of_scalars, args, k) for k in (0, 1)], rtol=1e-9)


def test_forward_mode_refuses_array_arguments():
    with pytest.raises(sg.NonDifferentiableArgumentError, match="method='forward'"):
        sg.grad(softmax_ce, method="forward")(X, T)


# --- max/min of one array -------------------------------------------------------------------------------------
def largest_plus_sum(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i]
    return max(x) + s + np.min(x)


def largest_of_matrix(a):
    return np.max(a) * 2.0 - min(a[0, 0], a[1, 1])


def max_of_a_number(x):
    return max(abs(x))


def test_max_of_one_array_is_a_reduction():
    expected = 2 * X
    expected[np.argmax(X)] += 1
    expected[np.argmin(X)] += 1
    value, gradient = sg.value_and_grad(largest_plus_sum)(X)
    assert value == pytest.approx(largest_plus_sum(X), rel=1e-14)
    np.testing.assert_allclose(gradient, expected, rtol=1e-14)


def test_max_of_a_matrix():
    a = np.array([[0.5, -1.0, 2.5], [0.25, 3.0, -2.0]])
    expected = np.zeros_like(a)
    expected[1, 1] += 2.0
    expected[0, 0] -= 1.0  # min(0.5, 3.0) picks a[0, 0]
    value, gradient = sg.value_and_grad(largest_of_matrix)(a)
    assert value == largest_of_matrix(a)
    np.testing.assert_allclose(gradient, expected)


def test_max_of_empty_array_raises_like_python():
    with pytest.raises(ValueError):
        largest_plus_sum(np.zeros(0))
    with pytest.raises(ValueError):
        sg.grad(largest_plus_sum)(np.zeros(0))


def test_max_of_one_number_is_refused_with_advice():
    with pytest.raises(TypeError):
        max_of_a_number(1.5)  # what Python does
    with pytest.raises(UnsupportedSyntaxError, match=r"max\(a, b\)"):
        sg.grad(max_of_a_number)(1.5)


# --- float // and % ------------------------------------------------------------------------------------------
def floor_and_mod(a, b):
    return (a // b) * a + (a % b) * b


@pytest.mark.parametrize("a, b", [(1.0, 0.1), (-7.3, 2.0), (7.3, -2.0), (0.7, 0.1), (5.5, 0.5), (-0.3, 0.1)])
def test_float_floor_division_and_modulo_are_pythons(a, b):
    value, (da, db) = sg.value_and_grad(floor_and_mod, wrt=(0, 1))(a, b)
    assert value == floor_and_mod(a, b)  # exactly Python's rounding: 1.0 // 0.1 is 9.0
    # hand formula: a//b is piecewise constant, d(a % b)/da = 1, d(a % b)/db = -(a // b)
    assert da == pytest.approx(a // b + b, rel=1e-15)
    assert db == pytest.approx(a % b - (a // b) * b, rel=1e-15, abs=1e-15)


# --- powers with an integer loop variable as exponent ------------------------------------------------------------
def polynomial(x, c):
    s = 0.0
    for i in range(len(c)):
        s += c[i] * x**i
    return s


@pytest.mark.parametrize("x", [0.0, 0.5, -1.5])
def test_polynomial_gradient_at_zero_and_elsewhere(x):
    c = np.array([1.0, 2.0, -3.0, 0.5])
    expected = sum(k * c[k] * x ** (k - 1) for k in range(1, len(c)))  # hand derivative of the polynomial
    value, gradient = sg.value_and_grad(polynomial)(x, c)
    assert value == pytest.approx(polynomial(x, c), rel=1e-15)
    assert gradient == pytest.approx(expected, rel=1e-14)


# --- constants fold as Python computes them in float64 ------------------------------------------------------------
def sign_of_sin_pi(x):
    if math.sin(math.pi) > 0:  # 1.2e-16 > 0 in Python
        return x * x
    return -x * x


def tan_quarter_pi(x):
    return x * math.tan(math.pi / 4) - x


def overflowing_constant(x):
    return x + 1e308 * 10.0


def pi_compared(x):
    return x * 2.0 if math.pi > 3.141592653589793 else x * 3.0


def test_constants_branch_as_python():
    value, gradient = sg.value_and_grad(sign_of_sin_pi)(1.5)
    assert (value, gradient) == (sign_of_sin_pi(1.5), 3.0)
    value, gradient = sg.value_and_grad(pi_compared)(1.5)
    assert (value, gradient) == (pi_compared(1.5), 3.0)


def test_constants_fold_to_pythons_float64():
    value, gradient = sg.value_and_grad(tan_quarter_pi)(4.0)
    assert value == tan_quarter_pi(4.0) != 0.0
    assert gradient == math.tan(math.pi / 4) - 1


def test_overflowing_constant_is_inf_as_in_python():
    """It used to fold to a SymPy float printed as an undefined name `inf`.  (SymPy absorbs x into x + oo, so the
    gradient is 0 where JAX says 1: a known limit, stated in docs/conventions.md.)"""
    value = sg.value_and_grad(overflowing_constant)(1.0)[0]
    assert value == overflowing_constant(1.0) == math.inf


def constant_domain_error(x):
    return x + math.log(-1.0)


def test_constant_that_raises_in_python_is_refused():
    with pytest.raises(ValueError):
        constant_domain_error(1.0)
    with pytest.raises(UnsupportedSyntaxError, match="ValueError"):
        sg.grad(constant_domain_error)(1.0)


# --- the switches ----------------------------------------------------------------------------------------------
def test_unknown_pass_is_refused():
    with pytest.raises(ValueError, match="unknown pass"):
        sg.grad(softmax_ce, optimize={"fusion": False})


def test_disable_passes_environment(monkeypatch):
    monkeypatch.setenv("SYMGRAD_DISABLE_PASSES", "fuse_reductions, cse")
    assert passes.enabled() == passes.ALL - {"fuse_reductions", "cse"}
    monkeypatch.setenv("SYMGRAD_DISABLE_PASSES", "all")
    assert passes.enabled() == frozenset()
    monkeypatch.setenv("SYMGRAD_DISABLE_PASSES", "nonsense")
    with pytest.raises(ValueError, match="SYMGRAD_DISABLE_PASSES"):
        passes.enabled()


@pytest.mark.parametrize("name", sorted(passes.ALL))
def test_each_pass_off_alone_gives_the_same_gradient(name):
    args = _arguments(three_loops)
    reference = sg.grad(three_loops, wrt=0)(*args)
    np.testing.assert_allclose(sg.grad(three_loops, wrt=0, optimize={name: False})(*args), reference, rtol=1e-12)


# --- integer % by a size ---------------------------------------------------------------------------------------
def rotated_products(x):
    s = 0.0
    for i in range(len(x)):
        j = (i * i + 3) % len(x)
        s += x[(5 * i) % len(x)] * x[j] + x[i]
    return s


def test_index_modulo_a_size_is_an_integer():
    """SymPy's Mod(i, n) is not known to be an integer (n may be 0); an index taken modulo a size must lift."""
    value, gradient = sg.value_and_grad(rotated_products)(X)
    assert value == pytest.approx(rotated_products(X), rel=1e-14)
    np.testing.assert_allclose(gradient, richardson_gradient(rotated_products, [X], 0), rtol=1e-9)


# --- found by the fuzzer (benchmarks.fuzz) ---------------------------------------------------------------------
def branchy_helper(u, v):
    if min(v, u) > -0.08:
        return math.hypot(u, 1.5)
    t = (v if math.log(2.0 + math.sin(u), 3.0) > -0.39 else v) + v * -0.24
    return math.erf(t)


def helper_of_its_own_result(x, c):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * branchy_helper(0.59, branchy_helper(c, -0.26))
    return s


@pytest.mark.parametrize("method", ["forward", "reverse"])
def test_min_of_a_branch_and_a_constant_derives(method):
    """Folding min(Piecewise, 0.59) asked SymPy whether a hypot of the branch was real, which crashed in mpmath."""
    x, c = np.array([0.4, 1.4, 0.8]), 0.81
    value, (dc,) = sg.value_and_grad(helper_of_its_own_result, wrt=("c",), method=method)(x, c)
    assert value == pytest.approx(helper_of_its_own_result(x, c), rel=1e-14)
    assert dc == pytest.approx(richardson_gradient(helper_of_its_own_result, [x, c], 1), abs=1e-9)


def bound_divided_by_a_size(y, a):
    m = len(y) // 2
    s = 0.0
    for i in range(len(y) // m):
        s += a * y[i]
    return s


def test_integer_division_by_zero_raises_as_in_python():
    with pytest.raises(ZeroDivisionError):
        bound_divided_by_a_size(np.array([0.5]), 0.7)
    with pytest.raises(ZeroDivisionError):
        sg.value_and_grad(bound_divided_by_a_size, wrt=("y", "a"))(np.array([0.5]), 0.7)
    y = np.array([0.5, 1.5, -2.0, 0.25])
    value, (dy, da) = sg.value_and_grad(bound_divided_by_a_size, wrt=("y", "a"))(y, 0.7)
    assert value == bound_divided_by_a_size(y, 0.7)
    np.testing.assert_allclose(dy, [0.7, 0.7, 0.0, 0.0])  # by hand: the loop runs over y[0], y[1]
    assert da == y[0] + y[1]


def read_times_zero(y, n):
    s = 0.0
    for i in range(2):
        for j in range(n):
            s += y[i * n + j] * 0.0
    return s


def test_a_read_multiplied_by_zero_is_still_checked():
    """SymPy folds `y[k] * 0.0` to 0 and dropped the read with its bounds check; Python still reads y[k]."""
    with pytest.raises(IndexError):
        read_times_zero(np.array([-0.2, 1.05]), 2)
    with pytest.raises(IndexError):
        sg.value_and_grad(read_times_zero)(np.array([-0.2, 1.05]), 2)
    y = np.array([-0.2, 1.05, 0.5, 2.0])
    assert sg.value_and_grad(read_times_zero)(y, 2)[0] == read_times_zero(y, 2) == 0.0


def ignores_its_second(u, v):
    return math.log(2.0 + math.sin(u))


def reads_it_never_uses(x, a):
    s = 0.0
    for i in range(len(x)):
        s += ignores_its_second(a, x[(5 * i) % 7] ** 2) * x[i]
    return s


def test_reads_whose_values_are_unused_are_still_checked():
    """Python evaluates every argument of a helper call, used or not."""
    x = np.array([0.3, -0.2, 0.9])
    with pytest.raises(IndexError):
        reads_it_never_uses(x, 0.4)
    with pytest.raises(IndexError):
        sg.value_and_grad(reads_it_never_uses, wrt=(0, 1))(x, 0.4)
    with pytest.raises(IndexError):
        sg.grad(reads_it_never_uses).value(x, 0.4)  # the value kernel, which needs none of the reads either


def conditional_read(x, a):
    s = 0.0
    for i in range(len(x)):
        j = (3 * i) // 2
        s += math.tanh(a if a > 0.0 else x[j]) * x[i]
    return s


def test_a_read_in_the_branch_not_taken_is_not_checked():
    """`a if a > 0 else x[j]` reads x[j] (past the end for the last i) only when a <= 0: the adjoint store into
    x_bar[j] is under the same condition (its term is `Piecewise((0, a > 0), (bar, True))`)."""
    x = np.array([0.3, -0.2, 0.9, 0.5])
    value, (dx, da) = sg.value_and_grad(conditional_read, wrt=(0, 1))(x, 0.4)
    assert value == pytest.approx(conditional_read(x, 0.4), rel=1e-14)
    np.testing.assert_allclose(dx, richardson_gradient(conditional_read, [x, 0.4], 0), rtol=1e-9)
    assert da == pytest.approx(richardson_gradient(conditional_read, [x, 0.4], 1), rel=1e-9)
    with pytest.raises(IndexError):
        conditional_read(x, -0.4)
    with pytest.raises(IndexError):
        sg.value_and_grad(conditional_read, wrt=(0, 1))(x, -0.4)


def powers_of_a_sum(y, a, b):
    s = a * b - a * b  # 0.0, but a value with tangents along a and b
    t = 0.0
    for i in range(len(y)):
        t += y[i] * (s + a - a) ** i
    return t + s * b


@pytest.mark.parametrize("method", ["forward", "reverse"])
def test_integer_powers_at_zero_in_both_modes(method):
    """Forward mode carried i * s**(i - 1) for two parameters, and CSE shared s**(i - 1) outside its i == 0 branch:
    0.0**-1 raised ZeroDivisionError.  The slope is one node (PowSlope) now."""
    y = np.array([1.0, 2.0, -3.0])
    value, gradient = sg.value_and_grad(powers_of_a_sum, wrt=(1, 2), method=method)(y, 0.3, -0.7)
    assert value == powers_of_a_sum(y, 0.3, -0.7)
    np.testing.assert_allclose(gradient, [richardson_gradient(powers_of_a_sum, [y, 0.3, -0.7], k) for k in (1, 2)],
                               atol=1e-9)


def conditions_with_equal_sides(x, b):
    s = 0.0
    for i in range(len(x)):
        j = i * i
        s += b if x[j] >= -0.65 else b
        if x[i] > 0.0:
            pass
    return s


def test_a_condition_is_read_even_when_its_sides_agree():
    """`b if x[j] >= -0.65 else b` is b to SymPy, but Python reads x[j] (past the end for i >= 3 here)."""
    x = np.array([0.3, -0.2, 0.9, 0.5, 0.1])
    with pytest.raises(IndexError):
        conditions_with_equal_sides(x, 0.4)
    with pytest.raises(IndexError):
        sg.value_and_grad(conditions_with_equal_sides, wrt=(0, 1))(x, 0.4)
    short = x[:2]
    value, (dx, db) = sg.value_and_grad(conditions_with_equal_sides, wrt=(0, 1))(short, 0.4)
    assert value == conditions_with_equal_sides(short, 0.4) and db == 2.0 and not dx.any()


def running_sum_in_its_own_condition(v):
    t = 0.0
    for i in range(len(v)):
        t += math.exp(-v[i] * v[i]) if t <= 0.47 else (v[i] - v[i])
    return t


def test_a_sum_whose_terms_branch_on_it_is_taped():
    """`t += e if t <= c else 0` adds with slope 1 in t, but each term's branch needs that iteration's t: it is no
    pure accumulator (fuzz seed 400229: the gradient through the loop was lost)."""
    v = np.array([1.2, -0.0175, 1.08, -0.75])
    value, gradient = sg.value_and_grad(running_sum_in_its_own_condition)(v)
    assert value == pytest.approx(running_sum_in_its_own_condition(v), rel=1e-14)
    expected = np.array([-2 * 1.2 * math.exp(-1.44), 2 * 0.0175 * math.exp(-0.0175**2), 0.0, 0.0])  # by hand
    np.testing.assert_allclose(gradient, expected, rtol=1e-12)


def and_false_reads_first(x, a):
    s = 0.0
    for i in range(len(x)):
        j = (5 * i) % 7
        s += a if x[j] >= -0.79 and -0.31 > 0.33 else a * a
    return s


def test_a_condition_folded_to_false_still_reads_its_first_operand():
    x = np.array([0.3, -0.2, 0.9, 0.5, 0.1])
    with pytest.raises(IndexError):
        and_false_reads_first(x, 0.4)
    with pytest.raises(IndexError):
        sg.value_and_grad(and_false_reads_first, wrt=(0, 1))(x, 0.4)
    long = np.linspace(-0.5, 0.5, 7)
    value, (dx, da) = sg.value_and_grad(and_false_reads_first, wrt=(0, 1))(long, 0.4)
    assert value == pytest.approx(and_false_reads_first(long, 0.4)) and da == pytest.approx(7 * 0.8)


def dead_loop_over_an_argument(x, a):
    s = 0.0
    for i in range(len(x)):
        s += x[(3 * i) // 2]
    return a * a


def dead_loop_over_a_local_array(x, a):
    w = np.zeros(len(x))
    for i in range(len(x)):
        w[i] = x[i] * a
    s = 0.0
    for i in range(len(w)):
        s += w[(3 * i) // 2]
    return a * a


def dead_after_an_early_return(x, a):
    if math.exp(math.log(3.0)) > 0.3:
        return math.sin(a)
    s = 0.0
    for i in range(len(x)):
        s += x[(3 * i) // 2]
    return s


def dead_read_in_a_statement(x, a, k):
    unused = x[k] * a
    return a * a


@pytest.mark.parametrize("function", [dead_loop_over_an_argument, dead_loop_over_a_local_array,
                                      dead_read_in_a_statement])
@pytest.mark.parametrize("method", ["reverse", "forward"])
def test_reads_of_a_dead_statement_are_still_checked(function, method):
    """Python makes every read of a statement whose value is never used; the kernels dropped the whole statement,
    so the value kernel, the forward mode and (by accident, through a sweep of zeros) reverse mode disagreed on
    whether `x[(3 * i) // 2]` past the end raises (fuzz seed 1002607)."""
    short, long_enough = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0])
    extra = (3,) if function is dead_read_in_a_statement else ()
    transform = sg.value_and_grad(function, wrt=("a",), method=method)
    with pytest.raises(IndexError):
        function(short, 0.5, *extra)
    with pytest.raises(IndexError):
        transform(short, 0.5, *extra)
    with pytest.raises(IndexError):
        transform.value(short, 0.5, *extra)
    fine = (1,) if extra else ()
    assert transform(long_enough, 0.5, *fine) == (function(long_enough, 0.5, *fine), (1.0,))  # d(a*a)/da at 0.5


def test_a_statement_after_a_constant_return_is_not_run():
    """A statement after a return that is always taken is not run by Python, so its reads are not checked."""
    x = np.array([1.0, 2.0, 3.0])
    for method in ("reverse", "forward"):
        value, (gradient,) = sg.value_and_grad(dead_after_an_early_return, wrt=("a",), method=method)(x, 0.5)
        assert value == dead_after_an_early_return(x, 0.5) and gradient == pytest.approx(math.cos(0.5), rel=1e-15)


def int_bound_after_a_return(x, a, n):
    s = float(np.sum(x))
    return a * s
    for i in range(n):  # never runs: n is no int to symgrad either
        s += x[i]
    return s


def test_an_argument_used_only_after_a_return_gets_no_kind_from_that_use():
    """Kinds were read off the whole body, dead code included: `range(n)` after the return made `n` an int, and the
    call-time check of int arguments (below 2**53) refused n = 2**63 - 1, which Python never uses (fuzz seed
    9900867, `--interpret`, minimised)."""
    x = np.array([1.0, -2.0, 0.5])
    for n in (2**63 - 1, 1.5, 3):
        value, gradient = sg.value_and_grad(int_bound_after_a_return, wrt=("x", "a"))(x, 0.7, n)
        assert value == int_bound_after_a_return(x, 0.7, n)
        np.testing.assert_allclose(gradient[0], np.full(3, 0.7), rtol=1e-15)  # d(a * sum(x))/dx by hand
        assert gradient[1] == pytest.approx(-0.5, rel=1e-15)


def squashed_branch(u, v):
    if u > 0.63:
        return v if u <= -0.93 else u
    t = v % 1.1
    return u / (1.5 + t * t)


def nested_branches_in_a_recurrence(x, a, b, c):
    v = (1.15**2 if (b - c) <= -0.82 else b + a) if (c + b) > -0.11 else a + (c + c)
    s = 0.0
    for i in range(len(x)):
        s += x[i]
    h = b
    for i in range(len(x)):
        h = math.tanh(-0.86 * h + (0.1 * i) / (1.5 + squashed_branch(a + s, squashed_branch(v, c))
                                               * squashed_branch(a + s, squashed_branch(v, c))))
    return 0.62 * v + 0.48 * s + 0.35 * h + a * b


@pytest.mark.parametrize("method", ["forward", "reverse"])
def test_nested_branches_fold_term_by_term(method):
    """Forward mode folded the branches of a whole tangent at once, multiplying the branches of every term
    together: minutes for four nested helper branches (fuzz seed 1003323).  Reverse mode folds term by term."""
    x = np.array([-0.68, 0.41, -0.60, -0.15, -0.16])
    point = (x, 0.157, -0.731, -1.289)
    value, gradient = sg.value_and_grad(nested_branches_in_a_recurrence, wrt=(1, 2, 3), method=method)(*point)
    assert value == pytest.approx(nested_branches_in_a_recurrence(*point), rel=1e-14)
    for k, position in enumerate((1, 2, 3)):
        reference = richardson_gradient(nested_branches_in_a_recurrence, point, position)
        assert gradient[k] == pytest.approx(reference, rel=1e-8, abs=1e-12)


# --- a NaN in a condition: Python's `not`, never SymPy's negated comparison ---------------------------------------
# SymPy writes `Not(x > 1)` as `x <= 1`, false at a NaN where Python's `not` is true, and takes `x <= 1` for the
# complement of `x > 1` (an `or` of both is True, a later `elif x <= 1` always holds).  Each program below is run
# at a NaN and at numbers on both sides; the value must be Python's and the gradient along z (smooth in z) that of
# the side Python takes, as central differences at the same x give it.
def not_greater_returns(x, z):
    if not x > 1.0:
        return 2.0 * z
    return 3.0 * z


def else_branch_binds(x, z):
    if x > 1.0:
        y = 3.0 * z
    else:
        y = z * z
    return y


def else_branch_stores(x, z):
    a = np.zeros(2)
    if x > 1.0:
        a[0] = z
    else:
        a[1] = z * z
    return a[0] + 2.0 * a[1]


def not_in_a_conditional_expression(x, z):
    return z * z if not x <= 0.5 else 4.0 * z


def not_of_a_chain(x, z):
    if not 0.0 < x < 1.0:
        return z * z
    return -z


def not_of_an_and(x, z):
    return 5.0 * z if not (x > 1.0 and z > 0.0) else z


def not_of_an_or(x, z):
    return 5.0 * z if not (x > 1.0 or z < 0.0) else z * z


def or_of_complements(x, z):
    if x > 1.0 or x <= 1.0:
        return z
    return 7.0 * z


def elif_of_the_complement(x, z):
    if x > 1.0:
        y = z
    elif x <= 1.0:
        y = 2.0 * z
    else:
        y = z * z * z
    return y


def elif_of_the_complement_and_more(x, z):
    if x > 1.0:
        y = z
    elif x <= 1.0 and z > 0.0:
        y = 2.0 * z
    else:
        y = z * z * z
    return y


def not_of_a_named_condition(x, z):
    c = x >= 0.5
    if not c:
        z = z * z
    return z


def not_equal_to_itself(x, z):
    return z if x != x else 2.0 * z


def equal_to_itself(x, z):
    return z * z if x == x else 2.0 * z


def at_most_itself(x, z):
    if x <= x:
        return z
    return 3.0 * z


NAN_CONDITIONS = [not_equal_to_itself, equal_to_itself, at_most_itself, not_greater_returns, else_branch_binds, else_branch_stores, not_in_a_conditional_expression,
                  not_of_a_chain, not_of_an_and, not_of_an_or, or_of_complements, elif_of_the_complement,
                  elif_of_the_complement_and_more, not_of_a_named_condition]


def _same(value, expected):
    """Equal, or both NaN."""
    return value == expected or (math.isnan(value) and math.isnan(expected))


@pytest.mark.parametrize("function", NAN_CONDITIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("variant", [{}, {"optimize": False}, {"method": "forward"}],
                         ids=["optimised", "unoptimised", "forward"])
def test_a_nan_takes_the_branch_python_takes(function, variant):
    transform = sg.value_and_grad(function, wrt=1, **variant)
    for x in (math.nan, 0.25, 2.0):
        value, dz = transform(x, 0.7)
        assert _same(value, function(x, 0.7)), x
        assert dz == pytest.approx(richardson_gradient(function, [x, 0.7], 1), rel=1e-9), x


def not_positive_in_a_loop(x, z):
    s = 0.0
    for i in range(len(x)):
        if not x[i] > 0.0:
            s += z
        else:
            s += z * z
    return s


def inverted_mask(x, z):
    return np.sum(np.where(~(x > 0.0), z, z * z))


def inverted_mask_store(x, z):
    out = np.zeros(len(x))
    out[~(x > 0.0)] = z
    return np.sum(out) + z * z


@pytest.mark.parametrize("function", [not_positive_in_a_loop, inverted_mask, inverted_mask_store],
                         ids=lambda f: f.__name__)
def test_a_nan_element_takes_the_branch_python_takes(function):
    x = np.array([0.5, math.nan, -1.0, math.nan, 2.0])
    value, dz = sg.value_and_grad(function, wrt=1)(x, 0.7)
    assert value == function(x, 0.7)
    assert dz == pytest.approx(richardson_gradient(function, [x, 0.7], 1), rel=1e-9)


def nan_mask(x, z):
    return np.sum(np.where(x != x, z, 2.0 * z))


def larger_by_one(x, z):
    return z if x + 1.0 > x else 2.0 * z


def test_comparisons_sympy_would_decide_are_pythons():
    """SymPy decides `x != x` (false) and, of real symbols, `x + 1.0 > x` (true) by algebra: a NaN and rounding
    (1e17 + 1.0 is 1e17) say otherwise in Python."""
    x = np.array([0.5, math.nan, -1.0])
    assert sg.value_and_grad(nan_mask, wrt=1)(x, 0.7) == (nan_mask(x, 0.7), 5.0)  # 1 per NaN, 2 per number
    transform = sg.value_and_grad(larger_by_one, wrt=1)
    for x in (1e17, 1.0, math.nan, math.inf):
        assert transform(x, 0.7) == (larger_by_one(x, 0.7), 1.0 if x == 1.0 else 2.0), x


def or_reads_past_the_end(x):
    if x[0] > 1.0 or x[3] > 0.0:
        return x[0]
    return 2.0 * x[1]


def and_not_reads_past_the_end(x):
    if not x[0] > 1.0 and x[3] > 0.0:
        return x[0]
    return 2.0 * x[1]


@pytest.mark.parametrize("function", [or_reads_past_the_end, and_not_reads_past_the_end], ids=lambda f: f.__name__)
def test_a_read_after_a_nan_operand_is_checked(function):
    """Python reads x[3] when x[0] is NaN (`x[0] > 1` is false): the kernel checks that read there too."""
    x = np.array([math.nan, 1.0, 2.0])
    with pytest.raises(IndexError):
        function(x)
    with pytest.raises(IndexError):
        sg.value_and_grad(function)(x)
    assert sg.value_and_grad(function)(np.array([0.5, 1.0, 2.0, 3.0]))[0] == 0.5


def numpy_max(x):
    return np.max(x)


def numpy_max_method(x):
    return x.max()


def numpy_amin(x):
    return np.amin(x)


def numpy_max_of_a_list(x):
    return np.max([x[i] * 2.0 for i in range(len(x))])


def numpy_maximum_constant_first(x):
    return np.sum(np.maximum(0.0, x))


def numpy_minimum_reversed(x):
    return np.sum(np.minimum(x[::-1], x))


def numpy_fmax_constant(x):
    return np.sum(np.fmax(x, 0.0))


def numpy_fmin_constant_first(x):
    return np.sum(np.fmin(0.5, x))


def numpy_fmax_reversed(x):
    return np.sum(np.fmax(x, x[::-1]))


def numpy_clip(x):
    return np.sum(np.clip(x, 0.0, 1.0))


def python_max_of_an_array(x):
    return max(x)


def python_min_of_a_list(x):
    return min([x[i] * 2.0 for i in range(len(x))])


def python_max_of_two(x):
    return max(x[1], x[0])


def python_min_with_a_constant_first(x):
    return min(0.5, x[1])


EXTREMES = [numpy_max, numpy_max_method, numpy_amin, numpy_max_of_a_list, numpy_maximum_constant_first,
            numpy_minimum_reversed, numpy_fmax_constant, numpy_fmin_constant_first, numpy_fmax_reversed, numpy_clip,
            python_max_of_an_array, python_min_of_a_list, python_max_of_two, python_min_with_a_constant_first]


@pytest.mark.parametrize("function", EXTREMES, ids=lambda f: f.__name__)
def test_nan_in_max_and_min_as_python_and_numpy(function):
    """np.max/np.maximum give NaN where an element is NaN, np.fmax/np.fmin the other argument, Python's max/min
    keep the first element unless a later one beats it (`max(1.0, nan)` is 1.0, `max(nan, 1.0)` NaN)."""
    transform = sg.value_and_grad(function)
    for x in ([math.nan, 1.0, -1.0], [1.0, math.nan, -1.0], [1.0, -1.0, math.nan], [-0.0, 0.0, 2.0]):
        x = np.array(x)
        assert _same(transform(x)[0], function(x)), x


# --- a differential check: the kernel's value is Python's, to the last bit and the sign of zero -------------------
def floor_division(a, b):
    return a // b


def modulo(a, b):
    return a % b


def absolute(a, b):
    return abs(a) - abs(b)


def python_max_ties(a, b):
    return max(a, b)


def python_min_ties(a, b):
    return min(a, b)


def negated(a, b):
    return -a + b * 0.5


def angle(a, b):
    return math.atan2(a, b)


def integer_powers(a, b):
    return a**3 + b**-2 + a**2.0


def reciprocal_of_a_reciprocal(a, b):
    return 1.0 / (1.0 / a) + b


def negative_integer_arithmetic_in_indices(a, b):
    x = np.array([a, b, 1.0, 2.0, 3.0])
    n = -7
    return x[n // 2] + x[n % 3] * x[-n // 3] - x[(n + 5) // -2]


def branch_at_a_tie(a, b):
    return a if a >= b else b - a


DIFFERENTIAL = [floor_division, modulo, absolute, python_max_ties, python_min_ties, negated, angle, integer_powers,
                reciprocal_of_a_reciprocal, negative_integer_arithmetic_in_indices, branch_at_a_tie]
TRICKY = [(-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (-0.0, 1.0), (0.0, -1.0), (-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0),
          (2.5, 2.5), (-2.5, -2.5), (0.1, 3.0), (1.5, -0.0), (-1e-320, 3.0), (0.7, 0.1)]


@pytest.mark.parametrize("function", DIFFERENTIAL, ids=lambda f: f.__name__)
def test_values_are_pythons_at_tricky_numbers(function):
    """Negatives, signed zeros, exact ties: the value is Python's bit for bit (a zero with its sign) wherever
    Python returns a number; see docs/conventions.md for the rewrites that are exact only up to rounding."""
    transform = sg.value_and_grad(function, wrt=(0, 1))
    for a, b in TRICKY:
        try:
            expected = function(a, b)
        except ZeroDivisionError:
            continue  # (a float division by zero: the kernel gives inf or nan, docs/conventions.md)
        value = transform(a, b)[0]
        assert value == expected and math.copysign(1.0, value) == math.copysign(1.0, expected), (a, b)
