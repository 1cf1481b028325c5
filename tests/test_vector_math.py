"""symgrad.vector_math against `math` (the platform's libm, correctly rounded nearly everywhere): the largest
error in units in the last place over millions of points spread over the whole float64 range (uniform bit
patterns, so every binade counts alike, subnormals included), dense samples where the algorithms switch, and the
special values, whose results must be `math`'s exactly (sign of zero included)."""

import math
import re

import numba
import numpy as np
import pytest

from symgrad import codegen, vector_math

FUNCTIONS = ["exp", "log", "log1p", "tanh"]
ULP_BOUND = 2  # the documented bound (docs/performance.md)
SPECIAL = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
           -2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 709.782712893384,
           709.7827128933841, 709.78, -745.1332191019411, -745.1332191019412, -745.13, -708.4, -708.3, 1e-300,
           1e-20, -1e-20, 2.0**-53, -(2.0**-53), 2.0**-54, 0.41421356237309503, -0.2928932188134524, -0.999999,
           -1.0000001, 0.625, -0.625, 0.6249999, 19.1, -19.1, 40.0, 710.0, -746.0, 1e300, -1e300]


def _kernel(name):
    """A loop applying the function to an array, as the kernels do (so the function is inlined in a loop)."""
    function = vector_math.VECTOR_FUNCTIONS[name]

    @numba.njit(error_model="numpy")
    def apply(xs):
        out = np.empty_like(xs)
        for i in range(xs.shape[0]):
            out[i] = function(xs[i])
        return out

    return apply


def _reference(name):
    function = getattr(math, name)

    @numba.njit(error_model="numpy")
    def apply(xs):
        out = np.empty_like(xs)
        for i in range(xs.shape[0]):
            out[i] = function(xs[i])
        return out

    return apply


def _ordered(values):
    """The float64s as integers in the order of their values (-0.0 and 0.0 both 0), so differences count ulps."""
    bits = values.view(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFFFFFFFFFF), bits)


def _ulp_errors(got, want):
    both_nan = np.isnan(got) & np.isnan(want)
    a, b = _ordered(got), _ordered(want)
    with np.errstate(over="ignore"):
        exact = np.abs(a - b).astype(np.float64)  # exact where the signs agree (no overflow)
    errors = np.where((a ^ b) >= 0, exact, np.abs(a.astype(np.float64)) + np.abs(b.astype(np.float64)))
    errors[np.isnan(got) != np.isnan(want)] = np.inf
    errors[both_nan] = 0.0
    return errors


def _points(name, rng):
    """Bit patterns uniform over all float64 (every exponent, both signs), then uniform samples where the
    function does something other than saturate."""
    everything = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 2_000_000, dtype=np.int64,
                              endpoint=True).view(np.float64)
    interesting = {"exp": (-746.0, 710.0), "log": (0.0, 4.0), "log1p": (-1.0, 3.0), "tanh": (-20.0, 20.0)}[name]
    low, high = interesting
    dense = rng.uniform(low, high, 1_000_000)
    small = rng.uniform(-1.0, 1.0, 500_000) * 2.0 ** rng.uniform(-60, 0, 500_000)
    return np.concatenate([everything, dense, small, np.array(SPECIAL)])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_two_ulp_of_math_everywhere(name):
    xs = _points(name, np.random.default_rng(20261202 + FUNCTIONS.index(name)))
    got, want = _kernel(name)(xs), _reference(name)(xs)
    errors = _ulp_errors(got, want)
    worst = int(np.argmax(errors))
    assert errors[worst] <= ULP_BOUND, f"{name}({xs[worst]!r}) = {got[worst]!r}, math gives {want[worst]!r}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_are_maths_exactly(name):
    xs = np.array(SPECIAL)
    got, want = _kernel(name)(xs), _reference(name)(xs)
    for x, g, w in zip(xs, got, want):
        if math.isnan(w) or math.isinf(w) or w == 0.0:
            assert (math.isnan(g) and math.isnan(w)) or (g == w and math.copysign(1, g) == math.copysign(1, w)), (
                f"{name}({x!r}) = {g!r}, math gives {w!r}")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_loop_calling_them_vectorises(name):
    """The point of the module: the loop compiles to arithmetic on vectors of doubles, with no call left."""
    kernel = _kernel(name)
    kernel(np.ones(8))
    ir = next(iter(kernel.inspect_llvm().values()))
    assert re.search(r"fmul <\d+ x double>", ir) and not re.search(r"call double @(exp|log|log1p|tanh)\b", ir)


def test_codegen_prints_the_functions_this_module_has():
    assert codegen.VECTOR_FUNCTIONS == tuple(vector_math.VECTOR_FUNCTIONS)
