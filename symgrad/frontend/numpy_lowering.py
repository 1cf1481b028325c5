"""Lowering of vectorised NumPy: whole-array expressions become the loops a person would write.

An array-valued expression is not computed where it is met.  It becomes an `ArrayExpression`: its shape and a
function that lifts one element, at given indices, into the block being lifted.  A reduction (`np.sum(e)`) calls
that function inside its own accumulator loop, so an elementwise chain feeding it is fused into the loop and no
temporary array exists.  A value that is read more than once is written into a local array once
(`materialized`): a computed value bound to a name that more than one statement reads (`h = np.tanh(X @ W + b)`),
or passed to a helper, an operand of a matrix product, whose elements each product reads many times, and a value
that broadcasting stretches.  A name read in one statement only stays uncomputed, each element lifted once where
it is first read (`bound_lazily`).  Slices, transposes, new axes and broadcasting are index arithmetic on the
element function, so a view costs nothing.  A vector rebound in a loop is carried as the rows of a local array
(`histories`).

Sizes the shapes alone prove different (`x[1:] + x`) are refused while lifting; sizes they cannot prove equal
(`X @ w`: the columns of X and the length of w) become the Program's `shape_checks`, which the kernels test when
they start, raising ValueError with the arrays, the axes and the line before any element is read.
"""

import ast
import dataclasses
import itertools
import math
import operator
import sys
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.codegen import cfunctions
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanAtom, BooleanFunction

from .. import errors
from ..ir import ARRAY_KINDS, Allocate, Assign, Carried, Loop, walk
from ..rules import (AsIndex, Ceil, Erfc, FloatTest, IntDiv, IntMod, LogNdtr, Maximum, Minimum, Ndtr, PythonInt,
                     SliceBound, WholeFloat, isnan, numpy_extreme, python_not, python_piecewise, seen_through)
from .kinds import static_target
from .source import COMPARISONS, PYTHON_COMPARISONS


@dataclass(eq=False)
class ArrayValue:
    """An array as the lifter sees it: its IndexedBase, its shape (integer expressions), and whether it is local."""

    base: sp.IndexedBase
    shape: tuple
    local: bool

    @property
    def ndim(self):
        return len(self.shape)


@dataclass(eq=False)
class ArrayExpression:
    """A whole-array value not yet computed: its shape, and `at(indices)`, which lifts the element there."""

    shape: tuple
    at: object
    view: bool  # each element is a read of an array that exists: re-reading it costs no more than the read
    text: str  # the source it came from, for messages
    name: str = None  # the variable it is bound to, if any: the name of its array where one is made
    fresh: bool = False  # a view read lazily from its source that NumPy makes as a copy (np.array(x), .astype)

    @property
    def ndim(self):
        return len(self.shape)


@dataclass(eq=False)
class MaskedArray:
    """`np.ma.array(x, mask=m)`: its data and `masked(indices)`, a condition that holds where an element is masked.
    Elementwise arithmetic keeps the mask, and np.sum, np.prod and their methods leave the masked elements out;
    anything that needs its elements otherwise is refused (`NumpyLowering.expression`)."""

    data: ArrayExpression
    masked: object

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def text(self):
        return self.data.text


@dataclass(eq=False)
class ArrayList:
    """A Python list of arrays, to be joined (`np.column_stack(terms)`): its parts, or, for a list appended to
    once per iteration of a kept loop, the local array whose rows are the parts (`rows`)."""

    parts: tuple = ()
    rows: object = None


@dataclass(eq=False)
class LoopAppend:
    """An empty list a kept loop appends to once per iteration: each part becomes row `position` of an array
    allocated in `outer` (the block before the loop) at the first append, with `trips` rows."""

    trips: object
    position: object
    depth: int
    outer: list
    rows: object = None
    appended: bool = False


# symgrad's arrays are all float64: `x.dtype`, `float` and `np.float64` name this one type, and np.finfo of it
# gives constants.  A dtype is a value only where a type goes (np.finfo, .astype, dtype=, np.float64(...)).
FLOAT64 = np.dtype(np.float64)
FLOAT_TYPES = (float, np.float64, np.double)
FLOAT_INFO = np.finfo(np.float64)
FLOAT_INFO_ATTRIBUTES = ("eps", "epsneg", "tiny", "smallest_normal", "max", "min", "resolution")


class FloatInfo:
    """`np.finfo(float)`, `np.finfo(x.dtype)`: its attributes are float64's constants."""


CONDITIONS = (Relational, BooleanFunction, BooleanAtom)  # (a SymPy Symbol is a Boolean too: not one of these)


def trip_count(start, stop, step):
    """How many times `range(start, stop, step)` runs (a literal non-zero step), as an integer expression."""
    return stop - start if step == 1 else IntDiv(stop - start + step - (1 if step > 0 else -1), step)


def as_number(element):
    """A comparison used as a number, as NumPy does: 1 where it holds, else 0 (its derivative is 0)."""
    if isinstance(element, CONDITIONS):
        return sp.Piecewise((sp.Integer(1), element), (sp.Integer(0), True))
    return element


def is_condition(element):
    """Whether an element is a condition, or one kept as the number 1 or 0 (bound to a name, or a test such as
    `np.isnan(y)`, whose array is a mask: `~np.isnan(y)`, `y[np.isfinite(y)]`)."""
    return isinstance(element, CONDITIONS + (FloatTest,)) or isinstance(element, sp.Piecewise) and element == as_number(
        element.args[0].cond)


def as_condition(element):
    """An element used as a condition (`np.where`): a comparison as it is, a number where it is not 0."""
    return element if isinstance(element, CONDITIONS) else sp.Ne(element, 0)


# Reductions: name -> (accumulator name, combine, identity; None: start from the first element, so that an empty
# array raises as in NumPy).
REDUCTIONS = {"sum": ("total", operator.add, sp.Integer(0)), "prod": ("product", operator.mul, sp.Integer(1)),
              "max": ("largest", lambda a, b: numpy_extreme(Maximum, a, b), None),
              "min": ("smallest", lambda a, b: numpy_extreme(Minimum, a, b), None),
              # builtin max/min of an array: Python's, which keep the first element unless a later one beats it
              "builtin max": ("largest", Maximum, None), "builtin min": ("smallest", Minimum, None)}
# The NumPy functions (and their method spellings) that reduce, and which reduction they are.
REDUCING_FUNCTIONS = {id(np.sum): "sum", id(np.mean): "mean", id(np.prod): "prod", id(np.max): "max",
                      id(np.amax): "max", id(np.min): "min", id(np.amin): "min", id(np.all): "all", id(np.any): "any"}
REDUCING_METHODS = {"sum": "sum", "mean": "mean", "prod": "prod", "max": "max", "min": "min", "all": "all",
                    "any": "any"}
# np.all / np.any: 1 or 0 (a number, so also a condition), from the count of the elements that are true (all of
# them, or at least one: a NaN is true, and `not x > 0` is not `x <= 0` at a NaN, so nothing is negated).
TRUTH_TESTS = ("all", "any")
PRODUCTS = {id(np.dot), id(np.matmul), id(np.inner)}


def _logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow: the larger plus log1p of the smaller's share."""
    return Maximum(a, b) + cfunctions.log1p(sp.exp(-sp.Abs(a - b)))


# Where an axis does not exist, the arguments' axes at the first call (which decide how an array is read) may be
# what is wrong rather than the source.
ARGUMENT_AXES_ADVICE = ("if an argument is read here, pass it with as many axes as the function uses (the first "
                        "call's arguments decide how many each has)")


# The functions of losses that are not in the rules table, as formulas of its nodes (numbers or whole arrays).
SPECIAL_COMPOSITES = {
    "expit": lambda x: 1 / (1 + sp.exp(-x)),
    "log_expit": lambda x: -_logaddexp(sp.Integer(0), -x),
    "xlogy": lambda x, y: sp.Piecewise((sp.Integer(0), sp.Eq(x, 0)), (x * sp.log(y), True)),
    "gammaln": sp.loggamma,  # (math.lgamma's node: scipy's spellings of functions of the rules table)
    "gamma": sp.gamma,
    "erf": sp.erf,
    "erfc": Erfc,
    "digamma": lambda x: sp.polygamma(0, x),  # (scipy.special.psi is the same ufunc)
    "polygamma": sp.polygamma,  # (n: an integer literal, checked in `numpy_call`)
    "ndtr": Ndtr,
    "log_ndtr": LogNdtr,
    "betaln": lambda a, b: sp.loggamma(a) + sp.loggamma(b) - sp.loggamma(a + b),
}
# scipy.special's functions of whole arrays along an axis, lowered in `numpy_call` (on a number too: of one element).
SPECIAL_REDUCTIONS = ("logsumexp", "softmax", "log_softmax")


def special_reduction(target):
    """The name of a scipy.special function of SPECIAL_REDUCTIONS that `target` is, else None."""
    return next((name for name in SPECIAL_REDUCTIONS if target is scipy_special(name)), None)


def _normal_logpdf(x, loc=sp.Integer(0), scale=sp.Integer(1)):
    return -((x - loc) / scale) ** 2 / 2 - sp.log(scale) - sp.log(2 * sp.pi) / 2


# Methods of scipy.stats distributions, by (distribution, method), as formulas of numbers (loc and scale by position).
STATS_COMPOSITES = {
    ("norm", "logpdf"): _normal_logpdf,
    ("norm", "pdf"): lambda *a: sp.exp(_normal_logpdf(*a)),
}


def scipy_special(name):
    """`scipy.special.<name>` where the user's code imported SciPy (it is not a dependency of symgrad), else None."""
    return getattr(sys.modules.get("scipy.special"), name, None)


def _sinc(x):
    """np.sinc: sin(pi x) / (pi x), and 1 at 0 (where its derivative is 0).  Both branches are computed, so the
    division's denominator is x + 1 at 0, x elsewhere (an Add: SymPy moves a power into a Piecewise, whose
    branches CSE then computes ahead of the choice): no 0 ** -2 in the derivative there."""
    at_zero = sp.Eq(x, 0)
    nonzero = x + as_number(at_zero)
    return sp.Piecewise((sp.Integer(1), at_zero), (sp.sin(sp.pi * x) / (sp.pi * nonzero), True))


# NumPy functions that are formulas of the rules table's nodes.
NUMPY_COMPOSITES = {id(np.logaddexp): _logaddexp, id(np.sinc): _sinc,
                    id(np.logaddexp2): lambda a, b: _logaddexp(a * sp.log(2), b * sp.log(2)) / sp.log(2)}


def composite(target):
    """The formula of np.logaddexp, np.logaddexp2 or np.sinc, of a scipy.special function or of a scipy.stats method
    (norm.logpdf), or None."""
    if id(target) in NUMPY_COMPOSITES:
        return NUMPY_COMPOSITES[id(target)]
    stats = sys.modules.get("scipy.stats")
    owner = getattr(target, "__self__", None)
    if stats is not None and owner is not None:  # (a bound method is made anew at each access: compare owners)
        return next((build for (name, method), build in STATS_COMPOSITES.items()
                     if owner is getattr(stats, name, None) and target.__name__ == method), None)
    return next((build for name, build in SPECIAL_COMPOSITES.items() if target is scipy_special(name)), None)
# Distributions of scipy.stats whose methods are refused with advice of their own (others get the general one).
REFUSED_STATS = {
    "multivariate_normal": "symgrad lowers multivariate_normal.logpdf(x, mean, cov) only: write "
                           "np.exp(multivariate_normal.logpdf(x, mean, cov)) for the density",
    ("norm", "cdf"): "scipy.special.ndtr(z) is the normal CDF: ndtr((x - loc) / scale) for norm.cdf(x, loc, scale)",
    ("norm", "sf"): "scipy.special.ndtr(-z) is the normal survival function, z = (x - loc) / scale",
    ("norm", "logcdf"): "scipy.special.log_ndtr(z) is its logarithm, accurate in the tail: z = (x - loc) / scale",
    ("norm", "logsf"): "scipy.special.log_ndtr(-z) is its logarithm, accurate in the tail: z = (x - loc) / scale",
}


def stats_refusal(owner, method):
    """Why a method of a scipy.stats distribution other than norm.logpdf/pdf and multivariate_normal.logpdf is
    refused, and what to write instead; None for anything else."""
    module = getattr(type(owner), "__module__", "") or ""
    if not module.startswith("scipy.stats"):
        return None
    name = type(owner).__name__.removesuffix("_gen").removesuffix("_frozen")
    advice = REFUSED_STATS.get((name, method)) or REFUSED_STATS.get(
        name, "symgrad lowers norm.logpdf, norm.pdf and multivariate_normal.logpdf of scipy.stats: write this "
              "density's formula with the NumPy functions docs/language.md lists")
    return f"scipy.stats.{name}.{method} is not supported (docs/language.md lists what is): {advice}"


# NumPy functions that are refused on arrays, with what to write instead (the table of docs/language.md).
REFUSED_FUNCTIONS = {
    "interp": "find the interval's index, then the line through its ends: on a uniform grid k = min(int((t - "
              "xp[0]) / h), len(xp) - 2), then fp[k] + (fp[k + 1] - fp[k]) * (t - xp[k]) / (xp[k + 1] - xp[k])",
    "triu_indices": "np.sum(np.triu(D, 1)) sums the upper triangle; for a function of each pair write the loops "
                    "`for i in range(n):` and `for j in range(i + 1, n):`",
    "tril_indices": "np.sum(np.tril(D, -1)) sums the lower triangle; for a function of each pair write the loops "
                    "`for i in range(n):` and `for j in range(i):`",
}


# What to write instead of a use of a mask gather that symgrad refuses (gathers.py).
MASK_ADVICE = ("keep the shape and zero the rest, np.where(m, x, 0.0) (or -np.inf before np.max), then reduce; "
               "x[np.argmax(m)] is the first element where m holds; symgrad takes x[m] in elementwise arithmetic, "
               "functions, @ over the other axes, reductions, len() and stores through m (docs/language.md)")


# SciPy functions refused by (subpackage, name), with what to write instead: ODE solvers and quadrature call back
# into Python with adaptive steps, which no kernel can follow.
STEPS = ("write the integrator's steps as a loop over a fixed grid (explicit Euler, or RK4: k1 = f(t, y), k2 = "
         "f(t + h / 2, y + h / 2 * k1), ..., y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)), the right-hand side a "
         "helper function; symgrad differentiates the steps exactly")
REFUSED_SCIPY = {
    ("scipy.integrate", "solve_ivp"): STEPS,
    ("scipy.integrate", "odeint"): STEPS,
    ("scipy.integrate", "quad"): "write the quadrature rule as a sum over fixed nodes (np.trapezoid(f(t), t) on a "
                                 "grid t = np.linspace(a, b, n), or Gauss-Legendre nodes and weights passed as arrays)",
}


def refusal(target):
    """What to write instead of a NumPy function that is refused (REFUSED_FUNCTIONS), or of a SciPy one
    (REFUSED_SCIPY), or None."""
    name = getattr(target, "__name__", None)
    if name in REFUSED_FUNCTIONS and getattr(np, name, None) is target:
        return REFUSED_FUNCTIONS[name]
    package = ".".join((getattr(target, "__module__", None) or "").split(".")[:2])
    return REFUSED_SCIPY.get((package, name)) if callable(target) else None


def _outside_comprehensions(node):
    """The subscripts in `node`, those inside a comprehension left out (their names are the comprehension's)."""
    if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp, ast.Lambda)):
        return
    if isinstance(node, ast.Subscript):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _outside_comprehensions(child)


def _negated(node):
    """Whether a slice bound is written with a minus in front (`-k`, `-(k + 1)`), NumPy's count from the end."""
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)


def _literal(node):
    """Whether a slice bound is written as an integer literal (`-1`, `3`)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int)


class NumpyLowering:
    """The Lifter's handling of vectorised NumPy (a mixin: it lifts through the Lifter's own `reduce`,
    `read`, `store`, `allocate` and `arithmetic`)."""

    # --- values ----------------------------------------------------------------------------------------------
    def is_array(self, value):
        return isinstance(value, (ArrayValue, ArrayExpression, MaskedArray))

    def expression(self, value, node):
        """`value` (an argument's or local array, or an ArrayExpression) as an ArrayExpression."""
        if isinstance(value, ArrayExpression):
            return value
        if isinstance(value, MaskedArray):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r} needs the elements of the masked array {value.text}: symgrad "
                             "takes elementwise arithmetic, np.sum, np.prod, .sum() and .prod() of np.ma arrays; "
                             "for anything else zero the masked elements with np.where(mask, 0.0, x) "
                             "(docs/language.md)")
        return ArrayExpression(value.shape, lambda indices: self.read(value, indices, node), True,
                               str(value.base.label))

    def materialized(self, value, name, node):
        """An ArrayExpression that is read more than once, written once into a local array (views stay views)."""
        if not isinstance(value, ArrayExpression) or value.view:
            return value
        array = self.allocate(value.shape, node, value.name or name)

        def store(indices):
            element = value.at(indices)
            if is_condition(element):  # (a mask bound to a name, read as one: `idx = yz > 0`, then `out[idx]`)
                self.mask_arrays.add(array.base)
            self.store(array, indices, as_number(element), False, node)

        self.loop_nest(value.shape, store, node)
        return array

    def read_in_one_statement(self, name):
        """Whether an array value bound to `name` may stay uncomputed, fused where it is read (`bound_lazily`):
        every read of the name is in one statement, outside any loop (so each element is computed once there),
        and the function writes no array element (so nothing the value reads can change before it is read)."""
        definition = self.frame.source.definition
        if definition not in self.single_reads:
            looped = {id(n) for loop in ast.walk(definition) if isinstance(loop, (ast.For, ast.comprehension))
                      for n in ast.walk(loop)}
            statements = {}  # name -> the statements that read it (a read in a loop counts as two)
            for statement in ast.walk(definition):
                if not isinstance(statement, ast.stmt) or statement is definition:
                    continue
                own = [statement.test] if isinstance(statement, ast.If) else [] if isinstance(
                    statement, (ast.For, ast.FunctionDef)) else [statement]
                for part in own:
                    for load in ast.walk(part):
                        if isinstance(load, ast.Name) and isinstance(load.ctx, ast.Load):
                            statements.setdefault(load.id, []).extend(
                                [statement, None] if id(load) in looped else [statement])
            writes = any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) for n in ast.walk(definition))
            self.single_reads[definition] = set() if writes else {
                n for n, places in statements.items() if len(set(map(id, places))) == 1}
        return name in self.single_reads[definition]

    def bound_lazily(self, value, name, node):
        """`value` bound to `name` without computing it: each element is lifted where it is first read, once per
        block, guard and indices, and read again from its symbol (`z` twice in `np.log1p(np.exp(-z)) + y * z`)."""
        lifted = {}

        def at(indices):
            key = (id(self.body), self.guard, indices)
            if key not in lifted or lifted[key][0] is not self.body:  # (the block is kept: its id stays its own)
                lifted[key] = (self.body, self.assign(f"{name}_at", as_number(value.at(indices)), node))
            return lifted[key][1]

        return dataclasses.replace(value, at=at, name=name)

    def loop_nest(self, sizes, body, node):
        """`body(indices)` inside one loop per size, nested, lifted into the current block."""
        def level(prefix):
            if len(prefix) == len(sizes):
                body(prefix)
                return
            self.counted_loop(sp.Integer(0), sizes[len(prefix)], lambda index: level(prefix + (index,)), node)
        level(())

    def counted_loop(self, start, stop, body, node):
        """`body(index)` inside one loop over range(start, stop), carrying nothing, lifted into the current block."""
        index = self.fresh("i", integer=True)
        gather = self.gather_of(stop) if start == 0 else None  # (over a mask gather: where the mask holds)
        if gather is not None:
            stop, whole = gather.size, body

            def body(i):
                with self.guarded(as_condition(gather.mask.at((i,)))):
                    whole(i)
        self.index_ranges[index] = (start, stop - 1)
        with self.nested_block() as statements:
            body(index)
        self.body.append(Loop(index, start, stop, sp.Integer(1), statements, [], self.line(node)))

    # --- sizes -----------------------------------------------------------------------------------------------
    def shape_text(self, size):
        return str(self.resolved_size(size).xreplace(self.size_names))

    def resolved_size(self, size):
        """A size in terms of the arguments' sizes, int arguments and loop variables (a `SliceBound` as its
        value)."""
        substituted = seen_through(size.xreplace(self.integer_values))
        return size if substituted == size else self.resolved_size(substituted)

    def same_size(self, a, b, what, node):
        """Require two sizes equal: proven here, refused here when they are different numbers, else checked by
        the kernels at entry (`Program.shape_checks`)."""
        a, b = self.resolved_size(sp.sympify(a)), self.resolved_size(sp.sympify(b))
        difference = sp.expand(a - b)
        if difference == 0:
            return
        for size in (a, b):
            self.not_along_a_gather(size)  # (another size aligned with a mask gather's: refused)
        if self.masked_gather is not None and set(self.masked_gather[2]) & difference.free_symbols:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r}: an array gathered through a mask (x[m]) meets one that is not, "
                             "whose size NumPy would require to be the count of the mask's true elements: gather "
                             "each array through the same mask (x[m] * y[m]), or write np.where(m, f(x, y), 0.0)")
        line = self.line(node)
        if difference.is_number:  # (x[1:] + x: never equal, whatever the data)
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r}: {what} differ ({self.shape_text(a)} and {self.shape_text(b)}): "
                             "slice the operands to the same size (x[1:] + x[:-1])")
        if not (a.free_symbols | b.free_symbols) <= self.entry_symbols:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r}: {what} ({self.shape_text(a)} and {self.shape_text(b)}) depend "
                             "on a loop variable, so they cannot be checked when the kernel starts: write this "
                             "expression as a loop over its elements")
        message = (f"{self.function.__name__}(): {ast.unparse(node)} on line {line}: {what} must be equal "
                   f"({self.shape_text(a)} and {self.shape_text(b)})")
        if all({a, b} != set(existing.args) for existing, _ in self.shape_checks):
            self.shape_checks.append((sp.Eq(a, b), message))

    def size_test_decided(self, condition, node):
        """A test of an argument's size against 1 (`y.shape[1] == 1`, `len(x) != 1`), which code makes to treat a
        one-column array apart, decided for a size other than 1 (sp.false for `==`, sp.true for `!=`), as
        broadcasting is lifted (an axis of size 1 at run time only is not stretched): the kernels check the size
        at entry and raise ValueError for 1.  None for another condition."""
        test = self.resolved_size(condition)
        if not (isinstance(test, (sp.Eq, sp.Ne)) and 1 in test.args):
            return None
        size = test.args[0] if test.args[1] == 1 else test.args[1]
        if size not in self.size_names:
            return None
        self.shape_checks.append((sp.Ne(size, 1), f"{self.function.__name__}(): the `if` on line {self.line(node)} "
                                                  f"is lifted for {self.shape_text(size)} other than 1 (the arrays "
                                                  "it binds differ with the size): pass an array of another size, "
                                                  "or differentiate the size-1 case as a function of its own"))
        return sp.false if isinstance(test, sp.Eq) else sp.true

    def runs_at_least_once(self, trips, what, advice, node):
        """Require a loop to run, where a loop that does not would leave Python a different value: a number that
        the loop makes an array stays a number (np.sum reads it differently), an empty list cannot be stacked."""
        trips = self.resolved_size(sp.sympify(trips))
        what = f"the loop on line {self.line(node)} {what}"
        if trips.is_number and trips <= 0 or not trips.free_symbols <= self.entry_symbols:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{what}, but its trip count {self.shape_text(trips)} is not known to be positive when "
                             f"the kernel starts: {advice}")
        if not trips.is_number:
            self.shape_checks.append((sp.Gt(trips, 0), f"{self.function.__name__}(): {what} and must run at least "
                                                       f"once ({self.shape_text(trips)} times)"))

    def broadcast(self, operands, node, what="the broadcast operands"):
        """The shape of NumPy's broadcast of `operands` (arrays and numbers), and for each operand a function
        from result indices to its own; `what` names the operands in a message."""
        arrays = [self.expression(o, node) if self.is_array(o) else None for o in operands]
        ndim = max(a.ndim for a in arrays if a is not None)
        shape = []
        for axis in range(ndim):
            sizes = [a.shape[a.ndim - ndim + axis] for a in arrays if a is not None and a.ndim - ndim + axis >= 0]
            wide = [s for s in sizes if s != 1]
            size = wide[0] if wide else sp.Integer(1)
            for other in wide[1:]:
                self.same_size(size, other, f"the sizes along axis {axis} of {what}", node)
            shape.append(size)
        # A computed operand stretched along an axis would be computed again for each element there: made once.
        arrays = [a if a is None or a.view or a.ndim == ndim and not any(
            s == 1 and shape[k] != 1 for k, s in enumerate(a.shape))
            else self.expression(self.materialized(a, "stretched", node), node) for a in arrays]

        def indexer(array):
            if array is None:
                return None
            skip = ndim - array.ndim
            return lambda indices: tuple(sp.Integer(0) if array.shape[k] == 1 and shape[skip + k] != 1
                                         else indices[skip + k] for k in range(array.ndim))

        return tuple(shape), arrays, [indexer(a) for a in arrays]

    # --- elementwise -----------------------------------------------------------------------------------------
    def elementwise(self, combine, operands, node):
        """`combine` of the elements of `operands` (broadcast), as an ArrayExpression."""
        if not any(self.is_array(o) for o in operands):
            return combine(*operands)
        masked = [o for o in operands if isinstance(o, MaskedArray)]
        if masked:  # the data combined, the masks joined: an element is masked where an operand's is
            result = self.elementwise(combine, [o.data if isinstance(o, MaskedArray) else o for o in operands], node)
            for operand in masked:
                if operand.ndim != result.ndim:
                    raise self.error(errors.UnsupportedExpressionError, node,
                                     f"{ast.unparse(node)!r} stretches the masked array {operand.text} by "
                                     "broadcasting: give it the result's shape")
                for size, full in zip(operand.shape, result.shape):
                    self.same_size(size, full, f"the sizes of the masked array {operand.text} and of the result",
                                   node)
            return MaskedArray(result, lambda indices: sp.Or(*(o.masked(indices) for o in masked)))
        shape, arrays, indexers = self.broadcast(operands, node)

        def at(indices):
            elements = [operand if array is None else array.at(indexer(indices))
                        for operand, array, indexer in zip(operands, arrays, indexers)]
            return combine(*elements)

        return ArrayExpression(shape, at, False, ast.unparse(node))

    def array_arithmetic(self, op, left, right, node):
        return self.elementwise(lambda a, b: self.arithmetic(op, as_number(a), as_number(b), node), [left, right],
                                node)

    def comparison(self, node):
        """A comparison used as a value, as NumPy and Python count it: 1 where it holds, else 0 (derivative 0);
        of arrays, an array of conditions (`(x > 0) * x`, `np.where(x > 0, ...)`)."""
        if any(type(op) not in COMPARISONS for op in node.ops):
            raise self.error(errors.UnsupportedExpressionError, node,
                             "`is` / `in` used as a value: compare numbers with < <= > >= == !=")
        operands = [self.value(n) for n in [node.left] + node.comparators]
        if any(self.is_array(o) for o in operands):
            if len(node.ops) != 1:
                raise self.error(errors.UnsupportedExpressionError, node,
                                 "a chained comparison of arrays: combine two comparisons with np.where")
            relation = COMPARISONS[type(node.ops[0])]
            return self.elementwise(lambda a, b: self.compared(relation, as_number(a), as_number(b), node), operands,
                                    node)
        numbers = [self.number(o, n) for o, n in zip(operands, [node.left] + node.comparators)]
        parts = []
        for op, a, b in zip(node.ops, numbers, numbers[1:]):
            folded = self.folded(PYTHON_COMPARISONS[type(op)], (a, b), node)
            parts.append(self.compared(COMPARISONS[type(op)], a, b, node) if folded is None
                         else sp.sympify(bool(folded)))
        self.probe_lost(numbers, parts, node)  # (a decided comparison still reads its operands)
        return as_number(sp.And(*parts))

    def whole_float_hint(self, value):
        """Advice for an index or bound rounded by NumPy, whose result is a float (`np.floor(t)`), as NumPy refuses
        it; or read from an array argument the first call passed as floats (`bonds[b, 0]`, `indptr[i]`)."""
        if value.has(WholeFloat):
            return (": np.floor, np.ceil, np.round and np.trunc return floats, which NumPy does not take there "
                    "either; int(...) or math.floor(...) makes an int")
        passed = {argument.symbol: argument.name for argument in self.parameters if argument.kind in ARRAY_KINDS}
        names = sorted({passed[read.base.label] for read in value.atoms(sp.Indexed) if read.base.label in passed})
        if names:
            return (f"; {names[0]!r} was passed as floats, so its elements are floats: pass an array of indices as "
                    f"int64 (np.asarray({names[0]}, dtype=np.int64))")
        return ""

    # --- slices, new axes, transposes ------------------------------------------------------------------------
    def sliced(self, value, index_nodes, node, values=None):
        """`x[1:]`, `A[:, j]`, `A[i]`, `x[:, None]`, `x[idx]`: a view, or an element when every axis gets an
        integer (`values`: of the index nodes, when the caller lifted them)."""
        source = self.expression(value, node)
        index_nodes = self.without_ellipsis(index_nodes, source.ndim, node)
        plan, shape, axis, gathered = [], [], 0, None
        for position, index_node in enumerate(index_nodes):
            if self.is_new_axis(index_node):
                plan.append(None)
                shape.append(sp.Integer(1))
                continue
            if axis >= source.ndim:
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r} indexes {source.text!r}, which has {source.ndim} axes, "
                                 f"with more indices: use one index (or slice) per axis")
            if not (isinstance(index_node, ast.Slice) and index_node.lower is index_node.upper is index_node.step
                    is None):
                self.not_along_a_gather(source.shape[axis])  # (positions along a mask gather: refused)
            if isinstance(index_node, ast.Slice):
                start, length, step = self.slice_bounds(index_node, source.shape[axis], node)
                plan.append((axis, start, step))
                shape.append(length)
            elif self.is_array(index := self.index_list(index_node) if isinstance(index_node, ast.List) else
                               values[position] if values else self.value(index_node)):  # x[idx]: a gather
                if self.masked_gather is None and axis == 0 and not isinstance(index_node, ast.List) and (
                        mask := self.expression(index, index_node)).ndim <= source.ndim and self.mask_element(
                        mask)[0] and all(isinstance(n, ast.Slice) and n.lower is n.upper is n.step is None
                                         for n in index_nodes[position + 1:]):
                    argument = isinstance(value, ArrayValue) and not value.local  # (never written: read as is)
                    if mask.ndim > 1:  # (X[M] of a mask of several axes: the elements in C order, a vector)
                        for k in range(mask.ndim):
                            self.same_size(mask.shape[k], source.shape[k], f"the sizes along axis {k} of "
                                                                           f"{source.text} and its mask", node)
                        source = self.reshaped(source, (sp.Integer(-1),) + source.shape[mask.ndim:], node)
                        mask = self.reshaped(mask, (sp.Integer(-1),), node)
                    return self.gathered(source, mask, index_node, node, copy=not argument)  # (x[m], X[m, :])
                indices = index if isinstance(index_node, ast.List) else self.gathering(index, source.text,
                                                                                        index_node)
                if gathered is None:  # (the arrays of indices of one index share the axes of their broadcast)
                    gathered = len(shape)
                    shape.append(None)
                plan.append((axis, gathered, indices))
            else:
                index = self.index_number(index, source.text, index_node)
                if not index.is_integer:
                    raise self.error(errors.UnsupportedExpressionError, index_node,
                                     f"the index {ast.unparse(index_node)!r} is not an integer expression: index "
                                     "with loop variables, int arguments and integer arithmetic on them"
                                     + self.whole_float_hint(index))
                plan.append((axis, index))
            axis += 1
        for rest in range(axis, source.ndim):  # axes not named are taken whole: A[i] is row i
            plan.append((rest, sp.Integer(0), sp.Integer(1)))
            shape.append(source.shape[rest])
        gathers = [k for k, entry in enumerate(plan) if entry is not None and len(entry) == 3
                   and isinstance(entry[2], ArrayExpression)]
        block, readers = (), {}
        if gathers:  # (A[rows[:, None], cols]: the arrays of indices broadcast, as NumPy's do)
            block, arrays, indexers = self.broadcast([plan[k][2] for k in gathers], node, "the arrays of indices")
            readers = {k: (array, indexer) for k, array, indexer in zip(gathers, arrays, indexers)}
            shape[gathered:gathered + 1] = block

        def at(indices):
            position, mapped = 0, [None] * source.ndim
            for k, entry in enumerate(plan):
                if entry is None:
                    position += 1
                elif len(entry) == 2:
                    mapped[entry[0]] = entry[1]
                elif k in readers:
                    array, indexer = readers[k]
                    mapped[entry[0]] = array.at(indexer(indices[entry[1]:entry[1] + len(block)]))
                    position += len(block) if entry[1] == position else 0  # (the first takes the block's axes)
                else:
                    mapped[entry[0]] = entry[1] + entry[2] * indices[position]
                    position += 1
            return source.at(tuple(mapped))

        points = [k for k, entry in enumerate(plan) if entry is not None and len(entry) == 2]
        if gathers and max(gathers + points) - min(gathers + points) + 1 != len(
                gathers + points):  # (NumPy moves the gathered axis first there)
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r}: symgrad gathers with no slice between the arrays of indices "
                             "and the integer indices: bring those axes together first (np.transpose(T, (0, 2, 1))"
                             "[idx, jdx] for T[idx, :, jdx], as NumPy puts the gathered axis first)")
        view = ArrayExpression(tuple(shape), at, source.view, ast.unparse(node))
        return view.at(()) if not shape else view

    def index_list(self, node):
        """`[0, 2, -1]` in an index (`A[:, [0, 2]]`): a vector of its integer expressions, gathered by as an int64
        vector is (a list of numbers elsewhere is an array of floats)."""
        values = [self.number(self.value(element), element) for element in node.elts]
        if not values or not all(v.is_integer for v in values):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the index {ast.unparse(node)!r}: a list of indices must hold integer expressions")
        return ArrayExpression((sp.Integer(len(values)),), lambda i: python_piecewise(
            *((v, sp.Eq(i[0], k)) for k, v in enumerate(values[:-1])), (values[-1], True)), False, ast.unparse(node))

    def gathering(self, indices, array_text, node):
        """The array of indices of a gather (`x[idx]`, `X[nbr]`: idx an int64 argument array of indices, an array of
        integer expressions such as `np.arange(k)`, a column of a table `bonds[:, 0]`), or a refusal: a mask's result
        has a size that depends on the data."""
        array = self.expression(indices, node)
        mask, element = self.mask_element(array)
        if not mask and element.is_integer:
            return array
        text = ast.unparse(node)
        if mask:
            raise self.rank_error(errors.UnsupportedExpressionError, node,
                                  f"indexing {array_text!r} with the mask {text!r} beside other indices, or inside a "
                                  f"reduction or store through another mask: its size depends on the data; symgrad "
                                  f"gathers through a mask over the first axes ({array_text}[{text}], X[{text}, :]), "
                                  f"and through one of any shape inside np.sum(...) or np.mean(...) of an elementwise "
                                  f"expression; else {MASK_ADVICE}")
        raise self.error(errors.UnsupportedExpressionError, node,
                         f"indexing {array_text!r} with the array {text!r}: symgrad gathers (x[idx]) with an int64 "
                         "array argument of indices or integer expressions; a float array is not one")

    def mask_element(self, value):
        """`(is_mask, element)`: whether an array holds conditions (`x > 0`, `~m`, or a local array written from
        them), and its element at fresh indices, looked at and thrown away."""
        if isinstance(value, ArrayValue):
            return value.base in self.mask_arrays, None
        with self.nested_block() as scratch:
            element = value.at(tuple(self.fresh("i", integer=True) for _ in value.shape))
        element = next((s.value for s in scratch if isinstance(s, Assign) and s.target == element), element)
        return is_condition(element) or isinstance(element, sp.Indexed) and element.base in self.mask_arrays, element

    def store_mask(self, target):
        """The mask of a store through one (`out[m] = ...`, `out[~m]`, `out[x > 0]`, `out[(x > a) & (x < b)]`), else
        None."""
        index = target.slice if isinstance(target, ast.Subscript) else None
        if not (isinstance(index, (ast.Name, ast.UnaryOp, ast.Compare)) or isinstance(index, ast.BinOp) and isinstance(
                index.op, (ast.BitAnd, ast.BitOr, ast.BitXor))):
            return None
        mask = self.value(target.slice)
        return mask if self.is_array(mask) and self.mask_element(self.expression(mask, target.slice))[0] else None

    def masked_store(self, target, mask, node):
        """`out[m] = f(x[m], ...)`: f of the elements where m holds, stored there, as `out = np.where(m, f(x),
        out)` computes them.  Inside the value, `x[m]` (the same spelling of the mask) stands for x with a
        stand-in shape of its own, so that an array not gathered through m (whose size NumPy would require to
        be the count of m's true elements) or a reduction over x[m] is refused, never aligned by mistake."""
        array, text = self.value(target.value), ast.unparse(target)
        mask = self.expression(mask, target.slice)
        if not (isinstance(array, ArrayValue) and array.local and mask.ndim == array.ndim):
            raise self.error(errors.UnsupportedStatementError, target,
                             f"{text} = ...: store through a mask of the local array's shape")
        for size, other in zip(array.shape, mask.shape):
            self.same_size(size, other, f"the sizes of {ast.unparse(target.value)} and its mask", target)
        value, elementwise = self.lifted_through_mask(target.slice, mask, node.value)
        if not elementwise:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{text} = {ast.unparse(node.value)}: symgrad takes the elements of one mask, "
                             f"elementwise (x[m] with the same spelling of the mask, numbers, and reductions of "
                             f"other values); for a sum over x[m] write np.sum(np.where(m, x, 0.0))")
        source = self.expression(value, node) if self.is_array(value) else None

        def store(indices):
            with self.guarded(as_condition(mask.at(indices))):  # (the other elements keep their value)
                element = as_number(source.at(indices)) if source is not None else value
                self.store(array, indices, self.number(element, node), False, node)

        self.loop_nest(array.shape, store, node)

    def lifted_through_mask(self, mask_node, mask, value_node):
        """`value_node` lifted with each `x[m]` (m spelled as `mask_node`) standing for x with a stand-in shape of
        its own (`gathered_through_mask`), and whether the value is elementwise in those gathers: no loop or
        reduction ran over the stand-in shape, and an array value has that shape (an array not gathered through m
        would be aligned with x[m] by mistake)."""
        stand_in = tuple(self.fresh("masked", integer=True, positive=True) for _ in mask.shape)
        outer, start = self.masked_gather, len(self.body)
        self.masked_gather = (ast.dump(mask_node), mask, stand_in)
        try:
            value = self.value(value_node)
        finally:
            self.masked_gather = outer
        emitted = set().union(*(getattr(s, f).free_symbols for s in walk(self.body[start:])
                                for f in ("start", "stop", "value") if isinstance(getattr(s, f, None), sp.Basic)))
        return value, not emitted & set(stand_in) and (not self.is_array(value) or tuple(value.shape) == stand_in)

    def masked_reduction(self, target, node):
        """`np.sum(f(x[m], y[m]))` and `np.mean(...)`: f of the elements where the mask m holds, summed (and divided
        by their count), as NumPy sums the gathered elements.  The argument is lifted as a masked store's value
        (`masked_store`): every `x[m]` with the same spelling of the mask has a stand-in shape, so an array not
        gathered through m is refused, never aligned by mistake.  None where the call is not such a reduction."""
        kind = REDUCING_FUNCTIONS.get(id(target))
        if kind not in ("sum", "mean") or len(node.args) != 1 or node.keywords:
            return None
        mask_node, mask = next(((n.slice, m) for n in _outside_comprehensions(node.args[0]) if self.names_known(
            n.slice) and (m := self.store_mask(n)) is not None), (None, None))  # (the mask lifted once)
        if mask_node is None:
            return None
        mask = self.expression(mask, mask_node)
        gathered = [self.frame.variables.get(n.value.id) for n in _outside_comprehensions(node.args[0])
                    if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and ast.dump(n.slice) == ast.dump(
                        mask_node)]
        if self.masked_gather is None and (mask.ndim == 1 or any(
                self.is_array(a) and self.expression(a, node).ndim > mask.ndim for a in gathered)):
            return None  # (a vector mask, or one over the first axes: its gathers are values, `gathers.py`)
        value, elementwise = self.lifted_through_mask(mask_node, mask, node.args[0])
        if not (elementwise and self.is_array(value)):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)}: symgrad reduces the elements of one mask, elementwise (x[m] with "
                             f"the same spelling of the mask, and numbers); write np.sum(np.where(m, f(x), 0.0)) for "
                             "anything else")
        source = self.expression(value, node)
        total = self.fold("sum", mask.shape, lambda i: self.chosen([
            (as_condition(mask.at(i)), lambda: source.at(i)), (sp.true, lambda: sp.Integer(0))]), node)
        if kind == "sum":
            return total
        count = self.fold("sum", mask.shape, lambda i: as_number(as_condition(mask.at(i))), node)
        return self.arithmetic(ast.Div(), total, count, node)

    def names_known(self, node):
        """Whether every name in `node` is a variable here or resolves outside (a comprehension's own is not)."""
        def known(name):
            try:
                return name in self.frame.variables or self.frame.resolve(name) is not None
            except KeyError:
                return False

        return all(known(n.id) for n in ast.walk(node) if isinstance(n, ast.Name))

    def inverted_mask(self, value, node):
        """`~m` of a mask: where it does not hold (`~` of a number or of another array is refused: it would be
        the bitwise not of integers)."""
        if not (self.is_array(value) and self.mask_element(self.expression(value, node))[0]):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"`~` of {ast.unparse(node.operand)!r}, which is not an array of conditions: use `not` "
                             "in conditions, and `~` on masks (`~(x > 0)`)")
        return self.elementwise(lambda e: python_not(as_condition(e)), [value], node)

    def gathered_through_mask(self, node):
        """`x[m]` inside the value of a store through m (`masked_store`): x, with the stand-in shape."""
        _, mask, stand_in = self.masked_gather
        source = self.expression(self.value(node.value), node.value)
        if source.ndim != mask.ndim:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r}: the mask must have the shape of {ast.unparse(node.value)}")
        for size, other in zip(source.shape, mask.shape):
            self.same_size(size, other, f"the sizes of {ast.unparse(node.value)} and its mask", node)
        return dataclasses.replace(source, shape=stand_in)

    def without_ellipsis(self, index_nodes, ndim, node):
        """The index nodes with `...` written out as the full slices it stands for (`A[..., 0]` is `A[:, :, 0]`)."""
        dots = [k for k, n in enumerate(index_nodes) if isinstance(n, ast.Constant) and n.value is Ellipsis]
        if not dots:
            return index_nodes
        if len(dots) > 1:
            raise self.error(errors.UnsupportedExpressionError, node, f"{ast.unparse(node)!r}: an index may hold "
                                                                      "one `...`")
        named = sum(not self.is_new_axis(n) for n in index_nodes) - 1
        return (index_nodes[:dots[0]] + [ast.Slice() for _ in range(max(ndim - named, 0))]
                + index_nodes[dots[0] + 1:])

    def store_into_slice(self, target, value, node):
        """`out[:, -1] = v` or `y[1:] = x[1:] - x[:-1]` into a local array: one store per element of the slice, the
        value broadcast to the slice's shape as NumPy does.  A value that may read a local array is computed into
        a temporary first: NumPy copies a right side that overlaps the target, a loop of stores would not."""
        array = self.value(target.value)
        if not isinstance(array, ArrayValue) or isinstance(value, MaskedArray):
            raise self.error(errors.UnsupportedStatementError, target,
                             f"a store into a slice of {ast.unparse(target.value)!r} ({ast.unparse(target)} = ...): "
                             "store into a slice of a local array (np.zeros_like(x)), a number or an array expression")
        index_nodes = list(target.slice.elts) if isinstance(target.slice, ast.Tuple) else [target.slice]
        positions = self.sliced(ArrayExpression(array.shape, lambda indices: indices, True, str(array.base.label)),
                                index_nodes, target)  # (the view's element indices, not its elements)
        if not isinstance(positions, ArrayExpression):  # (every axis indexed: one element)
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{ast.unparse(target)} = {ast.unparse(node.value)}: an array into one element; index "
                             "the element of the value too, or store into a slice")
        if not self.is_array(value):
            number = self.number(value, node)
            self.loop_nest(positions.shape, lambda indices: self.store(array, positions.at(indices), number, False,
                                                                       node), node)
            return
        source = self.expression(value, node)
        if source.ndim > positions.ndim:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{ast.unparse(target)} = {ast.unparse(node.value)}: an array of {source.ndim} axes "
                             f"into a slice of {positions.ndim}")
        lead = positions.ndim - source.ndim
        for size, room in zip(source.shape, positions.shape[lead:]):
            if size != 1:
                self.same_size(size, room, f"the sizes of {ast.unparse(node.value)} and of {ast.unparse(target)}",
                               node)
        if self.may_read_local_arrays(node.value):
            source = self.expression(self.materialized(dataclasses.replace(source, view=False), "copy", node), node)

        def element(indices):
            own = tuple(sp.Integer(0) if size == 1 else i for size, i in zip(source.shape, indices[lead:]))
            return as_number(source.at(own))

        self.loop_nest(positions.shape, lambda indices: self.store(array, positions.at(indices),
                                                                   self.number(element(indices), node), False, node),
                       node)

    def may_read_local_arrays(self, node):
        """Whether an expression may read an array the function writes: it names a value of the function other
        than a number or an argument's array (a local array, a view, a nested helper that could read one)."""
        for part in ast.walk(node):
            if isinstance(part, ast.Name):
                value = self.frame.variables.get(part.id)
                if not (value is None or isinstance(value, sp.Basic) or isinstance(value, ArrayValue)
                        and not value.local):
                    return True
        return False

    def index_number(self, index, array_text, node):
        """An index as a number: an array of indices (a gather) is refused, with what to write instead."""
        if self.is_array(index):
            target = f"{array_text}[{ast.unparse(node)}]"
            through = "a mask" if self.mask_element(self.expression(index, node))[0] else \
                "an array of indices"
            repeated = "" if through == "a mask" else " (an index repeated adds once)"
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"updating {target} through {through} (`+=` and its kin): write the store whole, "
                             f"`{target} = {target} + ...`, which is what NumPy computes{repeated}")
        explicit_int = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int"
        boolean = isinstance(node, ast.Constant) and isinstance(node.value, bool) or is_condition(
            self.integer_values.get(index, index))  # (`m = a > 0`, then `x[m]`: m holds the condition)
        if boolean and not explicit_int:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"indexing {array_text!r} with the condition {ast.unparse(node)!r}: NumPy reads a "
                             f"boolean index as a mask (all of {array_text} under a new axis where it holds, none "
                             f"where not), not as 1 or 0: write np.where({ast.unparse(node)}, ..., 0.0), or an `if`; "
                             f"int({ast.unparse(node)}) is the index 1 or 0")
        return self.number(index, node)

    def is_new_axis(self, node):
        """`None` or `np.newaxis` in an index."""
        if isinstance(node, ast.Constant):
            return node.value is None
        if isinstance(node, ast.Attribute):
            return node.attr == "newaxis"
        return isinstance(node, ast.Name) and node.id == "newaxis" and node.id not in self.frame.variables

    def slice_bounds(self, node, size, subscript):
        """`(start, length, step)` of a slice with integer-expression bounds and a literal step.  A negative literal
        bound counts from the end (`x[:-1]`); the bounds are then taken as they are (`slice_inside` checks where
        NumPy would read them otherwise)."""
        step = sp.Integer(1)
        if node.step is not None:
            step = self.number(self.value(node.step), node.step)
            if not step.is_Integer or step == 0:
                raise self.error(errors.UnsupportedExpressionError, node.step,
                                 f"the slice step {ast.unparse(node.step)!r}: write a non-zero integer literal")

        from_end = set()

        def bound(part, default, name):
            if part is None:
                return default
            value = self.number(self.value(part), part)
            if not value.is_integer:
                raise self.error(errors.UnsupportedExpressionError, part,
                                 f"the slice bound {ast.unparse(part)!r} is not an integer expression")
            if value.is_Integer:
                return size + value if value < 0 else value  # x[:-1] counts from the end
            if _negated(part) and self.within(sp.Le(0, value)) is not sp.true or \
                    self.within(sp.Le(value, -1)) is sp.true:
                from_end.add(name)  # (x[:-k], x[-k:], x[:-lag] for lag in range(1, m))
                return size + value
            return value

        forward = step > 0
        if forward:
            start, stop = bound(node.lower, sp.Integer(0), "start"), bound(node.upper, size, "stop")
        else:
            start, stop = bound(node.lower, size - 1, "start"), bound(node.upper, sp.Integer(-1), "stop")
        start, stop = self.slice_inside(node, subscript, start, stop, size, forward, from_end)
        if forward:
            length = stop - start if step == 1 else IntDiv(stop - start + step - 1, step)
        else:
            length = IntDiv(start - stop - step - 1, -step)
        if not self.nonnegative_for_nonempty_arrays(length) and \
                self.within(sp.Le(0, length)) is not sp.true:  # (`x[i:j]` with i > j is empty, as in NumPy)
            length = Maximum(length, sp.Integer(0))
        return start, length, step

    def clipped_rather_than_checked(self, need):
        """Whether a slice's need that NumPy meets by clipping (`10 <= len(x)` for `x[:10]`, `0 <= len(x) - k` for
        `x[:-k]`) is met by clipping the bound here too: where it never holds, or where it depends on the arguments
        only and may fail for an array of one element or more.  Otherwise it is checked: at entry where it holds for
        every non-empty array, so that the slice keeps its plain size (`A[:1, :1]` is 1 x 1 and broadcasts as one),
        and where the slice is evaluated where it moves with a loop variable, whose clipped size would no longer
        match the sizes it meets (`np.dot(x[i:i + m], k)` in `for i in range(len(x) - m + 1)`)."""
        if need is None or need is sp.true:
            return False
        return need is sp.false or need.free_symbols <= self.entry_symbols and not (
            self.guard is sp.true and self.nonnegative_for_nonempty_arrays(sp.expand(need.rhs - need.lhs)))

    def nonnegative_for_nonempty_arrays(self, length):
        """Whether `length` is not negative where every array has at least one element along each axis: so
        `x[1:]` keeps its plain length, `len(x) - 1` (an empty array reads nothing through it), while `x[1:-1]`
        of one element has length 0, not -1, which a join or an allocation would otherwise meet."""
        return bool(length.xreplace({size: sp.Dummy(nonnegative=True, integer=True) + 1
                                     for size in self.size_names}).is_nonnegative)

    def slice_inside(self, node, subscript, start, stop, size, forward, from_end):
        """`(start, stop)`, made to mean what NumPy reads.  NumPy clips a bound past the end (`x[:10]` of 3
        elements, `x[i:i + 3]` at the last i) and one below the start written as a count from the end (`x[-5:]` of
        3 elements, `x[:-k]` with k > len(x)): so does the arithmetic, with `Minimum` and `Maximum` where that is
        not proven needless.  A computed bound that is negative where NumPy would count it from the end (`x[:k]`,
        k = -2; `x[i - 2:i + 1]` at i = 0) cannot be clipped: it must not be negative.  A bound written negated
        (`x[:-k]`) or proven negative is counted from the end (`from_end`: `len(x) - k`), which is NumPy's reading
        only while it is negative (`x[:-0]` is empty): k must be at least 1.  Each such need is proven here (from
        the loops' ranges too), refused here when never true, checked by the kernels at entry when it depends on
        the arguments only and no `if` guards it, else wrapped in a `SliceBound` that the kernels check where the
        slice is evaluated."""
        computed = [part is not None and not _literal(part) for part in (node.lower, node.upper)]
        bounds = {"start": start, "stop": stop}
        if forward:  # (the lower end; the upper one; a computed stop, which NumPy would count from the end)
            needs = {"start": (sp.Integer(0), None), "stop": (sp.Integer(0) if computed[1] else None, size)}
        else:
            needs = {"stop": (sp.Integer(0) if computed[1] else sp.Integer(-1), None),
                     "start": (sp.Integer(0) if computed[0] else None, size - 1)}
        needs.update({name: (needs[name][0], size - 1) for name in from_end})  # (the bound was negative)
        at_entry, advice, array = [], {}, ast.unparse(subscript.value)
        for name, (lowest, highest) in needs.items():
            value = self.resolved_size(sp.sympify(bounds[name]))
            part = node.lower if name == "start" else node.upper
            text = "the bound" if part is None else ast.unparse(part)
            below = None if lowest is None else self.within(sp.Le(lowest, value))
            past = None if highest is None else self.within(sp.Le(value, highest))
            # (a count from the end is clipped at the start wherever it goes below it: x[-lag:] with lag > len(x))
            literal = not computed[part is node.upper]
            clips = [below if name in from_end or literal and self.clipped_rather_than_checked(below) else None,
                     past if name not in from_end and self.clipped_rather_than_checked(past) else None]
            below, past = (None if below is clips[0] else below), (None if past is clips[1] else past)
            if name in from_end and past is not None:  # (NumPy reads x[:-0] as x[:0])
                count = ast.unparse(part.operand) if _negated(part) else f"-({text})"
                advice[past] = (f"keep {count} at least 1, where {text} counts from the end (NumPy reads "
                                f"{array}[:-0] as {array}[:0])")
            elif past is not None:
                advice[past] = f"write min(..., len({array})) in it to clip it at the end"
            if below is not None and computed[part is node.upper] and name not in from_end:
                count = f"len({array}) - {text[1:]}" if text.startswith("-") else f"len({array}) + {text}"
                advice[below] = (f"NumPy would count {text} from the end where it is negative: write {count} to "
                                 f"count from the end, or max({text}, 0) to clip it")
            elif below is not None:
                advice[below] = "write max(..., 0) in it to clip it at the start"
            open_needs = [need for need in (below, past) if need is not None and need is not sp.true]
            if any(need is sp.false for need in open_needs):
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"the slice in {ast.unparse(subscript)!r} has a bound that NumPy reads otherwise "
                                 f"than as written: {advice[sp.false]}")
            if open_needs and self.guard is sp.true and set().union(
                    *(n.free_symbols for n in open_needs)) <= self.entry_symbols:
                at_entry += open_needs
            elif open_needs and name in from_end:  # (checked as the count NumPy reads: -k <= -1)
                bounds[name] = size + SliceBound(bounds[name] - size, sp.S.NegativeInfinity, highest - size,
                                                 self.guard, self.line(node), sp.true)
            elif open_needs:
                bounds[name] = SliceBound(bounds[name], sp.S.NegativeInfinity if below is None else lowest,
                                          sp.oo if past is None else highest, self.guard, self.line(node), sp.false)
            if clips[0] not in (None, sp.true):
                bounds[name] = lowest if clips[0] is sp.false else Maximum(bounds[name], lowest)
            if clips[1] not in (None, sp.true):
                bounds[name] = highest if clips[1] is sp.false else Minimum(bounds[name], highest)
        if at_entry:
            def shown(need):  # (0 <= len(x) - 5 as 5 <= len(x), len(x) - k + 1 <= len(x) as 1 <= k)
                terms = sp.Add.make_args(sp.expand(need.rhs - need.lhs))
                right = sp.Add(*(t for t in terms if t.could_extract_minus_sign() is False))
                left = sp.Add(*(-t for t in terms if t.could_extract_minus_sign() is not False))
                return f"{self.shape_text(left)} <= {self.shape_text(right)}"

            self.shape_checks.append((sp.And(*at_entry), f"{self.function.__name__}(): {ast.unparse(subscript)} on "
                                      f"line {self.line(node)} needs {' and '.join(map(shown, at_entry))}: "
                                      f"{'; '.join(dict.fromkeys(advice[need] for need in at_entry))}"))
        return bounds["start"], bounds["stop"]

    def within(self, need, depth=0):
        """`need`, a comparison of integer expressions, decided where it holds for every value of the loop indices
        in it: with each index its loop's first value plus any count, or its last less any count, it holds for
        every count (`0 <= i + 1` and `i + 3 <= n` in `for i in range(n - 2)`), or a side is a builtin max or min
        of ints that decides it (`0 <= max(i - 2, 0)`, `min(i + 3, n) <= n`); otherwise as it is."""
        if isinstance(need, sp.Le) and any(isinstance(side, (Maximum, Minimum)) for side in need.args):
            low, high = need.args
            split = high if isinstance(high, (Maximum, Minimum)) else low
            parts = [self.within(sp.Le(low, a) if split is high else sp.Le(a, high), depth) for a in split.args]
            if (any if (split is high) == isinstance(split, Maximum) else all)(p is sp.true for p in parts):
                return sp.true
        indices = sorted(need.free_symbols & self.index_ranges.keys(), key=str) if isinstance(
            need, Relational) else ()
        if not indices or depth > self.loop_depth + 2:  # (an inner loop's range may name an outer index)
            return need
        for ends in itertools.product((0, 1), repeat=len(indices)):
            counted = need.xreplace({i: self.resolved_size(sp.sympify(self.index_ranges[i][end])) + (
                1 - 2 * end) * sp.Dummy(nonnegative=True, integer=True) for i, end in zip(indices, ends)})
            if self.within(counted, depth + 1) is sp.true:
                return sp.true
        return need

    def transposed(self, value, node, axes=None):
        """`.T`, np.transpose: the axes in reverse order (a vector stays itself), or in the order `axes` gives
        (np.transpose(A, (1, 0, 2)): axis k of the result is axis axes[k] of A)."""
        array = self.expression(value, node)
        if axes is None:
            order = tuple(reversed(range(array.ndim)))
        elif isinstance(axes, tuple) and all(isinstance(a, sp.Basic) and a.is_Integer for a in axes) and sorted(
                int(a) % array.ndim for a in axes) == list(range(array.ndim)) and len(axes) == array.ndim:
            order = tuple(int(a) % array.ndim for a in axes)
        else:
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r}: the axes of a transpose are a tuple of integer literals, each "
                             f"axis of the {array.ndim}-D array once")
        if order == tuple(range(array.ndim)):
            return array

        def at(indices):
            mapped = [None] * array.ndim
            for position, axis in enumerate(order):
                mapped[axis] = indices[position]
            return array.at(tuple(mapped))

        return ArrayExpression(tuple(array.shape[a] for a in order), at, array.view, ast.unparse(node))

    def with_ends(self, array, axis, prepend, append, node):
        """np.diff's `array` with `prepend` and `append` joined along `axis`, as NumPy joins them first: a number
        is a slice of size 1 along the axis, an array of the same axes is taken as it is."""
        def end(value):
            if self.is_array(value):
                value = self.expression(value, node)
                if value.ndim == array.ndim:
                    return value
                raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node)!r}: prepend= and append= "
                                                                    f"of a number or of an array of {array.ndim} axes")
            number = self.number(value, node)
            return ArrayExpression(array.shape[:axis] + (sp.Integer(1),) + array.shape[axis + 1:], lambda i: number,
                                   False, str(number))

        parts = [end(prepend)] * (prepend is not None) + [array] + [end(append)] * (append is not None)
        return array if len(parts) == 1 else self.expression(self.concatenated(parts, axis, node), node)

    def differences(self, array, axis, node):
        """np.diff along `axis` once: each element less the one before it along that axis."""
        def at(indices):
            after = indices[:axis] + (indices[axis] + 1,) + indices[axis + 1:]
            return self.arithmetic(ast.Sub(), as_number(array.at(after)), as_number(array.at(indices)), node)

        shape = array.shape[:axis] + (array.shape[axis] - 1,) + array.shape[axis + 1:]
        return ArrayExpression(shape, at, False, ast.unparse(node))

    def reshaped(self, value, sizes, node):
        """`x.reshape(n, 2)`, `x.reshape(-1, 3)`, np.reshape, `.ravel()`, `.flatten()`: the same elements read in
        C order, so element `indices` of the result is the source's element at the same flat position (a view,
        a transpose or a computed array alike: NumPy copies those in C order too)."""
        source = self.expression(value, node)
        sizes = list(sizes)
        if not sizes or not all(isinstance(s, sp.Basic) and s.is_integer for s in sizes) or sum(
                s == -1 for s in sizes) > 1 or len(sizes) > 3:
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r}: reshape to one to three integer-expression sizes, at most one "
                             "of them -1")
        total, known = sp.Mul(*source.shape), sp.Mul(*[s for s in sizes if s != -1])
        if -1 in sizes:
            sizes[sizes.index(-1)] = IntDiv(total, known)
        self.same_size(sp.Mul(*sizes), total, f"the sizes of {source.text} and of its reshape", node)
        if tuple(sizes) == tuple(source.shape):
            return source

        def at(indices):
            flat = sp.Integer(0)
            for index, size in zip(indices, sizes):
                flat = flat * size + index
            mapped, stride = [], sp.Integer(1)
            for k in reversed(range(source.ndim)):
                position = IntDiv(flat, stride) if stride != 1 else flat
                mapped.append(position if k == 0 else IntMod(position, source.shape[k]))
                stride = stride * source.shape[k]
            return source.at(tuple(reversed(mapped)))

        return ArrayExpression(tuple(sizes), at, source.view, ast.unparse(node))

    def read_shape(self, value, node):
        """The shape of an array as the user's code reads it (`len`, `.shape`, `.size`): a slice's length not known to
        be positive is at least 0, as NumPy's (`len(x[1:-1])` of one element is 0; the slice's own loops run no
        times either way)."""
        return tuple(self.counted(n) if self.gather_of(n) else n if n.is_nonnegative else Maximum(n, sp.Integer(0))
                     for n in self.expression(value, node).shape)

    def reshape_sizes(self, args, node):
        """The sizes of a reshape given as one tuple (or list) or as several integers."""
        if len(args) == 1 and isinstance(self.as_sizes(args[0]), tuple):
            return self.as_sizes(args[0])
        return tuple(args)

    def as_sizes(self, value):
        """A list display of ints where NumPy takes a shape or axes (`np.ones([n, 2])`, `x.reshape([2, -1])`,
        `np.transpose(A, [1, 0])`): its elements, as the tuple a shape is; another value as it is."""
        elements = self.python_lists.get(value) if isinstance(value, ArrayValue) else None
        return tuple(elements) if elements is not None and all(e.is_integer for e in elements) else value

    # --- reductions and products -----------------------------------------------------------------------------
    def reduction(self, kind, value, axis, keepdims, node):
        """np.sum / mean / prod / max / min of an array, over every axis or over `axis`."""
        if not self.is_array(value):
            if axis is not None:  # (NumPy's AxisError: a silent answer here would read a scalar for a matrix)
                raise self.error(errors.UnsupportedCallError, node,
                                 f"axis={axis} for a number (an array of 0 axes), where NumPy raises AxisError: "
                                 f"{ARGUMENT_AXES_ADVICE}, or give no axis for a number")
            if kind in TRUTH_TESTS:
                return as_number(as_condition(self.number(value, node)))
            return self.number(value, node)  # (np.sum of a number is the number)
        if isinstance(value, MaskedArray):
            value = self.filled(kind, value, node)
        array = self.expression(value, node)
        if axis is None:
            axes = tuple(range(array.ndim))
        else:
            listed = axis if isinstance(axis, tuple) else (axis,)
            if not listed or not all(isinstance(a, sp.Basic) and a.is_Integer and -array.ndim <= a < array.ndim
                                     for a in listed) or len({int(a) % array.ndim for a in listed}) != len(listed):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"axis={axis} for an array of {array.ndim} axes: {ARGUMENT_AXES_ADVICE}; or give "
                                 f"integer literals (one, or a tuple of different axes) from {-array.ndim} to "
                                 f"{array.ndim - 1}")
            axes = tuple(sorted(int(a) % array.ndim for a in listed))
        reduced = [array.shape[k] for k in axes]

        def total(kept):
            def term(indices):
                full, position = [], 0
                for k in range(array.ndim):
                    if k in axes:
                        full.append(indices[position])
                        position += 1
                    else:
                        full.append(kept[len(full) - position])
                if kind in TRUTH_TESTS:
                    return as_number(as_condition(array.at(tuple(full))))
                return as_number(array.at(tuple(full)))

            result = self.fold(kind if kind not in ("mean", "all", "any") else "sum", reduced, term, node)
            if kind in TRUTH_TESTS:
                return as_number(sp.Eq(result, self.counted(sp.Mul(*reduced))) if kind == "all" else sp.Gt(result, 0))
            if kind == "mean":
                return self.arithmetic(ast.Div(), result, self.counted(sp.Mul(*reduced)), node)
            return result

        if len(axes) == array.ndim and not keepdims:
            return total(())
        shape = tuple(sp.Integer(1) if k in axes else array.shape[k] for k in range(array.ndim) if keepdims
                      or k not in axes)
        kept_axes = [k for k in range(array.ndim) if keepdims or k not in axes]
        return ArrayExpression(shape, lambda indices: total(tuple(
            i for k, i in zip(kept_axes, indices) if k not in axes)), False, ast.unparse(node))

    def filled(self, kind, masked, node):
        """A masked array whose masked elements are the identity of the reduction `kind` (0 for a sum), so that
        the reduction leaves them out.  (Where every element of a row is masked, NumPy's result is masked and
        this one is the identity.)"""
        if kind not in ("sum", "prod"):
            kind = kind.replace("builtin ", "")
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r}: np.{kind} of a masked array: symgrad reduces np.ma arrays with "
                             f"np.sum and np.prod (docs/language.md); for np.{kind} pick the elements with a slice, "
                             "or use np.where")
        identity, data = REDUCTIONS[kind][2], masked.data
        return ArrayExpression(data.shape, lambda indices: sp.Piecewise(
            (identity, masked.masked(indices)), (as_number(data.at(indices)), True)), False, data.text)

    def masked_array(self, node):
        """`np.ma.array(x, mask=m)` (or `np.ma.masked_array`): m of x's shape, or a number."""
        label = ast.unparse(node.func)
        keywords = self.keyword_values(node, ("mask",), label)
        if not 1 <= len(node.args) <= 2 or len(node.args) == 2 and "mask" in keywords:
            raise self.error(errors.UnsupportedCallError, node, f"{label}(x, mask=m) of an array and its mask")
        data = self.value(node.args[0])
        mask = self.value(node.args[1]) if len(node.args) == 2 else keywords.get("mask", sp.Integer(0))
        if not self.is_array(data) or isinstance(data, MaskedArray) or isinstance(mask, MaskedArray):
            raise self.error(errors.UnsupportedCallError, node, f"{label}(x, mask=m) of an array and its mask")
        data = self.expression(data, node)
        if not self.is_array(mask):
            condition = as_condition(self.number(mask, node))
            return MaskedArray(data, lambda indices: condition)
        mask = self.expression(mask, node)
        if mask.ndim != data.ndim:
            raise self.error(errors.UnsupportedCallError, node, f"{label}: the mask must have the shape of the data")
        for size, full in zip(mask.shape, data.shape):
            self.same_size(size, full, "the sizes of the mask and of the data", node)
        return MaskedArray(data, lambda indices: as_condition(mask.at(indices)))

    def fold(self, kind, sizes, term, node):
        """`term(indices)` combined over every index of `sizes`, one accumulator loop per axis."""
        name, combine, identity = REDUCTIONS[kind]

        def over(prefix):
            axis = len(prefix)
            if axis == len(sizes) - 1:
                element = lambda k: term(prefix + (k,))  # noqa: E731
            else:
                element = lambda k: over(prefix + (k,))  # noqa: E731
            if identity is None and self.gather_of(sizes[axis]) is not None:  # (of no elements: -inf or inf)
                return self.reduce(name, sp.Integer(0), sizes[axis], element, node, combine,
                                   sp.oo if name == "smallest" else -sp.oo)
            if identity is None:  # max/min start from the first element: an empty array raises, as in NumPy
                return self.reduce(name, sp.Integer(1), sizes[axis], element, node, combine, element(sp.Integer(0)))
            return self.reduce(name, sp.Integer(0), sizes[axis], element, node, combine, identity)

        return over(())

    def arg_extreme(self, kind, value, node, axis=None):
        """np.argmax / np.argmin of a vector: the index of its first largest (smallest) element, or of its first
        NaN as NumPy gives it, found by one loop carrying the best element and its index; with `axis` (an integer
        literal), of each line along that axis, an array of such indices (each line's loop run where its element is
        read).  An index: a value read at it carries the derivative of the element it selects, as in JAX."""
        array = self.expression(value, node)
        if axis is not None:
            if not (isinstance(axis, sp.Basic) and axis.is_Integer and -array.ndim <= axis < array.ndim):
                raise self.rank_error(errors.UnsupportedCallError, node,
                                      f"{ast.unparse(node)}: axis={axis} for an array of {array.ndim} axes: give an "
                                      f"integer literal from {-array.ndim} to {array.ndim - 1}")
            axis = int(axis) % array.ndim
            if array.ndim > 1:
                return ArrayExpression(array.shape[:axis] + array.shape[axis + 1:], lambda outer: self.extreme_at(
                    kind, lambda k: array.at(outer[:axis] + (k,) + outer[axis:]), array.shape[axis], array.text,
                    node), False, ast.unparse(node))
        if array.ndim != 1:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node)}: np.{kind} of an array of {array.ndim} axes (a flat index): "
                                  "give it a vector, or axis=k for the index along each line")
        return self.extreme_at(kind, lambda k: array.at((k,)), array.shape[0], array.text, node)

    def extreme_at(self, kind, element_at, size, text, node):
        """The loop of `arg_extreme` over the `size` elements `element_at(k)`: the position it finds, an index."""
        self.runs_at_least_once(size, f"takes np.{kind} of {text}",
                                f"np.{kind} of an empty array raises in NumPy: give it elements", node)
        return self.best_position(kind, element_at, size, node)

    def best_position(self, kind, element_at, size, node):
        """The index of the first largest ("argmax") or smallest element `element_at(k)` of `size` (at least one),
        or of the first NaN, found by one loop carrying the best element and its index."""
        beats = sp.Gt if kind == "argmax" else sp.Lt
        best, at = self.fresh("best"), self.fresh("at")  # (a float: the kernels carry floats)
        first = self.assign("best_start", as_number(element_at(sp.Integer(0))), node)
        index = self.fresh("k", integer=True)
        with self.nested_block() as body:
            element = self.assign("element", as_number(element_at(index)), node)
            better = sp.Or(beats(element, best), sp.And(sp.Ne(isnan(element), 0), sp.Eq(isnan(best), 0)))
            following_best = self.assign("best", sp.Piecewise((element, better), (best, True)), node)
            following_at = self.assign("at", sp.Piecewise((index, better), (at, True)), node)
        result_best, result_at = self.fresh("best"), self.fresh("at")
        self.body.append(Loop(index, sp.Integer(1), size, sp.Integer(1), body,
                              [Carried(best, first, following_best, result_best),
                               Carried(at, sp.Integer(0), following_at, result_at)], self.line(node)))
        return self.assign(kind, AsIndex(result_at), node)

    def product(self, left, right, node, batched=False):
        """`a @ b`, np.dot, np.matmul: vector.vector, matrix @ vector, vector @ matrix, matrix @ matrix; when
        `batched` (`@`, np.matmul), also a stack of matrices (3-D) with another or with a matrix or vector, one
        product per entry of the leading axis, as np.matmul broadcasts it."""
        if not (self.is_array(left) and self.is_array(right)):
            if isinstance(node, ast.BinOp):
                unseen = "" if self.observed else (
                    " (before its first call, an argument whose rank the body does not show is read as a number or "
                    "a vector: call the function once before reading its formulas, and its arrays decide)")
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r}: `@` needs two arrays; multiply by a number with `*`{unseen}")
            return self.arithmetic(ast.Mult(), self.number(left, node), self.number(right, node), node)
        # Each element of an operand is read by many products: a computed operand is made once.
        a = self.expression(self.materialized(left, "product", node), node)
        b = self.expression(self.materialized(right, "product", node), node)
        if (a.ndim > 2 or b.ndim > 2) and not batched:
            raise self.rank_error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r}: np.dot of an array of three axes sums over other axes than "
                             "np.matmul: write a @ b for one product per matrix of a stack")
        inner = a.shape[-1]
        self.same_size(inner, b.shape[-2] if b.ndim > 1 else b.shape[0],
                       f"the last axis of {a.text} and the {'first' if b.ndim < 3 else 'second'} axis of {b.text}",
                       node)
        # np.matmul's shape: the stack axis (of either operand), a's rows, b's columns (a vector has neither).
        stacks = [operand.shape[0] for operand in (a, b) if operand.ndim == 3]
        if len(stacks) == 2 and stacks[0] != 1 and stacks[1] != 1:
            self.same_size(stacks[0], stacks[1], f"the numbers of matrices in {a.text} and {b.text}", node)
        stack = next((s for s in stacks if s != 1), stacks[0]) if stacks else None
        shape = ((stack,) if stacks else ()) + ((a.shape[-2],) if a.ndim > 1 else ()) + (
            (b.shape[-1],) if b.ndim > 1 else ())
        multiply = lambda x, y: self.arithmetic(ast.Mult(), x, y, node)  # noqa: E731

        def entry(indices):
            position = 0
            if stacks:
                matrix = indices[0]
                position = 1
            left_prefix = ()
            if a.ndim == 3:
                left_prefix = (matrix if a.shape[0] != 1 else sp.Integer(0),)
            if a.ndim > 1:
                left_prefix += (indices[position],)
                position += 1
            right_prefix = ()
            if b.ndim == 3:
                right_prefix = (matrix if b.shape[0] != 1 else sp.Integer(0),)
            right_suffix = (indices[position],) if b.ndim > 1 else ()
            return self.reduce("dot", sp.Integer(0), inner, lambda k: multiply(
                a.at(left_prefix + (k,)), b.at(right_prefix + (k,) + right_suffix)), node)

        if not shape:
            return entry(())
        return ArrayExpression(shape, entry, False, ast.unparse(node))

    # --- calls -----------------------------------------------------------------------------------------------
    def keyword_values(self, node, allowed, label):
        keywords = {}
        for keyword in node.keywords:
            if keyword.arg not in allowed:
                raise self.error(errors.UnsupportedCallError, keyword,
                                 f"the keyword {keyword.arg}= of {label}: symgrad takes "
                                 f"{', '.join(k + '=' for k in allowed) or 'no keywords'} here")
            keywords[keyword.arg] = None if isinstance(keyword.value, ast.Constant) and keyword.value.value is None \
                else self.value(keyword.value)  # (`axis=None`: as if not given)
        return keywords

    def numpy_call(self, target, node, args):
        """A NumPy (or builtin) call on arrays, lowered; None when `target` is not one this module lowers."""
        label = ast.unparse(node.func)
        iterating = target in (sum, math.fsum, math.prod)  # (Python's: they iterate over the first axis)
        if id(target) in REDUCING_FUNCTIONS or iterating and self.is_array(args[0] if args else None):
            kind = REDUCING_FUNCTIONS.get(id(target), "prod" if target is math.prod else "sum")
            keywords = self.keyword_values(node, ("axis", "keepdims") if not iterating else (), label)
            if len(args) == 2 and not iterating and "axis" not in keywords:  # np.sum(X, 1): axis by position
                keywords["axis"] = args.pop()
            if len(args) == 2 and target is sum and not self.is_array(args[1]):  # sum(x, start)
                start = self.number(args.pop(), node.args[1])
                return self.arithmetic(ast.Add(), start, self.numpy_call(target, node, args), node)
            if len(args) != 1:
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}() of one array, with its axis by position or as axis=, and keepdims= as "
                                 f"a keyword" if not iterating else f"{label}() of one array")
            axis = keywords.get("axis", None if not iterating else sp.Integer(0))
            if iterating and self.expression(args[0], node).ndim == 1:
                axis = None  # builtin sum of a vector: its total (of a matrix: the sum of its rows)
            return self.reduction(kind, args[0], axis, bool(keywords.get("keepdims", False)), node)
        if target in (np.argmax, np.argmin):
            keywords = self.keyword_values(node, ("axis",), label)
            if not 1 <= len(args) <= 2 - len(keywords):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(a) of a vector, or {label}(a, axis=k)")
            return self.arg_extreme(target.__name__, args[0], node, args[1] if len(args) > 1 else keywords.get("axis"))
        if id(target) in PRODUCTS:
            self.keyword_values(node, (), label)
            if len(args) != 2:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(a, b) of two arrays")
            if target is np.inner and all(self.is_array(a) for a in args):  # (the last axes meet: a @ b.T)
                if any(self.expression(a, node).ndim > 2 for a in args):
                    raise self.rank_error(errors.UnsupportedCallError, node, f"{label}(a, b) of arrays of three axes: "
                                                                        "write the sums as np.sum(a * b, axis=k)")
                return self.product(args[0], self.transposed(args[1], node), node)
            return self.product(args[0], args[1], node, batched=target is np.matmul)
        if target is np.where:
            if len(args) != 3 or node.keywords:
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}(condition, a, b) with three arguments (the one-argument form gives "
                                 "indices, which are not differentiable)")
            return self.elementwise(lambda c, a, b: python_piecewise((as_number(a), as_condition(c)),
                                                                     (as_number(b), True)), args, node)
        if target is scipy_special("polygamma"):
            self.keyword_values(node, (), label)
            order = args[0] if len(args) == 2 else None
            if not (isinstance(order, sp.Basic) and order.is_Integer and order >= 0):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}(n, x) with n a non-negative integer literal (the order) and x a number or "
                                 "an array")
            return self.elementwise(lambda x: sp.polygamma(order, as_number(x)), args[1:], node)
        build = composite(target)
        if build is not None:
            self.keyword_values(node, (), label)
            return self.elementwise(lambda *e: build(*map(as_number, e)), args, node)
        special = special_reduction(target)
        if special is not None:
            return self.special_reduction(special, args, node)
        if target is np.diff:
            keywords = self.keyword_values(node, ("n", "axis", "prepend", "append"), label)
            for name, value in zip(("n", "axis"), args[1:]):  # (np.diff(x, 2): n, then axis, by position)
                if name in keywords:
                    raise self.error(errors.UnsupportedCallError, node, f"{label}() given {name} twice")
                keywords[name] = value
            array = self.expression(args[0], node) if 1 <= len(args) <= 3 and self.is_array(args[0]) else None
            times, axis = keywords.get("n", sp.Integer(1)), keywords.get("axis", sp.Integer(-1))
            if array is None or not all(isinstance(k, sp.Basic) and k.is_Integer for k in (times, axis)) or not (
                    1 <= times <= 8 and -array.ndim <= axis < array.ndim):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}(a, n, axis) of an array, with n from 1 to 8 and axis integer literals, by "
                                 "position or keyword")
            array = self.with_ends(array, int(axis) % array.ndim, keywords.get("prepend"), keywords.get("append"),
                                   node)
            for level in range(int(times)):  # (a difference read by the next is made once: each is read twice)
                if level:
                    array = self.expression(self.materialized(array, "differences", node), node)
                array = self.differences(array, int(axis) % array.ndim, node)
            return array
        if target in (np.reshape, np.ravel):
            self.keyword_values(node, (), label)  # (C order only)
            sizes = args[1:]
            if not args or not self.is_array(args[0]) or len(sizes) != (target is np.reshape):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}(a{', shape' if target is np.reshape else ''}) of an array, by position")
            shape = self.as_sizes(sizes[0]) if sizes else sp.Integer(-1)
            return self.reshaped(args[0], shape if isinstance(shape, tuple) else (shape,), node)
        if target is np.expand_dims:
            args = args + list(self.keyword_values(node, ("axis",), label).values())  # (axis by position or keyword)
            array = self.expression(args[0], node) if len(args) == 2 and self.is_array(args[0]) else None
            axis = args[1] if array is not None else None
            if not (isinstance(axis, sp.Basic) and axis.is_Integer and -array.ndim - 1 <= axis <= array.ndim):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}(a, axis) of an array, with an integer literal axis")
            axis = int(axis) % (array.ndim + 1)
            return ArrayExpression(array.shape[:axis] + (sp.Integer(1),) + array.shape[axis:],
                                   lambda i: array.at(i[:axis] + i[axis + 1:]), array.view, ast.unparse(node))
        if target is np.transpose:
            keywords = self.keyword_values(node, ("axes",), label)
            if not 1 <= len(args) + len(keywords) <= 2 or not self.is_array(args[0]):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(A) or {label}(A, axes) of one array")
            return self.transposed(args[0], node, self.as_sizes(args[1] if len(args) == 2 else keywords.get("axes")))
        if target is np.swapaxes:
            self.keyword_values(node, (), label)
            array = self.expression(args[0], node) if len(args) == 3 and self.is_array(args[0]) else None
            if array is None or not all(isinstance(a, sp.Basic) and a.is_Integer and -array.ndim <= a < array.ndim
                                        for a in args[1:]):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(A, a, b) with integer literal axes")
            order = list(range(array.ndim))
            first, second = (int(a) % array.ndim for a in args[1:])
            order[first], order[second] = order[second], order[first]
            return self.transposed(array, node, tuple(map(sp.Integer, order)))
        if target is np.outer:
            if len(args) != 2 or not all(self.is_array(a) and self.expression(a, node).ndim == 1 for a in args):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(a, b) of two vectors")
            a, b = (self.expression(a, node) for a in args)
            return ArrayExpression((a.shape[0], b.shape[0]), lambda i: self.arithmetic(
                ast.Mult(), as_number(a.at(i[:1])), as_number(b.at(i[1:])), node), False, ast.unparse(node))
        if target in (np.atleast_1d, np.atleast_2d):
            if len(args) != 1 or node.keywords:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(x) of one array or number")
            least = 1 if target is np.atleast_1d else 2
            if not self.is_array(args[0]):
                return ArrayExpression((sp.Integer(1),) * least, lambda i, v=args[0]: v, False, label)
            array = self.expression(args[0], node)  # (leading axes of size 1, as NumPy adds them)
            extra = max(least - array.ndim, 0)
            return ArrayExpression((sp.Integer(1),) * extra + array.shape, lambda i: array.at(i[extra:]), array.view,
                                   ast.unparse(node))
        if target is np.size:
            self.keyword_values(node, (), label)
            return sp.Mul(*self.read_shape(args[0], node))
        if target is np.trace:
            if len(args) != 1 or not self.is_array(args[0]) or self.expression(args[0], node).ndim != 2:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(A) of one square matrix")
            matrix = self.expression(args[0], node)
            self.same_size(matrix.shape[0], matrix.shape[1], f"the rows and the columns of {matrix.text}", node)
            return self.fold("sum", matrix.shape[:1], lambda i: as_number(matrix.at(i + i)), node)
        return None

    def special_reduction(self, name, args, node):
        """scipy.special's logsumexp(a, axis, b, keepdims), softmax(x, axis) and log_softmax(x, axis), their
        arguments by position or keyword (axis=None: over every element, as SciPy's)."""
        label = ast.unparse(node.func)
        names = ("a", "axis", "b", "keepdims") if name == "logsumexp" else ("x", "axis")
        keywords = self.keyword_values(node, names, label)
        for position, value in zip(names, args):
            if position in keywords:
                raise self.error(errors.UnsupportedCallError, node, f"{label}() given {position} twice")
            keywords[position] = value
        first = names[0]
        if first not in keywords or len(args) > len(names):
            signature = "a, axis=None, b=None, keepdims=False" if name == "logsumexp" else "x, axis=None"
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label}({signature}), by position or keyword (return_sign= is not taken)")
        value, axis = keywords[first], keywords.get("axis")
        if name == "logsumexp":
            return self.logsumexp(value, axis, bool(keywords.get("keepdims", False)), node, keywords.get("b"))
        total = self.logsumexp(value, axis, axis is not None, node)  # (kept axis: it broadcasts back)
        if name == "log_softmax":
            return self.elementwise(lambda x, t: as_number(x) - t, [value, total], node)
        return self.elementwise(lambda x, t: sp.exp(as_number(x) - t), [value, total], node)

    def logsumexp(self, value, axis, keepdims, node, weights=None):
        """log(sum(b * exp(a))) over `axis` (b: `weights`, 1 where None), shifted by the largest element of a so
        that no exp overflows."""
        shift = self.reduction("max", value, axis, axis is not None, node)  # (kept axis: it broadcasts back)
        if weights is None:
            shifted = self.elementwise(lambda a, m: sp.exp(as_number(a) - m), [value, shift], node)
        else:
            shifted = self.elementwise(lambda a, m, b: as_number(b) * sp.exp(as_number(a) - m),
                                       [value, shift, weights], node)
        total = self.reduction("sum", shifted, axis, keepdims, node)
        largest = shift if keepdims or axis is None else self.reduction("max", value, axis, False, node)
        return self.elementwise(lambda s, m: sp.log(s) + m, [total, largest], node)

    def array_display(self, display):
        """`np.array([a, b, c])`, `np.array([[a, b], [c, d]])` or a list of numbers: a local array, element by
        element."""
        return self.array_of(self.display_rows(display), display)

    def display_rows(self, display):
        return [tuple(self.scalar(e) for e in row.elts) if isinstance(row, (ast.List, ast.Tuple)) else self.scalar(row)
                for row in display.elts]

    def python_list(self, array, elements):
        """`array`, remembered as a Python list (`[1.0, 2.0]`, `[a, b]`) of `elements`: NumPy reads it as an array
        (and a shape: `np.zeros([n, 2])`), but `+` of two lists joins them and `*` by an int repeats them
        (`no_list_arithmetic`)."""
        self.python_lists[array] = None if elements is None else tuple(elements)  # (None: a loop's length)
        return array

    def no_list_arithmetic(self, operands, node):
        """Refuse arithmetic that Python, not NumPy, does: on lists and numbers, with no NumPy array among the
        operands (`[1.0, 2.0] + [3.0]` is a list of three, `d * 2` is `d` twice, `-d` a TypeError)."""
        if any(o in self.python_lists for o in operands if isinstance(o, ArrayValue)) and not any(
                self.is_array(o) and o not in self.python_lists for o in operands):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r} is arithmetic on a Python list, which joins (`+`), repeats "
                             "(`* k`) or raises where NumPy would compute elementwise: make it an array first "
                             "(`np.array([...])`), join lists with np.concatenate([a, b]), or write the repeated "
                             "list out")

    def array_of(self, rows, display):
        """A local array of numbers, or of rows (tuples) of numbers, element by element."""
        nested = [r if isinstance(r, tuple) else None for r in rows]
        if all(r is not None for r in nested) and len({len(r) for r in nested}) == 1 and rows:
            shape = (len(rows), len(rows[0]))
            entries = {(i, j): v for i, r in enumerate(rows) for j, v in enumerate(r)}
        elif not any(r is not None for r in nested):
            shape, entries = (len(rows),), {(i,): v for i, v in enumerate(rows)}
        else:
            raise self.error(errors.UnsupportedCallError, display,
                             "an array of rows of different lengths, or of numbers and rows mixed: give every row "
                             "the same number of entries")
        array = self.allocate(tuple(sp.Integer(n) for n in shape), display)
        for indices, entry in entries.items():
            self.store(array, tuple(map(sp.Integer, indices)), entry, False, display)
        return array

    def constructed(self, target, node):
        """np.array / ones / full / arange / linspace / eye / ones_like / full_like / copy, or None for another
        call."""
        label = ast.unparse(node.func)
        if target in (np.array, np.asarray):
            self.keyword_values(node, ("dtype",), label)
            if len(node.args) == 1 and not isinstance(node.args[0], (ast.List, ast.Tuple)):
                value = self.value(node.args[0])  # (a list of numbers bound to a name, an array)
                if isinstance(value, ArrayList):  # (of arrays: NumPy stacks them)
                    return self.joined(np.stack, node)
                if self.is_array(value):  # a copy of a local array (np.array copies); another is never written
                    if target is np.asarray:
                        return value
                    local = isinstance(value, ArrayValue) and value.local
                    return dataclasses.replace(self.expression(value, node), view=False) if local else (
                        dataclasses.replace(self.expression(value, node), fresh=True))
                if isinstance(value, tuple) and value and not any(map(self.is_array, value)):
                    return self.array_of(list(value), node)  # (a tuple of numbers bound to a name)
            if len(node.args) != 1 or not isinstance(node.args[0], (ast.List, ast.Tuple)):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}() of anything but a list of numbers (or of rows of numbers): pass arrays "
                                 "as arguments")
            return self.array_display(node.args[0])
        if target not in (np.ones, np.full, np.arange, np.linspace, np.eye, np.identity, np.ones_like, np.full_like,
                          np.copy):
            return None
        args = [self.value(a) for a in node.args]
        if target is np.copy:
            self.keyword_values(node, (), label)
            if len(args) != 1 or not self.is_array(args[0]):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(a) of one array")
            return self.copied(args[0], node)
        if target in (np.ones_like, np.full_like):  # (of float64 arrays: float64, as the argument)
            self.keyword_values(node, ("dtype",), label)
            if len(args) != (1 if target is np.ones_like else 2) or not self.is_array(args[0]):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}(a{'' if target is np.ones_like else ', value'}) of one array")
            fill = sp.Integer(1) if target is np.ones_like else self.number(args[1], node)
            return ArrayExpression(self.expression(args[0], node).shape, lambda i: fill, False, label)
        keywords = self.keyword_values(node, ("dtype",) + {np.linspace: ("endpoint",), np.eye: ("M", "k")}.get(
            target, ()), label)
        sizes = [a for a in args if isinstance(a, sp.Basic) and a.is_integer]
        if target is np.ones or target is np.full:
            shape = self.as_sizes(args[0]) if args else ()
            shape = shape if isinstance(shape, tuple) else (shape,)
            if len(args) != (1 if target is np.ones else 2) or not all(s.is_integer for s in shape):
                signature = "shape" if target is np.ones else "shape, value"
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}({signature}) with a shape of integer expressions")
            fill = sp.Integer(1) if target is np.ones else self.number(args[1], node)
            return ArrayExpression(tuple(shape), lambda i: fill, False, label)
        if target in (np.eye, np.identity):  # (np.eye(N, M, k): ones on diagonal k of an N x M matrix)
            given = dict(zip(("N", "M", "k"), args)) | keywords
            rows, columns, k = given.get("N"), given.get("M"), given.get("k", sp.Integer(0))
            columns = rows if columns is None else columns
            if not 1 <= len(args) <= (1 if target is np.identity else 3) or not all(
                    isinstance(e, sp.Basic) and e.is_integer for e in (rows, columns, k)):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(N), or np.eye(N, M, k), of integers")
            return ArrayExpression((rows, columns), lambda i: sp.Piecewise(
                (sp.Integer(1), sp.Eq(i[1] - i[0], k)), (sp.Integer(0), True)), False, label)
        if target is np.arange:
            numbers = [self.number(a, node) for a in args] if 1 <= len(args) <= 3 and not any(
                map(self.is_array, args)) else None
            if numbers is None or len(args) == 3 and not (numbers[2].is_number and numbers[2] != 0):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(stop), (start, stop) or "
                                                                    "(start, stop, step) of numbers, a literal step")
            start, stop, step = (sp.Integer(0), numbers[0], sp.Integer(1)) if len(args) == 1 else (
                numbers[0], numbers[1], numbers[2] if len(args) == 3 else sp.Integer(1))
            if len(sizes) == len(args) and step.is_Integer:
                length = trip_count(start, stop, step)
            else:  # (of floats: NumPy's count, ceil((stop - start) / step), and its elements start + i * step)
                length = Maximum(PythonInt(Ceil((stop - start) / step)), sp.Integer(0))
            return ArrayExpression((length,), lambda i: start + step * i[0], False, label)
        if len(args) != 3 or not args[2].is_integer:
            raise self.error(errors.UnsupportedCallError, node, f"{label}(start, stop, num) with an integer num")
        start, stop, count = (self.number(a, node) for a in args)
        intervals = sp.Max(count - 1, 1) if keywords.get("endpoint", True) else count  # (num=1: [start], as NumPy)
        return ArrayExpression((count,), lambda i: start + (stop - start) * i[0] / intervals, False, label)

    def histories(self, names, start, stop, step, node):
        """For each array a loop rebinds (`h = np.tanh(W @ h + U @ x[t])`, a recurrence; a matrix `H` of a batch
        of states): a local array with one row (a vector, or a matrix) per iteration and one for the value before
        the loop, row 0 written now.  Reverse mode reads the rows back, as it reads a tape."""
        trips = trip_count(start, stop, step)
        histories = {}
        for name in names:
            self.not_updated_through_an_alias(name, node)
            value = self.expression(self.frame.variables[name], node)
            if value.ndim > 2:
                raise self.error(errors.UnsupportedStatementError, node,
                                 f"the loop rebinds the {value.ndim}-D array {name!r}: symgrad carries vectors and "
                                 "matrices through loops; keep its matrices in separate names, or write its elements")
            history = self.allocate((trips + 1,) + value.shape, node, f"{name}_history")
            self.loop_nest(value.shape, lambda i, v=value, h=history: self.store(
                h, (sp.Integer(0),) + i, as_number(v.at(i)), False, node), node)
            histories[name] = history
        return histories

    def not_updated_through_an_alias(self, name, loop):
        """Refuse a loop that updates an array in place (`acc += e`) which another name holds too (`acc = total`):
        NumPy's update changes that name's array at every iteration, and the loop carries only `name`."""
        update = next((n for n in ast.walk(loop) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
                       and n.target.id == name), None)
        if update is None:
            return
        others = self.other_names(self.frame.variables[name], name)
        if others:
            other = others[0][1]
            written = ast.unparse(ast.BinOp(update.target, update.op, update.value))
            raise self.error(errors.UnsupportedStatementError, update,
                             f"`{ast.unparse(update)}` changes in place, at every iteration, the array that {other!r} "
                             f"names too (as NumPy does): symgrad carries {name!r} alone through the loop; write "
                             f"`{name} = {written}` for a new array and use {name!r} after the loop, or make {name!r} "
                             f"a copy before it ({name} = {other}.copy())")

    def history_row(self, history, row, name, node):
        return ArrayExpression(history.shape[1:], lambda i: self.read(history, (row,) + i, node), True, name)

    def carry_arrays(self, histories, index, start, step, statements, node):
        """Run a loop body whose carried arrays are the rows of their histories: it reads row t and writes t + 1."""
        position = index - start if step == 1 else IntDiv(index - start, step)
        keys = [(self.frame, name) for name in histories]
        self.carried_arrays.update(keys)
        try:
            for name, history in histories.items():
                self.frame.variables[name] = self.history_row(history, position, name, node)
            self.run_block(statements)
            for name, history in histories.items():
                value = self.expression(self.frame.variables[name], node)
                if value.ndim != history.ndim - 1:
                    raise self.error(errors.UnsupportedStatementError, node,
                                     f"the loop makes {name!r} an array of {value.ndim} axes, from {history.ndim - 1}: "
                                     "keep its number of axes through the loop")
                for axis, size in enumerate(value.shape):
                    self.same_size(size, history.shape[axis + 1], f"the sizes of {name!r} along axis {axis} before "
                                                                   "and in the loop", node)
                self.loop_nest(value.shape, lambda i, v=value, h=history: self.store(
                    h, (position + 1,) + i, as_number(v.at(i)), False, node), node)
        finally:
            self.carried_arrays.difference_update(keys)

    def array_iteration(self, node):
        """`for v in x`, `for i, v in enumerate(x)`, `for u, v in zip(x, y)` over arrays: a loop over the first
        axis, whose names are bound to elements (rows of a matrix) at each index."""
        iterable, target, counter, first = node.iter, node.target, None, sp.Integer(0)

        def called(node):
            return static_target(self.frame, node.func) if isinstance(node, ast.Call) else None

        def refused():
            return self.error(errors.UnsupportedStatementError, node.target,
                              f"unpack {ast.unparse(node.iter)} into one name per value: `for i, v in enumerate(x)`, "
                              "`for u, v in zip(x, y)`, `for i, (u, v) in enumerate(zip(x, y))`")

        if called(iterable) is enumerate:  # (its start by position or as start=)
            keywords = iterable.keywords
            if not (isinstance(target, ast.Tuple) and len(target.elts) == 2 and len(iterable.args) in (1, 2)
                    and all(k.arg == "start" for k in keywords) and len(iterable.args) + len(keywords) <= 2):
                raise refused()
            starts = iterable.args[1:] + [k.value for k in keywords]
            counter, target = target.elts
            first = self.number(self.value(starts[0]), starts[0]) if starts else first
            if not first.is_integer:
                raise self.error(errors.UnsupportedStatementError, starts[0], "enumerate's start must be an integer")
            iterable = iterable.args[0]
        if called(iterable) is zip:
            sequences = [part for arg in iterable.args for part in self.zipped_sequences(arg, iterable)]
            if iterable.keywords or not iterable.args or not (isinstance(target, ast.Tuple)
                                                              and len(target.elts) == len(sequences)):
                raise refused()
            targets = target.elts
        else:
            sequences, targets = [(iterable, None)], [target]
        arrays = []
        for sequence, value in sequences:
            if value is None and isinstance(sequence, ast.Call) and static_target(self.frame, sequence.func) is range:
                start, stop, step = self.range_bounds(sequence)  # (zip(range(n), x), enumerate(range(1, n)))
                arrays.append(ArrayExpression((trip_count(start, stop, step),), lambda i, a=start, s=step: a + s * i[0],
                                              True, ast.unparse(sequence)))
                continue
            value = self.value(sequence) if value is None else value
            if not self.is_array(value):
                raise self.error(errors.UnsupportedStatementError, sequence,
                                 f"a `for` loop over {ast.unparse(sequence)!r}, which is not an array: loop over "
                                 "range(...), an array, enumerate(array) or zip(arrays)")
            arrays.append(self.expression(value, sequence))
        for other in arrays[1:]:  # (zip would stop at the shortest: unequal lengths are refused, not truncated)
            self.same_size(arrays[0].shape[0], other.shape[0], "the lengths of the zipped arrays", iterable)

        def bind(index):
            if counter is not None:
                self.bind(counter, index + first, node)
            for name, array in zip(targets, arrays):
                self.bind(name, as_number(array.at((index,))) if array.ndim == 1 else ArrayExpression(
                    array.shape[1:], lambda rest, a=array: a.at((index,) + rest), array.view, f"{array.text}[i]"),
                    node)

        return sp.Integer(0), arrays[0].shape[0], sp.Integer(1), bind

    def zipped_sequences(self, arg, call):
        """The `(node, value)` of each sequence an argument of zip() gives: one for a sequence (its value lifted
        later), one per part for `*t` of a tuple or list of arrays known when lifting (`zip(*helper(...))`)."""
        if not isinstance(arg, ast.Starred):
            return [(arg, None)]
        value = self.value(arg.value)
        parts = value.parts if isinstance(value, ArrayList) and value.rows is None else value
        if not isinstance(parts, tuple) or not parts:
            raise self.error(errors.UnsupportedStatementError, arg,
                             f"{ast.unparse(call)}: `*` unpacks a tuple or list of arrays known when lifting (a "
                             "helper's returned tuple, a list written out); name the sequences one by one, "
                             "`zip(a, b, c)` (docs/language.md)")
        return [(arg.value, part) for part in parts]

    def listed(self, argument, advice, node):
        """The parts of a list of arrays (a display, or a name bound to an ArrayList), or the local array of a
        loop's appends."""
        if isinstance(argument, (ast.List, ast.Tuple)):
            parts = [self.value(element) for element in argument.elts]
        else:
            value = self.value(argument)
            if isinstance(value, LoopAppend):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{ast.unparse(argument)!r} inside the loop that appends to it: join it after the "
                                 "loop")
            if not isinstance(value, ArrayList):
                raise self.error(errors.UnsupportedCallError, node, advice)
            if value.rows is not None:
                return value.rows
            parts = list(value.parts)
        if not parts or not all(self.is_array(part) for part in parts):
            raise self.error(errors.UnsupportedCallError, node, advice)
        return parts

    def appended(self, node):
        """`terms.append(v)`, or `terms.extend([a, b])` outside loops (each appended in turn)."""
        call = node.value
        name, method = call.func.value.id, call.func.attr
        lst = self.frame.variables[name]
        if len(call.args) != 1 or call.keywords:
            raise self.error(errors.UnsupportedCallError, call, f"{name}.{method}(v) of one value")
        value = self.value(call.args[0])
        if self.guard is not sp.true:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.{method} under an `if`: append on every path, choosing the value with "
                             "np.where")
        if any(lst is passed for passed in self.frame.passed_lists):
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.{method} to a list the caller passed: the caller's list would not grow, as "
                             "Python's does; return the value and append it in the caller")
        aliases = sorted(other for other, bound in self.frame.variables.items() if bound is lst and other != name)
        if aliases:  # (the append makes a new list: Python's list, which the other name sees grow, is one)
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.{method} to a list also bound to {aliases[0]!r}, which would not see it "
                             f"grow: append before binding the list to another name")
        if method == "append":
            return self.append_value(name, lst, value, node)
        items = value if isinstance(value, tuple) else value.parts if isinstance(value, ArrayList) and \
            value.rows is None else self.python_lists.get(value) if isinstance(value, ArrayValue) else None
        if items is None or isinstance(lst, LoopAppend) or self.loop_depth:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.extend of {ast.unparse(call.args[0])!r}: symgrad extends a list by a list or "
                             "tuple of known length, outside loops; in a loop, append one value per iteration")
        for item in items:
            self.append_value(name, self.frame.variables[name], item, node)

    def append_value(self, name, lst, value, node):
        """`value` appended to the list `lst` bound to `name`: an array makes a new list with it last, or in a kept
        loop the loop's row of the list's array; a number, see `number_appended`."""
        call = node.value
        if not self.is_array(value):
            return self.number_appended(name, lst, self.number(value, call.args[0]), node)
        if lst in self.python_lists or isinstance(lst, ArrayList) and lst.rows is not None and lst.rows.ndim == 1:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.append of an array to a list of numbers: keep the arrays in a list of their own")
        if isinstance(lst, ArrayList):
            if self.loop_depth:
                raise self.error(errors.UnsupportedStatementError, node,
                                 f"{name}.append in a loop to a list that is not empty before it: start the list "
                                 "empty (`terms = []`) just before the loop")
            self.frame.variables[name] = ArrayList(lst.parts + (value,))
            return
        vector = self.expression(value, call.args[0])
        if lst.appended or self.loop_depth != lst.depth or vector.ndim != 1 or lst.rows is not None and \
                lst.rows.ndim != 2:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.append in this loop: symgrad takes one append of a vector per iteration of "
                             "the loop the list is made before (not in a loop inside it)")
        lst.appended = True
        if lst.rows is None:
            shape = (lst.trips, vector.shape[0])
            label = self.fresh(name)
            base = sp.IndexedBase(label, shape=shape)
            lst.outer.append(Allocate(base, shape, self.line(node)))
            lst.rows = ArrayValue(base, shape, True)
        self.same_size(vector.shape[0], lst.rows.shape[1], f"the lengths of the vectors appended to {name!r}", node)
        self.loop_nest(vector.shape, lambda i: self.store(lst.rows, (lst.position,) + i,
                                                          as_number(vector.at(i)), False, node), node)

    def number_appended(self, name, lst, number, node):
        """`terms.append(v)` of a number: outside a loop, the list of numbers (an array, see `python_list`) with v
        last; in the kept loop the list is made empty before, element `position` of a vector with one element per
        iteration, which the list is after the loop (`sum(terms)`, `np.array(terms)`, `terms[k]`)."""
        if isinstance(lst, LoopAppend):
            if lst.appended or self.loop_depth != lst.depth or lst.rows is not None and lst.rows.ndim != 1:
                raise self.error(errors.UnsupportedStatementError, node,
                                 f"{name}.append in this loop: symgrad takes one append of a number per iteration "
                                 "of the loop the list is made before (not in a loop inside it)")
            lst.appended = True
            if lst.rows is None:
                base = sp.IndexedBase(self.fresh(name), shape=(lst.trips,))
                lst.outer.append(Allocate(base, (lst.trips,), self.line(node)))
                lst.rows = ArrayValue(base, (lst.trips,), True)
            self.store(lst.rows, (lst.position,), number, False, node)
            return
        if self.loop_depth:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.append in a loop to a list that is not empty before it: start the list "
                             "empty (`terms = []`) just before the loop")
        if isinstance(lst, ArrayList) and lst.parts:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.append of a number to a list of arrays: keep the numbers in a list of their own")
        elements = self.python_lists.get(lst, ()) if not isinstance(lst, ArrayList) else ()
        if elements is None:  # (a list a loop filled: its length is the loop's)
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{name}.append after the loop that filled it: append in that loop, or to another list")
        elements = elements + (number,)
        self.frame.variables[name] = self.python_list(self.array_of(list(elements), node), elements)

    def chosen(self, branches):
        """The element of the first branch whose condition holds (the last one otherwise), each lifted under its
        condition, so that a part is read only where it exists."""
        pieces = []
        for condition, element in branches:
            with self.guarded(condition):
                pieces.append((as_number(element()), condition))
        return python_piecewise(*pieces[:-1], (pieces[-1][0], True))

    def float_info(self, node):
        """`np.finfo(t)` of float64, the type of every array symgrad makes or takes."""
        def is_type(argument):  # (a module's type, such as np.float32, is refused here, not as "not a number")
            return not self.is_local(argument) and isinstance(self.resolve(argument), type)

        argument = node.args[0] if len(node.args) == 1 else None
        if (argument is None or node.keywords or is_type(argument) and not any(
                self.resolve(argument) is t for t in FLOAT_TYPES) or self.value(argument) is not FLOAT64):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)}: symgrad takes np.finfo(float), np.finfo(np.float64) or "
                             "np.finfo(x.dtype) of an array (symgrad's arrays are float64)")
        return FloatInfo()

    def float_info_attribute(self, node):
        """`np.finfo(float).eps` and the other constants of float64."""
        if node.attr not in FLOAT_INFO_ATTRIBUTES:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the attribute .{node.attr} of np.finfo: symgrad takes "
                             f"{', '.join('.' + a for a in FLOAT_INFO_ATTRIBUTES)}")
        return sp.Float(float(getattr(FLOAT_INFO, node.attr)), 17)

    def method_call(self, value, node):
        """`x.sum(axis=0)`, `x.mean()`, `x.max()`, `x.dot(y)`, `x.T` and friends on an array."""
        method, label = node.func.attr, ast.unparse(node.func)
        function = self.method_function(value, node)  # (`x.clip(lo, hi)`: np.clip's row)
        if function is not None:
            return function
        dtype = static_target(self.frame, node.args[0]) if method == "astype" and len(node.args) == 1 else None
        if isinstance(dtype, type) and issubclass(dtype, (int, np.integer)) and dtype is not bool:
            return self.elementwise(lambda e: PythonInt(as_number(e)), [value], node)  # (`np.floor(v).astype(int)`)
        args = [self.value(a) for a in node.args]
        if method in REDUCING_METHODS:
            keywords = self.keyword_values(node, ("axis", "keepdims"), label)
            if len(args) > 1:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(axis) with at most one argument")
            axis = args[0] if args else keywords.get("axis")
            return self.reduction(REDUCING_METHODS[method], value, axis, bool(keywords.get("keepdims", False)), node)
        if method in ("std", "var"):  # (NumPy's method: axis by position, the rest by keyword)
            keywords = self.keyword_values(node, ("axis", "ddof", "keepdims"), label)
            if len(args) > 1 or args and "axis" in keywords:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(axis) with at most one argument")
            keywords.setdefault("axis", args[0] if args else None)
            return self.variance(method, self.expression(value, node), keywords, node)
        if method in ("cumsum", "cumprod"):
            keywords = self.keyword_values(node, ("axis",), label)
            if len(args) > 1 or args and keywords:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(axis) with at most one argument")
            return self.cumulative_along(self.expression(value, node), args[0] if args else keywords.get("axis"),
                                         node, method.removeprefix("cum"))
        if method == "diagonal" and len(args) <= 1 and not node.keywords and self.expression(value, node).ndim == 2:
            offset = args[0] if args else sp.Integer(0)
            if isinstance(offset, sp.Basic) and offset.is_Integer:
                return self.diagonal_of(self.expression(value, node), int(offset), node)
        if method in ("argmax", "argmin"):
            keywords = self.keyword_values(node, ("axis",), label)
            if len(args) > 1 - len(keywords):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(axis) with at most one argument")
            return self.arg_extreme(method, value, node, args[0] if args else keywords.get("axis"))
        if method == "dot" and len(args) == 1 and not node.keywords:
            return self.product(value, args[0], node)
        if method == "transpose" and not node.keywords:
            return self.transposed(value, node, (args[0] if len(args) == 1 and isinstance(args[0], tuple) else
                                                 tuple(args)) or None)
        if method in ("reshape", "ravel", "flatten"):
            self.keyword_values(node, (), label)  # (C order only)
            if method != "reshape" and args:
                raise self.error(errors.UnsupportedCallError, node, f"{label}() with no arguments (C order)")
            sizes = self.reshape_sizes(args, node) if method == "reshape" else (sp.Integer(-1),)
            return self.reshaped(value, sizes, node)
        if method == "astype" and len(args) == 1 and args[0] is FLOAT64 and not node.keywords:
            return dataclasses.replace(self.expression(value, node), fresh=True)  # (already float64; a copy)
        if method == "copy" and not args and not node.keywords:
            return self.copied(value, node)
        if isinstance(value, ArrayValue) and value in self.python_lists:
            raise self.error(errors.UnsupportedCallError, node,
                             f"the list method .{method}(): symgrad's lists take .append(v) and .extend([...]); "
                             "make an array of the list (np.array(...)) and index or slice it instead")
        raise self.error(errors.UnsupportedCallError, node,
                         f"the array method .{method}(): symgrad lowers .sum() .mean() .prod() .max() .min() .std() "
                         ".var() .cumsum() .cumprod() .dot() .transpose() .reshape() .ravel() .flatten() .copy() "
                         ".clip() .trace() .squeeze() .diagonal() .argmax() .argmin() .astype(float) (and the "
                         "attribute .T); write the computation with the NumPy functions of docs/language.md instead")

    def copied(self, value, node):
        """`x.copy()`, np.copy(x): a local array of the same elements, which the function may write."""
        return self.materialized(dataclasses.replace(self.expression(value, node), view=False), "copy", node)
