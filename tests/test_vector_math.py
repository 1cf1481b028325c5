"""symgrad.vector_math against `math` (the platform's libm, correctly rounded nearly everywhere): the largest
error in units in the last place over millions of points spread over the whole float64 range (uniform bit
patterns, so every binade counts alike, subnormals included), dense samples where the algorithms switch, and the
special values, whose results must be `math`'s exactly (sign of zero included).  Where `math` itself is more than
the bound off (glibc's cos(5.319372648326541e+255) is 8 ulp off), the reference is mpmath's correctly rounded
value; sin's and cos's worst cases of the reduction are checked against mpmath alone."""

import math
import re

import mpmath
import numba
import numpy as np
import pytest

import symgrad as sg
from conftest import matches_jax
from symgrad import codegen, vector_math

FUNCTIONS = ["exp", "log", "log1p", "tanh", "sin", "cos"]
ULP_BOUND = 2  # the documented bound (docs/performance.md)
SPECIAL = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
           -2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 1e22,
           6381956970095103 * 2.0**797, math.pi / 2, math.pi, 7.450580596923828e-09, 1.4901161193847656e-08,
           7.450580596923827e-09, 1.490116119384765e-08, 709.782712893384,
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
    interesting = {"exp": (-746.0, 710.0), "log": (0.0, 4.0), "log1p": (-1.0, 3.0), "tanh": (-20.0, 20.0),
                   "sin": (-1000.0, 1000.0), "cos": (-1000.0, 1000.0)}[name]
    low, high = interesting
    dense = rng.uniform(low, high, 1_000_000)
    small = rng.uniform(-1.0, 1.0, 500_000) * 2.0 ** rng.uniform(-60, 0, 500_000)
    return np.concatenate([everything, dense, small, np.array(SPECIAL)] + (
        [_near_multiples_of_half_pi()] if name in ("sin", "cos") else []))


def _near_multiples_of_half_pi():
    """k pi/2 as doubles for k up to 10**5, and their neighbours: where the reduction cancels the most bits."""
    multiples = np.arange(1, 100_000) * (math.pi / 2)
    return np.concatenate([multiples, np.nextafter(multiples, 0.0), np.nextafter(multiples, np.inf), -multiples])


def _correctly_rounded(name, x):
    """`name`(x) correctly rounded (mpmath with enough bits to reduce any double by pi/2)."""
    with mpmath.workprec(2300):
        return float(getattr(mpmath, name)(mpmath.mpf(float(x))))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_two_ulp_of_math_everywhere(name):
    xs = _points(name, np.random.default_rng(20261202 + FUNCTIONS.index(name)))
    got, want = _kernel(name)(xs), _reference(name)(xs)
    errors = _ulp_errors(got, want)
    libm_off = np.flatnonzero(errors > ULP_BOUND)[:20]  # math is the one that is off at these (a few at most)
    exact = np.array([_correctly_rounded(name, x) for x in xs[libm_off]])
    assert np.all(_ulp_errors(want[libm_off], exact) > ULP_BOUND)
    errors[libm_off] = _ulp_errors(got[libm_off], exact)
    worst = int(np.argmax(errors))
    assert errors[worst] <= ULP_BOUND, f"{name}({xs[worst]!r}) = {got[worst]!r}, math gives {want[worst]!r}"


WORST_REDUCTIONS = [6381956970095103 * 2.0**797, 1e22, 5.319372648326541e+255, 1.7976931348623157e308, 2.0**1023,
                    2.0**-27, 1.5707963267948966, 3.141592653589793, 4.71238898038469, 1e300, 8.98846567431158e307]


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_the_reductions_worst_cases_are_within_the_bound_of_the_correctly_rounded_value(name):
    """Doubles nearest a multiple of pi/2 (6381956970095103 * 2**797 is the nearest of all), huge ones and the
    first multiples of pi/2 against mpmath: the reduction keeps the bits that cancel."""
    xs = np.concatenate([WORST_REDUCTIONS, -np.array(WORST_REDUCTIONS), np.arange(1, 2000) * (math.pi / 2)])
    got = _kernel(name)(xs)
    exact = np.array([_correctly_rounded(name, x) for x in xs])
    errors = _ulp_errors(got, exact)
    worst = int(np.argmax(errors))
    assert errors[worst] <= 1, f"{name}({xs[worst]!r}) = {got[worst]!r}, correctly rounded {exact[worst]!r}"


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
    assert re.search(r"fmul <\d+ x double>", ir)
    assert not re.search(r"call (double|<\d+ x double>) @(llvm\.)?(exp|log|log1p|tanh|sin|cos)\b", ir)


def test_codegen_prints_the_functions_this_module_has():
    assert codegen.VECTOR_FUNCTIONS == tuple(vector_math.VECTOR_FUNCTIONS)


def rastrigin(x):
    return 10.0 * x.shape[0] + np.sum(x**2 - 10.0 * np.cos(2 * np.pi * x))


def waves(x):
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.sin(x[i]) * math.cos(3.0 * x[i])
    return np.sum(out)


def _jax_twin(function):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    if function is rastrigin:
        return lambda x: 10.0 * x.shape[0] + jnp.sum(x**2 - 10.0 * jnp.cos(2 * jnp.pi * x))
    return lambda x: jnp.sum(jnp.sin(x) * jnp.cos(3.0 * x))


@pytest.mark.parametrize("function", [rastrigin, waves])
def test_kernels_looping_over_sin_and_cos_call_the_vector_ones_and_match_jax(function):
    """Pass `vector_functions` prints vector_sin/vector_cos in the loops over the data (Rastrigin's through
    `split_rows`' loop of terms), and the gradient still matches JAX's; with the pass off, `math`'s are printed."""
    x = np.random.default_rng(7).uniform(-500.0, 500.0, 3001)
    transform = matches_jax(sg.value_and_grad(function, wrt=(0,)), function, _jax_twin(function), (x,), (0,),
                            atol=1e-9)  # (XLA's sin and cos are a few ulp off: 1e-12 relative to 1e3 terms)
    assert "vector_sin(" in transform.source() and "vector_cos(" in transform.source()
    plain = sg.value_and_grad(function, wrt=(0,), optimize={"vector_functions": False})
    assert "vector_cos(" not in plain.source() and "math.cos(" in plain.source()
    np.testing.assert_allclose(transform(x)[1][0], plain(x)[1][0], rtol=1e-13, atol=1e-13)
