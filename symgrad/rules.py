"""The rules table: every operation symgrad knows, with its derivative, its Numba spelling and its display.

One row per SymPy node class, in the spirit of CasADi's ``calculus.hpp``: the local partial derivatives are
written in terms of the arguments *and the output* (``tanh' = 1 - out**2``, ``exp' = out``), so reverse mode
reuses forward values instead of recomputing them.  A second table, ``PYTHON_SPELLINGS``, maps the names a
user writes (``math.atan2``, ``np.arctan2``, builtin ``max``) to the SymPy expression they build.

To support a new function: add its row to ``RULES`` (and a Numba template), then its Python names to
``PYTHON_SPELLINGS``.  Nothing else in the pipeline needs to change.

Conventions at kinks follow JAX and PyTorch: ``abs'(0) = 0``, ``sign' = floor' = ceil' = 0``; for
``max(a, b)``/``min(a, b)`` a tie splits the derivative evenly between two varying arguments, and gives
nothing to a varying argument tied with a constant, so ``max(x, 0)`` has ``relu'(0) = 0``.
"""

import builtins
import math
import operator
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import sympy as sp
from sympy.codegen import cfunctions
from sympy.core.logic import fuzzy_and
from sympy.printing.precedence import PRECEDENCE
from sympy.logic.boolalg import ITE


def _powered(latex, exp):
    """LaTeX of a function node, raised to `exp` when the printer asks (it does for powers of functions)."""
    return latex if exp is None else r"{%s}^{%s}" % (latex, exp)


def _pick_constant(a, b, a_wins):
    """Fold max/min of two real constants (`min(0.25, math.sin(...))` too) and of equal arguments."""
    if a == b:
        return a
    if a.is_Atom and b.is_Atom and a.is_number and b.is_number and a.is_extended_real and b.is_extended_real:
        return a if a_wins(float(a), float(b)) else b  # (the frontend folds constants to atoms as they appear)
    return None


class _Extreme(sp.Function):
    """max or min of two arguments: an integer of two integers (`x[max(i - 2, 0):i]` has an integer bound)."""

    nargs = 2

    def _eval_is_integer(self):
        return fuzzy_and(a.is_integer for a in self.args)


class Maximum(_Extreme):
    """max(a, b) with symgrad's tie convention (see the module docstring)."""

    @classmethod
    def eval(cls, a, b):
        return _pick_constant(a, b, operator.ge)

    def _latex(self, printer, exp=None):
        return _powered(r"\max\left(%s, %s\right)" % tuple(printer._print(a) for a in self.args), exp)


class Minimum(_Extreme):
    """min(a, b) with symgrad's tie convention (see the module docstring)."""

    @classmethod
    def eval(cls, a, b):
        return _pick_constant(a, b, operator.le)

    def _latex(self, printer, exp=None):
        return _powered(r"\min\left(%s, %s\right)" % tuple(printer._print(a) for a in self.args), exp)


class IntDiv(sp.Function):
    """Floor division of integers (`n // 2`): an index or a bound, never differentiated."""

    is_integer = True
    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_Integer and b.is_Integer:
            return a // b
        return a if b == 1 else None  # (the length of x[i::-1]: (i + 1) // 1)

    def _sympystr(self, printer):
        return "(%s // %s)" % tuple(printer.parenthesize(a, PRECEDENCE["Mul"]) for a in self.args)

    def _latex(self, printer, exp=None):
        return _powered(r"\left\lfloor \frac{%s}{%s} \right\rfloor" % tuple(printer._print(a) for a in self.args), exp)


class IntMod(sp.Function):
    """`a % b` of integers (an index taken modulo a size): an integer with the sign of b, as in Python, even where
    b is a size that may be 0 (SymPy's Mod is then not known to be an integer).  Never differentiated."""

    is_integer = True
    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_Integer and b.is_Integer and b != 0:
            return sp.Integer(int(a) % int(b))
        return None

    def _sympystr(self, printer):
        return "(%s %% %s)" % tuple(printer.parenthesize(a, PRECEDENCE["Mul"]) for a in self.args)

    def _latex(self, printer, exp=None):
        return _powered(r"\left(%s \bmod %s\right)" % tuple(printer._print(a) for a in self.args), exp)


class SliceBound(sp.Function):
    """A slice bound that the kernels check where the slice is evaluated (`x[i - 2:i + 1]` in a loop): NumPy would
    count one below `low` from the end and clip one past `high` to the array, where the slice's elements are read
    here as plain arithmetic from it.  `guard` is the condition under which the slice is evaluated, `line` its
    source line, `from_end` true where the value is a count from the end (`-k` in `x[:-k]`), checked against
    `high` = -1 (NumPy reads `x[:-0]` as `x[:0]`).  It is its value: size comparisons see through it
    (`seen_through`); the bounds stage does not, so an access it reaches is checked after the slice's own check,
    whose message says what NumPy would do."""

    is_integer = True
    nargs = 6

    @classmethod
    def eval(cls, value, low, high, guard, line, from_end):
        if guard is sp.false or (low <= value) is sp.true and (value <= high) is sp.true:
            return value
        return None

    def _sympystr(self, printer):
        return printer.parenthesize(self.args[0], PRECEDENCE["Atom"])

    def _latex(self, printer, exp=None):
        return _powered(printer.parenthesize(self.args[0], PRECEDENCE["Atom"]), exp)


def seen_through(expr):
    """`expr` with each `SliceBound` replaced by its value (for reasoning about sizes and index ranges)."""
    return expr.replace(SliceBound, lambda value, *checked: value) if expr.has(SliceBound) else expr


def _python_float(operation, a, b):
    """`operation` on two real constants as Python computes it in float64 (None unless both are constants)."""
    if a.is_number and b.is_number and a.is_extended_real and b.is_extended_real and b != 0:
        return sp.Float(operation(float(a), float(b)))
    return None


class FloatOperation(sp.Function):
    """A binary operation on floats, folded on constants as Python computes it (`operation`), displayed by
    `latex_form`."""

    nargs = 2
    operation = latex_form = None

    @classmethod
    def eval(cls, a, b):
        return _python_float(cls.operation, a, b)

    def _latex(self, printer, exp=None):
        return _powered(self.latex_form % tuple(printer._print(a) for a in self.args), exp)


class FloorDivision(FloatOperation):
    """Python's float `a // b`: the floor of the exact quotient, with Python's rounding (`1.0 // 0.1` is 9.0, not
    floor(1.0 / 0.1) = 10.0); Numba's float `//` computes the same.  Piecewise constant: its partials are 0."""

    operation, latex_form = staticmethod(operator.floordiv), r"\left\lfloor %s / %s \right\rfloor"


class Modulo(FloatOperation):
    """Python's float `a % b` = a - b * (a // b), with the sign of b; Numba's float `%` computes the same."""

    operation, latex_form = staticmethod(operator.mod), r"\left(%s \bmod %s\right)"


class Remainder(FloatOperation):
    """C's `fmod(a, b)` = a - b * trunc(a / b), exactly, with the sign of a (np.fmod, math.fmod), where Python's `%`
    takes the sign of b."""

    operation, latex_form = staticmethod(math.fmod), r"\operatorname{fmod}\left(%s, %s\right)"


class CopySign(FloatOperation):
    """`copysign(a, b)`: the magnitude of a with the sign of b, its sign bit included (np.copysign(2.0, -0.0) is
    -2.0), as math.copysign and np.copysign compute it."""

    operation, latex_form = staticmethod(math.copysign), r"\operatorname{copysign}\left(%s, %s\right)"


class FloatTest(sp.Function):
    """A test of a float used as a number or a condition (`np.isnan(x[0])`): 1 where it holds, else 0.  Piecewise
    constant: its partials are 0, as JAX's."""

    nargs = 1
    test = None  # the Python function that decides it for a constant

    @classmethod
    def eval(cls, a):
        if a.is_number:
            try:
                return sp.Integer(int(cls.test(float(a))))
            except TypeError:  # (a complex constant: left to the kernel)
                return None
        return None

    def _latex(self, printer, exp=None):
        return _powered(r"\operatorname{%s}\left(%s\right)" % (type(self).__name__, printer._print(self.args[0])),
                        exp)


class isnan(FloatTest):  # noqa: N801 (named as the user writes it, for the display)
    test = staticmethod(math.isnan)


class isinf(FloatTest):  # noqa: N801
    test = staticmethod(math.isinf)


class isfinite(FloatTest):  # noqa: N801
    test = staticmethod(math.isfinite)


class AsFloat(sp.Function):
    """`float(i)` of an int: Python's float, which the kernels compute in float64 (so `float(i) ** 7` does not wrap
    around as int64's `i ** 7` does), and the bounds stage's magnitudes.  Its argument is an int: no partial."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        return sp.Float(float(a)) if a.is_Integer else None

    def _latex(self, printer, exp=None):
        return printer._print(self.args[0] if exp is None else self.args[0] ** exp)


class AsIndex(sp.Function):
    """A float holding a whole number (the position np.argmax found, or a counter `k += 1`, carried as floats by
    their loops) as an int index.  Piecewise constant: its partial is 0."""

    nargs = 1
    is_integer = True

    @classmethod
    def eval(cls, a):
        return sp.Integer(int(a)) if a.is_number and a.is_finite else None

    def _latex(self, printer, exp=None):
        return printer._print(self.args[0] if exp is None else self.args[0]**exp)

    def _sympystr(self, printer):  # (messages name the index as the source spells it: `x[k]`)
        return printer._print(self.args[0])


class WholeFloat(sp.Function):
    """A NumPy rounding function (np.floor, np.ceil, np.rint, np.trunc): a float holding a whole number.  Not an int
    to the kinds, as NumPy takes no float for an index or a range: `int(...)` or `math.floor` makes one
    (`PythonInt`).  Piecewise constant: its partial is 0."""

    nargs = 1
    rounding = None  # the NumPy function, which folds a constant
    latex_form = None

    @classmethod
    def eval(cls, a):
        return sp.Float(float(cls.rounding(float(a)))) if a.is_number and a.is_finite else None

    def _latex(self, printer, exp=None):
        return _powered(self.latex_form % printer._print(self.args[0]), exp)


class Floor(WholeFloat):
    rounding, latex_form = staticmethod(np.floor), r"\left\lfloor %s \right\rfloor"


class Ceil(WholeFloat):
    rounding, latex_form = staticmethod(np.ceil), r"\left\lceil %s \right\rceil"


class Rint(WholeFloat):
    """Rounding half to even, as np.rint, np.round and Python's round do."""

    rounding, latex_form = staticmethod(np.rint), r"\operatorname{round}\left(%s\right)"


class Trunc(WholeFloat):
    rounding, latex_form = staticmethod(np.trunc), r"\operatorname{trunc}\left(%s\right)"


class PythonInt(sp.Function):
    """Python's int of a float: `int(x)` and `math.trunc(x)` (toward zero), and what `math.floor`, `math.ceil` and
    `round(x)` return (of the `WholeFloat` they round to).  An int64 in the kernels, made by `runtime.to_int`, which
    raises for NaN and infinities as Python does, and past int64, where Python's int would grow.  Piecewise
    constant: its partial is 0."""

    nargs = 1
    is_integer = True

    @classmethod
    def eval(cls, a):
        if a.is_number and a.is_finite:
            return sp.Integer(int(a))
        return a if integer_valued(a) else None

    def _latex(self, printer, exp=None):
        shown = printer._print(self.args[0]) if isinstance(self.args[0], (Floor, Ceil, Rint, Trunc)) else \
            r"\operatorname{int}\left(%s\right)" % printer._print(self.args[0])
        return _powered(shown, exp)


class RoundToDecimals(sp.Function):
    """np.round(a, decimals) for decimals other than 0, computed by NumPy's own `np.round` (`a` scaled by
    10**decimals, rounded half to even, scaled back by a division, which a product by 0.1**decimals is not to the
    last bit: `np.round(x, 2) * 100` must give the cents NumPy gives).  Piecewise constant: its partials are 0."""

    nargs = 2

    @classmethod
    def eval(cls, a, decimals):
        return sp.Float(float(np.round(float(a), int(decimals)))) if a.is_number and a.is_finite else None

    def _latex(self, printer, exp=None):
        return _powered(r"\operatorname{round}\left(%s, %s\right)" % tuple(printer._print(a) for a in self.args), exp)


def numpy_round(a, decimals=0):
    """np.round(a, decimals) as NumPy computes it; `decimals` an integer literal."""
    if not (isinstance(decimals, int) or isinstance(decimals, sp.Basic) and decimals.is_Integer):
        raise TypeError("decimals must be an integer literal")
    return Rint(a) if decimals == 0 else RoundToDecimals(a, sp.Integer(int(decimals)))


def python_round(a, ndigits=None):
    """Python's round(x): the nearest int, half to even.  round(x, ndigits) rounds the decimal value of x exactly,
    which differs from NumPy's scaling in the last digit now and then: it is refused rather than approximated."""
    if ndigits is not None:
        raise TypeError("round(x, ndigits) is not supported (Python rounds the exact decimal value of x): write "
                        "np.round(x, ndigits), which scales by 10**ndigits and rounds, as NumPy does")
    return PythonInt(Rint(a))


def tie_step(difference, other):
    """d max(a, other)/da: 1 above, 0 below; at a tie 1/2 against a varying `other`, 0 against a constant."""
    return sp.Heaviside(difference, 0 if other.is_number else sp.Rational(1, 2))


class PowSlope(sp.Function):
    """d/dx x**i for an integer i that is not a constant (a loop index): i * x**(i - 1), and 0 at i = 0, where the
    formula would compute 0 * 0.0**-1 at x = 0.  One node, so that no pass can take x**(i - 1) out of its branch."""

    nargs = 2

    @classmethod
    def eval(cls, base, exponent):
        if exponent.is_Integer:
            return sp.Integer(0) if exponent == 0 else exponent * base ** (exponent - 1)
        return None

    def _latex(self, printer, exp=None):
        base, exponent = (printer._print(a) for a in self.args)
        return _powered(r"%s {%s}^{%s - 1}" % (exponent, base, exponent), exp)


def _pow_partials(args, out):
    base, exponent = args
    if exponent.is_number:
        if exponent == sp.Rational(1, 2):
            return (1 / (2 * out), 0)
        return (exponent * base ** (exponent - 1), 0)
    if exponent.is_integer:  # x**i at i = 0 is the constant 1: its partial is 0, not 0 * x**-1 (a 1/0 at x = 0)
        return (PowSlope(base, exponent), 0)
    # d/dp x**p = x**p log x, and 0 at x = 0 as JAX's (the limit from above for p > 0), not 0 * log(0), a NaN
    return (exponent * base ** (exponent - 1), sp.Piecewise((0, sp.Eq(base, 0)), (out * sp.log(base), True)))


def _mul_partials(args, out):
    return tuple(sp.Mul(*(args[:i] + args[i + 1:])) for i in range(len(args)))


def _zero(args, out):
    return (0,) * len(args)


class Psi(sp.polygamma):
    """polygamma as displayed (`Rule.readable`): psi(x) for digamma, psi^(n)(x) for the n-th polygamma; still a
    polygamma to SymPy (`.expressions` evaluate)."""

    def _eval_evalf(self, prec):
        return sp.polygamma(*self.args)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        order, argument = self.args
        name = r"\psi" if order == 0 else r"\psi^{(%s)}" % printer._print(order)
        return _powered(r"%s\left(%s\right)" % (name, printer._print(argument)), exp)


def _mpmath_float(function, a):
    """A constant argument folded at 50 digits by mpmath's `function` (None for anything else)."""
    if not (a.is_number and a.is_extended_real and (a.is_Float or a.is_Rational)):
        return None
    import mpmath

    with mpmath.workdps(50):
        return sp.Float(float(function(mpmath.mpf(float(a)))))


class Ndtr(sp.Function):
    """Phi(x), the standard normal CDF (scipy.special.ndtr), computed as erfc(-x / sqrt 2) / 2: its own node, since
    SymPy rewrites erfc(-y) as 2 - erfc(y), which cancels to nothing in the left tail."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        import mpmath

        return _mpmath_float(mpmath.ncdf, a)

    def _latex(self, printer, exp=None):
        return _powered(r"\Phi\left(%s\right)" % printer._print(self.args[0]), exp)


class Erfc(sp.Function):
    """erfc(x), the complementary error function: its own node, since SymPy's `erfc` rewrites erfc(-y) as
    2 - erfc(y), which cancels to 0 where erfc(-y) is tiny (the normal CDF written 0.5 * erfc(-x / sqrt 2) at
    x = -10 is 7.6e-24, and its log -53.2, not -inf)."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        import mpmath

        return _mpmath_float(mpmath.erfc, a)

    def _eval_evalf(self, prec):
        return sp.erfc(self.args[0]._eval_evalf(prec))._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        return _powered(r"\operatorname{erfc}\left(%s\right)" % printer._print(self.args[0]), exp)


class LogNdtr(sp.Function):
    """log Phi(x), the log of the standard normal CDF (scipy.special.log_ndtr), accurate where Phi(x) underflows
    (runtime.log_ndtr).  Its derivative is `InverseMills`."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        import mpmath

        return _mpmath_float(lambda x: mpmath.log(mpmath.ncdf(x)), a)

    def _latex(self, printer, exp=None):
        return _powered(r"\log \Phi\left(%s\right)" % printer._print(self.args[0]), exp)


class InverseMills(sp.Function):
    """phi(x) / Phi(x), the normal density over its CDF: d/dx log Phi(x), computed in the far left tail where both
    underflow (runtime.inverse_mills).  Its own derivative is `InverseMillsSlope`."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        import mpmath

        return _mpmath_float(lambda x: mpmath.npdf(x) / mpmath.ncdf(x), a)

    def _latex(self, printer, exp=None):
        argument = printer._print(self.args[0])
        return _powered(r"\frac{\phi\left(%s\right)}{\Phi\left(%s\right)}" % (argument, argument), exp)


class InverseMillsSlope(sp.Function):
    """d/dx phi(x) / Phi(x) = -r (x + r), r = phi/Phi: the second derivative of log Phi(x), computed without the
    cancellation of x + r in the left tail (runtime.inverse_mills_slope).  Its derivative, s**2 / r - r (1 + s),
    is written with `InverseMills`."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        import mpmath

        def slope(x):
            ratio = mpmath.npdf(x) / mpmath.ncdf(x)
            return -ratio * (x + ratio)

        return _mpmath_float(slope, a)

    def _latex(self, printer, exp=None):
        argument = printer._print(self.args[0])
        return _powered(r"\frac{d}{d %s} \frac{\phi\left(%s\right)}{\Phi\left(%s\right)}"
                        % (argument, argument, argument), exp)


def _polygamma_code(order, argument):
    """digamma(x) for order 0 (the kernels' spelling since symgrad began), polygamma(n, x) above it."""
    return "digamma({1})" if order == 0 else "polygamma({0}, {1})"


@dataclass(frozen=True)
class Rule:
    """One operation: its SymPy class, local partials (args, out) -> one per argument, and its Numba code.

    `code` formats the printed arguments into Numba source (a function of the node's arguments may choose the
    template); None leaves the printing to SymPy's Python printer (arithmetic). `readable` rewrites the node into textbook notation for display, where SymPy's own is odd.
    """

    node: type
    partials: Callable
    code: Optional[str] = None
    readable: Optional[Callable] = None
    smooth: bool = True


RULES = [
    # arithmetic: printed by SymPy's Python printer
    Rule(sp.Add, lambda args, out: (1,) * len(args)),
    Rule(sp.Mul, _mul_partials),
    Rule(sp.Pow, _pow_partials),
    Rule(PowSlope, lambda a, out: (a[1] * PowSlope(a[0], a[1] - 1), 0), "int_pow_slope({0}, {1})"),
    # trigonometric and hyperbolic
    Rule(sp.sin, lambda a, out: (sp.cos(a[0]),), "math.sin({0})"),
    Rule(sp.cos, lambda a, out: (-sp.sin(a[0]),), "math.cos({0})"),
    Rule(sp.tan, lambda a, out: (1 + out**2,), "math.tan({0})"),
    Rule(sp.asin, lambda a, out: (1 / sp.sqrt(1 - a[0] ** 2),), "math.asin({0})"),
    Rule(sp.acos, lambda a, out: (-1 / sp.sqrt(1 - a[0] ** 2),), "math.acos({0})"),
    Rule(sp.atan, lambda a, out: (1 / (1 + a[0] ** 2),), "math.atan({0})"),
    Rule(sp.atan2, lambda a, out: (a[1] / (a[0] ** 2 + a[1] ** 2), -a[0] / (a[0] ** 2 + a[1] ** 2)),
         "math.atan2({0}, {1})"),
    Rule(sp.sinh, lambda a, out: (sp.cosh(a[0]),), "math.sinh({0})"),
    Rule(sp.cosh, lambda a, out: (sp.sinh(a[0]),), "math.cosh({0})"),
    Rule(sp.tanh, lambda a, out: (1 - out**2,), "math.tanh({0})"),
    Rule(sp.asinh, lambda a, out: (1 / sp.sqrt(a[0] ** 2 + 1),), "math.asinh({0})"),
    Rule(sp.acosh, lambda a, out: (1 / sp.sqrt(a[0] ** 2 - 1),), "math.acosh({0})"),
    Rule(sp.atanh, lambda a, out: (1 / (1 - a[0] ** 2),), "math.atanh({0})"),
    # exponentials and logarithms
    Rule(sp.exp, lambda a, out: (out,), "math.exp({0})"),
    Rule(cfunctions.expm1, lambda a, out: (out + 1,), "math.expm1({0})", readable=lambda x: sp.exp(x) - 1),
    Rule(sp.log, lambda a, out: (1 / a[0],), "math.log({0})"),
    Rule(cfunctions.log1p, lambda a, out: (1 / (1 + a[0]),), "math.log1p({0})", readable=lambda x: sp.log(1 + x)),
    Rule(cfunctions.Cbrt, lambda a, out: (1 / (3 * out**2),), "np.cbrt({0})", readable=lambda x: sp.real_root(x, 3)),
    Rule(cfunctions.hypot, lambda a, out: (a[0] / out, a[1] / out), "math.hypot({0}, {1})",
         readable=lambda x, y: sp.sqrt(x**2 + y**2)),
    # special functions
    Rule(sp.erf, lambda a, out: (2 / sp.sqrt(sp.pi) * sp.exp(-a[0] ** 2),), "math.erf({0})"),
    Rule(Erfc, lambda a, out: (-2 / sp.sqrt(sp.pi) * sp.exp(-a[0] ** 2),), "math.erfc({0})"),
    Rule(sp.gamma, lambda a, out: (out * sp.polygamma(0, a[0]),), "math.gamma({0})"),
    Rule(sp.loggamma, lambda a, out: (sp.polygamma(0, a[0]),), "math.lgamma({0})",
         readable=lambda x: sp.log(sp.Abs(sp.gamma(x)))),
    Rule(sp.polygamma, lambda a, out: (0, sp.polygamma(a[0] + 1, a[1])), _polygamma_code, readable=Psi),
    Rule(Ndtr, lambda a, out: (sp.exp(-a[0] ** 2 / 2) / sp.sqrt(2 * sp.pi),),
         "(0.5 * math.erfc(-0.7071067811865476 * {0}))"),
    Rule(LogNdtr, lambda a, out: (InverseMills(a[0]),), "log_ndtr({0})"),
    Rule(InverseMills, lambda a, out: (InverseMillsSlope(a[0]),), "inverse_mills({0})"),
    Rule(InverseMillsSlope, lambda a, out: (out**2 / InverseMills(a[0]) - InverseMills(a[0]) * (1 + out),),
         "inverse_mills_slope({0})"),
    # non-smooth: the conventions at kinks live here
    Rule(sp.Abs, lambda a, out: (sp.sign(a[0]),), "abs({0})", smooth=False),
    Rule(sp.sign, _zero, "(1.0 if {0} > 0 else (-1.0 if {0} < 0 else 0.0 * {0}))", smooth=False),
    Rule(Floor, _zero, "np.floor({0})", smooth=False),
    Rule(Ceil, _zero, "np.ceil({0})", smooth=False),
    Rule(Rint, _zero, "np.rint({0})", smooth=False),
    Rule(Trunc, _zero, "np.trunc({0})", smooth=False),
    Rule(RoundToDecimals, _zero, "np.round({0}, {1})", smooth=False),
    Rule(PythonInt, _zero, "to_int({0})", smooth=False),
    Rule(Maximum, lambda a, out: (tie_step(a[0] - a[1], a[1]), tie_step(a[1] - a[0], a[0])),
         "max({0}, {1})", smooth=False),
    Rule(Minimum, lambda a, out: (tie_step(a[1] - a[0], a[1]), tie_step(a[0] - a[1], a[0])),
         "min({0}, {1})", smooth=False),
    Rule(sp.Heaviside, _zero, "(1.0 if {0} > 0 else ({1} if {0} == 0 else 0.0))", smooth=False),
    Rule(IntDiv, _zero, lambda a, b: "({0} // {1})" if b.is_nonzero else "int_floordiv({0}, {1})", smooth=False),
    Rule(IntMod, _zero, lambda a, b: "({0} % {1})" if b.is_nonzero else "int_mod({0}, {1})", smooth=False),
    Rule(SliceBound, _zero, "slice_bound({0}, {1}, {2}, {3}, {4}, {5})", smooth=False),
    Rule(FloorDivision, _zero, "({0} // {1})", smooth=False),
    Rule(AsIndex, _zero, "int({0})", smooth=False),
    Rule(AsFloat, _zero, "float({0})", smooth=False),
    Rule(isnan, _zero, "(1.0 if math.isnan({0}) else 0.0)", smooth=False),
    Rule(isinf, _zero, "(1.0 if math.isinf({0}) else 0.0)", smooth=False),
    Rule(isfinite, _zero, "(1.0 if math.isfinite({0}) else 0.0)", smooth=False),
    Rule(Modulo, lambda a, out: (1, -FloorDivision(a[0], a[1])), "({0} % {1})", smooth=False),
    Rule(Remainder, lambda a, out: (1, -Trunc(a[0] / a[1])), "np.fmod({0}, {1})", smooth=False),
    Rule(CopySign, lambda a, out: (sp.sign(a[0]) * CopySign(1, a[1]), 0), "math.copysign({0}, {1})", smooth=False),
]

RULES_BY_NODE = {rule.node: rule for rule in RULES}
# The functions of symgrad/runtime.py that the templates above (and the kernels' tapes) call: names the kernels
# import, which a user's variable or argument must not take.
RUNTIME_FUNCTIONS = ("digamma", "grow", "int_floordiv", "int_mod", "int_pow", "int_pow_slope", "inverse_mills",
                     "inverse_mills_slope", "lane_sum", "log_ndtr", "polygamma", "slice_bound", "to_int")


def _clamp_slope(a, out, above, nan_gives_z=False):
    """d max(z, c)/dz (`above`) or d min(z, c)/dz from the output alone, for a constant c: the tie gives 0 (the
    partial of `Maximum`/`Minimum` there), and so does a NaN unless it takes a branch `z` (`nan_gives_z`)."""
    varying, constant = (a[1], a[0]) if a[0].is_number else (a[0], a[1])
    if not constant.is_number or varying.is_number:
        return None
    return varying, _step_from_output(out - constant if above else constant - out, nan_gives_z)


def _step_from_output(difference, nan_gives_z):
    """The slope of a clamp of z at a constant, written in its output (`difference`: how far the output is beyond
    the constant): 1 beyond it, 0 at it (the clamped side and the tie, which the output cannot tell apart, so the
    tie must take the constant).  A NaN gets the slope of the branch it takes: 1 for `z` (a NaN output), 0 for the
    constant.  (Heaviside prints as a test `d > 0` then `d == 0`, both false at a NaN.)"""
    return 1 - sp.Heaviside(-difference, 1) if nan_gives_z else tie_step(difference, sp.S.Zero)


def _logistic_slope(a, out):
    """1/(1 + exp(v)) (the logistic sigmoid of -v): d/dv = -out (1 - out)."""
    base, exponent = a
    if exponent != -1 or not base.is_Add or len(base.args) != 2 or sp.S.One not in base.args:
        return None
    inner = next(term for term in base.args if term is not sp.S.One)
    return (inner.args[0], out * (out - 1)) if isinstance(inner, sp.exp) else None


def _branch_clamp_slope(a, out):
    """A clamp of z at a constant c written as a branch whose tie takes c: `z if z > c else c`, `c if z <= c else z`
    and the min-like `z if z < c else c`, `c if z >= c else z` (relu written as an `if` or `np.where`), the
    condition bare or with the NaN test of `z` beside it (`rules.python_not`); and `np.maximum(c, z)`, which
    `numpy_extreme` writes `z if isnan(z) else max(c, z)` (np.fmin(z, c) too: `c if isnan(z) else min(z, c)`).
    Where the tie takes `z` (`z if z >= c else c`) the slope there is 1, which no function of the output gives."""
    (first, condition), (second, rest) = a if len(a) == 2 else ((None, None), (None, None))
    if rest is not sp.true:
        return None
    if isinstance(second, (Maximum, Minimum)):
        return _nan_guarded_clamp_slope(first, condition, second, out)
    split = _ordering_at_nan(condition)
    if split is None:
        return None
    ordering, holds_at_nan = split
    z, c = ordering.args
    if not c.is_number or z.is_number or z not in (first, second):
        return None
    z_first = first == z
    constant = second if z_first else first
    if not constant.is_number or constant - c != 0:  # (0.0 and 0 are not == in SymPy)
        return None
    if isinstance(ordering, (sp.GreaterThan, sp.LessThan)) == z_first:  # (the tie takes z)
        return None
    above = isinstance(ordering, (sp.StrictGreaterThan, sp.GreaterThan)) == z_first  # z kept above c: max-like
    return z, _step_from_output(out - c if above else c - out, holds_at_nan == z_first)


def _nan_guarded_clamp_slope(at_nan, condition, clamp, out):
    """`at_nan if isnan(z) else clamp` where `clamp` is max/min(z, c) and `at_nan` is `z` or `c`."""
    if not (isinstance(condition, sp.Ne) and isinstance(condition.lhs, isnan) and condition.rhs == 0):
        return None
    z = condition.lhs.args[0]
    if not (at_nan == z or at_nan.is_number and at_nan in clamp.args):
        return None
    slope = _clamp_slope(clamp.args, out, isinstance(clamp, Maximum), nan_gives_z=at_nan == z)
    return slope if slope and slope[0] == z else None


def _ordering_at_nan(condition):
    """(the ordering, whether the condition holds where its operand is NaN) for an ordering alone (it does not),
    with `isnan(z) != 0` beside it in an `or` (it does) or `isnan(z) == 0` in an `and` (it does not); else None."""
    if isinstance(condition, ORDERINGS):
        return condition.canonical, False
    if not isinstance(condition, (sp.Or, sp.And)) or len(condition.args) != 2:
        return None
    ordering = next((o for o in condition.args if isinstance(o, ORDERINGS)), None)
    if ordering is None:
        return None
    test = (sp.Ne if isinstance(condition, sp.Or) else sp.Eq)(isnan(ordering.canonical.lhs), 0)
    return (ordering.canonical, isinstance(condition, sp.Or)) if set(condition.args) == {ordering, test} else None


# The activations whose derivative is a function of their output alone: node -> (args, out) -> (the argument it
# is taken along, the slope written in `out`), or None where this instance does not qualify.  Pass
# `activation_outputs` keeps the output for the reverse sweep instead of the argument.
OUTPUT_SLOPES = {
    sp.tanh: lambda a, out: (a[0], 1 - out**2),
    sp.exp: lambda a, out: (a[0], out),
    Maximum: lambda a, out: _clamp_slope(a, out, True),
    Minimum: lambda a, out: _clamp_slope(a, out, False),
    sp.Pow: _logistic_slope,
    sp.Piecewise: _branch_clamp_slope,
}


def output_slope(expr, out):
    """(argument, slope) when d expr/d argument is a function of `out` (expr's value) alone, else None."""
    slope = OUTPUT_SLOPES.get(type(expr))
    return slope(expr.args, out) if slope else None


def locally_constant(node_class):
    """Whether the node's partials are all zero (sign, floor, Heaviside, AsIndex, isnan...): no derivative flows
    through its arguments."""
    rule = rule_for(node_class)
    return rule is not None and rule.partials is _zero


def rule_for(node_class):
    """The row for a SymPy node class (or its nearest tabled base class); None when there is none."""
    for cls in node_class.__mro__:
        if cls in RULES_BY_NODE:
            return RULES_BY_NODE[cls]
    return None


def _log(x, base=None):
    return sp.log(x) if base is None else sp.log(x) / sp.log(base)


def power(base, exponent):
    """`base ** exponent`, with a whole-number float exponent (`x ** 2.0`, `np.power(x, 3.0)`) taken as the integer it
    equals: the value is the same float, the kernel multiplies instead of calling `pow`, and the derivative reads
    `2 x`, not `2.0 x^{1.0}`.  An integer base keeps its float exponent, whose result Python makes a float."""
    if exponent.is_Float and float(exponent).is_integer() and abs(float(exponent)) <= 2**31 and not integer_valued(base):
        exponent = sp.Integer(int(exponent))
    return sp.Pow(base, exponent)


def _fold(binary):
    """min/max of any number of arguments, as nested binary nodes."""

    def build(*args):
        result = args[0]
        for arg in args[1:]:
            result = binary(result, arg)
        return result

    return build


# The names users write -> the SymPy expression they build.  Looked up in `math`, `numpy` and builtins.
PYTHON_SPELLINGS = {
    ("sin",): sp.sin,
    ("cos",): sp.cos,
    ("tan",): sp.tan,
    ("asin", "arcsin"): sp.asin,
    ("acos", "arccos"): sp.acos,
    ("atan", "arctan"): sp.atan,
    ("atan2", "arctan2"): sp.atan2,
    ("sinh",): sp.sinh,
    ("cosh",): sp.cosh,
    ("tanh",): sp.tanh,
    ("asinh", "arcsinh"): sp.asinh,
    ("acosh", "arccosh"): sp.acosh,
    ("atanh", "arctanh"): sp.atanh,
    ("exp",): sp.exp,
    ("exp2",): lambda x: sp.Integer(2) ** x,
    ("expm1",): cfunctions.expm1,
    ("log",): _log,
    ("log1p",): cfunctions.log1p,
    ("log2",): lambda x: sp.log(x) / sp.log(2),
    ("log10",): lambda x: sp.log(x) / sp.log(10),
    ("sqrt",): sp.sqrt,
    ("cbrt",): cfunctions.Cbrt,
    ("hypot",): cfunctions.hypot,
    ("pow", "power"): power,
    ("float_power",): lambda a, b: power(AsFloat(a) if a.is_integer else a, b),
    ("copysign",): CopySign,
    ("square",): lambda x: x**2,
    ("erf",): sp.erf,
    ("erfc",): Erfc,
    ("gamma",): sp.gamma,
    ("lgamma",): sp.loggamma,
    ("abs", "fabs", "absolute"): sp.Abs,
    ("sign",): sp.sign,
    ("heaviside",): sp.Heaviside,
    ("floor",): Floor,
    ("ceil",): Ceil,
    ("trunc", "fix"): Trunc,
    ("rint",): Rint,
    ("round", "around"): numpy_round,
    ("isnan",): isnan,
    ("isinf",): isinf,
    ("isfinite",): isfinite,
    ("max",): _fold(Maximum),
    ("min",): _fold(Minimum),
    ("maximum",): _fold(lambda a, b: numpy_extreme(Maximum, a, b)),
    ("minimum",): _fold(lambda a, b: numpy_extreme(Minimum, a, b)),
    ("fmax",): _fold(lambda a, b: numpy_extreme(Maximum, a, b, skip_nan=True)),
    ("fmin",): _fold(lambda a, b: numpy_extreme(Minimum, a, b, skip_nan=True)),
    ("fmod",): Remainder,
    ("mod", "remainder"): lambda a, b: IntMod(a, b) if a.is_integer and b.is_integer else Modulo(a, b),  # (as `%`)
}

# Python's spellings that return an int where NumPy's return a float: looked up in `math` and builtins, after the
# table above.
PYTHON_INT_SPELLINGS = {
    ("floor",): lambda a: PythonInt(Floor(a)),
    ("ceil",): lambda a: PythonInt(Ceil(a)),
    ("trunc",): PythonInt,
    ("round",): python_round,
}

# Constants by value, so `math.pi`, `np.pi` and `from math import pi` all display as \pi.
NAMED_CONSTANTS = {math.pi: sp.pi, math.e: sp.E, math.inf: sp.oo, -math.inf: -sp.oo}


def _functions_by_object():
    table = {}
    for spellings, modules in ((PYTHON_SPELLINGS, (math, np, builtins)), (PYTHON_INT_SPELLINGS, (math, builtins))):
        for names, build in spellings.items():
            for module in modules:
                for name in names:
                    obj = getattr(module, name, None)
                    if callable(obj):
                        table[id(obj)] = (name, build)
    return table


FUNCTIONS_BY_OBJECT = _functions_by_object()

# The nodes whose value is never known to be an integer (the smooth functions of the table): `integer_valued`
# answers for them without asking SymPy, whose assumption queries on a large argument cost milliseconds each.
_NEVER_INTEGER = tuple(rule.node for rule in RULES if rule.smooth and rule.node not in (sp.Add, sp.Mul, sp.Pow))


def integer_valued(expr):
    """Whether SymPy knows `expr` is an integer (``expr.is_integer is True``), asked structurally so that the cost
    is linear in the size of `expr`: a sum or product is an integer only when all its terms are (SymPy
    evaluates the cancellations that could make it one otherwise), a smooth function of the table never is,
    and anything else (a symbol, `floor`, `Piecewise`, ...) is asked of SymPy."""
    if expr.is_Atom:
        return expr.is_integer is True
    if expr.is_Add or expr.is_Mul:
        return all(integer_valued(argument) for argument in expr.args)
    if expr.is_Pow:
        base, exponent = expr.args
        return integer_valued(base) and integer_valued(exponent) and expr.is_integer is True
    if isinstance(expr, _NEVER_INTEGER):
        return False
    return expr.is_integer is True


# --- conditions as Python computes them at a NaN ------------------------------------------------------------------
# Every ordering of a NaN is false, so `not x > 1` is true at a NaN where `x <= 1` is false.  SymPy reasons as if no
# value were NaN: `Not(x > 1)` is `x <= 1`, `(x > 1) | (x <= 1)` is True, and in a Piecewise after `x > 1` a
# condition `x <= 1` always holds.  The frontend and the bounds build conditions through these helpers instead.
ORDERINGS = (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)


def _can_be_nan(expr):
    return not (integer_valued(expr) or expr.is_number and expr is not sp.nan)


def _nan_tests(ordering):
    """`isnan(a) != 0` for each operand of `ordering` that can be NaN (not an integer nor a constant)."""
    return [sp.Ne(isnan(a), 0) for a in ordering.args if _can_be_nan(a)]


def numpy_extreme(extreme, a, b, skip_nan=False):
    """np.maximum/np.minimum(a, b) (`extreme` Maximum or Minimum), NaN where either is; np.fmax/np.fmin with
    `skip_nan`, the other argument where one is NaN.  Python's max(a, b), which `extreme` prints as, keeps `a`
    unless `b` beats it: a NaN `a` wins and a NaN `b` loses, so only the other case needs a test, and none where
    that argument cannot be NaN (`np.maximum(z, 0.0)`: relu stays one node)."""
    odd = a if skip_nan else b
    if not _can_be_nan(odd):
        return extreme(a, b)
    return sp.Piecewise((b, sp.Ne(isnan(odd), 0)), (extreme(a, b), True))


def python_not(condition):
    """`not condition`: an ordering of operands that can be NaN negated with their NaN tests beside it
    (`x <= 1 | isnan(x) != 0`), `and`/`or` by De Morgan, so that no `Not` of an ordering is left to SymPy."""
    if isinstance(condition, ORDERINGS):
        return sp.Or(condition.negated, *_nan_tests(condition))
    if isinstance(condition, sp.Or):
        orderings = [a for a in condition.args if isinstance(a, ORDERINGS)]
        if len(orderings) == 1 and python_not(orderings[0].negated) == condition:  # (the negation of an ordering)
            return orderings[0].negated
        return sp.And(*map(python_not, condition.args))
    if isinstance(condition, sp.And):
        return sp.Or(*map(python_not, condition.args))
    return sp.Not(condition)


def element_reads(expr, guard=sp.true):
    """`(element, guard)` for every array element `expr` reads, with the condition under which the kernel
    evaluates it (printed as a conditional expression, a `Piecewise` evaluates only the branch it takes)."""
    if not expr.has(sp.Indexed):  # (the conditions of nested branches are costly to build)
        return
    if isinstance(expr, sp.Indexed):
        for index in expr.indices:  # (`x[idx[k]]` reads idx[k] first)
            yield from element_reads(index, guard)
        yield expr, guard
        return
    if isinstance(expr, sp.Piecewise):
        earlier = sp.true
        for value, condition in expr.args:
            yield from element_reads(condition, sp.And(guard, earlier))
            yield from element_reads(value, sp.And(guard, earlier, condition))
            earlier = sp.And(earlier, python_not(condition))
        return
    if isinstance(expr, ITE):  # SymPy's form of `(u if c else v) < w` inside a condition, printed as one
        condition, then, otherwise = expr.args
        yield from element_reads(condition, guard)
        yield from element_reads(then, sp.And(guard, condition))
        yield from element_reads(otherwise, sp.And(guard, python_not(condition)))
        return
    if isinstance(expr, (sp.And, sp.Or)):  # printed with the operands that read no array first (`ordered_operands`)
        tests, reading = ordered_operands(expr)
        decided = sp.And(*tests) if isinstance(expr, sp.And) else sp.And(*[python_not(t) for t in tests])
        for operand in reading:
            yield from element_reads(operand, sp.And(guard, decided))
        return
    for argument in expr.args:
        yield from element_reads(argument, guard)


def ordered_operands(condition):
    """The operands of an `and`/`or` in the order the kernel evaluates them: `(tests, reading)`, those that read no
    array element first.  Python short-circuits, so in `i + 1 < n and x[i + 1] > 0` (or the nested `if` it
    stands for) x[i + 1] is read only when i + 1 < n; SymPy keeps no order of operands, so the tests of indices
    go first, and a read behind them is checked only where they let it happen."""
    tests = [operand for operand in condition.args if not operand.has(sp.Indexed)]
    reading = [operand for operand in condition.args if operand.has(sp.Indexed)]
    return tests, reading


def apart_from(expr, earlier):
    """`expr` with each ordering that SymPy takes for the complement of one in `earlier` (a condition) written
    with its NaN tests, `x <= 1 & isnan(x) == 0`, which SymPy cannot take for a complement: exact at a NaN."""
    complements = {r.negated.canonical for r in earlier.atoms(*ORDERINGS)}
    if not complements or not isinstance(expr, sp.Basic):
        return expr
    explicit = {}
    for r in expr.atoms(*ORDERINGS):
        tests = _nan_tests(r)
        if r.canonical in complements and tests:
            explicit[r] = sp.And(r, *[sp.Not(test) for test in tests])
    return expr.xreplace(explicit) if explicit else expr


def python_or(*operands):
    """`or` of conditions: SymPy makes `x > 1 or x <= 1` True, false at a NaN; each operand is kept apart from the
    ones before it."""
    operands = [a for o in operands for a in sp.Or.make_args(o)]
    return sp.Or(*[apart_from(o, sp.And(*operands[:k])) for k, o in enumerate(operands)])


def python_piecewise(*pieces):
    """A Piecewise whose pieces (value, condition) are kept apart from the conditions before them: an `elif x <= 1`
    after `if x > 1` is not dropped as always true (it is false at a NaN), when SymPy builds or folds it."""
    kept = []
    for k, (value, condition) in enumerate(pieces):
        earlier = sp.Or(*[c for _, c in pieces[:k]]) if k else sp.false
        kept.append((apart_from(value, earlier), apart_from(condition, earlier)))
    return sp.Piecewise(*kept)
