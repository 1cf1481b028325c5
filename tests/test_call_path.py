"""The call path: keywords at the first call, read-only arrays, booleans refused, and no display on the way."""

import math
import time

import numpy as np
import pytest
from conftest import write_module

import symgrad as sg
from symgrad import display

SOURCE = """
import math

import numpy as np


def rosen(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def powered(x, n):
    s = 0.0
    for i in range(n):
        s += x * (i + 1)
    return s * x


def scaled_power(x, a=2.0, n=3):
    return a * x ** n


def penalised(x, *, lam=0.5, power=2):
    s = 0.0
    for i in range(len(x)):
        s += x[i] ** power
    return lam * s


def weighted(x, w=np.array([1.0, 2.0, 3.0])):
    return np.sum(w * x ** 2)


def dot(w, x):
    s = 0.0
    for i in range(len(w)):
        s += w[i] * x[i] * w[i]
    return s


def residuals(w, x):
    return w[0] * np.exp(-w[1] * x) + w[2] * x
"""


@pytest.fixture(scope="module")
def functions():
    return write_module(SOURCE)


def _rosen_gradient(x, y):
    return (-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x))


# --- keywords --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ["__call__", "value", "value_and_grad"])
def test_keywords_at_the_first_call(functions, entry):
    transform = sg.grad(functions.rosen, wrt=("x", "y"))
    result = getattr(transform, entry)(y=2.0, x=1.5)
    expected = {"__call__": _rosen_gradient(1.5, 2.0), "value": (functions.rosen(1.5, 2.0),),
                "value_and_grad": (functions.rosen(1.5, 2.0), *_rosen_gradient(1.5, 2.0))}[entry]
    flat = (result[0], *result[1]) if entry == "value_and_grad" else result if entry == "__call__" else (result,)
    assert flat == pytest.approx(expected, rel=1e-14)
    assert getattr(transform, entry)(1.5, y=2.0) == result  # and after it
    assert getattr(transform, entry)(1.5, 2.0) == result


def test_an_int_argument_by_keyword(functions):
    g = sg.grad(functions.powered, wrt="x")
    assert g(n=4, x=1.5) == pytest.approx(2.0 * 1.5 * 10.0, rel=1e-14)
    assert g(x=1.5, n=3) == pytest.approx(2.0 * 1.5 * 6.0, rel=1e-14)
    assert g(1.5, 2) == pytest.approx(2.0 * 1.5 * 3.0, rel=1e-14)


@pytest.mark.parametrize("entry", ["__call__", "value_and_grad"])
def test_default_values_fill_the_arguments_left_out(functions, entry):
    """Regression: a call leaving out arguments that have defaults was refused by the dispatcher."""
    g = getattr(sg.value_and_grad(functions.scaled_power, wrt="x"), entry)
    for _ in range(2):  # the first call and the ones after it take different paths
        assert g(1.5) == pytest.approx((2.0 * 1.5**3, 2.0 * 3 * 1.5**2), rel=1e-14)
        assert g(1.5, 3.0) == pytest.approx((3.0 * 1.5**3, 3.0 * 3 * 1.5**2), rel=1e-14)
        assert g(1.5, n=2) == pytest.approx((2.0 * 1.5**2, 2.0 * 2 * 1.5), rel=1e-14)
        assert g(1.5, 1.0, 4) == pytest.approx((1.5**4, 4 * 1.5**3), rel=1e-14)


def test_keyword_only_arguments_reach_the_kernels(functions):
    """Regression (found by probing): `def f(x, *, lam=0.5)` lost its keyword-only arguments on the way to the
    kernels, and Numba's dispatcher raised `not enough arguments: expected 2, got 1`."""
    x = np.array([1.0, 2.0, 3.0])
    g = sg.value_and_grad(functions.penalised, wrt="x")
    for _ in range(2):  # the first call and the ones after it take different paths
        value, x_bar = g(x)
        assert value == 7.0 and np.array_equal(x_bar, x)  # 0.5 * (2 x)
        value, x_bar = g(x, lam=2.0, power=3)
        assert value == 72.0 and np.array_equal(x_bar, 6.0 * x ** 2)


def test_an_array_given_as_a_default_is_an_array(functions):
    """Regression (found by probing): the first call's arrays decide the kinds, and a default array was not
    among them, so `w` was taken for a float and the call refused it."""
    x = np.array([0.5, -1.0, 2.0])
    g = sg.value_and_grad(functions.weighted, wrt="x")
    for _ in range(2):
        value, x_bar = g(x)
        assert value == 14.25 and np.array_equal(x_bar, 2 * np.array([1.0, 2.0, 3.0]) * x)
    assert g(x, np.ones(3))[0] == 5.25


@pytest.mark.parametrize("call, named", [
    (lambda g: g(x=1.5), "'y'"),
    (lambda g: g(1.5, 2.0, z=1.0), "'z'"),
    (lambda g: g(1.5, x=2.0), "'x'"),
])
def test_wrong_keywords_at_the_first_call_are_named(functions, call, named):
    with pytest.raises(TypeError, match=named):
        call(sg.grad(functions.rosen, wrt=("x", "y")))


# --- read-only arrays ------------------------------------------------------------------------------------------
def _read_only_arrays(tmp_path, values):
    frozen = values.copy()
    frozen.setflags(write=False)
    path = tmp_path / "w.bin"
    values.tofile(path)
    return {"frombuffer": np.frombuffer(values.tobytes()), "setflags": frozen,
            "memmap": np.memmap(path, dtype=np.float64, mode="r", shape=values.shape)}


def test_read_only_arrays_are_accepted(functions, tmp_path):
    w, x = np.linspace(-1.0, 2.0, 7), np.linspace(0.5, 1.5, 7)
    g = sg.value_and_grad(functions.dot, wrt="w")
    value, gradient = g(w, x)  # the writable signature, compiled first
    for how, frozen in _read_only_arrays(tmp_path, w).items():
        assert not frozen.flags.writeable
        frozen_value, frozen_gradient = g(frozen, x)
        assert frozen_value == value, how
        np.testing.assert_allclose(frozen_gradient, 2.0 * w * x, rtol=1e-15, err_msg=how)
    assert len(g.kernels.value_and_grad.overloads) == 1, "a read-only array compiled the kernel again"


def test_a_read_only_array_at_the_first_call(functions, tmp_path):
    w, x = np.linspace(-1.0, 2.0, 7), np.linspace(0.5, 1.5, 7)
    arrays = _read_only_arrays(tmp_path, x)
    g = sg.grad(functions.dot, wrt="w")
    np.testing.assert_allclose(g(w, arrays["memmap"]), 2.0 * w * x, rtol=1e-15)


@pytest.mark.parametrize("bad, reason", [
    (lambda w: w.astype(np.float32), "float64"),
    (lambda w: np.ascontiguousarray(np.stack([w, w]).T)[:, 0], "C-contiguous"),
    (lambda w: w[:, None].copy(), "1-D"),
])
def test_wrong_arrays_are_named_with_the_reason(functions, bad, reason):
    w, x = np.linspace(-1.0, 2.0, 7), np.linspace(0.5, 1.5, 7)
    g = sg.grad(functions.dot, wrt="w")
    g(w, x)
    with pytest.raises(TypeError, match=f"'w'.*{reason}"):
        g(bad(w), x)


# --- booleans --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, named", [((True, 2.0), "'x'"), ((1.5, np.bool_(False)), "'y'")])
def test_booleans_are_refused_as_floats(functions, args, named):
    g = sg.grad(functions.rosen, wrt=("x", "y"))
    with pytest.raises(TypeError, match=named):  # at the first call
        g(*args)
    assert g(1.5, 2.0) == pytest.approx(_rosen_gradient(1.5, 2.0), rel=1e-14)
    with pytest.raises(TypeError, match=named):  # and on the dispatcher's own path
        g(*args)
    assert g(1, 2) == pytest.approx(_rosen_gradient(1.0, 2.0), rel=1e-14)  # ints are numbers


def test_booleans_are_refused_as_ints(functions):
    g = sg.grad(functions.powered, wrt="x")
    assert g(1.5, 3) == pytest.approx(2.0 * 1.5 * 6.0, rel=1e-14)
    with pytest.raises(TypeError, match="'n'"):
        g(1.5, True)


# --- the display is not on the call path, and has a time budget ---------------------------------------------------
def test_a_call_never_renders_formulas(functions, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the display ran on a call's path")

    monkeypatch.setattr(display, "render", refuse)
    module = write_module(SOURCE.replace("100.0", "90.0"))
    g = sg.value_and_grad(module.rosen, wrt=("x", "y"))
    value, gradient = g(1.5, 2.0)
    assert value == pytest.approx(module.rosen(1.5, 2.0), rel=1e-14)
    assert gradient[1] == pytest.approx(180.0 * (2.0 - 1.5 * 1.5), rel=1e-14)


def test_the_display_keeps_its_time_budget(monkeypatch):
    """A closed form whose simplification does not end: `.latex()` falls back to the statements with a note."""
    module = write_module("""
        import math

        def slow(x, y):
            a = max(x * y, y - x)
            unused = math.sin(a)
            return math.exp(math.tanh(a * x + y))
    """)
    tidy = display._tidy

    def endless(expr):
        for _ in range(6000):  # 60 s unless interrupted
            time.sleep(0.01)
        return tidy(expr)

    monkeypatch.setattr(display, "_tidy", endless)
    monkeypatch.setattr(display, "TIME_BUDGET", 1.0)
    g = sg.grad(module.slow, wrt=("x", "y"))
    started = time.perf_counter()
    gradient = g(0.3, 0.7)
    assert time.perf_counter() - started < 30.0
    a = 0.3 * 0.7 if 0.3 * 0.7 > 0.7 - 0.3 else 0.7 - 0.3
    outer = math.exp(math.tanh(a * 0.3 + 0.7)) * (1.0 - math.tanh(a * 0.3 + 0.7) ** 2)
    assert gradient == pytest.approx((outer * (a + 0.3 * -1.0), outer * (0.3 * 1.0 + 1.0)), rel=1e-13)

    started = time.perf_counter()
    latex, text = g.latex(), str(g)
    assert time.perf_counter() - started < 10.0
    assert "closed form not shown" in latex and "closed form not shown" in text
    assert r"\frac{\partial" in latex


def test_read_only_arrays_are_accepted_by_the_second_order_and_jacobian_transforms(functions, tmp_path):
    """hessian, value_grad_and_hessian and reverse-mode Jacobians compile loops around the kernels, which Numba
    typed apart for a read-only array and then could not call the kernels with: a TypingError (found by probing)."""
    w, x = np.array([0.7, -1.2, 2.0]), np.linspace(0.5, 1.5, 3)
    hessian = np.diag(2.0 * x)  # of sum(w_i^2 x_i)
    jacobian = np.stack([np.exp(-w[1] * x), -w[0] * x * np.exp(-w[1] * x), x], axis=1)
    for how, frozen in _read_only_arrays(tmp_path, w).items():
        frozen_x = np.frombuffer(x.tobytes())
        np.testing.assert_allclose(sg.hessian(functions.dot)(frozen, frozen_x), hessian, rtol=1e-14, err_msg=how)
        np.testing.assert_allclose(sg.hessian(functions.dot, sparse=True)(frozen, x).toarray(), hessian, rtol=1e-14)
        value, gradient, second = sg.value_grad_and_hessian(functions.dot)(frozen, frozen_x)
        assert value == pytest.approx(np.sum(w * w * x), rel=1e-15)
        np.testing.assert_allclose(gradient, 2.0 * w * x, rtol=1e-15)
        np.testing.assert_allclose(second, hessian, rtol=1e-14)
        for mode in ("fwd", "rev"):
            np.testing.assert_allclose(sg.jacobian(functions.residuals, mode=mode)(frozen, frozen_x), jacobian,
                                       rtol=1e-14, err_msg=f"{how} {mode}")
        assert not frozen.flags.writeable  # (left as it was)


def weighted_by_a_pair(x, scales=(1.0, 2.0)):
    a, b = scales
    return a * np.sum(x ** 2) + b * x[0]


def test_an_unpacked_argument_is_an_array_and_a_tuple_for_it_is_named():
    """`a, b = scales` read scales as a number ('cannot unpack 1 value(s) into 2 names'), and a tuple default was
    reported as if the caller had passed something wrong (found by probing): it is a vector, and a tuple or list
    passed for it, or left as its default, is told to be np.array(...)."""
    x = np.array([0.5, -1.0, 2.0])
    gx, gs = sg.grad(weighted_by_a_pair, wrt=(0, 1))(x, np.array([3.0, 0.5]))
    np.testing.assert_allclose(gx, 2 * 3.0 * x + np.array([0.5, 0.0, 0.0]), rtol=1e-15)
    np.testing.assert_allclose(gs, [np.sum(x ** 2), x[0]], rtol=1e-15)
    for call in ((x,), (x, (1.0, 2.0))):
        with pytest.raises(TypeError, match=r"argument 'scales' must be a 1-D float64 array, got tuple: pass "
                                            r"np.array\(...\), also in place of a default"):
            sg.grad(weighted_by_a_pair)(*call)
