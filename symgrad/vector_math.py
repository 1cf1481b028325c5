"""exp, log, log1p, tanh, sin and cos that LLVM's loop vectoriser accepts, for kernels whose loops over data would
otherwise call libm once per element.

This llvmlite has no vector math library (SVML), so a loop calling `math.exp` stays scalar.  These are the same
functions written in float64 arithmetic and int64 bit manipulation only: no calls, no float-to-int conversion
(AVX2 has none for int64; integers are read off a "shifter" sum instead), no branch (every special case is chosen
by a conditional expression, which LLVM turns into a select), and no table but sin's and cos's constant one,
read at an index computed from the exponent.  Inlined into a loop (``inline="always"``) they vectorise with it.

The algorithms are fdlibm's (FreeBSD/musl): `exp` reduces x = k ln2 + r and uses the Remez rational approximation
of e_exp.c, `log` and `log1p` reduce to [sqrt(2)/2, sqrt(2)] and use e_log.c's polynomial in s = f / (2 + f),
`tanh` is Cephes's rational approximation below 0.625 and 1 - 2 / (exp(2|x|) + 1) above, `sin` and `cos` reduce
x = k pi/2 + r by Payne and Hanek's method for every x (no cheaper path for small x: a branch-free function pays
for every path, and one path costs least) and use k_sin.c's and k_cos.c's polynomials.  Their largest error
against `math` over the float64 range, special values and the worst cases of the reduction included, is in
docs/performance.md and tested by tests/test_vector_math.py.  They return IEEE results where `math` raises
(log(0) = -inf, log(-1) = nan, exp(1000) = inf, sin(inf) = nan), as the kernels' ``error_model="numpy"`` does.
"""

import mpmath
import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload


def _bits(x):
    """The int64 whose bits are float64 `x`'s (this body runs when Numba's JIT is off, NUMBA_DISABLE_JIT=1)."""
    return int(np.float64(x).view(np.int64))


def _float(i):
    """The float64 whose bits are int64 `i`'s (this body runs when Numba's JIT is off)."""
    return float(np.int64(i).view(np.float64))


@intrinsic
def _bitcast_to_int(typingctx, x):
    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bitcast_to_float(typingctx, i):
    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@overload(_bits, inline="always")
def _compiled_bits(x):
    if x == types.float64:
        return lambda x: _bitcast_to_int(x)
    if isinstance(x, (types.Integer, types.Float)):  # log(2) in a derivative of log2: a literal int argument
        return lambda x: _bitcast_to_int(np.float64(x))


@overload(_float, inline="always")
def _compiled_float(i):
    if isinstance(i, types.Integer):
        return lambda i: _bitcast_to_float(np.int64(i))


vector_njit = numba.njit(inline="always", error_model="numpy", cache=True)

SHIFTER = 6755399441055744.0  # 1.5 * 2**52: x + SHIFTER rounds x to an integer held in the low bits
SHIFTER_BITS = 0x4338000000000000
LN2_HI = 6.93147180369123816490e-01  # its low 32 bits are zero: k * LN2_HI is exact for the k that occur
LN2_LO = 1.90821492927058770002e-10
INVERSE_LN2 = 1.44269504088896338700e+00
EXP_OVERFLOW = 7.09782712893383973096e+02  # above: exp(x) is inf
EXP_UNDERFLOW = -7.45133219101941108420e+02  # below: exp(x) rounds to 0
EXP_P1 = 1.66666666666666019037e-01
EXP_P2 = -2.77777777770155933842e-03
EXP_P3 = 6.61375632143793436117e-05
EXP_P4 = -1.65339022054652515390e-06
EXP_P5 = 4.13813679705723846039e-08
LOG_LG1 = 6.666666666666735130e-01
LOG_LG2 = 3.999999999940941908e-01
LOG_LG3 = 2.857142874366239149e-01
LOG_LG4 = 2.222219843214978396e-01
LOG_LG5 = 1.818357216161805012e-01
LOG_LG6 = 1.531383769920937332e-01
LOG_LG7 = 1.479819860511658591e-01
SQRT_HALF_HIGH = 0x3FE6A09E00000000  # the high word of sqrt(2)/2, the bottom of the reduced range
INF = float("inf")
NAN = float("nan")


@vector_njit
def _rounded(x):
    """`(float(k), k)`, k the integer nearest x, for |x| < 2**51."""
    shifted = x + SHIFTER
    return shifted - SHIFTER, _bits(shifted) - SHIFTER_BITS


@vector_njit
def _as_float(k):
    """float(k) for |k| < 2**51, without a conversion instruction."""
    return _float(k + SHIFTER_BITS) - SHIFTER


@vector_njit
def _power_of_two(k):
    """2**k for -1022 <= k <= 1023."""
    return _float((k + 1023) << 52)


@vector_njit
def exp(x):
    """e**x (fdlibm's e_exp.c without its branches)."""
    clamped = x if x > -746.0 else -746.0  # keeps k small for the integer arithmetic; nan goes here too
    clamped = clamped if clamped < 710.0 else 710.0
    kf, k = _rounded(clamped * INVERSE_LN2)
    high = clamped - kf * LN2_HI
    low = kf * LN2_LO
    r = high - low
    rr = r * r
    c = r - rr * (EXP_P1 + rr * (EXP_P2 + rr * (EXP_P3 + rr * (EXP_P4 + rr * EXP_P5))))
    y = 1.0 - ((low - (r * c) / (2.0 - c)) - high)
    _, k_first = _rounded(kf * 0.5)  # 2**k as two factors: neither overflows, and a subnormal result rounds once
    result = y * _power_of_two(k_first) * _power_of_two(k - k_first)
    result = INF if x > EXP_OVERFLOW else result
    result = 0.0 if x < EXP_UNDERFLOW else result
    return result if x == x else x


@vector_njit
def _reduced(x):
    """`(bits of m, k)` with x = 2**k m and m in [sqrt(2)/2, sqrt(2)), for positive normal finite x."""
    bits = _bits(x) + (0x3FF0000000000000 - SQRT_HALF_HIGH)
    return (bits & 0x000FFFFFFFFFFFFF) + SQRT_HALF_HIGH, (bits >> 52) - 0x3FF


@vector_njit
def _log_of(f, dk, correction):
    """dk ln2 + log(1 + f) + correction, for 1 + f in [sqrt(2)/2, sqrt(2))."""
    half_square = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LOG_LG2 + w * (LOG_LG4 + w * LOG_LG6))
    t2 = z * (LOG_LG1 + w * (LOG_LG3 + w * (LOG_LG5 + w * LOG_LG7)))
    return s * (half_square + t1 + t2) + (dk * LN2_LO + correction) - half_square + f + dk * LN2_HI


@vector_njit
def log(x):
    """The natural logarithm (fdlibm's e_log.c without its branches): -inf at +-0, nan below 0."""
    subnormal = x < 2.2250738585072014e-308
    scaled = x * 18014398509481984.0 if subnormal else x  # 2**54: subnormals become normal
    bits, k = _reduced(scaled if scaled > 0.0 and scaled < INF else 1.0)
    result = _log_of(_float(bits) - 1.0, _as_float(k - 54 if subnormal else k), 0.0)
    result = -INF if x == 0.0 else result
    result = x if x == INF else result
    return result if x >= 0.0 else NAN


@vector_njit
def log1p(x):
    """log(1 + x), accurate for small x (fdlibm's s_log1p.c without its branches): -inf at -1, nan below."""
    u = 1.0 + x
    positive = u if u > 0.0 and u < INF else 1.0  # other cases are chosen below; keep the arithmetic finite
    bits, k = _reduced(positive)
    # 1 + x rounded to u: log(u) + (the rounding error) / u.  Above 2**54 the error no longer matters.
    error = (1.0 - (positive - x) if k >= 2 else x - (positive - 1.0)) / positive
    f = _float(bits) - 1.0
    near_zero = x > -0.2928932188134524 and x < 0.41421356237309503  # 1 + x in [sqrt(2)/2, sqrt(2)): f = x
    result = _log_of(x if near_zero else f, 0.0 if near_zero else _as_float(k),
                     0.0 if near_zero or k >= 54 else error)
    result = x if x > -1.1102230246251565e-16 and x < 1.1102230246251565e-16 else result  # |x| < 2**-53 (and -0.0)
    result = x if x == INF else result
    result = -INF if x == -1.0 else result
    return result if x >= -1.0 else NAN


TANH_P0 = -9.64399179425052238628e-1
TANH_P1 = -9.92877231001918586564e1
TANH_P2 = -1.61468768441708447952e3
TANH_Q0 = 1.12811678491632931402e2
TANH_Q1 = 2.23548839060100448583e3
TANH_Q2 = 4.84406305325125486048e3


@vector_njit
def tanh(x):
    """The hyperbolic tangent (Cephes's tanh.c without its branches)."""
    magnitude = x if x >= 0.0 else -x
    square = x * x
    small = x + x * square * ((TANH_P0 * square + TANH_P1) * square + TANH_P2) / (
        ((square + TANH_Q0) * square + TANH_Q1) * square + TANH_Q2)
    large = 1.0 - 2.0 / (exp(2.0 * (magnitude if magnitude < 40.0 else 40.0)) + 1.0)
    large = large if x >= 0.0 else -large
    small = x if magnitude < 3.725290298461914e-09 else small  # |x| < 2**-28: tanh(x) rounds to x (and -0.0)
    return small if magnitude < 0.625 else large if x == x else x




# sin and cos: x = k pi/2 + r (k mod 4 picks the kernel and the sign), then fdlibm's k_sin.c and k_cos.c on r.
# The reduction is Payne-Hanek's for every |x|, with no branch: `_REDUCTION` holds, for each binary exponent E,
# the bits of 2/pi that x = 2**E m (m in [1, 2), 53 bits) needs: x times the higher bits is a multiple of 4 and
# cannot change sin or cos, and the 212 bits kept cover the closest that a double comes to a multiple of pi/2
# (x 2/pi within 2**-61 of an integer) with bits to spare.  Products are exact (Dekker's, the operands split in
# 26-bit halves) and the sums are error-free until what is left is below 2**-100 of the result.
KERNEL_S1 = -1.66666666666666324348e-01
KERNEL_S2 = 8.33333333332248946124e-03
KERNEL_S3 = -1.98412698298579493134e-04
KERNEL_S4 = 2.75573137070700676789e-06
KERNEL_S5 = -2.50507602534068634195e-08
KERNEL_S6 = 1.58969099521155010221e-10
KERNEL_C1 = 4.16666666666666019037e-02
KERNEL_C2 = -1.38888888888741095749e-03
KERNEL_C3 = 2.48015872894767294178e-05
KERNEL_C4 = -2.75573143513906633035e-07
KERNEL_C5 = 2.08757232129817482790e-09
KERNEL_C6 = -1.13596475577881948265e-11
REDUCTION_LOWEST = -27  # the smallest exponent reduced; below 2**-26 sin(x) rounds to x and cos(x) to 1
ROUND_16 = 1.5 * 2.0**56  # p + ROUND_16 rounds p (|p| < 2**55) to a multiple of 16; ROUND_4 likewise to 4 (|p| < 2**53)
ROUND_4 = 1.5 * 2.0**54
PI_OVER_2 = 1.5707963267948966
PI_OVER_2_TAIL = 6.123233995736766e-17  # pi/2 - PI_OVER_2
PI_OVER_2_HIGH = 1.5707963407039642  # PI_OVER_2 split by `_halves`
PI_OVER_2_LOW = -1.3909067675399456e-08


def _reduction_table():
    """Per exponent E from `REDUCTION_LOWEST` to 1023, four doubles of 53 bits each: 2**E times bits E - 53 to
    E + 158 of 2/pi (bit j worth 2**-j; those above E - 53 dropped, as x times them is a multiple of 4)."""
    count = 1023 + 160
    with mpmath.workprec(count + 64):
        two_over_pi = int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** count))

    def bits(exponent, first, last):
        """2**exponent times bits first to last of 2/pi, exactly."""
        first = max(first, 1)
        chunk = (two_over_pi >> (count - last)) & ((1 << (last - first + 1)) - 1) if last >= first else 0
        return float(np.ldexp(float(chunk), exponent - last))

    return np.array([bits(e, e - 53 + 53 * part, e - 1 + 53 * part) for e in range(REDUCTION_LOWEST, 1024)
                     for part in range(4)])


_REDUCTION = _reduction_table()


@vector_njit
def _halves(x):
    """`(high, low)`: x = high + low, each of 26 bits (Veltkamp's split)."""
    c = 134217729.0 * x
    high = c - (c - x)
    return high, x - high


@vector_njit
def _two_product(x_high, x_low, t):
    """`(p, e)`: p = x t rounded, p + e = x t exactly, for x = x_high + x_low split by `_halves` (Dekker's, with
    t's low 27 bits masked off: every partial product is exact)."""
    t_high = _float(_bits(t) & -134217728)
    t_low = t - t_high
    p = (x_high + x_low) * t
    return p, ((x_high * t_high - p) + x_high * t_low + x_low * t_high) + x_low * t_low


@vector_njit
def _two_sum(a, b):
    """`(s, e)`: s = a + b rounded, s + e = a + b exactly (Knuth's)."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


@vector_njit
def _quadrant(x):
    """`(r, tail, k)` with x = k pi/2 + r + tail, |r| <= pi/4 (about) and tail below half an ulp of r, for
    positive finite x of at least 2**-27 (other x: any `k` and finite or not `r`)."""
    bits = _bits(x) & 0x7FFFFFFFFFFFFFFF  # x > 0: the mask tells LLVM so (1.7x faster)
    row = (bits >> 52) - 1023 - REDUCTION_LOWEST
    row = row if row > 0 else 0  # (below 2**-27: unused, as for inf and nan)
    row = 4 * (row if row < 1023 - REDUCTION_LOWEST else 1023 - REDUCTION_LOWEST)
    m = _float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    m_high, m_low = _halves(m)
    p0, e0 = _two_product(m_high, m_low, _REDUCTION[row])
    p0 = p0 - ((p0 + ROUND_16) - ROUND_16)
    p0 = p0 - ((p0 + ROUND_4) - ROUND_4)  # in [-2, 2], and p0 + e0 is exact: multiples of 2**-51 below 4
    p1, e1 = _two_product(m_high, m_low, _REDUCTION[row + 1])
    a, a_error = _two_sum(p0 + e0, p1)
    whole, k = _rounded(a)
    a = a - whole  # exact, in [-1/2, 1/2]
    v = a + a_error  # exact: a is a multiple of an ulp of the old a that a_error is below half of
    error = a_error - (v - a)
    v, error_1 = _two_sum(v, e1)
    p2, e2 = _two_product(m_high, m_low, _REDUCTION[row + 2])
    v, error_2 = _two_sum(v, p2)
    low = error + error_1 + error_2 + e2 + m * _REDUCTION[row + 3]
    high = v + low
    low = low - (high - v)  # (high, low): x 2/pi - k in turns of pi/2, to about 2**-150
    r, r_error = _two_product(PI_OVER_2_HIGH, PI_OVER_2_LOW, high)
    r_error = r_error + (high * PI_OVER_2_TAIL + low * PI_OVER_2)
    rounded = r + r_error
    return rounded, r_error - (rounded - r), k


@vector_njit
def _sine_or_cosine(x, quarters):
    """sin(x + quarters pi/2) for positive finite x of at least 2**-27 (k_sin.c's and k_cos.c's kernels)."""
    r, tail, k = _quadrant(x)
    z = r * r
    w = z * z
    u = KERNEL_S2 + z * (KERNEL_S3 + z * KERNEL_S4) + z * w * (KERNEL_S5 + z * KERNEL_S6)
    v = z * r
    sine = r - ((z * (0.5 * tail - v * u) - tail) - v * KERNEL_S1)
    u = z * (KERNEL_C1 + z * (KERNEL_C2 + z * KERNEL_C3)) + w * w * (KERNEL_C4 + z * (KERNEL_C5 + z * KERNEL_C6))
    half = 0.5 * z
    w = 1.0 - half
    cosine = w + (((1.0 - w) - half) + (z * u - r * tail))
    k = k + quarters
    result = cosine if k & 1 else sine
    return -result if k & 2 else result


@vector_njit
def sin(x):
    """The sine (k pi/2 + r reduction of every x, as Payne and Hanek's, and fdlibm's kernels), -0.0 kept."""
    magnitude = x if x >= 0.0 else -x
    result = _sine_or_cosine(magnitude, 0)
    result = result if x >= 0.0 else -result
    result = x if magnitude < 1.4901161193847656e-08 else result  # |x| < 2**-26: sin(x) rounds to x
    return result if magnitude < INF else x - x  # nan for +-inf and nan


@vector_njit
def cos(x):
    """The cosine (as `sin`)."""
    magnitude = x if x >= 0.0 else -x
    result = _sine_or_cosine(magnitude, 1)
    result = 1.0 if magnitude < 7.450580596923828e-09 else result  # |x| < 2**-27: cos(x) rounds to 1
    return result if magnitude < INF else x - x


VECTOR_FUNCTIONS = {"exp": exp, "log": log, "log1p": log1p, "tanh": tanh, "sin": sin,
                    "cos": cos}  # math.<name> -> its vectorisable twin
