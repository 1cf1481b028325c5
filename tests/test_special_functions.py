"""scipy.special's functions of statistics code, to second order: the runtime's polygamma (digamma, trigamma and
above) against SciPy's over 1e-8..1e6 and at negative non-integer x; log_ndtr and its derivative phi/Phi against
SciPy and mpmath into the far left tail; digamma/psi, polygamma(n, x), ndtr, log_ndtr, betaln, softmax,
log_softmax and logsumexp (b= weights) on numbers and whole arrays against JAX (float64), the same source run on
jax.numpy; Hessians through gammaln, math.lgamma, math.gamma, scipy.special.gamma, digamma, polygamma and log_ndtr
against JAX's; their LaTeX; and the refusals."""

import math

import mpmath
import numpy as np
import pytest
import scipy.special as ss

import symgrad as sg
from symgrad import errors
from symgrad.runtime import digamma, inverse_mills, inverse_mills_slope, log_ndtr, polygamma

from conftest import matches_jax, richardson_gradient, write_module

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

RNG = np.random.default_rng(20261204)
POSITIVE = np.concatenate([np.logspace(-8, 6, 2000), RNG.uniform(0.0, 25.0, 1500), [1.0, 2.0, 1.4616321449683622]])
NEGATIVE = -np.concatenate([RNG.uniform(0.0, 30.0, 1500), np.logspace(-8, 3, 400), [0.5, 1.5, 0.5040830082644554]])
NEGATIVE = NEGATIVE[np.floor(NEGATIVE) != NEGATIVE]


# --- the runtime ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(8))
def test_polygamma_is_scipys_to_the_last_bits_for_positive_x(n):
    ours = np.array([polygamma(n, x) for x in POSITIVE])
    np.testing.assert_allclose(ours, ss.polygamma(n, POSITIVE), rtol=1e-14, atol=0)


@pytest.mark.parametrize("n", range(8))
def test_polygamma_by_reflection_at_negative_non_integers(n):
    """Against mpmath (SciPy's own is 6e-12 off at polygamma(6, -1.5)): relative to the reflection's two terms,
    which cancel near the zeros of digamma and the even orders (1e-14 of the result elsewhere)."""
    x = NEGATIVE[::5]
    ours = np.array([polygamma(n, v) for v in x])
    with mpmath.workdps(40):
        expected = np.array([float(mpmath.polygamma(n, v)) for v in x])
    reflected = ss.polygamma(n, 1.0 - x)
    scale = np.abs(expected) if n % 2 else np.abs(reflected) + np.abs(reflected - expected)
    assert np.max(np.abs(ours - expected) / scale) <= 1e-14
    if n % 2 == 1:  # the two terms add: nothing cancels, and SciPy's agrees
        np.testing.assert_allclose([polygamma(n, v) for v in NEGATIVE], ss.polygamma(n, NEGATIVE), rtol=1e-14)


def test_digamma_keeps_its_relative_accuracy_near_its_roots():
    with mpmath.workdps(40):
        for root in (1.4616321449683622, -0.5040830082644554):
            for x in root + np.array([-0.09, -1e-3, -1e-9, 0.0, 1e-12, 1e-6, 0.05]):
                assert digamma(x) == pytest.approx(float(mpmath.digamma(x)), rel=1e-14)


def test_polygamma_at_poles_infinities_and_nan_is_scipys():
    for n in range(4):
        for x in (0.0, -1.0, -2.0, math.inf, math.nan):  # (at -inf NaN, where SciPy's trigamma is inf)
            ours, expected = polygamma(n, x), ss.polygamma(n, x)
            assert ours == expected or math.isnan(ours) and math.isnan(expected), (n, x, ours, expected)


def test_log_ndtr_its_slope_and_their_slope_into_both_tails():
    x = np.concatenate([np.linspace(-60.0, 37.0, 971), [-40.0, -2.0, -2.000001, -1.999999, 2.0, 2.000001, -1e3]])
    ours = np.array([log_ndtr(v) for v in x])
    np.testing.assert_allclose(ours, ss.log_ndtr(x), rtol=1e-12, atol=0)  # (SciPy's own is 2e-13 off at 36)
    assert log_ndtr(-40.0) == pytest.approx(-804.6084420137538, rel=1e-15)
    with mpmath.workdps(400):
        for v in x[::7]:
            ratio = mpmath.npdf(v) / mpmath.ncdf(v)
            assert log_ndtr(v) == pytest.approx(float(mpmath.log(mpmath.ncdf(v))), rel=3e-15, abs=1e-300)
            assert inverse_mills(v) == pytest.approx(float(ratio), rel=1e-15, abs=1e-300)
            assert inverse_mills_slope(v) == pytest.approx(float(-ratio * (v + ratio)), rel=5e-15, abs=1e-300)
    assert (log_ndtr(-math.inf), inverse_mills(-math.inf), inverse_mills_slope(-math.inf)) == (-math.inf, math.inf,
                                                                                               -1.0)
    assert (log_ndtr(math.inf), inverse_mills(math.inf), inverse_mills_slope(math.inf)) == (0.0, 0.0, 0.0)


# --- the spellings, against JAX --------------------------------------------------------------------------------------
SOURCE = '''
def digammas(x):
    return np.sum(digamma(x) * x + psi(x) ** 2)

def polygammas(x):
    return np.sum(polygamma(1, x) + polygamma(2, x) * x) + polygamma(3, x[0]) + polygamma(0, x[1])

def normal_cdfs(x):
    return np.sum(ndtr(x) * x + log_ndtr(x))

def betas(a, b):
    return np.sum(betaln(a, b) * a) + betaln(a[0], 2.5)

def softmaxes(A):
    return (np.sum(softmax(A, axis=1) ** 2) + np.sum(log_softmax(A, 0) ** 2) + np.sum(softmax(A) * A)
            + np.sum(log_softmax(A, axis=-1) * A) + np.sum(softmax(A[0]) * A[1]))

def softmaxes_by_keyword(A):  # (JAX's softmax takes its axis by keyword only)
    return np.sum(softmax(A, axis=1) ** 2) + np.sum(log_softmax(A, axis=0) ** 2)

def weighted_logsumexps(A, B):
    return (np.sum(logsumexp(A, axis=1, b=B)) + logsumexp(A, b=B) + np.sum(logsumexp(A, 0, B, True) ** 2)
            + np.sum(logsumexp(A, 1)) + logsumexp(A[0], b=B[0]))

def of_numbers(t, u):
    return (digamma(t) * u + polygamma(2, t) + ndtr(u) + log_ndtr(t - u) + betaln(t, u)
            + psi(u) ** 2)
'''
NAMES = "digamma, polygamma, ndtr, log_ndtr, betaln, softmax, log_softmax, logsumexp"
NUMPY = write_module(f"import numpy as np\nfrom scipy.special import psi, {NAMES}\n" + SOURCE,
                     name="special_functions_cases")
JAX = write_module(f"import jax.numpy as np\nfrom jax.scipy.special import {NAMES}\npsi = digamma\n" + SOURCE,
                   name="special_functions_cases_jax")

A = RNG.normal(size=(3, 4))
CASES = {
    "digammas": ((np.array([0.3, 1.4, 2.5, 7.0, 30.0, -0.7]),), (0,)),
    "polygammas": ((np.array([0.3, 1.4, 2.5, 7.0, 30.0, -2.3]),), (0,)),
    "normal_cdfs": ((np.array([-8.0, -6.0, -1.0, 0.0, 0.5, 4.0]),), (0,)),  # (JAX's slope is 2e-10 off at -30)
    "betas": ((RNG.uniform(0.2, 8.0, 5), RNG.uniform(0.2, 8.0, 5)), (0, 1)),
    "softmaxes_by_keyword": ((A,), (0,)),
    "weighted_logsumexps": ((A, RNG.uniform(0.5, 2.0, (3, 4))), (0, 1)),
    "of_numbers": ((1.7, 0.6), (0, 1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_jax(name):
    args, wrt = CASES[name]
    matches_jax(sg.value_and_grad(getattr(NUMPY, name), wrt=wrt), getattr(NUMPY, name), getattr(JAX, name), args,
                wrt)


def test_softmax_and_log_softmax_take_the_axis_by_position_or_keyword_and_every_axis_is_scipys():
    transform = sg.value_and_grad(NUMPY.softmaxes)
    value, gradient = transform(A)
    assert value == pytest.approx(NUMPY.softmaxes(A), rel=1e-13)
    np.testing.assert_allclose(gradient, richardson_gradient(NUMPY.softmaxes, [A], 0), rtol=1e-8, atol=1e-10)
    keyword_value, keyword_gradient = sg.value_and_grad(NUMPY.softmaxes_by_keyword)(A)
    jax_value, jax_gradient = jax.value_and_grad(JAX.softmaxes_by_keyword)(A)
    assert keyword_value == pytest.approx(float(jax_value), rel=1e-13)
    np.testing.assert_allclose(keyword_gradient, np.asarray(jax_gradient), rtol=1e-10, atol=1e-12)


def test_log_ndtr_and_its_gradient_far_in_the_left_tail_are_scipys_and_mpmaths():
    x = np.array([-1e4, -40.0, -38.5, -25.0, -20.0, -8.0])
    value, gradient = sg.value_and_grad(NUMPY.normal_cdfs)(x)
    assert np.isfinite(value)
    assert value == pytest.approx(np.sum(ss.ndtr(x) * x + ss.log_ndtr(x)), rel=1e-14)
    with mpmath.workdps(60):
        expected = [float(mpmath.ncdf(v) + v * mpmath.npdf(v) + mpmath.npdf(v) / mpmath.ncdf(v)) for v in x]
    np.testing.assert_allclose(gradient, expected, rtol=1e-13)


ERFC = write_module("""
    import math
    import numpy as np
    from scipy.special import erfc

    def log_cdf(x):
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))

    def log_cdfs(x):
        return np.sum(np.log(0.5 * erfc(-x / np.sqrt(2.0))))
""")


@pytest.mark.parametrize("x", [-3.0, -10.0, -30.0, -37.0, 2.0])
def test_erfc_of_a_negated_argument_keeps_the_left_tail(x):
    """The normal CDF spelled 0.5 * erfc(-x / sqrt 2): SymPy's erfc rewrote erfc(-y) as 2 - erfc(y), so the log was
    -inf (and the gradient inf) from x = -10 down, where Python's own value is -53.2."""
    with mpmath.workdps(60):
        expected_value = float(mpmath.log(mpmath.ncdf(x)))
        expected_slope = float(mpmath.npdf(x) / mpmath.ncdf(x))
    value, slope = sg.value_and_grad(ERFC.log_cdf)(x)
    assert value == pytest.approx(expected_value, rel=1e-13) and value == pytest.approx(ERFC.log_cdf(x), rel=1e-15)
    assert slope == pytest.approx(expected_slope, rel=1e-12)
    array_value, array_slope = sg.value_and_grad(ERFC.log_cdfs)(np.array([x, x]))
    assert array_value == pytest.approx(2 * expected_value, rel=1e-13)
    np.testing.assert_allclose(array_slope, [expected_slope, expected_slope], rtol=1e-12)
    assert r"\operatorname{erfc}" in sg.grad(ERFC.log_cdf).latex()


def test_a_softmax_of_a_number_is_one_and_every_function_takes_numbers():
    def scalars(t):
        return softmax(t) * t + log_softmax(t) + ss.digamma(t) + ss.polygamma(1, t) + ss.ndtr(t) + ss.log_ndtr(t)

    softmax, log_softmax = ss.softmax, ss.log_softmax
    value, gradient = sg.value_and_grad(scalars)(0.8)
    assert value == pytest.approx(0.8 + ss.digamma(0.8) + ss.polygamma(1, 0.8) + ss.ndtr(0.8) + ss.log_ndtr(0.8),
                                  rel=1e-14)
    assert gradient == pytest.approx(richardson_gradient(scalars, [0.8], 0), rel=1e-9)


# --- second order ----------------------------------------------------------------------------------------------------
def lgamma_loop(x):
    s = 0.0
    for i in range(len(x)):
        s += math.lgamma(x[i]) * x[i] + math.gamma(x[i] / 2) + x[i] * x[(i + 1) % len(x)] * math.lgamma(x[i] + 1)
    return s


def lgamma_twin(x):
    return jnp.sum(jax.scipy.special.gammaln(x) * x + jnp.exp(jax.scipy.special.gammaln(x / 2))
                   + x * jnp.roll(x, -1) * jax.scipy.special.gammaln(x + 1))


def scipy_gammas(x):
    return np.sum(ss.gammaln(x) ** 2 + ss.gamma(x) * x + ss.digamma(x) * x ** 2 + ss.polygamma(1, x) * x[0])


def scipy_gammas_twin(x):
    special = jax.scipy.special
    return jnp.sum(special.gammaln(x) ** 2 + special.gamma(x) * x + special.digamma(x) * x ** 2
                   + special.polygamma(1, x) * x[0])


def log_ndtr_likelihood(w):
    return np.sum(ss.log_ndtr(w * np.array([1.0, -2.0, 0.5])) + w[0] * ss.log_ndtr(w))


def log_ndtr_twin(w):
    special = jax.scipy.special
    return jnp.sum(special.log_ndtr(w * jnp.array([1.0, -2.0, 0.5])) + w[0] * special.log_ndtr(w))


@pytest.mark.parametrize("function, twin, x", [
    (lgamma_loop, lgamma_twin, np.array([0.7, 2.5, 4.2, 11.0])),
    (scipy_gammas, scipy_gammas_twin, np.array([0.7, 2.5, 4.2, 1.9])),
    (log_ndtr_likelihood, log_ndtr_twin, np.array([-3.0, 0.4, 2.0])),
    (log_ndtr_likelihood, log_ndtr_twin, np.array([-6.0, 5.0, 1.5])),
])
def test_hessians_through_gamma_digamma_and_log_ndtr_are_jaxs(function, twin, x):
    hessian = sg.hessian(function)(x)
    np.testing.assert_allclose(hessian, np.asarray(jax.hessian(twin)(x)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-13, atol=0)


def test_hessian_of_log_ndtr_far_in_the_left_tail():
    def tail(t):
        return ss.log_ndtr(t)

    hessian = sg.hessian(tail)
    with mpmath.workdps(60):
        for t in (-1e4, -40.0, -21.0, -10.0, -2.5, 0.3):
            r = mpmath.npdf(t) / mpmath.ncdf(t)  # (x + r cancels to 1/|x| in the tail: the slope is computed apart)
            assert hessian(t) == pytest.approx(float(-r * (t + r)), rel=1e-14)


def test_a_hessian_through_math_gamma_and_lgamma_of_numbers_is_the_closed_form():
    def f(a, b):
        return math.lgamma(a * b) + math.gamma(a) * b

    a, b = 1.3, 2.2
    expected = np.array([[b * b * ss.polygamma(1, a * b) + ss.gamma(a) * (ss.polygamma(1, a) + ss.digamma(a) ** 2) * b,
                          ss.digamma(a * b) + a * b * ss.polygamma(1, a * b) + ss.gamma(a) * ss.digamma(a)],
                         [0.0, a * a * ss.polygamma(1, a * b)]])
    expected[1, 0] = expected[0, 1]
    np.testing.assert_allclose(sg.hessian(f, wrt=(0, 1))(a, b), expected, rtol=1e-13)


# --- display, kernels and refusals -----------------------------------------------------------------------------------
def test_latex_writes_psi_phi_and_log_phi():
    latex = sg.value_and_grad(NUMPY.of_numbers, wrt=(0, 1)).latex()
    for piece in (r"\psi\left(t\right)", r"\psi^{(2)}\left(t\right)", r"\psi^{(3)}\left(t\right)",
                  r"\log \Phi\left(t - u\right)", r"\Phi\left(u\right)", r"\frac{\phi\left(t - u\right)}"):
        assert piece in latex, piece
    assert "polygamma" not in latex


def test_the_kernels_call_the_runtime_by_name():
    transform = sg.value_and_grad(NUMPY.of_numbers, wrt=(0, 1))
    transform(1.7, 0.6)
    source = transform.source()
    for call in ("digamma(t)", "polygamma(2, t)", "polygamma(3, t)", "log_ndtr(", "inverse_mills(", "math.erfc("):
        assert call in source, call
    assert "from symgrad.runtime import" in source


def test_polygamma_needs_a_literal_integer_order():
    def fractional(x):
        return ss.polygamma(1.5, x)

    with pytest.raises(errors.UnsupportedCallError, match="non-negative integer literal"):
        sg.grad(fractional)(2.0)


def test_logsumexp_return_sign_is_refused():
    def signed(a):
        return ss.logsumexp(a, return_sign=True)[0]

    with pytest.raises(errors.UnsupportedCallError, match="return_sign"):
        sg.grad(signed)(np.ones(3))
