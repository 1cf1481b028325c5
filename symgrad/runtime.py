"""Functions the generated kernels call that neither `math` nor Numba provide."""

import math

import numba
import numpy as np


# Bernoulli numbers B_2, B_4, ..., B_22: the asymptotic series of the polygamma functions.
_BERNOULLI = np.array([1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6, -3617.0 / 510,
                       43867.0 / 798, -174611.0 / 330, 854513.0 / 138])
# digamma's two roots nearest 0 (each as a sum of two floats), with the Taylor coefficients of digamma there:
# psi(root + z) = sum_k c_k z**k, c_k = (-1)**(k + 1) zeta(k + 1, root) (mpmath, 50 digits).  Near a root the
# recurrence and the reflection cancel to a small result; the series keeps its relative accuracy.
_POSITIVE_ROOT = (1.4616321449683622, 9.549995429965697e-17)
_POSITIVE_ROOT_SERIES = np.array([
    0.9676722454476212, -0.4427631689835921, 0.258499760955651, -0.16394270544240652, 0.10782405069126237,
    -0.07219956125645471, 0.04880428816414311, -0.03316112647484736, 0.022597648232218104, -0.01542476590494896,
    0.010538791616612175, -0.007204534386356869, 0.004926781395729853, -0.003369801655439328, 0.002305126326734928,
    -0.0015769367714301972, 0.0010788252019162967, -0.0007380709389960052, 0.000504953265834602,
    -0.0003454680251063077, 0.00023635601564027053, -0.00016170622091974803, 0.0001106337276874741,
    -7.569179582195066e-05, 5.178575795222081e-05, -3.5430070947659604e-05, 2.424006611860132e-05,
    -1.6584242271854135e-05, 1.134638458466385e-05, -7.762817668462094e-06, 5.3110609208898636e-06,
    -3.6336507898010456e-06, 2.486022733129538e-06, -1.7008538854332607e-06, 1.1636675363548843e-06,
    -7.96142543124197e-07, 5.446941930669446e-07, -3.7266161283438227e-07, 2.549626552021554e-07,
    -1.7443695117727745e-07])
_NEGATIVE_ROOT = (-0.5040830082644554, -8.15428206243813e-18)
_NEGATIVE_ROOT_SERIES = np.array([
    8.939798558792134, -0.8093454625306507, 32.258572064915505, -2.761011648790828, 128.27342343090902,
    -14.70672173553036, 513.2704629562862, -75.37700066344631, 2055.5357119463315, -368.5783503832191,
    8234.667099203069, -1743.364608867363, 32997.785655255044, -8051.818155363498, 132262.95480834588,
    -36529.94596948565, 530280.3912420176, -163451.79342700253, 2126602.3725968753, -723318.8861804305,
    8530604.878543982, -3172131.3155744765, 34228316.69580112, -13807481.997263888])


@numba.njit(cache=True, error_model="numpy")
def _root_series(x, root, coefficients):
    """digamma near one of its roots: the Taylor series in z = x - root (root a sum of two floats: x - root[0] is
    exact near the root), summed by Horner's rule."""
    z = (x - root[0]) - root[1]
    total = 0.0
    for k in range(coefficients.shape[0] - 1, -1, -1):
        total = total * z + coefficients[k]
    return total * z


@numba.njit(cache=True, error_model="numpy")
def _cot_pi(x):
    """cot(pi x), with x reduced to [-1/2, 1/2] first (exactly): cot has period 1, and pi * x would round a large x
    by more than its fractional part allows.  Past |r| = 1/4 the cosine is the sine of pi (1/2 - |r|) (an exact
    difference), so that cot is 0 at the half-integers, not cos(pi / 2) = 6e-17."""
    r = x - math.floor(x + 0.5)
    cosine = math.cos(math.pi * r) if abs(r) <= 0.25 else math.sin(math.pi * (0.5 - abs(r)))
    return cosine / math.sin(math.pi * r)


@numba.njit(cache=True, error_model="numpy")
def digamma(x):
    """psi(x) = d/dx log|gamma(x)|: the Taylor series near its roots at 1.4616 and -0.5041; for x < 0 the
    reflection psi(x) = psi(1 - x) - pi cot(pi x); otherwise the recurrence psi(x) = psi(x + 1) - 1/x up to 10,
    then the asymptotic series (to B_22 / x**22).  -inf at 0 and NaN at the negative integers, as SciPy's."""
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if abs(x - _POSITIVE_ROOT[0]) < 0.5:
        return _root_series(x, _POSITIVE_ROOT, _POSITIVE_ROOT_SERIES)
    if abs(x - _NEGATIVE_ROOT[0]) < 0.1:
        return _root_series(x, _NEGATIVE_ROOT, _NEGATIVE_ROOT_SERIES)
    if x <= 0.0:
        if x == 0.0:
            return -math.inf
        if math.floor(x) == x:
            return math.nan
        return digamma(1.0 - x) - math.pi * _cot_pi(x)
    steps = 0
    while x + steps < 10.0:
        steps += 1
    y = x + steps
    inverse_square = 1.0 / (y * y)
    series = 0.0
    for k in range(_BERNOULLI.shape[0] - 1, -1, -1):
        series = (series + _BERNOULLI[k] / (2 * k + 2)) * inverse_square
    result = math.log(y) - 0.5 / y - series
    for k in range(steps - 1, -1, -1):  # (the small terms first)
        result -= 1.0 / (x + k)
    return result


@numba.njit(cache=True, error_model="numpy")
def _cot_derivative(n, c):
    """The n-th derivative of cot at a point where cot is c: a polynomial in c, P_0 = c and
    P_{k+1} = -(1 + c**2) P_k'.  Its terms share one sign, so the sum does not cancel."""
    coefficients = np.zeros(n + 2)
    coefficients[1] = 1.0
    for degree in range(1, n + 1):  # P_degree has degree `degree + 1`
        following = np.zeros(n + 2)
        for j in range(1, degree + 1):  # d/dc of c**j, times -(1 + c**2)
            following[j - 1] -= j * coefficients[j]
            following[j + 1] -= j * coefficients[j]
        coefficients = following
    total = 0.0
    for j in range(n + 1, -1, -1):
        total = total * c + coefficients[j]
    return total


@numba.njit(cache=True, error_model="numpy")
def polygamma(n, x):
    """The polygamma function psi^(n)(x), the n-th derivative of digamma, for an integer n >= 0 (NaN for n < 0).

    n >= 1: for x < 0 the reflection psi^(n)(x) = (-1)**n psi^(n)(1 - x) - pi**(n + 1) cot^(n)(pi x); otherwise
    the recurrence psi^(n)(x) = psi^(n)(x + 1) - (-1)**n n! / x**(n + 1) up to 10 + n, where the asymptotic series
    (-1)**(n + 1) [(n - 1)! / x**n + n! / (2 x**(n + 1)) + sum_k B_2k (2k + n - 1)! / ((2k)! x**(2k + n))], to B_22,
    is accurate to the last bit.  Every term of the recurrence has the sign of the result: nothing cancels.  At the
    poles (0 and the negative integers) (-1)**(n + 1) inf, as SciPy's."""
    if n == 0:
        return digamma(x)
    if n < 0 or math.isnan(x) or x == -math.inf:
        return math.nan
    sign = 1.0 if n % 2 == 1 else -1.0  # (-1)**(n + 1)
    if x == math.inf:
        return 0.0
    if x <= 0.0:
        if math.floor(x) == x:
            return sign * math.inf
        reflected = polygamma(n, 1.0 - x)
        return (reflected if n % 2 == 0 else -reflected) - math.pi ** (n + 1) * _cot_derivative(n, _cot_pi(x))
    factorial = 1.0  # (n - 1)!
    for k in range(2, n):
        factorial *= k
    threshold = 10.0 + n
    steps = 0
    while x + steps < threshold:
        steps += 1
    y = x + steps
    t = 1.0 / y
    t2 = t * t
    # 1 + n t / 2 + sum_k B_2k g_k t**2k, with g_k = (2k + n - 1)! / ((2k)! (n - 1)!): the small terms first
    terms = np.empty(_BERNOULLI.shape[0])
    g = 1.0
    power = 1.0
    for k in range(1, _BERNOULLI.shape[0] + 1):
        g *= (2 * k + n - 2) * (2 * k + n - 1) / ((2 * k - 1) * (2.0 * k))
        power *= t2
        terms[k - 1] = _BERNOULLI[k - 1] * g * power
    series = 0.0
    for k in range(_BERNOULLI.shape[0] - 1, -1, -1):
        series += terms[k]
    total = factorial * t ** n * (1.0 + (0.5 * n * t + series))
    factorial_n = factorial * n
    for k in range(steps - 1, -1, -1):  # (the small terms first)
        total += factorial_n / (x + k) ** (n + 1)
    return sign * total


_LOG_SQRT_2PI = 0.9189385332046728
_INVERSE_SQRT_2PI = 0.3989422804014327


@numba.njit(cache=True, error_model="numpy")
def _normal_density(x):
    """exp(-x**2 / 2) / sqrt(2 pi) with x**2 / 2 split exactly (x = t + d, t on a grid of 1/16, so t * t is exact):
    rounding x * x would cost a relative error of eps x**2 / 2 in the density."""
    if abs(x) > 40.0:  # (below the smallest subnormal, and inf - inf is NaN)
        return 0.0
    t = math.floor(16.0 * x) / 16.0
    d = x - t
    return math.exp(-0.5 * t * t) * math.exp(-0.5 * d * (x + t)) * _INVERSE_SQRT_2PI


@numba.njit(cache=True, error_model="numpy")
def _mills_fraction(m):
    """K(m) = 1 / (m + 2 / (m + 3 / (m + ...))), for m >= 2 (100 levels, backward: the last bits by m = 2), from
    Laplace's continued fraction of the Mills ratio, Phi(-m) / phi(m) = 1 / (m + K(m)).  At x = -m, phi/Phi is
    m + K(m), and x + phi/Phi is K(m) itself: no cancellation."""
    t = 0.0
    for k in range(100, 0, -1):
        t = k / (m + t)
    return t


@numba.njit(cache=True, error_model="numpy")
def log_ndtr(x):
    """log Phi(x), the log of the standard normal CDF, accurate in both tails: in the tails from the continued
    fraction, Phi(-m) = phi(m) / (m + K(m)): below -2 as log phi(x) - log(-x + K(-x)) (scipy.special's
    log_ndtr(-40) is -804.6084420137538, where log(ndtr(-40)) is -inf), above 2 as log1p(-Phi(-x)); between, the
    log of erfc(-x / sqrt 2) / 2."""
    if x < -2.0:
        return -0.5 * x * x - _LOG_SQRT_2PI - math.log(_mills_fraction(-x) - x)
    if x > 2.0:
        return math.log1p(-_normal_density(x) / (x + _mills_fraction(x)))
    return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))


@numba.njit(cache=True, error_model="numpy")
def inverse_mills(x):
    """phi(x) / Phi(x), d/dx log Phi(x): the ratio of the normal density to its CDF, below -2 as -x + K(-x) (the
    continued fraction, where both underflow: 40.02... at -40), above as the quotient; near 0 far to the right."""
    if x < -2.0:
        return -x + _mills_fraction(-x)
    return _normal_density(x) / (0.5 * math.erfc(-x / math.sqrt(2.0)))


@numba.njit(cache=True, error_model="numpy")
def inverse_mills_slope(x):
    """d/dx phi(x) / Phi(x) = -r (x + r) for r = phi/Phi, the second derivative of log Phi(x): below -2
    -(-x + K) K, with x + r = K(-x) from the continued fraction (the difference would cancel to 1/|x| there)."""
    if x == -math.inf:
        return -1.0
    if x < -2.0:
        fraction = _mills_fraction(-x)
        return -(fraction - x) * fraction
    r = inverse_mills(x)
    return 0.0 if r == 0.0 else -r * (x + r)  # (0 far to the right, at inf too)


@numba.njit(cache=True, inline="always", error_model="numpy")
def lane_sum(terms, count):
    """terms[0] + ... + terms[count - 1] in eight interleaved partial sums added pairwise, as NumPy's `np.sum`
    adds a block: the additions no longer wait on one another, and the rounding error is no larger than one
    running sum's (pass `lane_sums`)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    k = 0
    while k + 8 <= count:
        s0 += terms[k]
        s1 += terms[k + 1]
        s2 += terms[k + 2]
        s3 += terms[k + 3]
        s4 += terms[k + 4]
        s5 += terms[k + 5]
        s6 += terms[k + 6]
        s7 += terms[k + 7]
        k += 8
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while k < count:
        total += terms[k]
        k += 1
    return total


@numba.njit(cache=True)
def grow(tape):
    """A tape twice as long, holding what `tape` held: amortised O(1) per record."""
    longer = np.empty(2 * tape.shape[0])
    longer[: tape.shape[0]] = tape
    return longer


@numba.njit(cache=True)
def int_floordiv(a, b):
    """Python's `a // b` of integers, which raises where the kernels' error model would give 0."""
    if b == 0:
        raise ZeroDivisionError("integer division or modulo by zero")
    return a // b


@numba.njit(cache=True)
def int_mod(a, b):
    """Python's `a % b` of integers, which raises where the kernels' error model would give 0."""
    if b == 0:
        raise ZeroDivisionError("integer division or modulo by zero")
    return a % b


@numba.njit(cache=True)
def int_pow(base, exponent):
    """Python's `base ** exponent` of ints bound to an int variable (`codegen.CheckedPower`): an OverflowError where
    Python's int would grow past int64 and the kernels' would wrap around."""
    if abs(float(base)) ** exponent >= 9.223372036854775808e18:
        raise OverflowError("an int power bound to a variable (j = i ** 7) is past 2**63, where Python's int grows "
                            "and the kernels' int64 would wrap around: write float(i) ** 7 where it is a number")
    return base ** exponent


@numba.njit(cache=True, error_model="numpy")
def int_pow_slope(x, i):
    """d/dx x**i for an integer i: 0 at i = 0 (the formula i * x**(i - 1) would divide by zero at x = 0)."""
    return 0.0 if i == 0 else i * x ** (i - 1)


@numba.njit(cache=True)
def to_int(x):
    """Python's int of a float (`rules.PythonInt`): toward zero, and an error where Python raises (NaN, an
    infinity) or where its int would grow past the kernels' int64."""
    if math.isnan(x):
        raise ValueError("cannot convert float NaN to integer")
    if not -9.223372036854775808e18 <= x < 9.223372036854775808e18:
        raise OverflowError("a float too large for an int: Python's int grows past 2**63, the kernels' int64 "
                            "does not (an infinity cannot be converted at all)")
    return int(x)


@numba.njit(cache=True)
def slice_bound(value, low, high, guard, line, from_end):
    """A slice bound checked where the slice is evaluated (`rules.SliceBound`): itself, unless, where its guard
    holds, it lies below `low` (NumPy would count it from the end of the array) or past `high` (NumPy would clip
    it to the array, which would change the slice's size), which symgrad's arithmetic reads otherwise; for a count
    from the end (`-k` in `x[:-k]`), past `high` = -1 (NumPy reads x[:-0] as x[:0])."""
    if guard and from_end and value > high:
        raise ValueError("a slice bound computed on line " + str(line) + " counts " + str(-value) + " from the "
                         "end, which NumPy reads from the start instead (x[:-0] is x[:0]): keep the number after "
                         "the minus at least 1")
    if guard and value < low:
        raise ValueError("a slice bound computed on line " + str(line) + " is " + str(value) + ", which NumPy "
                         "counts from the end of the array and symgrad does not: add len(x) to count from the "
                         "end, clip it with max(..., 0), or start the loop where the bound is not negative")
    if guard and value > high:
        raise ValueError("a slice bound computed on line " + str(line) + " is " + str(value) + ", past the end of "
                         "the array (" + str(int(high)) + "), where NumPy clips it and symgrad does not: clip it "
                         "with min(..., len(x)), or end the loop where the slice fits")
    return value
