"""Codegen: print a `Derivative` as Python source of three plain kernels that ``numba.njit`` compiles.

Each kernel (``value``, ``grad``, ``value_and_grad``) keeps only the statements its results need, shares
repeated subexpressions with ``sympy.cse`` within each straight run of assignments (so the gradient reuses what
the forward pass computed) and is printed by `NumbaPrinter`, a subclass of SymPy's Python printer whose
function spellings come from the rules table.  Loops stay loops; tapes are arrays that grow by doubling.
Nothing here touches Numba itself: `symgrad.jit` compiles the text.
"""

import dataclasses
import io
import math
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass

import sympy as sp
from sympy.core.mul import _keep_coeff
from sympy.printing.precedence import PRECEDENCE, PRECEDENCE_FUNCTIONS, PRECEDENCE_VALUES, precedence_Mul
from sympy.printing.pycode import PythonCodePrinter

from . import passes
from .bounds import Bounds
from .ir import (INT, Allocate, Assign, Carried, Check, Loop, Pop, Push, ReverseLoop, Store, Update, When,
                 expressions, mentions, overwritten_first, rebuilt, walk)
from .reverse import closed_form_gradients, without
from .rules import RULES, RUNTIME_FUNCTIONS, AsFloat, FloatTest, IntDiv, IntMod, ordered_operands

from .cache import KERNEL_NAMES


_PRECEDENCE_BY_CLASS = {}  # class -> its precedence, or the function of the instance that gives it


def _sign(number):
    """-1, 0 or 1 for a rational or a finite nonzero Float, read off its representation; None for anything else
    (SymPy's comparisons, `c < 0` and `is_extended_negative`, cost more than printing the rest of a product)."""
    if number.is_Rational:
        return (number.p > 0) - (number.p < 0)
    if isinstance(number, sp.Float):
        sign, mantissa = number._mpf_[:2]
        if mantissa:
            return -1 if sign else 1
    return None


def precedence(item):
    """`sympy.printing.precedence.precedence`, the same number, without walking the class hierarchy each time and
    without building ``-item`` to ask whether a product extracts a minus sign (its coefficient says)."""
    if hasattr(item, "precedence"):
        return item.precedence
    kind = type(item)
    found = _PRECEDENCE_BY_CLASS.get(kind)
    if found is None:
        found = PRECEDENCE["Atom"]
        if not isinstance(item, type):
            for cls in kind.mro():
                if cls.__name__ in PRECEDENCE_FUNCTIONS:
                    found = PRECEDENCE_FUNCTIONS[cls.__name__]
                    break
                if cls.__name__ in PRECEDENCE_VALUES:
                    found = PRECEDENCE_VALUES[cls.__name__]
                    break
        _PRECEDENCE_BY_CLASS[kind] = found
    if found is precedence_Mul:
        return _precedence_Mul(item)
    return found(item) if callable(found) else found


def _precedence_Mul(item):
    if any(hasattr(a, "precedence") and isinstance(a, sp.Function) and a.precedence < PRECEDENCE["Mul"]
           for a in item.args):
        return PRECEDENCE["Mul"]
    # `Mul.could_extract_minus_sign`: its first argument a negative number (it also asks self == -self, true only
    # of a zoo coefficient, whose sign is None: then SymPy is asked)
    first = item.args[0]
    sign = _sign(first) if first.is_Number else 0
    negative = item.could_extract_minus_sign() if sign is None else sign < 0
    return PRECEDENCE["Add"] if negative else PRECEDENCE["Mul"]


# Fractional powers printed with square roots: within 2 ulp of pow, and their special values agree with it (nan
# below 0, inf at inf; pow's +0.0 at -0.0 may print -0.0, equal to it).  A base other than a symbol or an array
# element is printed once only (x**0.25), so no work is repeated.
SQRT_POWERS = {0.5: "math.sqrt({0})", 0.25: "math.sqrt(math.sqrt({0}))",
               0.75: "(math.sqrt({0})*math.sqrt(math.sqrt({0})))", 1.5: "({0}*math.sqrt({0}))"}


class NumbaPrinter(PythonCodePrinter):
    """SymPy's Python printer, with floats printed exactly and small powers as products."""

    def __init__(self, enabled=passes.ALL):
        super().__init__({"order": "none"})  # canonical term ordering costs much and buys nothing in a kernel
        self.chain_accumulators = "accumulator_chain" in enabled  # see `_emit`
        self.recurrence_order = "recurrence_order" in enabled  # see `_recurrences`
        self.vector_functions = "vector_functions" in enabled  # see `vector_functions`
        self.split_rows = "split_rows" in enabled  # see `split_rows`
        self.lane_sums = "lane_sums" in enabled  # see `_emit_split`
        self.skip_rows = "skip_zero_rows" in enabled  # see `_emit_body`
        self._printed = {}  # (class, expression) -> text: the three kernels print mostly the same statements

    def doprint(self, expr, assign_to=None):
        """`CodePrinter.doprint` without its rewriting pass (a `replace` over the whole expression for nodes the
        IR never holds), which cost more than the printing itself; anything it would flag goes the long way.
        An expression's text depends on nothing else, so each is printed once (the class is part of the key:
        SymPy may call a Float equal to an Integer, which prints otherwise)."""
        if assign_to is not None or not isinstance(expr, sp.Expr):
            return super().doprint(expr, assign_to)
        key = (type(expr), expr)
        if key not in self._printed:
            self._printed[key] = self._print_expression(expr)
        return self._printed[key]

    def _print_expression(self, expr):
        self._not_supported, self._number_symbols = set(), set()
        text = self._print(integer_powers_as_floats(expr))
        if self._not_supported or self._number_symbols or "\n" in text:
            return super().doprint(expr)
        return text

    def _print_Unequality(self, expr):
        """`isnan(a) != 0`, the NaN test beside a negated comparison (`rules.python_not`), as `math.isnan(a)`."""
        test, zero = expr.args
        if isinstance(test, FloatTest) and zero == 0:
            return f"math.{type(test).__name__}({self._print(test.args[0])})"
        return super()._print_Relational(expr)

    def _print_Equality(self, expr):
        test, zero = expr.args
        if isinstance(test, FloatTest) and zero == 0:
            return f"(not math.{type(test).__name__}({self._print(test.args[0])}))"
        return super()._print_Relational(expr)

    def _print_And(self, expr):
        return self._short_circuit(expr, "and")

    def _print_Or(self, expr):
        return self._short_circuit(expr, "or")

    def _short_circuit(self, expr, word):
        """`a and b` with the operands that read no array first, as the bounds stage assumes (see
        `rules.ordered_operands`)."""
        tests, reading = ordered_operands(expr)
        operands = sorted(tests, key=sp.default_sort_key) + sorted(reading, key=sp.default_sort_key)
        return f" {word} ".join(self.parenthesize(a, precedence(expr)) for a in operands)

    def _print_ITE(self, expr):
        """`u if c else v` as a conditional expression: SymPy's printer rewrites an ITE as a Piecewise, which fails
        on an ITE of comparisons nested in another (fuzz seed 1011251); the bounds stage reads it the same way."""
        condition, then, otherwise = expr.args
        return f"(({self._print(then)}) if ({self._print(condition)}) else ({self._print(otherwise)}))"

    def parenthesize(self, item, level, strict=False):
        """`StrPrinter.parenthesize`, asking for the precedence once, not twice (SymPy finds it by walking the
        class hierarchy)."""
        inner = precedence(item)
        return f"({self._print(item)})" if inner < level or (not strict and inner <= level) else self._print(item)

    def _print_Add(self, expr, order=None):
        """`StrPrinter._print_Add` (the terms in their stored order), with the precedence above."""
        terms = self._as_ordered_terms(expr, order=order)
        prec = precedence(expr)
        parts = []
        for term in terms:
            t = self._print(term)
            if t.startswith("-") and not term.is_Add:
                sign, t = "-", t[1:]
            else:
                sign = "+"
            parts += [sign, f"({t})" if precedence(term) < prec or term.is_Add else t]
        sign = parts.pop(0)
        return ("" if sign == "+" else sign) + " ".join(parts)

    def _print_Mul(self, expr):
        """`CodePrinter._print_Mul`, the same text, with the precedence above and the sign of the coefficient read
        off its representation; the factors of ``-expr`` are listed rather than built as a product."""
        prec = precedence(expr)
        c, e = expr.as_coeff_Mul()
        sign = _sign(c)
        if sign is None:
            sign = -1 if c < 0 else 1
        if sign < 0:
            c = -c
            if c is sp.S.One:
                args = sp.Mul.make_args(e)  # (`_keep_coeff` of 1 is the factors themselves)
            elif e.is_Mul:
                args = (c,) + e.args  # (e has no number first: `as_coeff_Mul` took it)
            elif isinstance(e, (sp.Symbol, sp.Indexed, sp.Function)):
                args = (c, e)  # (a number times one symbol or call, which SymPy leaves as a product)
            else:
                args = sp.Mul.make_args(_keep_coeff(c, e))
            text = "-"
        else:
            args, text = sp.Mul.make_args(expr), ""
        a, b, pow_paren = [], [], []  # the numerator's factors, the denominator's, powers -1 of a product
        for item in args:
            if item.is_commutative and item.is_Pow and item.exp.is_Rational and item.exp.is_negative:
                if item.exp != -1:
                    b.append(sp.Pow(item.base, -item.exp, evaluate=False))
                else:
                    if len(item.args[0].args) != 1 and isinstance(item.base, sp.Mul):
                        pow_paren.append(item)
                    b.append(sp.Pow(item.base, -item.exp))
            else:
                a.append(item)
        a = a or [sp.S.One]
        if len(a) == 1 and text == "-":
            a_str = [self.parenthesize(a[0], 0.5 * (PRECEDENCE["Pow"] + PRECEDENCE["Mul"]))]
        else:
            a_str = [self.parenthesize(x, prec) for x in a]
        b_str = [self.parenthesize(x, prec) for x in b]
        for item in pow_paren:
            if item.base in b:
                b_str[b.index(item.base)] = f"({b_str[b.index(item.base)]})"
        if not b:
            return text + "*".join(a_str)
        if len(b) == 1:
            return text + "*".join(a_str) + "/" + b_str[0]
        return text + "*".join(a_str) + "/(%s)" % "*".join(b_str)

    def _print_Float(self, expr):
        value = float(expr)
        if math.isfinite(value):
            return repr(value)
        return "math.nan" if math.isnan(value) else "math.inf" if value > 0 else "(-math.inf)"

    def _print_Rational(self, expr):
        return repr(expr.p / expr.q)

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        number = float(exponent) if exponent.is_Number else None  # (comparing with SymPy numbers costs more)
        if number is not None and abs(number) in SQRT_POWERS and (abs(number) == 0.25 or base.is_Atom
                                                                  or isinstance(base, sp.Indexed)):
            root = SQRT_POWERS[abs(number)].format(self._print(base))  # (no pow call: libm's costs ~4 sqrts)
            return root if number > 0 else f"(1.0/{root})"
        if exponent.is_Integer and base.is_Symbol and 2 <= abs(int(exponent)) <= 4:
            product = "*".join([self._print(base)] * abs(int(exponent)))
            return f"({product})" if exponent > 0 else f"(1.0/({product}))"
        if base.is_integer and exponent.is_integer and not exponent.is_nonnegative and not exponent.is_Number:
            # `2 ** -i` is a float in Python; Numba's int ** negative int is 0 (SymPy writes x / 2**i so)
            return f"float({self._print(base)})**{self.parenthesize(exponent, 100)}"
        if number == -1:
            return f"(1.0/{self.parenthesize(base, 100)})"
        if exponent.is_Integer and exponent < 0:  # (Numba's x**-n inverts with a ZeroDivisionError check, which
            return f"(1.0/({self._print(sp.Pow(base, -exponent, evaluate=False))}))"  # keeps a loop scalar)
        return super()._print_Pow(expr, rational=rational)

    def _print_Piecewise(self, expr):
        if expr.args[-1].cond is not sp.true:  # SymPy would end in `else None`, which Numba types as optional
            expr = sp.Piecewise(*expr.args, (sp.nan, True))
        return super()._print_Piecewise(expr)

    def _print_NaN(self, expr):
        return "math.nan"

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "(-math.inf)"

    def _print_CheckedPower(self, expr):
        return f"int_pow({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_Indexed(self, expr):
        return f"{self._print(expr.base.label)}[{', '.join(self._print(i) for i in expr.indices)}]"


def _may_overflow(power):
    """An integer power that int64 can overflow where Python's exact integer does not (`i ** 7` at i = 512,
    `2 ** n`); squares of a variable stay integers (their operands would be past 3e9)."""
    base, exponent = power.args
    if base.is_Number and not exponent.is_Number:
        return abs(base) >= 2 and base.is_integer and exponent.is_nonnegative
    return not base.is_Number and base.is_integer and exponent.is_Integer and (
        exponent >= 3 or exponent == 2 and not base.is_Symbol)


class CheckedPower(sp.Function):
    """An int power bound to an int variable (`j = i ** 7`), computed by `runtime.int_pow`, which raises
    OverflowError past int64, where Python's int grows and the kernels' would wrap around to a wrong value."""

    nargs = 2
    is_integer = True


def checked_int_powers(expr):
    """`expr`, an int variable's value, with each power that can overflow int64 (`_may_overflow`; not squares,
    which would need operands past 3e9) checked at run time."""
    if not expr.has(sp.Pow):
        return expr
    powers = {p: CheckedPower(*p.args) for p in expr.atoms(sp.Pow)
              if _may_overflow(p) and not (p.exp.is_Integer and p.exp < 3)}
    return expr.xreplace(powers) if powers else expr


def integer_powers_as_floats(expr, float_valued=False):
    """`expr` with the integer arithmetic that holds such a power computed in float64 where its value is used as
    a float (`x[i] * i ** 7` as `x[i] * float(i) ** 7`; all of it where `float_valued`, the value of a float
    variable or element), which is Python's value to rounding: Python's ints do not wrap, int64's do.  Integer
    contexts (an index, a bound, an int function's operands, an int-valued `expr` otherwise) are left as they
    are."""
    candidates = [p for p in expr.atoms(sp.Pow) if _may_overflow(p)] if expr.has(sp.Pow) else []
    if not candidates or expr.is_integer and not float_valued:
        return expr
    if expr.is_integer:
        return _as_float_arithmetic(expr) or expr

    def in_float_context(node):
        changed, parts = False, []
        for part in node.args:
            if isinstance(part, sp.Basic) and not part.is_Atom and not isinstance(part, sp.Indexed) and part.has(
                    *candidates):
                if part.is_integer:
                    floated = _as_float_arithmetic(part)
                    part, changed = (floated, True) if floated is not None else (part, changed)
                else:
                    new = in_float_context(part)
                    part, changed = new, changed or new is not part
            parts.append(part)
        return node.func(*parts) if changed else node

    return in_float_context(expr)


def _as_float_arithmetic(expr):
    """An integer sum, product or power of symbols and integers computed in float64 (each symbol through
    `float()`), or None for another expression (an int function keeps its integer operands)."""
    if expr.is_Symbol:
        return AsFloat(expr)
    if expr.is_Integer:
        return sp.Float(int(expr)) if abs(expr) > 1 else expr
    if not isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
        return None
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        base = _as_float_arithmetic(expr.base)
        return None if base is None else sp.Pow(base, expr.exp, evaluate=False)
    parts = [_as_float_arithmetic(a) for a in expr.args]
    return None if None in parts else expr.func(*parts, evaluate=False)


def _rule_printer(code):
    def print_node(self, expr):
        template = code(*expr.args) if callable(code) else code
        return template.format(*(self._print(a) if a.is_Atom else f"({self._print(a)})" for a in expr.args))

    return print_node


for _rule in RULES:
    if _rule.code is not None:
        setattr(NumbaPrinter, f"_print_{_rule.node.__name__}", _rule_printer(_rule.code))


@dataclass
class Kernel:
    """One kernel: its statements (after CSE), with loops nested, and the text of what it returns."""

    name: str
    arguments: list
    statements: list
    returns: str
    tapes: dict
    checks: list
    function: str
    enabled: frozenset = passes.ALL  # the optimisation passes it was built with
    results: tuple = ()  # the expressions it returns (what the statements must leave defined)
    shape_checks: tuple = ()  # `(condition, message)` of the sizes the program's array expressions need equal

    def threaded(self):
        """Whether a loop of this kernel runs on threads (in a function of its own, see `_outlining_chunks`)."""
        return any(isinstance(s, ChunkedLoop) for s in self.statements)

    def operation_count(self):
        return sum(sp.count_ops(value) for value in _values(self.statements))

    def source(self, printer):
        """The kernel's text.  Its parameters are the user's argument names, so that keywords work."""
        lines = [f"def {self.name}({', '.join(a.name for a in self.arguments)}):"]
        for argument in self.arguments:
            lines += [f"    {s.name} = {argument.name}.shape[{k}]" for k, s in enumerate(argument.shape)]
            if argument.kind == INT:
                # It arrives as a float64, so that 3.7 is refused here rather than truncated by Numba, and it is
                # exact up to 2**53; it is rebound to the int the body computes with.
                message = (f"{self.function}(): argument {argument.name!r} is used as an integer (a loop bound or "
                           f"an index): pass a whole number of magnitude below 2**53")
                lines += [f"    if not ({argument.name} == math.floor({argument.name}) and "
                          f"abs({argument.name}) < {float(2**53)!r}):",
                          f"        raise ValueError({message!r})",
                          f"    {argument.name} = int({argument.name})"]
        for condition, message in self.shape_checks:
            lines += [f"    if not ({printer.doprint(condition)}):", f"        raise ValueError({message!r})"]
        for condition, message in self.checks:
            lines += [f"    if not ({printer.doprint(condition)}):", f"        raise ArrayIndexError({message!r})"]
        used = set().union(*(_tapes(s.loop if isinstance(s, ChunkedLoop) else s) for s in self.statements))
        for tape, size in self.tapes.items():
            if tape in used:
                lines += [f"    {tape} = np.empty({printer.doprint(size) if size is not None else 64})",
                          f"    {tape}_n = 0"]
        fixed = {tape for tape, size in self.tapes.items() if size is not None}
        functions = []
        lines += self._in_pieces(self.pieces(), printer, fixed, functions)
        lines.append(f"    return {self.returns}")
        return "\n\n\n".join(functions + ["\n".join(lines)])

    def pieces(self):
        """The (start, stop) spans of `statements` compiled as functions of their own: runs of float assignments at
        the top level cut every `PIECE_SIZE` statements, when the kernel has more than `PIECES_BOUND` of them.
        LLVM's optimisation and code generation grow faster than linearly with the size of one function; a call
        per piece keeps each function small (each piece is above LLVM's inlining threshold, so it stays apart)."""
        def piece_able(statement):
            return isinstance(statement, Assign) and not statement.target.is_integer

        if sum(map(piece_able, self.statements)) <= PIECES_BOUND:
            return []
        spans, start = [], None
        for at, statement in enumerate(self.statements + [None]):
            if statement is not None and piece_able(statement):
                if start is None:
                    start = at
                if at + 1 - start == PIECE_SIZE:
                    spans.append((start, at + 1))
                    start = None
            elif start is not None:
                if at - start >= MINIMUM_PIECE:
                    spans.append((start, at))
                start = None
        return spans

    def _in_pieces(self, pieces, printer, fixed, functions):
        """The kernel's body, calling the piece functions it adds to `functions`.  A piece takes what it reads as
        arguments and returns, as a tuple, the values it defines that later statements read."""
        p = printer.doprint
        last_use = {}
        for at, statement in enumerate(self.statements):
            for symbol in _used(statement):
                last_use[symbol] = at
        for result in self.results:
            for symbol in sp.sympify(result).free_symbols:
                last_use[symbol] = len(self.statements)
        lines, at = [], 0
        for k, (start, stop) in enumerate(pieces):
            lines += self._outlining_chunks(at, start, printer, fixed, functions)
            run = self.statements[start:stop]
            defined = {s.target for s in run}
            reads = [p(s) for s in sorted(set().union(*(_used(s) for s in run)) - defined, key=str)]
            outputs = [p(s.target) for s in run if last_use.get(s.target, -1) >= stop]
            function, call = _outlined(f"_{self.name}_piece{k}", reads, _emit(run, printer, "    ", fixed), outputs)
            functions.append(function)
            lines.append(f"    {call}")
            at = stop
        return lines + self._outlining_chunks(at, len(self.statements), printer, fixed, functions)

    def _outlining_chunks(self, start, stop, printer, fixed, functions):
        """The lines of `statements[start:stop]`, the threaded run of each `ChunkedLoop` among them a function of
        its own added to `functions` (``_<kernel>_chunks<k>``; jit.py compiles it, alone, with ``parallel=True``).

        Numba's threads are a property of the whole function it compiles: a kernel compiled with
        ``parallel=True`` runs its serial code (every call below `PARALLEL_MIN_ITERATIONS` rows) as a
        parallel-compiled function, which measured up to 2.7x slower on the vectorised MLP at 100 rows once
        another kernel had started the thread pool, and compiles twice as long."""
        lines, run = [], []
        for at in range(start, stop):
            statement = self.statements[at]
            if not isinstance(statement, (ChunkedLoop, FlatMap)):
                run.append(statement)
                continue
            lines += _emit(run, printer, "    ", fixed)
            run = []
            if isinstance(statement, FlatMap):  # (in a function of its own: see `_outlined_flat_map`)
                function, call = _outlined_flat_map(statement, f"_{self.name}_flat{at}", printer)
            else:
                function, call = _outlined_chunks(statement, f"_{self.name}_chunks{at}", printer, fixed)
            functions.append(function)
            lines += call
        return lines + _emit(run, printer, "    ", fixed)


PIECES_BOUND = 20000  # top-level float assignments above which a kernel is compiled in pieces (see `pieces`)
PIECE_SIZE = 5000  # statements a piece
MINIMUM_PIECE = 50  # a shorter run stays in the kernel


def _values(statements):
    for statement in walk(statements):
        if isinstance(statement, (Assign, Update, Store)):
            yield statement.value


def _recurrences(loop):
    """Pass `recurrence_order`: for each assignment at the top level of `loop`'s body, the carried values whose
    next value it feeds, and for each symbol the carried values it reads in the same iteration.  A sum on a
    recurrence (``a' = -x - c*v' - k*x'`` feeding ``v' += dt*a'``) is printed with the terms that read that
    recurrence's carried value added last, so the loop-carried chain goes through one addition of it, not
    through all of them; the other terms are computed off the chain.  Precondition: none beyond floating-point
    reassociation, which changes the last bits (as `accumulator_chain`)."""
    phis = {c.phi for c in loop.carried}
    reads = {}  # symbol -> the carried values it reads in this iteration
    for statement in loop.body:
        if isinstance(statement, Assign):
            reads[statement.target] = set().union(*(({f} & phis) | reads.get(f, set())
                                                     for f in statement.value.free_symbols))
    feeds = {}  # symbol -> the carried values whose next value reads it
    for c in loop.carried:
        for f in c.next.free_symbols:
            feeds.setdefault(f, set()).add(c.phi)
    for statement in reversed(loop.body):
        if isinstance(statement, Assign) and statement.target in feeds:
            for f in statement.value.free_symbols:
                feeds.setdefault(f, set()).update(feeds[statement.target])
    return reads, phis, feeds


def _float_text(printer, expr):
    """`expr` printed, a bare integer as a float: it would make Numba type the variable as an int."""
    return f"{int(expr)}.0" if isinstance(expr, sp.Integer) else printer.doprint(expr)


def _emit(statements, printer, indent, fixed, accumulators=frozenset(), recurrences=None, inside_loop=False):
    """Python source lines for a statement list; tapes in `fixed` were sized up front and never grow;
    `inside_loop` when the statements run once per iteration of an enclosing loop.

    A sum that adds into one of the `accumulators` (the carried values of the loops around) is printed as
    ``acc + (rest)``: the loop's chain of dependent additions is then one addition long, not one per term (pass
    `accumulator_chain`; precondition: none beyond floating-point reassociation, which changes the last bits)."""
    lines = []

    def p(expr):
        return _float_text(printer, expr)

    def float_value(expr):  # (an integer value of a float: see integer_powers_as_floats)
        return p(integer_powers_as_floats(expr, float_valued=True))

    def accumulated(value, target):
        if not value.is_Add or len(value.args) < 3:
            return p(value)
        accumulator = next((t for t in value.args if t in accumulators), None)
        if accumulator is not None and printer.chain_accumulators:
            return f"{p(accumulator)} + ({p(sp.Add(*(t for t in value.args if t is not accumulator)))})"
        if recurrences is None or not printer.recurrence_order:
            return p(value)
        reads, phis, feeds = recurrences
        chain = feeds.get(target, set())
        late = [t for t in value.args if chain & set().union(*(({f} & phis) | reads.get(f, set())
                                                              for f in t.free_symbols))]
        if not late or len(late) == len(value.args):
            return p(value)
        early = [t for t in value.args if all(t is not u for u in late)]
        return f"{p(sp.Add(*early))} + ({p(sp.Add(*late))})"

    for s in statements:
        if isinstance(s, Assign):
            value = accumulated(checked_int_powers(s.value), s.target) if s.target.is_integer else accumulated(
                s.value, s.target) if not s.value.is_integer else float_value(s.value)
            if not s.target.is_integer and isinstance(s.value, sp.Piecewise) and all(
                    isinstance(piece, sp.Integer) for piece, _ in s.value.args):  # (a comparison used as a number,
                value = f"float({value})"  # `float(a > b)`: its value and derivative are floats, as in Python)
            lines.append(f"{indent}{p(s.target)} = {value}")
        elif isinstance(s, Update):
            value = p(s.value) if s.target.is_integer else float_value(s.value)
            lines.append(f"{indent}{p(s.target)} {'+=' if s.accumulate else '='} {value}")
        elif isinstance(s, Store):
            element = p(sp.Indexed(s.base, *s.indices))
            lines.append(f"{indent}{element} {'+=' if s.accumulate else '='} {float_value(s.value)}")
        elif isinstance(s, Allocate):
            shape = "".join(printer.doprint(n) + ", " for n in s.shape)
            lines.append(f"{indent}{p(s.base.label)} = np.zeros(({shape}))")
        elif isinstance(s, Uninitialised):
            shape = "".join(printer.doprint(n) + ", " for n in s.shape)
            lines.append(f"{indent}{p(s.base.label)} = np.empty(({shape})) if {printer.doprint(s.condition)} else "
                         f"np.zeros(({shape}))")
        elif isinstance(s, Push):
            if s.tape not in fixed:
                lines += [f"{indent}if {s.tape}_n == {s.tape}.shape[0]:", f"{indent}    {s.tape} = grow({s.tape})"]
            lines += [f"{indent}{s.tape}[{s.tape}_n] = {p(s.value)}", f"{indent}{s.tape}_n += 1"]
        elif isinstance(s, Pop):
            lines += [f"{indent}{s.tape}_n -= 1", f"{indent}{p(s.target)} = {s.tape}[{s.tape}_n]"]
        elif isinstance(s, Check):
            lines += [f"{indent}if not ({printer.doprint(s.condition)}):",
                      f"{indent}    raise ArrayIndexError({s.message!r})"]
        elif isinstance(s, When) and s.gate is not None:  # (`gate_first`: no assignments at its top level)
            body = _emit(s.body, printer, indent + "        ", fixed, accumulators, inside_loop=inside_loop)
            lines += [f"{indent}if {printer.doprint(s.gate)}:", f"{indent}    if {printer.doprint(s.condition)}:"]
            lines += body + [f"{indent}elif {printer.doprint(s.condition)}:"] + [line[4:] for line in body]
        elif isinstance(s, When):  # the assignments get a value on the other path too, for Numba's typing
            lines.append(f"{indent}if {printer.doprint(s.condition)}:")
            lines += _emit(s.body, printer, indent + "    ", fixed, accumulators, inside_loop=inside_loop)
            zeros = [f"{indent}    {p(a.target)} = {'0' if a.target.is_integer else '0.0'}" for a in s.body
                     if isinstance(a, Assign)]
            if zeros:
                lines += [f"{indent}else:"] + zeros
        elif isinstance(s, Loop) and printer.split_rows and not inside_loop and (
                split := split_rows(s, printer.chain_accumulators, accumulators)):
            lines += _emit_split(s, split, printer, indent, fixed, accumulators)
        elif isinstance(s, Loop):
            lines += [f"{indent}{p(c.phi)} = {p(c.initial)}" for c in s.carried]
            bounds = [s.start, s.stop] + ([s.step] if s.step != 1 else [])
            lines.append(f"{indent}for {p(s.index)} in range({', '.join(printer.doprint(b) for b in bounds)}):")
            carry = [f"{', '.join(p(c.phi) for c in s.carried)} = {', '.join(p(c.next) for c in s.carried)}"
                     ] if s.carried else []
            body = _emit_body(s.body, printer, indent + "    ", fixed, accumulators | {c.phi for c in s.carried},
                              _recurrences(s) if s.carried else None, carry,
                              set().union(*(c.next.free_symbols for c in s.carried)))
            body += [f"{indent}    {line}" for line in carry]
            if printer.vector_functions and _vectorisable(s):
                body = vector_functions(body)
            lines += body or [f"{indent}    pass"]
            lines += [f"{indent}{p(c.result)} = {p(c.phi)}" for c in s.carried]
        elif isinstance(s, ReverseLoop):
            if s.unless_zero is not None:
                lines.append(f"{indent}if {p(s.unless_zero)} != 0.0:")
                indent += "    "
            lines += _reverse_header(s.loop, printer, indent, s.any_order)
            lines += _emit_body(s.body, printer, indent + "    ", fixed, accumulators) or [f"{indent}    pass"]
            if s.unless_zero is not None:
                indent = indent[:-4]
    return lines


def _emit_body(body, printer, indent, fixed, accumulators, recurrences=None, carry=(), carried_reads=frozenset()):
    """The lines of a loop's or sweep's body.  A `When` that ends it and holds the rest of a row that
    `skip_zero_rows` guards (`When.row`) is printed as ``if not condition: continue`` and its statements after it,
    unindented, which LLVM compiles better than the nested block (1.10x against 1.15x of hand Numba for the MLP with
    every row active; a sweep's own test, `guarded_sweeps`, is better nested: 1.09x against 1.14x for the
    vectorised MLP);
    `carry` (the loop's carried updates, run before `continue`) must not read what the `When` defines, which would
    then be undefined on that path."""
    last = body[-1] if body else None
    if not (printer.skip_rows and isinstance(last, When) and last.row and not _defines(last) & set(carried_reads)):
        return _emit(body, printer, indent, fixed, accumulators, recurrences, inside_loop=True)
    condition = last.condition
    test = (f"{printer.doprint(condition.args[0])} == {printer.doprint(condition.args[1])}"
            if isinstance(condition, sp.Ne) else f"not ({printer.doprint(condition)})")
    lines = _emit(body[:-1], printer, indent, fixed, accumulators, recurrences, inside_loop=True)
    lines += [f"{indent}if {test}:"] + [f"{indent}    {line}" for line in carry] + [f"{indent}    continue"]
    return lines + _emit(last.body, printer, indent, fixed, accumulators, recurrences, inside_loop=True)


# --- passes vector_functions and split_rows ----------------------------------------------------------------
VECTOR_FUNCTIONS = ("exp", "log", "log1p", "tanh", "sin", "cos")  # symgrad.vector_math's (`vector_<name>`)
TRIG_FUNCTIONS = ("sin", "cos")
VECTOR_TRIG_LIMIT = 2  # sin and cos calls in one loop above which it keeps math's (compile time: ~1.5 s a call)
VECTOR_NODES = tuple(rule.node for rule in RULES if rule.code in {f"math.{name}({{0}})" for name in VECTOR_FUNCTIONS})
ROW_BLOCK = 512  # rows a split loop runs each part over before the next: its row values stay in the L1 cache


def _vectorisable(loop):
    """Whether LLVM may vectorise `loop` as printed: innermost (straight-line assignments and stores only) and
    nothing carried from one iteration to the next."""
    return not loop.carried and all(isinstance(s, (Assign, Store)) for s in loop.body)


def vector_functions(lines):
    """Pass `vector_functions`: the lines of a loop body calling `symgrad.vector_math`'s exp, log, log1p, tanh, sin
    and cos instead of `math`'s.  Those are branch-free float arithmetic (sin and cos read a constant table) that
    LLVM vectorises with the loop, where a libm call keeps it scalar.  Precondition: the loop is `_vectorisable`
    (elsewhere a libm call costs no more); the results change by at most the functions' documented error (2 ulp),
    which the fuzzer's tolerance allows.  sin and cos inline a whole argument reduction each, which LLVM takes
    seconds to compile: a loop calling them more than `VECTOR_TRIG_LIMIT` times keeps `math`'s."""
    trig = sum(line.count(f"math.{name}(") for line in lines for name in TRIG_FUNCTIONS)
    names = [name for name in VECTOR_FUNCTIONS if trig <= VECTOR_TRIG_LIMIT or name not in TRIG_FUNCTIONS]
    replaced = []
    for line in lines:
        for name in names:
            line = line.replace(f"math.{name}(", f"vector_{name}(")
        replaced.append(line)
    return replaced


@dataclass
class RowSplit:
    """A loop cut into parts that each run over a block of rows before the next part does (`split_rows`)."""

    parts: list  # the body's statements, cut where the run of assignments calling vector functions starts and ends
    carried: list  # per part, the carried values it updates (kept carried, except its `sums`)
    sums: list  # per part, `(carried, definition, term, rest)` of each sum `phi + rest`, added up after the part
    passed: list  # per part, the symbols it defines that later parts read: stored in a block array and reloaded


def split_rows(loop, chained, accumulators):
    """Pass `split_rows`: a `RowSplit` of a loop whose body has a straight run of assignments calling vector
    functions between loops (the logistic loss's row loop: a dot product, the loss and its derivative, the
    gradient update), or whose sums keep that run from vectorising.  Each block of rows runs the statements before
    the run, the run (now a loop LLVM vectorises: a sum's terms are stored, then added in the same order), and the
    rest, in turn; the values passing from one part to a later one go through arrays of `ROW_BLOCK` rows.

    Precondition: the loop is not inside another loop (its block arrays would be allocated at every iteration of
    the enclosing one: a 1-element inner loop of each row paid two allocations per row); step 1; no tapes,
    allocations, checks or guarded blocks inside; each carried value is read and
    updated in one part only; an array or scalar adjoint one part writes is not read by another; no part reads
    what a later one defines.  The iterations of each part then run in the original order and each statement
    computes what it did, so the results are unchanged to the bit.  A sum is taken apart only where it is printed
    ``phi + (rest)`` (pass `accumulator_chain`, or two terms) with no other accumulator in `rest`, so that adding
    the stored terms afterwards in order makes the same additions; pass `lane_sums` adds them in eight partial
    sums instead (`symgrad.runtime.lane_sum`), which rounds differently, never worse than the running sum."""
    if loop.step != 1 or any(isinstance(s, (Push, Pop, Allocate, Check, When, ChunkedLoop))
                             for s in walk(loop.body)):
        return None
    nodes = VECTOR_NODES
    if sum(len(s.value.atoms(sp.sin, sp.cos)) for s in loop.body if isinstance(s, Assign)) > VECTOR_TRIG_LIMIT:
        nodes = tuple(node for node in nodes if node not in (sp.sin, sp.cos))  # (`vector_functions` keeps math's)
    first = next((k for k, s in enumerate(loop.body) if isinstance(s, Assign) and s.value.has(*nodes)), None)
    if first is None:
        return None
    # (The run ends at a store: taking the gradient's `x_bar[k] += ...` into it kept LLVM from vectorising the
    # run where `x_bar` may alias the arrays it reads, 0.63 ms to 2.0 ms for autograd's logistic loss on threads.)
    start, stop = first, first + 1
    while start > 0 and isinstance(loop.body[start - 1], Assign):
        start -= 1
    while stop < len(loop.body) and isinstance(loop.body[stop], Assign):
        stop += 1
    parts = [part for part in (loop.body[:start], loop.body[start:stop], loop.body[stop:]) if part]
    run = parts.index(loop.body[start:stop])
    defined = [set().union(*(_defines(s) for s in part)) for part in parts]
    read = [_exposed_reads(part) for part in parts]
    written = [{s.base.label for s in walk(part) if isinstance(s, Store)} |
               {s.target for s in walk(part) if isinstance(s, Update)} for part in parts]
    for k in range(len(parts)):
        others = set().union(*(read[m] | defined[m] for m in range(len(parts)) if m != k))
        if written[k] & others or read[k] & set().union(*defined[k + 1:]):
            return None
    carried, sums = [[] for _ in parts], [[] for _ in parts]
    phis = accumulators | {c.phi for c in loop.carried}
    for c in loop.carried:
        touching = [k for k in range(len(parts)) if c.next.free_symbols & defined[k] or c.phi in read[k]]
        if len(touching) > 1:
            return None
        owner = touching[0] if touching else len(parts) - 1
        definition = _sum_term(loop, c) if owner == run else None
        rest = definition.value - c.phi if definition is not None else None
        if definition is not None and (len(definition.value.args) == 2 or chained) and not rest.free_symbols & phis:
            sums[owner].append((c, definition, sp.Symbol(f"_term_{c.phi}", real=True), rest))
        else:
            carried[owner].append(c)
    if len(parts) == 1 and not sums[0]:
        return None  # already innermost, with nothing blocking vectorisation that a split removes
    passed = [sorted(defined[k] & set().union(*read[k + 1:]) - {loop.index}, key=str) for k in range(len(parts))]
    return RowSplit(parts, carried, sums, passed)


def _exposed_reads(part):
    """The symbols `part` reads before it defines them: a value the sweep recomputes after reading it (`u` read in
    a loop, then `u = 0.1*i` again) is still read from an earlier part (a compound statement that defines and reads
    a symbol is taken to define it first, as its own temporaries)."""
    exposed, seen = set(), set()
    for statement in part:
        own = set() if isinstance(statement, Assign) else _defines(statement)
        exposed |= _printed_reads(statement) - own - seen
        seen |= _defines(statement)
    return exposed


def _printed_reads(statement):
    """The symbols the printed statement reads: `_used`, less the forward loop's carried values that a reverse
    sweep's `ReverseLoop.loop` holds but does not print."""
    if not isinstance(statement, ReverseLoop):
        return _used(statement)
    loop = statement.loop
    bounds = set().union(*(e.free_symbols for e in (loop.start, loop.stop, loop.step)))
    skip = {statement.unless_zero} if statement.unless_zero is not None else set()
    return bounds | skip | set().union(*(_printed_reads(s) for s in statement.body))


def _emit_split(loop, split, printer, indent, fixed, accumulators):
    """The lines of a `RowSplit` loop: blocks of rows, each running the parts in turn."""
    p = printer.doprint
    i, block, end = p(loop.index), f"_block_{p(loop.index)}", f"_block_stop_{p(loop.index)}"
    accumulators = accumulators | {c.phi for c in loop.carried}
    recurrences = _recurrences(loop) if loop.carried else None
    lines = [f"{indent}{p(c.phi)} = {p(c.initial)}" for c in loop.carried]
    lines += [f"{indent}_rows_{p(v)} = np.empty({ROW_BLOCK}{', np.int64' if v.is_integer else ''})"
              for passed in split.passed for v in passed]
    lines += [f"{indent}_terms_{p(c.phi)} = np.empty({ROW_BLOCK})" for sums in split.sums for c, *_ in sums]
    lines += [f"{indent}for {block} in range({p(loop.start)}, {p(loop.stop)}, {ROW_BLOCK}):",
              f"{indent}    {end} = min({block} + {ROW_BLOCK}, {p(loop.stop)})"]
    inner = indent + "        "
    for k, part in enumerate(split.parts):
        terms = {id(definition): Assign(term, rest) for _, definition, term, rest in split.sums[k]}
        reads = set().union(*(_printed_reads(s) for s in part))
        body = [f"{inner}{p(v)} = _rows_{p(v)}[{i} - {block}]" for m in range(k) for v in split.passed[m]
                if v in reads]
        body += _emit([terms.get(id(s), s) for s in part], printer, inner, fixed, accumulators, recurrences,
                      inside_loop=True)
        body += [f"{inner}_rows_{p(v)}[{i} - {block}] = {p(v)}" for v in split.passed[k]]
        body += [f"{inner}_terms_{p(c.phi)}[{i} - {block}] = {p(term)}" for c, _, term, _ in split.sums[k]]
        if split.carried[k]:
            body.append(f"{inner}{', '.join(p(c.phi) for c in split.carried[k])} = "
                        f"{', '.join(p(c.next) for c in split.carried[k])}")
        if printer.vector_functions and not split.carried[k] and all(isinstance(s, Assign) for s in part):
            body = vector_functions(body)
        lines += [f"{indent}    for {i} in range({block}, {end}):"] + body
        for c, *_ in split.sums[k]:
            if printer.lane_sums:
                lines.append(f"{indent}    {p(c.phi)} = {p(c.phi)} + lane_sum(_terms_{p(c.phi)}, {end} - {block})")
            else:  # the terms added in the loop's order: the same sum, to the bit
                lines += [f"{indent}    for {block}_k in range({end} - {block}):",
                          f"{inner}{p(c.phi)} = {p(c.phi)} + _terms_{p(c.phi)}[{block}_k]"]
    return lines + [f"{indent}{p(c.result)} = {p(c.phi)}" for c in loop.carried]


CHUNKS = 16  # fixed, so that a parallel kernel's rounding does not depend on the number of threads
PARALLEL_MIN_ITERATIONS = 4096  # below this a loop runs serially: starting the threads would cost more
CHUNK = sp.Symbol("_chunk", integer=True)


@dataclass
class ChunkedLoop:
    """A loop whose iterations only add into sums and into adjoint arrays (and, with pass `chunk_scratch`, use
    scratch arrays and tapes of their own and store into rows of their own), run as `CHUNKS` chunks on Numba's
    threads (``prange``); each chunk adds into partial sums of its own, which are added up after the loop."""

    loop: Loop
    arrays: dict  # label of each array the iterations add into -> its number of dimensions
    sums: list  # scalars from outside the loop that the iterations add into (adjoints)
    scratch: tuple = ()  # the `Allocate`s of the arrays each iteration uses as scratch (`_scratch`): one per chunk
    rows: tuple = ()  # labels of the arrays each iteration stores into at a row of its own (`_own_rows`)
    tapes: tuple = ()  # the tapes each iteration pushes onto and pops just as often (`_balanced`): one per chunk


def _sum_term(loop, carried):
    """The assignment that adds into `carried` (``phi + terms``), if the loop uses `phi` for nothing else."""
    definition = next((s for s in loop.body if isinstance(s, Assign) and s.target == carried.next), None)
    if definition is None or not definition.value.is_Add or carried.phi not in definition.value.args:
        return None
    others = [s for s in loop.body if s is not definition]
    reads = set().union(*(_used(s) for s in others), *(c.next.free_symbols for c in loop.carried if c is not carried))
    if carried.phi in reads or carried.next in reads or carried.phi in (definition.value - carried.phi).free_symbols:
        return None
    return definition


def _chunkable(loop, later, made=None, tapes=frozenset()):
    """`loop` as a `ChunkedLoop` when its iterations are independent but for sums, else None.

    `made` (``parallel=True``; None for `sums_only`): label -> `Allocate` of each array made before the loop that
    no statement but the loop touches; `tapes`: the tapes no statement but the loop uses.  With `made`, the body
    may hold `When`s, the arrays of `made` that every iteration uses as scratch are made once per chunk
    (`_scratch`), an array the iterations store into only at rows of their own is stored into directly
    (`_own_rows`), and so are the tapes of `tapes` that every iteration pops as often as it pushes (`_balanced`)."""
    inner = list(walk(loop.body))
    if loop.step != 1 or any(isinstance(s, (Allocate, Check)) for s in inner) or (
            made is None and any(isinstance(s, When) for s in inner)):
        return None
    used = {s.tape for s in inner if isinstance(s, (Push, Pop))}
    if used and (made is None or not used <= tapes or not all(_balanced(loop.body, tape) for tape in used)):
        return None
    scratch = tuple(a for a in (made or {}).values() if _scratch(loop, a))
    private = {a.base.label for a in scratch}
    read = set().union(*(_arrays_read(e) for e in expressions(inner)))
    stores = defaultdict(list)
    for s in inner:
        if isinstance(s, Store) and s.base.label not in private:
            stores[s.base.label].append(s)
    arrays, rows = {}, []
    for label, group in stores.items():
        if label in read:
            return None
        if made is not None and _own_rows(loop, group):
            rows.append(label)
        elif all(s.accumulate and loop.index not in sp.Tuple(*s.indices).free_symbols for s in group):
            arrays[label] = len(group[0].indices)
        else:
            return None  # rows the loop index picks may repeat across chunk boundaries: keep it serial
    inside = _defines(loop)
    sums = sorted({s.target for s in inner if isinstance(s, Update) and s.target not in inside}, key=str)
    if any(isinstance(s, Update) and s.target in sums and not s.accumulate for s in inner):
        return None
    reads = set().union(*(_used(s) - ({s.target} if isinstance(s, Update) else set()) for s in inner))
    if set(sums) & reads or any(_sum_term(loop, c) is None for c in loop.carried):
        return None
    if (inside - {c.result for c in loop.carried}) & later:
        return None
    return ChunkedLoop(loop, arrays, sums, scratch, tuple(rows), tuple(sorted(used)))


def _balanced(body, tape):
    """Whether every run of `body` pops `tape` just as often as it pushes onto it: the counts, products of the trip
    counts of the loops around each push and pop, are equal, and none is under a condition.  A tape empty before
    the loop is then empty again after each iteration, and a chunk can start from an empty tape of its own."""
    pushes, pops = _tape_count(body, tape, Push), _tape_count(body, tape, Pop)
    return pushes is not None and pops is not None and sp.expand(pushes - pops) == 0


def _tape_count(statements, tape, kind):
    """How many times `statements` run a `kind` (Push or Pop) of `tape`, or None where a condition decides."""
    count = sp.Integer(0)
    for s in statements:
        if isinstance(s, kind) and s.tape == tape:
            count += 1
        elif isinstance(s, (Loop, ReverseLoop)):
            loop = s.loop if isinstance(s, ReverseLoop) else s
            inner = _tape_count(s.body, tape, kind)
            if inner is None or inner != 0 and (loop.step != 1 or getattr(s, "unless_zero", None) is not None):
                return None
            count += sp.Max(0, loop.stop - loop.start) * inner
        elif isinstance(s, When) and any(isinstance(t, kind) and t.tape == tape for t in walk(s.body)):
            return None
    return count


def _own_rows(loop, stores):
    """Whether `stores` (every store into one array in `loop`) each reach only elements no other iteration
    reaches: all index that array at the loop's index along one same axis, and the index starts at a nonnegative
    value (a negative one would count from the end, and two iterations could then reach one element)."""
    if sp.sympify(loop.start).is_nonnegative is not True:
        return False
    return any(all(len(s.indices) > axis and s.indices[axis] == loop.index for s in stores)
               for axis in range(len(stores[0].indices)))


def _scratch(loop, allocate):
    """Whether every iteration of `loop` leaves what the 1-D array `allocate` (made before the loop, touched by
    nothing else) holds unread, so that each chunk can use an array of its own: the first statement of the body
    that touches the array is a loop over all its elements storing each one first (`ir.overwritten_first`), or
    every iteration leaves it all zeros as it was made (`_zeros_after`)."""
    if len(allocate.shape) != 1:
        return False
    return overwritten_first(loop.body, allocate) or _zeros_after(loop.body, allocate)


def _whole_sweep(statement, allocate):
    """`statement` as the `Loop` it runs once over ``range(0, len(array))``, when it is one (a `ReverseLoop`
    counts when it always runs), else None."""
    loop = statement.loop if isinstance(statement, ReverseLoop) and statement.unless_zero is None else statement
    if isinstance(loop, Loop) and loop.start == 0 and loop.step == 1 and loop.stop == allocate.shape[0]:
        return loop
    return None


def _zeros_after(statements, allocate):
    """Whether `statements`, run on the 1-D `allocate` all zeros, leave it all zeros: the last one that touches
    it stores zero into every element (a whole sweep whose one store into it, unconditional, is that), or is a
    `When` that no other one touches it before and whose body leaves it all zeros."""
    label = allocate.base.label
    touching = [s for s in statements if mentions(s, label)]
    if not touching:
        return True
    last = touching[-1]
    if isinstance(last, When):
        return len(touching) == 1 and _zeros_after(last.body, allocate)
    loop = _whole_sweep(last, allocate)
    if loop is None:
        return False
    stores = [s for s in walk(last.body) if isinstance(s, Store) and s.base.label == label]
    return len(stores) == 1 and any(s is stores[0] for s in last.body) and not stores[0].accumulate and \
        stores[0].indices == (loop.index,) and stores[0].value == 0


def _redirected(statements, arrays, sums):
    """The statements adding into each chunk's own partial arrays and sums."""
    result = []
    for s in statements:
        if isinstance(s, Store) and s.base.label in arrays:
            s = Store(sp.IndexedBase(f"{s.base.label}_parts"), (CHUNK,) + tuple(s.indices), s.value, True, s.line)
        elif isinstance(s, Update) and s.target in sums:
            s = Update(sp.Symbol(f"{s.target}_chunk", real=True), s.value, True)
        elif isinstance(s, Loop):
            s = Loop(s.index, s.start, s.stop, s.step, _redirected(s.body, arrays, sums), s.carried, s.line)
        elif isinstance(s, ReverseLoop):
            s = ReverseLoop(s.loop, _redirected(s.body, arrays, sums), s.unless_zero, s.any_order)
        elif isinstance(s, When):
            s = dataclasses.replace(s, body=_redirected(s.body, arrays, sums))
        result.append(s)
    return result


def _renamed_tapes(statements, names):
    """`statements` pushing onto and popping the tapes of `names` (tape -> new name) under their new names; each
    chunk's own tape starts small and grows (it is not in the kernel's `fixed` tapes)."""
    def change(part):
        if isinstance(part, (Push, Pop)) and part.tape in names:
            return dataclasses.replace(part, tape=names[part.tape])
        return None
    return rebuilt(statements, change)


def _renamed_arrays(statements, names):
    """`statements` reading and storing the arrays of `names` (label -> new label) under their new labels."""
    def change(part):
        if isinstance(part, sp.IndexedBase) and part.label in names:
            return sp.IndexedBase(names[part.label])
        if isinstance(part, sp.Basic):
            return part.replace(lambda e: isinstance(e, sp.Indexed) and e.base.label in names,
                                lambda e: sp.IndexedBase(names[e.base.label])[e.indices])
        return None
    return rebuilt(statements, change)


def _outlined_chunks(chunked, name, printer, fixed):
    """`(function, call)`: the source of function `name` running `chunked`'s loop in chunks on threads, and the
    kernel's lines that call it when the loop is long and run the loop as it is otherwise.  The function takes
    what the loop reads from before it (the arrays it adds or stores into among them: it stores into them in
    place) and returns the loop's carried results and the sums it adds into."""
    p, loop = printer.doprint, chunked.loop
    count, inner = p(loop.stop - loop.start), "        "
    private = {a.base.label for a in chunked.scratch}
    reads = {r for r in _reads_from_before([loop]) if isinstance(r, sp.Symbol)} | set(chunked.sums)
    reads |= set().union(*(sp.sympify(n).free_symbols for a in chunked.scratch for n in a.shape))  # (made inside)
    arguments = [p(r) for r in sorted(reads - private, key=str)]
    outputs = [p(r) for r in [c.result for c in loop.carried] + list(chunked.sums)]
    lines = []
    for label, dimensions in chunked.arrays.items():
        shape = ", ".join(f"{label}.shape[{k}]" for k in range(dimensions))
        lines.append(f"    {label}_parts = np.zeros(({CHUNKS}, {shape}))")
    partial = [c.phi for c in loop.carried] + list(chunked.sums)
    lines += [f"    {p(s)}_parts = np.empty({CHUNKS})" for s in partial]
    lines += [f"    for {CHUNK} in prange({CHUNKS}):",
              f"{inner}{CHUNK}_start = {p(loop.start)} + (({count}) * {CHUNK}) // {CHUNKS}",
              f"{inner}{CHUNK}_stop = {p(loop.start)} + (({count}) * ({CHUNK} + 1)) // {CHUNKS}"]
    lines += [f"{inner}{p(s)}_chunk = 0.0" for s in chunked.sums]
    lines += [line for tape in chunked.tapes for line in (f"{inner}{tape}_chunk = np.empty(64)",
                                                           f"{inner}{tape}_chunk_n = 0")]
    own = {a.base.label: sp.Symbol(f"{a.base.label}_chunk") for a in chunked.scratch}
    made = [Allocate(sp.IndexedBase(own[a.base.label]), a.shape, a.line) for a in chunked.scratch]
    from_zero = [Carried(c.phi, sp.Float(0.0), c.next, c.result) for c in loop.carried]
    statements = _renamed_tapes(_renamed_arrays(loop.body, own), {tape: f"{tape}_chunk" for tape in chunked.tapes})
    body = Loop(loop.index, sp.Symbol(f"{CHUNK}_start", integer=True), sp.Symbol(f"{CHUNK}_stop", integer=True), 1,
                _redirected(statements, chunked.arrays, chunked.sums), from_zero, loop.line)
    lines += [line for line in _emit(made + [body], printer, inner, fixed)
              if not any(line == f"{inner}{p(c.result)} = {p(c.phi)}" for c in loop.carried)]
    lines += [f"{inner}{p(c.phi)}_parts[{CHUNK}] = {p(c.phi)}" for c in loop.carried]
    lines += [f"{inner}{p(s)}_parts[{CHUNK}] = {p(s)}_chunk" for s in chunked.sums]
    # Partial sums added up in plain loops: an array expression here would be one more parallel launch each.
    lines += [f"    {p(c.result)} = {_float_text(printer, c.initial)}" for c in loop.carried]
    added = [f"        {p(c.result)} += {p(c.phi)}_parts[{CHUNK}]" for c in loop.carried]
    added += [f"        {p(s)} += {p(s)}_parts[{CHUNK}]" for s in chunked.sums]
    for label, dimensions in chunked.arrays.items():
        element = ", ".join(f"{CHUNK}_{k}" for k in range(dimensions))
        added += [f"        {'    ' * k}for {CHUNK}_{k} in range({label}.shape[{k}]):" for k in range(dimensions)]
        added.append(f"        {'    ' * dimensions}{label}[{element}] += {label}_parts[{CHUNK}, {element}]")
    if added:  # (none where the chunks only store into rows of their own)
        lines += [f"    for {CHUNK} in range({CHUNKS}):"] + added
    function, call = _outlined(name, arguments, lines, outputs)
    return function, [f"    if {count} >= {PARALLEL_MIN_ITERATIONS}:", f"        {call}", "    else:"] + \
        _emit([loop], printer, "        ", fixed)


def _outlined(name, arguments, body, outputs):
    """`(function, call)`: the source of function `name` of `arguments` running the lines of `body` and returning
    `outputs` as a tuple (jit.py compiles it), and the statement that calls it and binds `outputs`."""
    returned, passed = "".join(f"{o}, " for o in outputs), ", ".join(arguments)
    function = "\n".join([f"def {name}({passed}):", *body, f"    return ({returned})"])
    return function, f"{returned}= {name}({passed})" if outputs else f"{name}({passed})"


def sums_only(loop):
    """Whether `loop`'s iterations are independent but for the sums they add into: the test ``parallel=True``
    applies before running a loop in chunks, which `symgrad.dask` asks of each loop over the rows of chunked data
    (a chunk of rows is then one more chunk)."""
    return _chunkable(loop, frozenset()) is not None


# Pass `chunk_scratch` applies to the loops that read the data only (a cost, not a precondition: the differential
# fuzzer turns it off, so that the programs it writes, whose arrays are all differentiated, exercise the pass).
DATA_LOOPS_ONLY = True


def in_chunks(statements, results, scratch=True, data=frozenset()):
    """Each top-level loop that allows it as a `ChunkedLoop` (run on threads by a function of its own).

    Pass `chunk_scratch` (`scratch`): a loop that reads the data (an array argument of `data`, those not
    differentiated) may also use as scratch the arrays made before it that nothing else touches, store into rows
    of its own and hold `When`s, and a sweep over the data whose iterations only add (run first to last) counts
    as a loop; the precondition is checked by `_chunkable`.  Loops over the parameters alone stay as they were:
    they are short, and each threaded loop costs Numba about a second to compile."""
    allocations = {s.base.label: s for s in statements if isinstance(s, Allocate)}
    result = []
    for at, original in enumerate(statements):
        statement, wide = original, scratch and (not DATA_LOOPS_ONLY or _reads_any(original, data))
        if wide and isinstance(original, ReverseLoop) and original.any_order and original.unless_zero is None:
            loop = original.loop
            statement = Loop(loop.index, loop.start, loop.stop, loop.step, original.body, [], loop.line)
        if isinstance(statement, Loop):
            others = [s for s in statements if s is not original]
            later = set().union(*(sp.sympify(r).free_symbols for r in results), _reads_from_before(statements[at + 1:]))
            made = {label: allocate for label, allocate in allocations.items()
                    if label not in later and mentions(statement, label) and not any(
                        mentions(s, label) for s in others if s is not allocate)}
            tapes = _tapes(statement) - set().union(*(_tapes(s) for s in others))
            chunked = _chunkable(statement, later, made, tapes) if wide else _chunkable(statement, later)
            if chunked is not None and (statement.carried or chunked.arrays or chunked.sums or chunked.rows):
                original = chunked  # (a loop with nothing to add up, left without effects by `dead_arrays`, stays)
        result.append(original)
    return result


def _reads_any(statement, labels):
    """Whether `statement` (or one inside it) reads an element of an array of `labels`."""
    return any(_arrays_read(sp.sympify(e)) & labels for e in expressions(walk([statement])))


def _reads_from_before(statements, defined=frozenset()):
    """The symbols `statements` read before they give them a value (what they read of the statements before
    them).  A loop's own index and carried values are its own; a value a loop's body defines is undefined after
    the loop (it may run no iteration), and one read in the body before the body defines it is read from before."""
    free, defined = set(), set(defined)
    for s in statements:
        if isinstance(s, (Loop, ReverseLoop)):
            loop = s.loop if isinstance(s, ReverseLoop) else s
            carried = loop.carried if isinstance(s, Loop) else []  # (a sweep runs its loop's range only)
            heads = [loop.start, loop.stop, loop.step] + [c.initial for c in carried]
            inner = defined | {loop.index} | {c.phi for c in carried}
            own = inner | set().union(*(_defines(b) for b in s.body))
            free |= set().union(*(sp.sympify(e).free_symbols for e in heads)) - defined
            free |= set().union(*(sp.sympify(c.next).free_symbols for c in carried)) - own
            free |= ({s.unless_zero} if isinstance(s, ReverseLoop) and s.unless_zero is not None else set()) - defined
            free |= _reads_from_before(s.body, inner)
            if isinstance(s, Loop):
                defined |= {c.result for c in s.carried}
        elif isinstance(s, When):
            free |= (s.condition.free_symbols - defined) | _reads_from_before(s.body, defined)
        else:
            free |= _used(s) - defined
            defined |= _defines(s)
    return free


def _tapes(statement):
    """The tapes a statement (or one inside it) pushes onto or pops."""
    return {s.tape for s in walk([statement]) if isinstance(s, (Push, Pop))}


def _reverse_header(loop, printer, indent, any_order):
    """`for` over a loop's iterations, last first (or first to last when the order does not matter)."""
    p = printer.doprint
    index, start, stop, step = loop.index, loop.start, loop.stop, loop.step
    if any_order:
        bounds = [start, stop] + ([step] if step != 1 else [])
        return [f"{indent}for {p(index)} in range({', '.join(p(b) for b in bounds)}):"]
    if step == 1:
        return [f"{indent}for {p(index)} in range({p(stop - 1)}, {p(start - 1)}, -1):"]
    if step == -1:
        return [f"{indent}for {p(index)} in range({p(stop + 1)}, {p(start + 1)}):"]
    span = stop - start + step - 1 if step > 0 else start - stop - step - 1
    count = f"max(0, ({p(span)}) // {abs(int(step))})"
    return [f"{indent}for {p(index)}_k in range({count} - 1, -1, -1):",
            f"{indent}    {p(index)} = {p(start)} + {p(index)}_k * {p(step)}"]


def _used(statement):
    """The symbols a statement reads (everything inside a loop)."""
    if isinstance(statement, Assign):
        return statement.value.free_symbols
    if isinstance(statement, (Loop, ReverseLoop)):
        loop = statement.loop if isinstance(statement, ReverseLoop) else statement
        used = set().union(*(e.free_symbols for e in (loop.start, loop.stop, loop.step)))
        used |= set().union(*(c.initial.free_symbols | c.next.free_symbols for c in loop.carried), set())
        return used.union(*(_used(s) for s in statement.body), set())
    if isinstance(statement, (Update, Push)):
        reads_target = isinstance(statement, Update) and statement.accumulate
        return statement.value.free_symbols | ({statement.target} if reads_target else set())
    if isinstance(statement, Store):
        return statement.value.free_symbols.union(*(i.free_symbols for i in statement.indices), {statement.base.label})
    if isinstance(statement, Allocate):
        return set().union(*(n.free_symbols for n in statement.shape))
    if isinstance(statement, Check):
        return statement.condition.free_symbols
    if isinstance(statement, When):
        return statement.condition.free_symbols.union(*(_used(s) for s in statement.body))
    return set()


def _has_effects(statement, probes=True):
    if isinstance(statement, Assign):
        return probes and statement.probe  # its effect is its bounds check (made once, in the forward sweep)
    return isinstance(statement, (Store, Update, Push, Pop, ReverseLoop, Check)) or (
        isinstance(statement, (Loop, When)) and any(_has_effects(s, probes) for s in statement.body))


def _live(statements, results, probes=True, python_reads=()):
    """The top-level statements the results depend on (loops without effects count as assignments); `probes`:
    whether the probes count as effects (in a reverse sweep they only recompute what the forward sweep read).
    A statement of `python_reads` (the program's own, by identity) that reads an array is kept even when its
    value is unused: Python makes the read, so its index is checked (the bounds stage proves it at entry where
    it can, and the compiler drops the unused arithmetic)."""
    needed = set().union(*(sp.sympify(r).free_symbols for r in results))
    python_reads = {id(s) for s in python_reads}
    live = []
    for statement in reversed(statements):
        defined = {statement.target} if isinstance(statement, Assign) else (
            {c.result for c in statement.carried} if isinstance(statement, Loop) else
            {statement.base.label} if isinstance(statement, Allocate) else _defines(statement))
        if (_has_effects(statement, probes) or defined & needed
                or id(statement) in python_reads and _reads_arrays(statement)):
            live.append(statement)
            needed |= _used(statement)
    return live[::-1]


def _reads_arrays(statement):
    """Whether a statement (or one inside it) reads an element of an array."""
    return any(isinstance(s, (Assign, Store)) and (s.value.has(sp.Indexed) or isinstance(s, Store) and any(
        sp.sympify(i).has(sp.Indexed) for i in s.indices)) for s in walk([statement]))


def _defines(statement):
    """The symbols a statement gives values to."""
    if isinstance(statement, (Assign, Pop)) or isinstance(statement, Update) and not statement.accumulate:
        return {statement.target}
    if isinstance(statement, Allocate):
        return {statement.base.label}
    if isinstance(statement, Loop):
        own = {statement.index} | {c.phi for c in statement.carried} | {c.result for c in statement.carried}
        return own.union(*(_defines(s) for s in statement.body))
    if isinstance(statement, ReverseLoop):
        return {statement.loop.index}.union(*(_defines(s) for s in statement.body))
    if isinstance(statement, When):
        return set().union(*(_defines(s) for s in statement.body))
    return set()


def _carried_by_updates(statements):
    """The symbols a sweep's body sets with a plain `Update` (not `+=`): an iteration order-free by `_order_free`
    may use one only as its own temporary, set before it is read, and nothing after the sweep may read it (the
    adjoint a recurrence carries from one iteration to the one before, `z_bar = z_bar_next`, is neither)."""
    return {s.target for s in walk(statements) if isinstance(s, Update) and not s.accumulate}


def _order_free(statements, outside, rewritten=None, index=None):
    """Whether a reverse sweep's iterations may run in any order: what they share with each other (symbols
    defined `outside` the loop, adjoint arrays) they only accumulate into (`+=`).

    With `rewritten` (see `_rewritten_arrays`), an iteration may also pop its own tapes, and restore or reset
    (to zero) the elements of a rewritten array or of its adjoint in the sweep of the loop that rewrites it.
    With the sweep's `index`, an iteration may also store into an array that every iteration reads and writes at
    its own element `[index]` alone (a layer's adjoint, read and reset unit by unit): no two iterations share one."""
    own = _own_element_arrays(statements, index) if index is not None else set()
    carried, set_here = _carried_by_updates(statements), set()
    for statement in walk(statements):
        if not isinstance(statement, (Loop, ReverseLoop, When)) and (_used(statement) & carried) - set_here:
            return False  # (read before this iteration sets it: the value of another iteration)
        if isinstance(statement, Update) and not statement.accumulate:
            set_here.add(statement.target)
        if isinstance(statement, (Allocate, Push)) or (isinstance(statement, Pop) and rewritten is None):
            return False
        if isinstance(statement, Store) and not statement.accumulate and statement.base.label not in own and not (
                rewritten and statement.indices in {(index,) for index in rewritten.values()}
                and (statement.base.label in rewritten or statement.value == 0)):
            return False
        if isinstance(statement, Update) and not statement.accumulate and statement.target in outside:
            return False
    return True


def _own_element_arrays(statements, index):
    """The arrays that `statements` (a sweep's body) read and store only at the element ``[index]``."""
    accessed = defaultdict(set)
    for statement in walk(statements):
        if isinstance(statement, Store):
            accessed[statement.base.label].add(tuple(statement.indices))
        values = [statement.value] if isinstance(statement, (Assign, Update, Store, Push)) else []
        if isinstance(statement, Store):
            values += list(statement.indices)
        if isinstance(statement, (Check, When)):
            values.append(statement.condition)
        for element in (e for v in values for e in sp.sympify(v).atoms(sp.Indexed)):
            accessed[element.base.label].add(tuple(element.indices))
    return {label for label, indices in accessed.items() if indices == {(index,)}}


def _rewritten_arrays(forward, before):
    """The local arrays that each iteration of `forward` overwrites whole, in one loop over their length, before
    it reads them, mapped to that loop's index; None if any other array is written in the loop.  These are the
    preconditions of pass `per_row_fusion`.

    No value passes through them from one iteration to the next (the hidden layers of a network evaluated point by
    point), so each iteration's reverse sweep may run right after it."""
    shapes = {s.base.label: tuple(s.shape) for s in before if isinstance(s, Allocate)}
    stores = [s for s in walk(forward.body) if isinstance(s, Store)]
    rewritten = {}
    for at, loop in enumerate(forward.body):
        for store in (s for s in loop.body if isinstance(s, Store)) if isinstance(loop, Loop) else ():
            label = store.base.label
            whole = (loop.start == 0 and loop.step == 1 and shapes.get(label) == (loop.stop,)
                     and store.indices == (loop.index,) and not store.accumulate)
            read_before = any(label in _arrays_read(v) for v in _values(forward.body[:at + 1]))
            if whole and not read_before and sum(s.base.label == label for s in stores) == 1:
                rewritten[label] = loop.index
    return rewritten if all(s.base.label in rewritten for s in stores) else None


def _without(statements, unwanted):
    """`statements` less those `unwanted` picks, in loops and sweeps too."""
    result = []
    for s in statements:
        if isinstance(s, Loop):
            s = Loop(s.index, s.start, s.stop, s.step, _without(s.body, unwanted), s.carried, s.line)
        elif isinstance(s, ReverseLoop):
            s = ReverseLoop(s.loop, _without(s.body, unwanted), s.unless_zero, s.any_order)
        if not unwanted(s):
            result.append(s)
    return result


def _pops_its_own(forward, backward, rewritten):
    """Whether `backward` pops, at each depth, just the tapes `forward` pushes at that depth (nested tapes only
    where every iteration rewrites its arrays, so that it can undo its own pushes right after them)."""
    def tapes(statements, kind, top):
        return {s.tape for s in (statements if top else walk(statements)) if isinstance(s, kind)}

    nested_pushes = tapes(forward.body, Push, False) - tapes(forward.body, Push, True)
    nested_pops = tapes(backward.body, Pop, False) - tapes(backward.body, Pop, True)
    if tapes(forward.body, Push, True) != tapes(backward.body, Pop, True) or nested_pushes != nested_pops:
        return False
    return rewritten is not None or not nested_pushes


def _effects(statement):
    """(reads, writes, adds) of a statement, looking inside loops: the symbols and array labels it reads, those it
    gives values to, and those it only adds into (`+=`, which commute with each other)."""
    if isinstance(statement, (Loop, ReverseLoop)):
        loop = statement.loop if isinstance(statement, ReverseLoop) else statement
        reads = set().union(*(e.free_symbols for e in (loop.start, loop.stop, loop.step)))
        writes, adds = {loop.index}, set()
        if isinstance(statement, Loop):
            reads |= set().union(set(), *(c.initial.free_symbols | c.next.free_symbols for c in loop.carried))
            writes |= {s for c in loop.carried for s in (c.phi, c.result)}
        for inner in statement.body:
            r, w, a = _effects(inner)
            reads, writes, adds = reads | r, writes | w, adds | a
        return reads, writes, adds - writes
    if isinstance(statement, (Assign, Update)):
        accumulates = isinstance(statement, Update) and statement.accumulate
        return statement.value.free_symbols, set() if accumulates else {statement.target}, (
            {statement.target} if accumulates else set())
    if isinstance(statement, Store):
        reads = statement.value.free_symbols.union(*(i.free_symbols for i in statement.indices))
        label = {statement.base.label}
        return reads, set() if statement.accumulate else label, label if statement.accumulate else set()
    if isinstance(statement, When):
        reads, writes, adds = statement.condition.free_symbols, set(), set()
        for inner in statement.body:
            r, w, a = _effects(inner)
            reads, writes, adds = reads | r, writes | w, adds | a
        return reads, writes, adds - writes
    if isinstance(statement, Check):
        return statement.condition.free_symbols, set(), set()
    if isinstance(statement, Push):
        return statement.value.free_symbols, set(), set()
    if isinstance(statement, Pop):
        return set(), {statement.target}, set()
    if isinstance(statement, Allocate):
        return set().union(*(n.free_symbols for n in statement.shape)), {statement.base.label}, set()
    return set(), set(), set()


def _commute(a, b):
    """Whether statements `a` and `b` may run in either order: neither reads or overwrites what the other
    writes or adds into (two additions into the same adjoint commute)."""
    reads_a, writes_a, adds_a = _effects(a)
    reads_b, writes_b, adds_b = _effects(b)
    return not (reads_a & (writes_b | adds_b) or reads_b & (writes_a | adds_a) or writes_a & (writes_b | adds_b)
                or adds_a & writes_b)


def _fused(statements, forward_at, reverse_at, arguments, per_row=True):
    """`statements` with the reverse sweep at `reverse_at` run inside the forward loop at `forward_at`, or None.

    A reduction's reverse sweep needs only each iteration's own values and adjoints fixed before the loop
    (``1/n`` for a mean), so both sweeps can share one pass over the data and the values they both compute.

    Pass `fuse_reductions`; precondition, checked here: the sweep moves ahead of every statement between the
    two loops, so it must commute with each of them (`_commute`: a later loop's sweep must not add to an adjoint
    this one reads, as softmax's sum of exponentials would); the statements it needs from there move ahead of
    the forward loop and must commute with it; it pops just the tapes the forward loop pushes, at each depth
    (`_pops_its_own`), and its iterations only add into what they share (`_order_free`).  With `per_row` (pass
    `per_row_fusion`), the local arrays each iteration rewrites whole (`_rewritten_arrays`) may be shared too."""
    forward, backward = statements[forward_at], statements[reverse_at]
    outside = set().union(*(_defines(s) for s in statements[:reverse_at]))
    rewritten = _rewritten_arrays(forward, statements[:forward_at]) if per_row else None
    later = [s for k, s in enumerate(statements[forward_at + 1:], forward_at + 1) if k != reverse_at]
    if rewritten and any(set(rewritten) & _arrays_read(v) for v in _values(later)):
        return None  # read after the loop, they must keep the last iteration's values, which its sweep restores
    if not _pops_its_own(forward, backward, rewritten) or not _order_free(
            [s for s in backward.body if not isinstance(s, Pop)], outside, rewritten):
        return None
    available = set().union(*(_defines(s) for s in statements[:forward_at]), *(
        {a.symbol, *a.shape} for a in arguments))
    inside = _defines(forward) - {c.result for c in forward.carried}  # the results exist only after the loop
    # What must exist before the sweep (what it reads or adds into), and what must be final (what it reads): a
    # statement between the loops that makes the one, or adds into the other, moves ahead with the sweep.
    reads, _, adds = _effects(backward)
    own = _defines(backward)  # (an array whose elements it stores into must exist before it, like one it reads)
    need = {s for s in reads | adds if isinstance(s, sp.Symbol)} - inside - own
    values = {s for s in reads if isinstance(s, sp.Symbol)} - inside - own
    moved, between = [], statements[forward_at + 1:reverse_at]
    for statement in reversed(between):
        reads, writes, adds = _effects(statement)
        if writes & need or adds & values:
            if isinstance(statement, (Loop, ReverseLoop)):
                return None
            moved.insert(0, statement)
            need = (need - writes) | {s for s in reads | adds if isinstance(s, sp.Symbol)}
            values = (values - writes) | {s for s in reads if isinstance(s, sp.Symbol)}
    if need - available:
        return None
    rest = [s for s in between if all(s is not m for m in moved)]
    if not all(_commute(backward, r) for r in rest) or not all(_commute(m, forward) for m in moved):
        return None  # e.g. a later loop's sweep adds to an adjoint this sweep reads (softmax's sum of exps)
    for k, statement in enumerate(between):  # a moved statement also moves ahead of those that stay
        if any(statement is m for m in moved) and not all(_commute(statement, r) for r in between[:k]
                                                                if any(r is x for x in rest)):
            return None
    in_forward = {id(s) for s in forward.body}
    ahead = [s for s in forward.body if not isinstance(s, Push)]
    back = [s for s in backward.body if not isinstance(s, Pop) and id(s) not in in_forward]
    if rewritten:  # the next iteration rewrites them: saving and restoring their old values is wasted work
        saved = {s.tape for s in walk(ahead) if isinstance(s, Push) and _arrays_read(s.value) & set(rewritten)}
        ahead = _without(ahead, lambda s: isinstance(s, Push) and s.tape in saved)
        back = _without(back, lambda s: isinstance(s, Pop) and s.tape in saved or (
            isinstance(s, Store) and s.base.label in rewritten and not s.accumulate))
    body = ahead + back
    loop = Loop(forward.index, forward.start, forward.stop, forward.step, body, forward.carried, forward.line)
    return statements[:forward_at] + moved + [loop] + rest + statements[reverse_at + 1:]


def _scaling_adjoint(sweep):
    """A symbol from outside `sweep` that every contribution it makes is proportional to, or None (the
    precondition of pass `skip_zero_sweeps`: a sweep that only adds, with no tapes, allocations or resets)."""
    if any(isinstance(s, (Push, Pop, Allocate)) or (isinstance(s, (Store, Update)) and not s.accumulate)
           for s in walk(sweep.body)):
        return None
    inlined, terms = {}, []
    for statement in walk(sweep.body):
        if isinstance(statement, Assign):
            inlined[statement.target] = statement.value.xreplace(inlined)
        elif isinstance(statement, (Store, Update)):
            terms.append(statement.value.xreplace(inlined))
    inside = _defines(sweep)
    candidates = sorted((s for s in terms[0].free_symbols if isinstance(s, sp.Symbol) and not s.is_integer
                         and s not in inside), key=str) if terms else []
    for candidate in candidates:
        if all(_vanishes_at_zero(term, {candidate}) for term in terms):
            return candidate
    return None


def _vanishes_at_zero(term, zeros):
    """Whether `term` is 0 where the symbols and array elements in `zeros` are; not where setting them to 0 leaves
    what SymPy cannot build (a comparison of `zoo`, from `x % symbol` or `1/symbol`)."""
    try:
        return term.xreplace({z: sp.Integer(0) for z in zeros}) == 0
    except (TypeError, ZeroDivisionError):
        return False


def skip_zero_sweeps(statements, enabled=passes.ALL):
    """Mark each reverse sweep that can be skipped while its scaling adjoint is zero (pass `skip_zero_sweeps`;
    precondition: every contribution the sweep makes is proportional to that adjoint, `_scaling_adjoint`), and
    each whose iterations may run first to last (pass `any_order_sweeps`; precondition: `_order_free`)."""
    result = []
    for at, statement in enumerate(statements):
        if isinstance(statement, ReverseLoop):
            free = "any_order_sweeps" in enabled and _order_free(statement.body, _used(statement) - _defines(statement),
                                                                 index=statement.loop.index) and not (
                _carried_by_updates(statement.body) & set().union(set(), *map(_used, statements[at + 1:])))
            scaling = _scaling_adjoint(statement) if "skip_zero_sweeps" in enabled else None
            statement = ReverseLoop(statement.loop, skip_zero_sweeps(statement.body, enabled), scaling, free)
        elif isinstance(statement, Loop):
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             skip_zero_sweeps(statement.body, enabled), statement.carried, statement.line)
        result.append(statement)
    return result


def skip_zero_rows(statements, splits=frozenset()):
    """Pass `skip_zero_rows`: the rest of a reverse sweep that starts with a sweep skipped while its adjoint `s` is
    zero (`skip_zero_sweeps`) runs under one `if s != 0`, when all of it is silent while `s` is zero: the
    backward pass of a network's row through an inactive hinge costs one test, as in a gradient written by hand.

    Precondition, checked by `_silent_run`: with `s` zero, each value the run stores or adds is zero (every adjoint
    the run computes is a multiple of `s` or of an element of a layer's adjoint array), it has no tapes,
    allocations, checks or plain updates, and what it computes that is not zero is not read after it.  A layer's
    adjoint array (`_zero_between_runs`) is all zero whenever the run starts: it is allocated as zeros, nothing
    outside the run mentions it, and a sweep of the run over its whole length resets each element it reads, after
    which nothing stores into it.  Loops that `split_rows` cuts (ids in `splits`) are left alone: their parts
    cannot hold a guarded block.  A guarded run that ends a loop's body is printed as an early `continue`
    (`_emit_body`)."""
    return _rows_skipped(statements, _layer_arrays(statements), set(), splits)


def guarded_sweeps(statements, enabled=passes.ALL, guarded=False):
    """Passes `sweep_additions` and `gate_first`, on a reverse sweep skipped while its adjoint `s` is zero
    (`skip_zero_sweeps`).

    `sweep_additions`: the additions into array elements just before or after the sweep that are multiples of `s`
    (a layer's bias adjoint, `b_bar[j] += s`) run after it under the same test.  Precondition: each is a `+=` of a
    value zero where `s` is (what `skip_zero_sweeps` skips of the sweep itself), they are next to the sweep, and one
    before it adds into an array the sweep does not mention, of values it does not define, so it may run after it.
    A store into memory left out where a ReLU is inactive: the vectorised MLP went from 1.17x to 1.12x of hand
    Numba.

    `gate_first`: where `s` is the adjoint flowing in times an activation's derivative that is zero except under
    one condition `c` (ReLU's ``1.0 if z > 0 else 0.0``), the test is printed ``if c: (if s != 0: ...) elif
    s != 0: ...``.  `c` reads values the forward sweep computed long before; `s` waits for the adjoints accumulated
    just before it.  A branch on `c`, taken at random as a ReLU's outputs are, is resolved early; the test of `s`
    that follows is almost always true and predicted.  Each arm tests `s` itself, so the statement is the same
    for every `c`: where `c` fails, `s` is zero, or NaN when the adjoint flowing in is not finite, and the sweep
    runs as before.  Precondition: the sweep lies inside the block `skip_zero_rows` runs only while a row's
    starting adjoint is not zero (`guarded`), so that the adjoint flowing in is not zero either but by chance;
    and `c` is a `_cheap_test` (nothing it reads can fail or cost much).  A hand-written MLP gradient branches on
    its ReLU's output this way: the MLP row went from 1.12x to 1.05x of it.  Outside such a block (a vectorised
    network's layer-major sweeps, whose rows past the hinge have zero adjoints) the test of `s` would be a second
    branch taken at random (1.18x to 1.23x there)."""
    result, defined, at = [], {}, 0
    while at < len(statements):
        s = statements[at]
        if isinstance(s, (Loop, ReverseLoop, When)):
            s = dataclasses.replace(s, body=guarded_sweeps(s.body, enabled, guarded or isinstance(s, When) and s.row))
        if isinstance(s, Assign):
            defined[s.target] = s.value
        if not (isinstance(s, ReverseLoop) and s.unless_zero is not None):
            result.append(s)
            at += 1
            continue
        before = []
        while "sweep_additions" in enabled and result and _moves_past(result[-1], s):
            before.insert(0, result.pop())
        end = at + 1
        while "sweep_additions" in enabled and end < len(statements) and _scaled_addition(statements[end],
                                                                                          s.unless_zero):
            end += 1
        gate = _gate(s.unless_zero, defined) if "gate_first" in enabled and guarded else None
        if not before and end == at + 1 and gate is None:
            result.append(s)
        else:
            opened = ReverseLoop(s.loop, s.body, None, s.any_order)  # (the When tests its adjoint)
            result.append(When(sp.Ne(s.unless_zero, sp.Float(0.0)), [opened] + before + statements[at + 1:end], gate))
        at = end
    return result


def _scaled_addition(statement, adjoint):
    """Whether `statement` adds (`+=`) into an array element a value that is zero where `adjoint` is
    (`sweep_additions`).  Not into a scalar sum: one added under a test is no longer a plain running sum (the
    vectorised MLP's `b3_bar_sum` so moved cost 3%)."""
    return isinstance(statement, Store) and statement.accumulate and _vanishes_at_zero(statement.value, {adjoint})


def _moves_past(statement, sweep):
    """Whether `statement`, just before `sweep`, is a `_scaled_addition` of its adjoint that may run after it: into
    an array the sweep does not mention, of a value reading nothing the sweep defines."""
    if not _scaled_addition(statement, sweep.unless_zero):
        return False
    return not mentions(sweep, statement.base.label) and not (_used(statement) & _defines(sweep))


def _gate(adjoint, defined):
    """The condition `c` of `gate_first` (`guarded_sweeps`) for `adjoint`: where a Heaviside factor of its
    definition (or of the definition of one of its factors) is not zero, or the first condition of such a Piecewise
    factor whose other pieces are zero, when it is a `_cheap_test`; or None."""
    value = defined.get(adjoint)
    for factor in sp.Mul.make_args(value) if value is not None else ():
        if isinstance(factor, sp.Symbol) and factor in defined:
            inner = _gate(factor, {k: v for k, v in defined.items() if k != factor})
            if inner is not None:
                return inner
        condition = None
        if isinstance(factor, sp.Heaviside):  # relu' and the hinge's: Heaviside(z, 0), zero unless z > 0
            condition = sp.Gt(factor.args[0], 0) if factor.args[1] == 0 else sp.Ge(factor.args[0], 0)
        elif isinstance(factor, sp.Piecewise) and all(v.is_zero for v, _ in factor.args[1:]):
            condition = factor.args[0].cond
        if isinstance(condition, sp.core.relational.Relational) and _cheap_test(condition):
            return condition
    return None


def _cheap_test(condition):
    """Whether `condition` only adds and multiplies symbols and numbers: it reads no array and calls nothing, so
    testing it first (`gate_first`) can neither fail nor cost more than a few operations."""
    return all(isinstance(node, (sp.Symbol, sp.Number, sp.Add, sp.Mul, sp.core.relational.Relational))
               for node in sp.preorder_traversal(condition))


def _layer_arrays(kernel):
    """For each 1-D array that `kernel` allocates once: its size, and the ids of the statements that mention it
    (what `_zero_between_runs` asks of a layer's adjoint array)."""
    made = defaultdict(list)
    for s in walk(kernel):
        if isinstance(s, Allocate):
            made[s.base.label].append(s.shape)
    layers = {label: (shapes[0][0], set()) for label, shapes in made.items()
              if len(shapes) == 1 and len(shapes[0]) == 1}
    names = {label.name: label for label in layers}
    for s in walk(kernel):
        if not isinstance(s, (Loop, ReverseLoop, When, Allocate)):
            for name in _names(s, set()) & set(names):
                layers[names[name]][1].add(id(s))
    return layers


def _reads_after(statements, read_after):
    """For each position k, what is read after `statements[k]`: by the statements that follow and `read_after`."""
    after, reads = [], set(read_after)
    for s in reversed(statements):
        after.append(reads)
        reads = reads | _used(s)
    return after[::-1]


def _rows_skipped(statements, layers, read_after, splits, around=frozenset()):
    """`statements` with `skip_zero_rows` applied inside every loop and sweep (`layers`: see `_layer_arrays`);
    `read_after`: what is read after them, `around`: what the statements before them in the loops around read (in
    the next iteration)."""
    if not any(isinstance(s, (Loop, ReverseLoop)) for s in statements):
        return statements
    result, before = [], set(around)
    for s, later in zip(statements, _reads_after(statements, read_after)):
        if isinstance(s, Loop):
            later = later | set().union(*(c.next.free_symbols for c in s.carried))
            body = _rows_skipped(s.body, layers, later, splits, before)
            s = Loop(s.index, s.start, s.stop, s.step,
                     body if id(s) in splits else _guarded_runs(body, layers, later, before), s.carried, s.line)
        elif isinstance(s, ReverseLoop):
            body = _guarded_runs(_rows_skipped(s.body, layers, later, splits, before), layers, later, before)
            s = ReverseLoop(s.loop, body, s.unless_zero, s.any_order)
        before |= _used(s)
        result.append(s)
    return result


def _guarded_runs(statements, layers, read_after, around):
    """`statements` with each silent run (see `skip_zero_rows`) that goes through a layer's adjoint array put
    under a `When` on its starting adjoint."""
    result, at, after = [], 0, None
    while at < len(statements):
        first, run = statements[at], None
        if isinstance(first, ReverseLoop) and first.unless_zero is not None:
            after = after or _reads_after(statements, read_after)
            run = _silent_run(statements, at, layers, after, around)
        if run is None:
            result.append(first)
            at += 1
            continue
        begin, end = run
        del result[len(result) - (at - begin):]
        opened = ReverseLoop(first.loop, first.body, None, first.any_order)  # (the When tests its adjoint)
        result.append(When(sp.Ne(first.unless_zero, sp.Float(0.0)),
                           statements[begin:at] + [opened] + statements[at + 1:end], row=True))
        at = end
    return result


def _silent_run(statements, at, layers, after, around):
    """`(begin, end)` of the longest run `statements[begin:end]` silent while the adjoint scaling the sweep at `at`
    is zero (the precondition of `skip_zero_rows`) that resets a layer's adjoint array, or None; the run starts
    with the sweep or with the resets of sums just before it (`a_bar_sum = 0.0`); `after[k]`: what is read after
    `statements[k]`, `around`: what the loops around read before `statements`."""
    seed = statements[at].unless_zero
    arrays = {s.base.label for s in walk(statements[at:]) if isinstance(s, Store) and not s.accumulate
              and s.value == 0 and s.base.label in layers}
    if not arrays:
        return None
    begin = at
    while begin > 0 and isinstance(statements[begin - 1], Update) and not statements[begin - 1].accumulate and (
            statements[begin - 1].value == 0 and statements[begin - 1].target != seed):
        begin -= 1
    zero, other, updated, ends = {seed}, set(), set(), []
    for k in range(begin, len(statements)):
        if not _silent(statements[k], zero, other, updated, arrays):
            break
        ends.append((k + 1, other | updated))
    before = set(around).union(*(_used(s) for s in statements[:begin]))
    for end, made in reversed(ends[at - begin + 1:]):
        run = statements[begin:end]
        if made & after[end - 1] or updated & before:
            continue  # (a value it makes that is not zero is read later; a sum it resets is read in the next row)
        used = set().union(*(_arrays_read(v) for v in _values(run)),
                           {s.base.label for s in walk(run) if isinstance(s, Store) and not s.accumulate})
        kept = {label for label in arrays & used if _zero_between_runs(label, run, layers[label], seed)}
        if kept and kept == arrays & used:  # (each array read as zero is zero when the run starts)
            return begin, end
    return None


def _silent(statement, zero, other, updated, arrays):
    """Whether `statement` stores and adds only zeros while the symbols in `zero` and the elements of `arrays` are
    zero; it adds what it makes zero to `zero`, what else it assigns to `other`, and the sums it resets to zero to
    `zero` and `updated` (a skipped run leaves them as they were, so nothing outside it may read them)."""
    def vanishes(expr):
        return _vanishes_at_zero(expr, {e for e in expr.atoms(sp.Indexed) if e.base.label in arrays}
                                 | (zero & expr.free_symbols))

    if isinstance(statement, Assign):  # (a name a sweep assigns again takes its new value)
        zero.discard(statement.target)
        other.discard(statement.target)
        (zero if vanishes(statement.value) else other).add(statement.target)
        return True
    if isinstance(statement, Update) and not statement.accumulate:
        if vanishes(statement.value):
            zero.add(statement.target)
            updated.add(statement.target)
            return True
        return False
    if isinstance(statement, Update):
        return vanishes(statement.value)
    if isinstance(statement, Store):
        return vanishes(statement.value) and (statement.accumulate or statement.base.label in arrays)
    if isinstance(statement, (ReverseLoop, When)):
        return all(_silent(s, zero, other, updated, arrays) for s in statement.body)
    if isinstance(statement, Loop):  # (its carried values are taken as not zero)
        other.update({statement.index} | {c.phi for c in statement.carried} | {c.result for c in statement.carried})
        return all(_silent(s, zero, other, updated, arrays) for s in statement.body)
    return False  # tapes, allocations and checks


def _zero_between_runs(label, run, layer, seed):
    """Whether the array `label` (`layer`: its size and what mentions it, `_layer_arrays`) is all zero whenever
    `run` starts (see `skip_zero_rows`)."""
    size, mentioned = layer
    if not mentioned <= {id(s) for s in walk(run)}:
        return False
    for k, sweep in enumerate(run):
        if not (isinstance(sweep, ReverseLoop) and sweep.unless_zero in (None, seed) and sweep.loop.start == 0
                and sweep.loop.step == 1 and sp.expand(sweep.loop.stop - size) == 0):
            continue
        stores = [s for s in walk(sweep.body) if isinstance(s, Store) and s.base.label == label]
        if (len(stores) == 1 and any(s is stores[0] for s in sweep.body) and not stores[0].accumulate
                and stores[0].indices == (sweep.loop.index,) and stores[0].value == 0
                and not any(isinstance(s, Store) and s.base.label == label for s in walk(run[k + 1:]))):
            return True
    return False


def fuse_reductions(statements, arguments, per_row=True):
    """Fuse every reverse sweep that allows it into its forward loop (see `_fused`)."""
    for reverse_at, statement in enumerate(statements):
        if isinstance(statement, ReverseLoop):
            forward_at = next((k for k, s in enumerate(statements[:reverse_at])
                               if isinstance(s, Loop) and s.index == statement.loop.index), None)
            fused = None if forward_at is None else _fused(statements, forward_at, reverse_at, arguments, per_row)
            if fused is not None:
                return fuse_reductions(fused, arguments, per_row)
    return statements


def dead_carries(statements, results):
    """Drop the values a loop carries that nothing after it reads, with the statements of its body that only
    they need (pass `dead_carries`).  `_live` keeps a loop whole when it has effects (a reverse sweep fused into
    it) or one needed result, so the gradient kernel of a loss otherwise still sums the loss, and an HVP's still
    sums f and its directional derivative, with every `log1p` that feeds them.  Precondition: it runs after
    `Bounds.kernel`, so the array reads it drops keep their entry conditions and `Check`s (an index Python
    would read out of range is still an IndexError, the rule `_live` keeps with `python_reads`); the dropped
    statements are assignments, which have no other effect.  What set the dropped values' initial values
    before the loop is left to the compiler (plain arithmetic)."""
    needed = set().union(*(sp.sympify(r).free_symbols for r in results))
    kept = []
    for statement in reversed(statements):
        if isinstance(statement, Loop):
            statement = _without_dead_carries(statement, needed)
        needed |= _used(statement)
        kept.append(statement)
    return kept[::-1]


def dead_arrays(statements, results):
    """Drop the local arrays that nothing reads, with their stores (pass `dead_arrays`): a network's last
    `np.tanh` layer when the loss reads the layer before it, lowered to a loop that fills an array nobody reads.
    Precondition: it runs after `Bounds.kernel`, so a store it drops keeps its index check; an array is dead only
    when no statement reads it (values, indices, bounds, conditions, the forward loop a sweep replays) and no
    result names it.  The assignments that only fed its stores are then dead code, which Numba removes."""
    read = _named_by(results)
    for statement in walk(statements):
        read |= _labels_read_by(statement)
    dead = {s.base.label for s in walk(statements) if isinstance(s, Allocate)} - read
    return without(statements, lambda s: isinstance(s, (Allocate, Store)) and s.base.label in dead) if dead \
        else statements


def _returned_arrays(statements, results):
    """The local arrays `results` name: what `dead_arrays` keeps of `statements` depends on `results` through these
    alone (a Jacobian's value_and_grad returns the output array its grad kernel does not)."""
    named = _named_by(results)
    return frozenset(s.base.label for s in walk(statements) if isinstance(s, Allocate) and s.base.label in named)


def _named_by(results):
    """The symbols and array labels a kernel's results name (a Jacobian returns its output array, an IndexedBase)."""
    values = [sp.sympify(r) for r in results]
    return set().union(set(), *(v.free_symbols for v in values)) | _labels_read_by(values)


def _labels_read_by(value):
    """The labels of the arrays a statement (not its nested block) or part of one reads."""
    if isinstance(value, sp.Basic):
        return {atom.label for atom in value.atoms(sp.IndexedBase)}
    if isinstance(value, (list, tuple)):
        return set().union(set(), *(_labels_read_by(item) for item in value))
    if isinstance(value, ReverseLoop):  # (the forward loop it replays is read too)
        return set().union(*(_labels_read_by(s) for s in walk([value.loop]))) | _labels_read_by(value.unless_zero)
    if dataclasses.is_dataclass(value):
        skipped = ("base", "body") if isinstance(value, (Store, Allocate, Loop, When)) else ()
        return set().union(set(), *(_labels_read_by(getattr(value, f.name)) for f in dataclasses.fields(value)
                                    if f.name not in skipped))
    return set()


INVARIANT_FUNCTIONS = tuple(rule.node for rule in RULES if rule.smooth and rule.code is not None
                            and not (isinstance(rule.code, str) and rule.code.startswith("int_")))


def hoist_invariants(statements, temporaries, available):
    """Compute before a loop, once, each call of a function of the rules table whose arguments do not change in
    the loop (`lgamma(r)`, `log(1 - p)`, `digamma(r)` in a likelihood summed over the data), and each power with a
    fractional exponent likewise (pass `hoist_invariants`).  LLVM cannot hoist them itself: libm's `lgamma` writes
    `signgam`, and a loop of several thousand rows then pays for a call per row.  An assignment in the loop whose
    whole value is invariant, and which the loop reads, moves out likewise.

    Precondition, checked here: what moves reads only symbols `available` before the loop (the arguments, their
    sizes, what the statements before the loop define, and for an inner loop what its enclosing iteration has
    defined so far) that the loop does not set again (an adjoint it updates, `s_bar = s_bar_next`), so neither
    a value the loop changes nor one that is not defined at all (a dead statement's
    read of a value `dead_carries` dropped, or of a popped value whose tape was dropped) leaves it; and no array
    at all (a read hoisted out of a loop that may not run could read outside the array).  The functions are pure
    and, under the kernels' error model, never raise (nan and inf where Python's `math` raises), so computing
    one when the loop runs no iteration changes nothing."""
    result, available = [], set(available)
    for statement in statements:
        if isinstance(statement, (Loop, ReverseLoop)):
            loop = statement.loop if isinstance(statement, ReverseLoop) else statement
            own = {loop.index} | ({c.phi for c in loop.carried} if isinstance(statement, Loop) else set())
            body = hoist_invariants(statement.body, temporaries, available | own)
            read = set().union(set(), *map(_used, body))
            if isinstance(statement, Loop):
                read |= set().union(set(), *(c.next.free_symbols for c in statement.carried))
            changed = _defines(statement) | {s.target for s in walk(body) if isinstance(s, (Update, Pop))}
            moved, outside = [], available - changed
            for inner in body:  # (in order: an assignment moved out may make a later one invariant)
                if isinstance(inner, Assign) and inner.target in read and not inner.value.has(IntDiv, IntMod) \
                        and _invariant(inner.value, outside):
                    moved.append(inner)
                    outside.add(inner.target)
            body = [inner for inner in body if not any(inner is m for m in moved)]
            hoisted = {}
            body = [s if isinstance(s, Assign) and s.target not in read else
                    _with_invariants(s, outside, hoisted, temporaries) for s in body]
            result += moved + [Assign(symbol, call) for call, symbol in hoisted.items()]
            available |= {m.target for m in moved} | set(hoisted.values())
            statement = dataclasses.replace(statement, body=body) if isinstance(statement, ReverseLoop) else Loop(
                statement.index, statement.start, statement.stop, statement.step, body, statement.carried,
                statement.line)
            if isinstance(statement, Loop):
                available |= {c.result for c in statement.carried}
        elif isinstance(statement, When):
            statement = When(statement.condition, hoist_invariants(statement.body, temporaries, available))
        elif isinstance(statement, (Assign, Pop, Update, Allocate)):
            available |= _defines(statement) | ({statement.target} if isinstance(statement, Update) else set())
        result.append(statement)
    return result


def _invariant(expr, outside):
    """Whether `expr` reads only the symbols `outside` a loop, and no array."""
    return expr.free_symbols <= outside and not expr.has(sp.Indexed)


def _with_invariants(statement, outside, hoisted, temporaries):
    """`statement` (directly in a loop's body) with its invariant calls replaced by the symbols in `hoisted`."""
    if not isinstance(statement, (Assign, Update, Store)):
        return statement

    calls = [e for e in sp.preorder_traversal(statement.value)
             if (isinstance(e, INVARIANT_FUNCTIONS) or e.is_Pow and not e.exp.is_Integer) and _invariant(e, outside)]
    if not calls:
        return statement
    replacements = {}
    for call in calls:
        if call not in hoisted:
            hoisted[call] = next(temporaries)
        replacements[call] = hoisted[call]
    return dataclasses.replace(statement, value=statement.value.xreplace(replacements))


def _carried_results(statements, results):
    """The results of top-level loops' carried values that `results` name: what `dead_carries` does with
    `statements` depends on `results` through these alone (kernels that agree on them share one build)."""
    named = set().union(*(sp.sympify(r).free_symbols for r in results))
    return frozenset(c.result for s in statements if isinstance(s, Loop) for c in s.carried if c.result in named)


def _without_dead_carries(loop, needed):
    """`loop` without the carried values whose results are not `needed` and which no kept value or effect of its
    body reads (found to a fixed point: dropping one may free another), its inner loops likewise."""
    dropped = {id(c) for c in loop.carried if c.result not in needed}
    while True:
        carried = [c for c in loop.carried if id(c) not in dropped]
        body = _live(loop.body, [c.next for c in carried])
        reads = set().union(*(_used(s) for s in body), *(c.next.free_symbols for c in carried))
        revived = {id(c) for c in loop.carried if id(c) in dropped and c.phi in reads}
        if not revived:
            break
        dropped -= revived
    return Loop(loop.index, loop.start, loop.stop, loop.step, dead_carries(body, [c.next for c in carried]),
                carried, loop.line)


def _temporaries(taken):
    k = 0
    while True:
        name = f"_t{k}"
        k += 1
        if name not in taken:
            yield sp.Symbol(name, real=True)


LINEAR_CSE_BOUND = 200  # statements in a run above which `linear_cse` replaces sympy.cse (superlinear, ~10 ms a
# statement on long runs)


def _rebuilt(expr, args):
    """`expr` with new arguments, built without SymPy's automatic evaluation (which would cost more than the whole
    CSE, and could only undo the sharing)."""
    if isinstance(expr, (sp.Add, sp.Mul)):
        return expr._new_rawargs(*args)  # SymPy's own way to build a sum or product of known, flat arguments
    try:
        return expr.func(*args, evaluate=False)
    except TypeError:  # a node class without the option
        return expr.func(*args)


def linear_cse(values, temporaries):
    """Common subexpressions of `values`, shared in time linear in their size: ``(replacements, reduced)`` as
    `sympy.cse` returns them.  Exact repeats only (hash-consing): every compound subexpression met twice or more
    gets a temporary.  Nothing is taken out of a `Piecewise` (a branch's value is computed only where its
    condition holds) and array reads stay where they are.  SymPy's own `cse` also finds partial products and sums
    shared between terms, but its cost grows faster than the run; this is used on runs above `LINEAR_CSE_BOUND`."""
    def opaque(expr):
        return expr.is_Atom or isinstance(expr, (sp.Indexed, sp.Piecewise)) or not expr.args

    seen, repeated = set(), set()
    for value in values:
        stack = [value]
        while stack:
            expr = stack.pop()
            if expr.is_Atom or isinstance(expr, sp.Indexed):
                continue
            if expr in seen:
                repeated.add(expr)
                continue
            seen.add(expr)
            if not opaque(expr):
                stack.extend(expr.args)
    replacements, named, done = [], {}, {}

    def rebuild(root):
        # iterative post-order, so that a deep expression does not exhaust Python's recursion
        stack = [(root, False)]
        while stack:
            expr, expanded = stack.pop()
            if expr in done:
                continue
            if opaque(expr):
                done[expr] = expr
            elif not expanded:
                stack.append((expr, True))
                stack.extend((a, False) for a in expr.args if a not in done)
                continue
            else:
                # (an atom or array read is never shared: the argument itself, not the first equal one met, so
                # that a value CSE leaves alone is rebuilt as nothing new)
                args = [a if a.is_Atom or isinstance(a, sp.Indexed) else done[a] for a in expr.args]
                done[expr] = expr if all(a is b for a, b in zip(args, expr.args)) else _rebuilt(expr, args)
            if expr in repeated:
                symbol = next(temporaries)
                replacements.append((symbol, done[expr]))
                named[expr] = symbol
                done[expr] = symbol
        return done[root]

    reduced = [rebuild(value) for value in values]
    return replacements, reduced


def _opaque(expr, fragile, originals):
    """`expr` with each occurrence of a `fragile` read replaced by a symbol of its own, which CSE cannot share."""
    if expr in fragile:
        placeholder = sp.Dummy()
        originals[placeholder] = expr
        return placeholder
    if expr.is_Atom or not expr.args or not any(expr.has(e) for e in fragile):
        return expr
    return expr.func(*(_opaque(a, fragile, originals) for a in expr.args))


def _shared_run(statements, temporaries, enabled, fragile=frozenset()):
    """A run of assignments and `+=` stores with common subexpressions shared (pass `cse`), each shared value
    placed just before its first use, and the stores last (so that the compiler need not reload what they might
    alias; the run reads no array it stores into, so they may move).

    A `fragile` read (see `bounds`) stays inside the branch of its conditional expression: hoisted into a shared
    value, it would be evaluated on every path."""
    originals = {}
    values = [_opaque(s.value, fragile, originals) if fragile else s.value for s in statements]
    if "cse" not in enabled:
        replacements, reduced = [], values
    elif len(statements) > LINEAR_CSE_BOUND:
        replacements, reduced = linear_cse(values, temporaries)
    else:
        replacements, reduced = sp.cse(values, symbols=temporaries, order="none")
    if originals:
        replacements = [(t, v.xreplace(originals)) for t, v in replacements]
        reduced = [v.xreplace(originals) for v in reduced]
    definition = dict(replacements)
    rank = {symbol: k for k, (symbol, _) in enumerate(replacements)}
    placed, result, stores = set(), [], []
    for statement, value, given in zip(statements, reduced, values):
        # (a value CSE left as it was holds none of this run's new temporaries: no walk for them)
        wanted, stack = set(), [] if value is given else [s for s in value.free_symbols if s in definition]
        while stack:
            temporary = stack.pop()
            if temporary not in placed and temporary not in wanted:
                wanted.add(temporary)
                stack.extend(s for s in definition[temporary].free_symbols if s in definition)
        result += [Assign(t, definition[t]) for t in sorted(wanted, key=rank.get)]
        placed |= wanted
        if isinstance(statement, Store):
            stores.append(Store(statement.base, statement.indices, value, True, statement.line))
        else:
            result.append(Assign(statement.target, value))
    return result + (_merged(stores) if "merge_stores" in enabled else stores)


def _merged(stores):
    """`+=` stores into the same element, merged into one (pass `merge_stores`; precondition: the run reads
    none of them in between, which `shared` ensures by ending a run there)."""
    merged = {}
    for store in stores:
        key = (store.base, store.indices)
        earlier = merged.get(key)
        merged[key] = store if earlier is None else Store(store.base, store.indices, earlier.value + store.value,
                                                            True, earlier.line)
    return list(merged.values())


def _arrays_read(expr):
    return {e.base.label for e in expr.atoms(sp.Indexed)}


def shared(statements, temporaries, enabled=passes.ALL, fragile=frozenset()):
    """CSE over every straight run of assignments and `+=` stores (a loop, an update, a check or a read of an
    array the run has stored into ends a run); see `_shared_run` for the `fragile` reads."""
    result, run, stored = [], [], set()

    def flush():
        nonlocal run, stored
        if run:
            result.extend(_shared_run(run, temporaries, enabled, fragile))
        run, stored = [], set()

    for statement in statements:
        if isinstance(statement, Assign) and stored and _arrays_read(statement.value) & stored:
            flush()
        if isinstance(statement, Assign) or (isinstance(statement, Store) and statement.accumulate):
            run.append(statement)
            if isinstance(statement, Store):
                stored.add(statement.base.label)
            continue
        flush()
        if isinstance(statement, Loop):
            body = _live(statement.body, [c.next for c in statement.carried])
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             shared(body, temporaries, enabled, fragile), statement.carried, statement.line)
        elif isinstance(statement, ReverseLoop):
            body = _live(statement.body, [], probes=False)
            statement = ReverseLoop(statement.loop, shared(body, temporaries, enabled, fragile),
                                    statement.unless_zero, statement.any_order)
        elif isinstance(statement, When):
            statement = When(statement.condition, shared(statement.body, temporaries, enabled, fragile))
        result.append(statement)
    flush()
    return result


NESTING_LIMIT = 40  # levels of one printed expression: CPython's parser allows 200 nested brackets, and the
# printer may spend two per level (`math.sin((1.0 + ...))`)


def shallow(statements, temporaries):
    """The statements with every value nested at most `NESTING_LIMIT` deep: deeper parts get names of their own
    first, so that the generated module stays within CPython's parser limits whatever the source nests.
    Nothing is taken out of a `Piecewise`: a branch's value is computed only where its condition holds."""
    result = []
    for statement in statements:
        if isinstance(statement, Loop):
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             shallow(statement.body, temporaries), statement.carried, statement.line)
        elif isinstance(statement, ReverseLoop):
            statement = ReverseLoop(statement.loop, shallow(statement.body, temporaries), statement.unless_zero,
                                    statement.any_order)
        elif isinstance(statement, When):
            statement = When(statement.condition, shallow(statement.body, temporaries))
        elif isinstance(statement, (Assign, Update, Store)):
            named = []
            value, _ = _cut(statement.value, named, temporaries)
            if named:
                result += named
                statement = dataclasses.replace(statement, value=value)
        result.append(statement)
    return result


def _cut(expr, named, temporaries):
    """`expr` with each subexpression `NESTING_LIMIT` levels deep replaced by a new name (its assignment appended
    to `named`), and the depth of what remains."""
    if expr.is_Atom or isinstance(expr, (sp.Indexed, sp.Piecewise)) or not expr.args:
        return expr, 0
    parts = [_cut(argument, named, temporaries) for argument in expr.args]
    if any(part is not argument for (part, _), argument in zip(parts, expr.args)):
        expr = expr.func(*(part for part, _ in parts))
    depth = 1 + max(d for _, d in parts)
    if depth < NESTING_LIMIT:
        return expr, depth
    temporary = next(temporaries)
    named.append(Assign(temporary, expr))
    return temporary, 0


def _constant_or_code(printer, value):
    """A constant result as a float literal, when SymPy can evaluate it (it cannot evaluate every rules-table
    node, `cbrt` of a number for one: that is left for the kernel to compute)."""
    value = sp.sympify(value)
    if value.is_number:
        try:
            return printer.doprint(sp.Float(float(value)))
        except TypeError:
            pass
    return printer.doprint(value)


def _tuple_text(printer, values, as_tuple):
    printed = [_constant_or_code(printer, v) for v in values]
    if not as_tuple:
        return printed[0]
    return "(" + ", ".join(printed) + ("," if len(printed) == 1 else "") + ")"


# What an operation costs against an addition, roughly, in cycles of throughput: a division, a power and a
# function call (tanh, log, ...) are worth avoiding at the price of a few multiplications.
OPERATION_COSTS = {"ADD": 1, "SUB": 1, "MUL": 1, "NEG": 1, "DIV": 4, "POW": 4}
CALL_COST = 10


def _cost(statements):
    """The weighted operation count of straight-line statements."""
    total = 0
    for value in _values(statements):
        for operation, count in sp.count_ops(value, visual=True).as_coefficients_dict().items():
            total += count * OPERATION_COSTS.get(str(operation), CALL_COST)
    return total


def build_kernels(derivative, gradient_as_tuple, parallel=False, enabled=passes.ALL):
    """The three kernels of a derivative: value, grad and value_and_grad (with long loops run on threads
    where that is safe, when `parallel`), with the optimisation passes named in `enabled`."""
    program = derivative.program
    printer = NumbaPrinter()
    taken = {a.name for a in program.arguments} | {s.name for a in program.arguments for s in a.shape}
    taken |= {s.name for s in walk(program.body + derivative.forward + derivative.adjoint)
              for s in [getattr(s, "target", None)] if isinstance(s, sp.Symbol)}
    everything = derivative.forward + derivative.adjoint
    value_text = _tuple_text(printer, program.outputs, len(program.outputs) > 1)
    gradient_text = _tuple_text(printer, derivative.gradients, gradient_as_tuple)
    plans = {
        "value": (program.body, program.outputs, value_text),
        "grad": (everything, derivative.gradients, gradient_text),
        "value_and_grad": (everything, program.outputs + derivative.gradients, f"{value_text}, {gradient_text}"),
    }
    closed = closed_form_gradients(derivative) if "closed_form" in enabled else None
    bounds = Bounds(program, {bar: f"the gradient of argument {a.name!r}" for a in program.arguments
                              for bar in [derivative.adjoint_of.get(a.symbol)] if a.base is not None and bar is not None})
    data = {a.symbol for a in program.arguments if a.base is not None and a.symbol not in derivative.adjoint_of}
    kernels, built = {}, {}
    for name, (statements, results, returns) in plans.items():
        if closed is not None and name != "value":
            statements = min((statements, derivative.forward + closed),
                             key=lambda candidate: _cost(shared(_live(candidate, results), _temporaries(taken),
                                                                enabled)))
        body = _live(statements, results, python_reads=program.body if name == "value" else derivative.forward)
        # The passes below depend on the live statements alone (fresh temporaries each time): grad and
        # value_and_grad often keep the same ones, which are then built once.
        same = (tuple(map(id, body)), _carried_results(body, results) if "dead_carries" in enabled else None,
                _returned_arrays(body, results) if "dead_arrays" in enabled else None)
        if same not in built:
            built[same] = _passes(body, results, program.arguments, bounds, _temporaries(taken), enabled)
        entry, body = built[same]
        if parallel:
            body = in_chunks(body, results, "chunk_scratch" in enabled, data)
        if "write_once_adjoints" in enabled:  # last: it sees the chunked loops, which it leaves alone
            body = write_once_adjoints(body)
        if "write_once_rows" in enabled:
            body = write_once_rows(body)
        if "flat_elementwise" in enabled:
            body = flat_elementwise(body, program.arguments)
        kernels[name] = Kernel(name, program.arguments, body, returns, derivative.tapes, entry, program.name,
                               enabled, tuple(results), tuple(program.shape_checks))
    return kernels


def _passes(body, results, arguments, bounds, temporaries, enabled):
    """`(entry checks, statements)` of a kernel whose live statements are `body`: fusion, bounds, dead carried
    values, CSE, skipped sweeps, nesting cut and skipped rows."""
    if "fuse_reductions" in enabled:
        body = fuse_reductions(body, arguments, "per_row_fusion" in enabled)
    entry, body, fragile = bounds.kernel(body)
    if "dead_carries" in enabled:  # (after bounds: what it drops keeps its checks)
        body = dead_carries(body, results)
    if "dead_arrays" in enabled:
        body = dead_arrays(body, results)
    if "hoist_invariants" in enabled:
        body = hoist_invariants(body, temporaries, {a.symbol for a in arguments} | {
            size for a in arguments for size in a.shape})
    body = shallow(skip_zero_sweeps(shared(body, temporaries, enabled, fragile), enabled), temporaries)
    if "skip_zero_rows" in enabled:
        splits = {id(s) for s in body if isinstance(s, Loop) and "split_rows" in enabled
                  and split_rows(s, "accumulator_chain" in enabled, frozenset()) is not None}
        body = skip_zero_rows(body, splits)
    if "sweep_additions" in enabled or "gate_first" in enabled:
        body = guarded_sweeps(body, enabled)
    return entry, body


NUMBERED = re.compile(r"^(\w*?)_(\d+)$")  # a name ending in _ and digits, as symgrad names the values of a variable


def _apart_from_numba_versions(text, keep):
    """`text` (kernels) with each local name that ends in ``_<digits>`` given one more underscore (``s1_2`` ->
    ``s1__2``), except the names of `keep` (the arguments) and attributes.

    Numba renames the versions of a variable assigned more than once ``s1.1``, ``s1.2``, and where it compiles a
    `prange` loop into a function of its own it makes such names legal by writing ``_`` for ``.``: ``s1.2`` then
    meets symgrad's own ``s1_2`` and the compile fails ("key already in dictionary", fuzz seed 9960057).  With the
    extra underscore, no name of symgrad's ends in a single ``_<digits>`` after a name of its own; the mapping is
    one to one (it inserts one character at a place it can find again), so distinct names stay distinct."""
    lines, previous = text.split("\n"), None
    edits = defaultdict(list)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME and token.string not in keep and not (previous and previous.string == "."):
            match = NUMBERED.match(token.string)
            if match:
                edits[token.start[0]].append((token.start[1], token.end[1], f"{match[1]}__{match[2]}"))
        previous = token
    for row, changes in edits.items():
        line = lines[row - 1]
        for start, end, name in sorted(changes, reverse=True):
            line = line[:start] + name + line[end:]
        lines[row - 1] = line
    return "\n".join(lines)


def kernels_source(kernels):
    """The kernels as Python source text, and the import of the runtime helpers they call."""
    enabled = kernels["value"].enabled
    printer = NumbaPrinter(enabled)
    text = "\n\n\n".join(kernels[name].source(printer) for name in KERNEL_NAMES)
    if any(kernel.threaded() for kernel in kernels.values()):
        text = _apart_from_numba_versions(text, {a.name for a in kernels["value"].arguments})
    used = [name for name in RUNTIME_FUNCTIONS if f"{name}(" in text]
    vector = [f"{name} as vector_{name}" for name in VECTOR_FUNCTIONS if f"vector_{name}(" in text]
    imports = (f"from symgrad.runtime import {', '.join(used)}\n" if used else "") + (
        f"from symgrad.vector_math import {', '.join(vector)}\n" if vector else "") + (
        "from numba import prange\n" if "prange(" in text else "") + (
        "from symgrad.errors import ArrayIndexError\n" if "ArrayIndexError(" in text else "")
    return text, imports


# --- pass write_once_adjoints ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Uninitialised:
    """`base = np.empty(shape) if condition else np.zeros(shape)`: an array of zeros whose every element a later
    loop writes once whenever `condition` (that loop runs) holds.  Only `write_once_adjoints` makes one."""

    base: sp.IndexedBase
    shape: tuple
    condition: sp.Basic


def _names(node, found):
    """Every symbol name inside `node` (see `_mentions`), into `found`."""
    if isinstance(node, sp.Basic):
        found.update(s.name for s in node.atoms(sp.Symbol))
    elif isinstance(node, (list, tuple)):
        for n in node:
            _names(n, found)
    elif isinstance(node, dict):
        _names(list(node.items()), found)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _names(getattr(node, f.name), found)
    return found


def _shift_stores(loop, label):
    """The offsets c of the `+=` stores ``label[i + c] += v`` in `loop` (index i, step 1), in statement order, or
    None unless they are the loop's only mention of `label`, each one at the top level of its body (run on every
    iteration), with a value and an index that do not read `label`."""
    if loop.step != 1 or mentions([loop.start, loop.stop, loop.carried], label):
        return None
    offsets = []
    for statement in loop.body:
        if not mentions(statement, label):
            continue
        if not (isinstance(statement, Store) and statement.accumulate and statement.base.label == label
                and len(statement.indices) == 1 and not mentions([statement.value], label)):
            return None
        offset = sp.expand(statement.indices[0] - loop.index)
        if not offset.is_Integer:
            return None
        offsets.append(int(offset))
    return offsets or None


def _written_once(allocate, loop, offsets, taken):
    """`[allocation, loop, flush]` for `write_once_adjoints` (see there), the loop's stores rewritten."""
    label, i = allocate.base.label, loop.index
    low, span = min(offsets), max(offsets) - min(offsets)

    def fresh(name):
        while name in taken:
            name += "_"
        taken.add(name)
        return sp.Symbol(name, real=True)

    # At the start of iteration i, pending[j] holds what earlier iterations added to element i + low + j.
    pending = [fresh(f"{label.name}_carry{j}") for j in range(span)]
    results = [fresh(f"{label.name}_carried{j}") for j in range(span)]
    # sums[j]: the running sum of element i + low + j in this iteration; the element first touched now starts
    # with its first contribution, not with 0.0 + it (the add is 5% of Rosenbrock's loop; it differs only when
    # every contribution is -0.0, where the element is then -0.0, not 0.0).
    body, sums = [], pending + [None]
    # Each element's contributions are added in the order the += stores made them (earlier iterations first),
    # two symbols at a time, so that SymPy cannot reorder them: the sums are the unoptimised kernel's.
    for statement in loop.body:
        if isinstance(statement, Store) and statement.base.label == label:
            j = int(sp.expand(statement.indices[0] - i)) - low
            value = statement.value
            if not value.is_Symbol:
                temporary = fresh(f"{label.name}_add")
                body.append(Assign(temporary, value))
                value = temporary
            if sums[j] is None:
                sums[j] = value
                continue
            total = fresh(f"{label.name}_sum")
            body.append(Assign(total, sp.Add(sums[j], value)))
            sums[j] = total
        else:
            body.append(statement)
    body.append(Store(allocate.base, (i + low,), sums[0], False, loop.line))
    carried = list(loop.carried) + [
        Carried(pending[j], sp.Integer(0), sums[j + 1], results[j]) for j in range(span)]
    rewritten = Loop(i, loop.start, loop.stop, loop.step, body, carried, loop.line)
    runs = sp.StrictGreaterThan(loop.stop, loop.start)
    flush = [When(runs, [Store(allocate.base, (loop.stop + low + j,), results[j], False) for j in range(span)])
             ] if span else []
    covered = (sp.expand(loop.start + low) == 0 and sp.expand(loop.stop - 1 + low + span - allocate.shape[0]) == -1)
    allocation = Uninitialised(allocate.base, allocate.shape, runs) if covered else allocate
    return [allocation, rewritten] + flush


def _first_use(statements, at):
    """`(label, position, loop)` for the `Allocate` at `statements[at]`: its array, the position of the next
    statement that mentions it, and that statement where it is a `Loop` (else None)."""
    label = statements[at].base.label
    following = next((k for k in range(at + 1, len(statements)) if mentions(statements[k], label)), None)
    loop = statements[following] if following is not None and isinstance(statements[following], Loop) else None
    return label, following, loop


def write_once_adjoints(statements):
    """Pass `write_once_adjoints`: an array of zeros that one loop only adds into at fixed offsets from its index
    (``x_bar[i + 1] += a; x_bar[i] += b``, Rosenbrock's gradient) is written once per element instead: each
    element's contributions from later offsets wait in loop-carried scalars until the iteration that finishes
    it, which stores their sum with `=`, and the last ones are stored after the loop.  Where the loop then
    writes every element (whenever it runs), the array is allocated uninitialised, without the zero fill.

    Precondition, checked here (`_shift_stores`): the array is allocated (zeros) in this statement list and
    nothing mentions it between the allocation and a loop of step 1 at the same level; inside that loop it is
    mentioned only by `+=` stores at the top level of the body (so they run on every iteration), each at the
    loop index plus an integer constant, none reading the array; the lowest index is provably nonnegative
    (a negative one counts from the end, and two offsets could then reach one element).  Each element's sum is
    added in the original order (equal results, bit for bit but for the sign of an all -0.0 sum).  Bounds: the
    stores after the loop fall between two offsets the last iteration stored to, so they are in range whenever
    the loop's own stores were."""
    taken = _names(statements, set())
    result, at = [], 0
    while at < len(statements):
        statement = statements[at]
        if isinstance(statement, Allocate) and len(statement.shape) == 1:
            label, following, loop = _first_use(statements, at)
            offsets = _shift_stores(loop, label) if loop is not None else None
            if offsets is not None and sp.expand(loop.start + min(offsets)).is_nonnegative is not True:
                offsets = None  # a negative index counts from the end: two offsets could reach one element
            runs = None if offsets is None else sp.StrictGreaterThan(loop.stop, loop.start)
            if offsets is not None and runs is not sp.false:
                result += statements[at + 1:following]  # they do not mention the array: it may be made later
                result += _written_once(statement, loop, offsets, taken)
                at = following + 1
                continue
        result.append(statement)
        at += 1
    return result


# --- pass write_once_rows ------------------------------------------------------------------------------------
def _row_stores(loop, label):
    """How `loop` (index i) adds into the 2-D array `label`, for `write_once_rows`: ``("columns", {c, ...})`` for
    ``label[i, c] += v`` stores at distinct integer columns, or ``("range", inner)`` for one
    ``label[i, j] += v`` inside one loop or sweep `inner` over j (or inside a `When` holding it: then read as a sweep
    that may be skipped); None unless these are the loop's only mentions of `label`, each at the top level of its
    body, none reading `label`."""
    if loop.step != 1 or mentions([loop.start, loop.stop, loop.carried], label):
        return None

    def adds(statement, index):
        """The column of `statement` if it is ``label[i, column] += v`` not reading `label`, else None."""
        if not (isinstance(statement, Store) and statement.accumulate and statement.base.label == label
                and len(statement.indices) == 2 and statement.indices[0] == loop.index
                and not mentions([statement.value], label)):
            return None
        column = statement.indices[1]
        return column if column == index or (column.is_Integer and column >= 0) else None

    columns, ranges = set(), []
    for statement in loop.body:
        if not mentions(statement, label):
            continue
        column = adds(statement, None)
        if column is not None and column not in columns:
            columns.add(column)
            continue
        if isinstance(statement, When):  # (a sweep under its adjoint's test, `guarded_sweeps`: it may not run)
            touching = [s for s in statement.body if mentions(s, label)]
            if len(touching) != 1 or not isinstance(touching[0], (Loop, ReverseLoop)):
                return None
            statement = ReverseLoop(touching[0], touching[0].body, sp.true) if isinstance(touching[0], Loop) else \
                dataclasses.replace(touching[0], unless_zero=touching[0].unless_zero or sp.true)
        if not isinstance(statement, (Loop, ReverseLoop)):
            return None  # (a second store into one element, or a store this pass does not read)
        inner = statement.loop if isinstance(statement, ReverseLoop) else statement
        body = statement.body
        if not (isinstance(inner, Loop) and inner.step == 1  # (a sweep does not run its loop's carried values)
                and not (isinstance(statement, Loop) and inner.carried)
                and not mentions([inner.start, inner.stop], label)
                and sp.expand(inner.start).is_nonnegative is True):
            return None
        touching = [s for s in body if mentions(s, label)]
        if len(touching) != 1 or adds(touching[0], inner.index) != inner.index:
            return None
        ranges.append(statement)
    if columns and not ranges:
        return "columns", columns
    if len(ranges) == 1 and not columns:
        return "range", ranges[0]
    return None


def _rewritten_row_stores(statements, label):
    """`statements` with every ``label[...] += v`` turned into ``label[...] = v`` (in loops and sweeps too)."""
    out = []
    for s in statements:
        if isinstance(s, Store) and s.base.label == label:
            s = dataclasses.replace(s, accumulate=False)
        elif isinstance(s, (Loop, ReverseLoop, When)) and mentions(s.body, label):
            s = dataclasses.replace(s, body=_rewritten_row_stores(s.body, label))
        out.append(s)
    return out


def write_once_rows(statements):
    """Pass `write_once_rows`: a 2-D array of zeros that one loop over its rows only adds into, each iteration into
    its own row at distinct columns (``x_bar[k, 0] += a; x_bar[k, 1] += b``, or ``x_bar[k, j] += c`` in one inner
    loop over j: a population's gradient, one particle per row), is stored with `=` instead of `+=`, and where
    those stores cover every element whenever the loop runs, it is allocated uninitialised, without the zero
    fill (18% of a memory-bound gradient such as the sphere function's at 100,000 rows of 2).

    Precondition, checked here (`_row_stores`): the array is allocated (zeros) in this statement list and nothing
    mentions it between the allocation and a loop of step 1 at the same level; inside that loop it is mentioned
    only by `+=` stores whose row index is the loop's index, at the top level of its body or at the top level of
    one inner loop or sweep (no carried values, unguarded, nonnegative start) whose index is the column, each
    element once, none reading the array.  A negative index is excluded (rows start at a nonnegative bound,
    columns are nonnegative constants or a loop from a nonnegative start), so no two stores reach one element;
    each element then receives one value, and ``0.0 + v`` equals `v` but for the sign of -0.0.  Coverage (the
    loop runs over every row, the stores over every column, the inner loop not skipped) decides the fill."""
    result, at = [], 0
    while at < len(statements):
        statement = statements[at]
        if isinstance(statement, Allocate) and len(statement.shape) == 2:
            label, following, loop = _first_use(statements, at)
            stores = _row_stores(loop, label) if loop is not None else None
            if stores is not None and sp.expand(loop.start).is_nonnegative is True:
                rows, columns = statement.shape
                covers = [sp.Eq(loop.start, 0), sp.Eq(loop.stop, rows), sp.StrictGreaterThan(loop.stop, loop.start)]
                kind, how = stores
                if kind == "columns":
                    covers.append(sp.Eq(columns, len(how)) if how == set(map(sp.Integer, range(len(how))))
                                  else sp.false)
                else:
                    inner = how.loop if isinstance(how, ReverseLoop) else how
                    covers += [sp.Eq(inner.start, 0), sp.Eq(inner.stop, columns),
                               sp.false if isinstance(how, ReverseLoop) and how.unless_zero is not None else sp.true]
                condition = sp.And(*covers)
                result += statements[at + 1:following]
                result.append(statement if condition is sp.false else
                              Uninitialised(statement.base, statement.shape, condition))
                result.append(dataclasses.replace(loop, body=_rewritten_row_stores(loop.body, label)))
                at = following + 1
                continue
        result.append(statement)
        at += 1
    return result


# --- pass flat_elementwise -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlatMap:
    """``targets[m][r, c] = values[m]`` for every element of the 2-D argument `array`, computed in one flat loop
    over its elements (each value reads ``array[FLAT_ROW, FLAT_COLUMN]``).  Only `flat_elementwise` makes one."""

    targets: tuple  # of sp.IndexedBase
    array: sp.IndexedBase
    shape: tuple
    values: tuple


FLAT_ROW, FLAT_COLUMN = sp.Symbol("_flat_row", integer=True), sp.Symbol("_flat_column", integer=True)


def _flat_call(call, row, column, array_shapes, scalars):
    """`call` with the loop indices `row`, `column` as `FLAT_ROW`, `FLAT_COLUMN` and the argument it reads, if its
    argument reads one 2-D argument only at ``[row, column]`` and otherwise only numbers and scalar arguments;
    else None."""
    reads = call.atoms(sp.Indexed)
    bases = {read.base for read in reads}
    if len(bases) != 1 or any(read.indices != (row, column) for read in reads):
        return None
    base, = bases
    if base.label not in array_shapes or len(array_shapes[base.label]) != 2:
        return None
    elements = {read: sp.Dummy() for read in reads}
    if not call.xreplace(elements).free_symbols - set(elements.values()) <= scalars:
        return None  # (an index in the value itself, cos(x[k, j] / (j + 1)), or a local value)
    return base, call.xreplace({row: FLAT_ROW, column: FLAT_COLUMN})


def flat_elementwise(statements, arguments):
    """Pass `flat_elementwise`: a call of `vector_math`'s exp, log, log1p, tanh, sin or cos of one element of a 2-D
    argument, ``cos(2*pi*x[k, j])`` inside a loop over x's rows and, in it, a loop or sweep over its columns (a
    population's objective, `np.sum(x**2 - 10*np.cos(2*np.pi*x), axis=1)`, and its gradient), is computed for
    every element before the loops, in one flat loop over the array that LLVM vectorises however few its columns
    are, and read there from the array of results.  The same call in several loops is computed once.

    Precondition, checked here: the outer loop is at the kernel's top level and runs over every row (from 0 to
    the array's `shape[0]`, step 1), the inner one is at the top level of its body and runs over every column
    (from 0 to `shape[1]`, step 1), and the call's argument reads that argument only at ``[row, column]``, with no
    other array, index or local value (numbers and scalar arguments only), so it has one value per element and
    the results array, of the argument's shape, is read where the argument was (in range wherever that was).
    The call happens for every element, where the loops may have skipped some (a zero adjoint): the functions
    never raise, and the results are those of the same call."""
    array_shapes = {a.symbol: tuple(a.shape) for a in arguments if a.base is not None}
    scalars = {a.symbol for a in arguments if a.base is None}
    taken = _names(statements, set())
    made = {}  # (array label, call at FLAT_ROW, FLAT_COLUMN) -> its results array
    result = []
    for statement in statements:
        if not (isinstance(statement, Loop) and statement.step == 1 and statement.start == 0):
            result.append(statement)
            continue
        fresh = []

        def flat(call, inner_loop):
            """The read of `call`'s results array, made at first use, or None where the precondition fails."""
            found = _flat_call(call, statement.index, inner_loop.index, array_shapes, scalars)
            if found is None:
                return None
            base, key = found
            shape = array_shapes[base.label]
            if not (statement.stop == shape[0] and inner_loop.stop == shape[1]):
                return None
            if (base.label, key) not in made:
                name = f"_flat{len(made)}"
                while name in taken:
                    name += "_"
                taken.add(name)
                made[base.label, key] = sp.IndexedBase(sp.Symbol(name, real=True))
                fresh.append((base, shape, made[base.label, key], key))
            return sp.Indexed(made[base.label, key], statement.index, inner_loop.index)

        body = []
        for inner in statement.body:
            loop = inner.loop if isinstance(inner, ReverseLoop) else inner
            if isinstance(loop, Loop) and loop.step == 1 and loop.start == 0:
                changed, definitions = [], {}  # the values of the body's assignments, in terms of what is before it
                for s in inner.body:
                    if isinstance(s, (Assign, Store)):
                        calls = {}
                        for call in sorted(s.value.atoms(*VECTOR_NODES), key=sp.count_ops, reverse=True):
                            if not any(call in outer.args[0].atoms(type(call)) for outer in calls):
                                read = flat(call.xreplace(definitions), loop)  # (outermost first: cos(x) in
                                if read is not None:  # exp(cos(x)) is not made; sin(t) with t = sqrt(x[k, j]) is)
                                    calls[call] = read
                        if isinstance(s, Assign):
                            definitions[s.target] = s.value.xreplace(definitions)
                        if calls:
                            s = dataclasses.replace(s, value=s.value.xreplace(calls))
                    changed.append(s)
                inner = dataclasses.replace(inner, body=changed)
            body.append(inner)
        for base in dict.fromkeys(base for base, *_ in fresh):  # one loop per argument, in order of first use
            mine = [(target, value) for b, _, target, value in fresh if b == base]
            shape = next(shape for b, shape, *_ in fresh if b == base)
            result.append(FlatMap(tuple(t for t, _ in mine), base, shape, tuple(v for _, v in mine)))
        result.append(dataclasses.replace(statement, body=body))
    return result


def _outlined_flat_map(flat_map, name, printer):
    """`(function, lines)`: the source of function `name` computing a `FlatMap`'s values in one loop over its
    argument's elements, and the kernel's lines that make its results arrays and call it with flat views of them
    and of the argument (views: a kernel is compiled for C-contiguous arrays only).  The loop is a function
    of its own because LLVM did not vectorise it inside the kernel, reading a reshaped view there (8.9 ms against
    1.4 ms for cos of 400,000 elements)."""
    p = printer.doprint
    targets = [p(t.label) for t in flat_map.targets]
    rows, columns = (p(n) for n in flat_map.shape)
    element, elements = sp.Symbol("_element", integer=True), sp.IndexedBase(sp.Symbol("_elements", real=True))
    read = {sp.Indexed(flat_map.array, FLAT_ROW, FLAT_COLUMN): sp.Indexed(elements, element)}
    values = [value.xreplace(read) for value in flat_map.values]
    scalars = sorted({s for v in values for s in v.free_symbols if isinstance(s, sp.Symbol)} - {
        element, elements.label}, key=str)
    body = [f"        {target}_flat[{p(element)}] = {p(value)}" for target, value in zip(targets, values)]
    if printer.vector_functions:
        body = vector_functions(body)
    parameters = [p(elements.label)] + [f"{target}_flat" for target in targets] + [p(s) for s in scalars]
    function = "\n".join([f"def {name}({', '.join(parameters)}):",
                          f"    for {p(element)} in range({p(elements.label)}.shape[0]):"] + body)
    size = f"{rows} * {columns}"
    lines = [f"    {target} = np.empty(({rows}, {columns}))" for target in targets]
    arguments = [f"{p(flat_map.array.label)}.ravel()"] + [f"{target}.reshape({size})" for target in targets]
    return function, lines + [f"    {name}({', '.join(arguments + [p(s) for s in scalars])})"]
