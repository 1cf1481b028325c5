"""Functions the generated kernels call that neither `math` nor Numba provide."""

import math

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def digamma(x):
    """psi(x) = d/dx log|gamma(x)|: reflection below 0.5, recurrence up to 10, then the asymptotic series."""
    result = 0.0
    if x <= 0.0 and math.floor(x) == x:
        return math.nan
    if x < 0.5:
        result -= math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    inverse_square = 1.0 / (x * x)
    series = inverse_square * (1.0 / 12 - inverse_square * (1.0 / 120 - inverse_square * (
        1.0 / 252 - inverse_square * (1.0 / 240 - inverse_square * (1.0 / 132 - inverse_square * (691.0 / 32760))))))
    return result + math.log(x) - 0.5 / x - series


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
def slice_bound(value, low, high, guard, line):
    """A slice bound checked where the slice is evaluated (`rules.SliceBound`): itself, unless, where its guard
    holds, it lies below `low` (NumPy would count it from the end of the array, which symgrad's arithmetic does
    not), or, for a count from the end (`-k` in `x[:-k]`), above `high` = -1 (NumPy reads x[:-0] as x[:0])."""
    if guard and value < low:
        raise ValueError("a slice bound computed on line " + str(line) + " is " + str(value) + ", which NumPy "
                         "counts from the end of the array and symgrad does not: add len(x) to count from the "
                         "end, clip it with max(..., 0), or start the loop where the bound is not negative")
    if guard and value > high:
        raise ValueError("a slice bound computed on line " + str(line) + " counts " + str(-value) + " from the "
                         "end, which NumPy reads from the start instead (x[:-0] is x[:0]): keep the number after "
                         "the minus at least 1")
    return value
