"""NumPy functions lowered from their own arguments: statistics, cumulative sums, joins, norms along axes, the
matrix-shaped functions (np.diag, np.triu, np.roll, np.pad, np.flip, np.squeeze, ...), np.polyval, np.einsum and the
contractions written as one (np.tensordot, np.vdot), np.kron; NumPy's operators spelled as functions (np.add, ...),
its logical functions (np.logical_and, ..., and the operators & | ^ of masks), and the array methods that are one
of these functions (`x.clip`, `A.trace`, `A.squeeze`: `METHOD_FUNCTIONS`).

Each is one row of `FUNCTIONS` (the NumPy function -> the method of `NumpyFunctions` that lowers it).  A row's
method reads the call node itself, binding its arguments by NumPy's parameter names (`arguments`), since some take
string literals (`np.einsum`'s subscripts, `ord='fro'`, `mode='constant'`) that are not values of the function.
Like the rest of the NumPy lowering, each builds an `ArrayExpression` (an element function over indices) or a
loop written into the block being lifted, never an interpretation at run time.
"""

import ast
import operator
import sys

import numpy as np
import sympy as sp

from .. import errors
from ..ir import ARRAY_KINDS, Carried, Loop
from ..rules import (IntDiv, IntMod, Maximum, Minimum, integer_valued, isinf, isnan, numpy_extreme, python_not,
                     python_or, python_piecewise)
from .numpy_lowering import CONDITIONS, ArrayExpression, ArrayValue, as_condition, as_number, is_condition

MOST_AXES = max(ARRAY_KINDS.values())  # (symgrad's arrays have one to three axes)


def _square(e):
    return as_number(e) ** 2


def _magnitude(e):
    return sp.Abs(as_number(e))


# Vector norms by `ord`: the reduction, the function of each element it reduces, and the function of the result.
VECTOR_NORMS = {
    None: ("sum", _square, sp.sqrt),
    2: ("sum", _square, sp.sqrt),
    1: ("sum", _magnitude, None),
    sp.oo: ("max", _magnitude, None),
    -sp.oo: ("min", _magnitude, None),
}
# Matrix norms (ord of a 2-D array without axis, or axis=(a, b)) by `ord`: (reduce over rows, then over columns).
MATRIX_NORMS = {"fro": None, None: None, 1: 0, sp.oo: 1}  # (1: largest column sum; inf: largest row sum)


def truth(element):
    """An element read as a truth value, as NumPy's logical functions read it: a condition as it is (also one kept
    as the number 1 or 0), a number where it is not 0."""
    if isinstance(element, sp.Piecewise) and is_condition(element):
        return element.args[0].cond
    return as_condition(element)


def _exclusive(a, b):
    return python_or(sp.And(a, python_not(b)), sp.And(python_not(a), b))


# NumPy's operators spelled as functions: the function -> the operator (np.negative and np.reciprocal: the operator
# with this left operand).
OPERATOR_FUNCTIONS = {np.add: (ast.Add, None), np.subtract: (ast.Sub, None), np.multiply: (ast.Mult, None),
                      np.divide: (ast.Div, None), np.true_divide: (ast.Div, None),
                      np.negative: (ast.Mult, sp.Integer(-1)), np.reciprocal: (ast.Div, sp.Integer(1))}
# NumPy's logical functions: the function -> the condition it makes of its operands' truths.
LOGICAL_FUNCTIONS = {np.logical_and: sp.And, np.logical_or: python_or, np.logical_xor: _exclusive,
                     np.logical_not: python_not}
# The operators of masks: `(x > a) & (x < b)`, `|`, `^` (`~` is `Lifter.inverted_mask`).
MASK_OPERATORS = {ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or, ast.BitXor: np.logical_xor}
# Array methods that are NumPy functions of the array (`x.clip(lo, hi)` is np.clip(x, lo, hi)).
METHOD_FUNCTIONS = {"clip": np.clip, "trace": np.trace, "squeeze": np.squeeze}


class NumpyFunctions:
    """The rows of `FUNCTIONS` (a mixin of Lifter, beside `NumpyLowering`, whose element functions it uses)."""

    def numpy_function(self, target, node):
        """A call of a function of `FUNCTIONS`, lowered; None for other calls."""
        try:
            method = FUNCTIONS.get(target) or scipy_function(target)
        except TypeError:  # (an unhashable target)
            return None
        return None if method is None else getattr(self, method)(target, node)

    # --- arguments -----------------------------------------------------------------------------------------------
    def arguments(self, node, parameters, positional, texts=(), nested=(), unlifted=()):
        """The call's arguments by NumPy's names: the first `positional` of `parameters` may come by position, every
        one by keyword; a parameter of `texts` may be a string literal (kept as a str), one of `nested` tuples of
        tuples of numbers (np.pad's widths), one of `unlifted` is left as its node (a list of arrays to join);
        `None` is None."""
        label = ast.unparse(node.func)
        if len(node.args) > positional:
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label}() with more than {positional} arguments by position: pass "
                             f"{', '.join(p + '=' for p in parameters[positional:])} as keywords")
        bound = {}
        given = list(zip(parameters, node.args)) + [(k.arg, k.value) for k in node.keywords]
        for name, argument in given:
            if name not in parameters or name in bound:
                raise self.error(errors.UnsupportedCallError, argument,
                                 f"the keyword {name}= of {label}: symgrad takes "
                                 f"{', '.join(p + '=' for p in parameters[1:])} here (docs/language.md)")
            text = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            if name in unlifted or isinstance(argument, ast.Constant) and argument.value is None:
                bound[name] = argument if name in unlifted else None
                continue
            bound[name] = (argument.value if text and name in texts else self.nested_value(argument)
                           if name in nested else self.value(argument))
        return bound

    def nested_value(self, node):
        """A tuple (or list) written out, of numbers or of such tuples, as nested tuples; another value as it is."""
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.nested_value(element) for element in node.elts)
        return self.value(node)

    def array_argument(self, bound, name, node, what="an array"):
        value = bound.get(name)
        if not self.is_array(value):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() of {what}")
        return self.expression(value, node)

    def array_or_number(self, bound, name, node):
        """The array argument `name`, or a number as NumPy reads it there: an array of one element."""
        value = bound.get(name)
        if value is None or self.is_array(value):
            return self.array_argument(bound, name, node)
        number = self.number(value, node)
        return ArrayExpression((sp.Integer(1),), lambda i: number, False, str(number))

    def axis_of(self, value, ndim, node, optional=True):
        """An axis given as an integer literal (negative counts from the end), as 0 .. ndim - 1; None stays None."""
        if value is None and optional:
            return None
        if not (isinstance(value, sp.Basic) and value.is_Integer and -ndim <= value < ndim):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r}: axis={value} for an array of {ndim} axes: give an integer "
                             f"literal from {-ndim} to {ndim - 1}")
        return int(value) % ndim

    def integer(self, value, what, node):
        """An integer expression (a literal, an int argument, a size)."""
        if not (isinstance(value, sp.Basic) and value.is_integer):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r}: {what} must be an integer expression (a literal or an int "
                             "argument)")
        return value

    def not_negative(self, count, what, advice, node):
        """Require an integer count (a width, a number of repetitions) not to be negative, as NumPy does: refused
        where it is a negative literal, checked when the kernel starts where it depends on the arguments."""
        if count.is_number and count < 0 or not count.is_number and not count.is_nonnegative:
            if count.is_number or not count.free_symbols <= self.entry_symbols:
                raise self.error(errors.UnsupportedCallError, node, f"{advice}: {what} must not be negative")
            self.shape_checks.append((sp.Ge(count, 0), f"{self.function.__name__}(): {ast.unparse(node)} on line "
                                                       f"{self.line(node)}: {what} must not be negative "
                                                       f"({self.shape_text(count)})"))

    def refuse_rank(self, array, node):
        """`array`, or a refusal where it has more axes than symgrad's arrays (np.stack of 3-D arrays)."""
        if array.ndim > MOST_AXES:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node)!r} makes an array of {array.ndim} axes: symgrad's arrays have "
                                  f"one to {MOST_AXES}")
        return array

    # --- statistics --------------------------------------------------------------------------------------------
    def statistic(self, target, node):
        """np.var / np.std (and the methods .var(), .std()): the mean of the squared deviations from the mean over
        `axis`, divided by the count less `ddof`, as NumPy computes it (two passes: the mean, then the squares)."""
        bound = self.arguments(node, ("a", "axis", "ddof", "keepdims"), 2)
        return self.variance(target.__name__, self.array_argument(bound, "a", node), bound, node)

    def variance(self, kind, array, bound, node):
        ddof = self.integer(bound.get("ddof", sp.Integer(0)), "ddof", node)
        axis, keepdims = bound.get("axis"), bool(bound.get("keepdims", False))
        array = self.expression(self.materialized(array, "data", node), node)  # (read by the mean and the squares)
        mean = self.reduction("mean", array, axis, axis is not None, node)  # (axes kept: it broadcasts back)
        squares = self.elementwise(lambda a, m: (as_number(a) - m) ** 2, [array, mean], node)
        total = self.reduction("sum", squares, axis, keepdims, node)
        kept = mean.shape if self.is_array(mean) else ()
        count = self.counted(sp.Mul(*array.shape) / sp.Mul(*kept)) - ddof
        result = self.elementwise(lambda s: self.arithmetic(ast.Div(), as_number(s), count, node), [total], node)
        return result if kind == "var" else self.elementwise(lambda v: sp.sqrt(as_number(v)), [result], node)

    def covariance(self, target, node):
        """np.cov(m, rowvar=True, bias=False, ddof=None): the covariances of the variables (m's rows, its columns
        with rowvar=False) over the observations, their centred products summed over n - ddof (ddof 1, or 0 with
        bias=True): ``(c @ c.T) / (n - ddof)`` for c the data less each variable's mean.  Of a vector (one
        variable) a number, as NumPy's 0-d result; a matrix of one variable would also be one, so its number of
        variables is checked to be other than 1 at entry."""
        bound = self.arguments(node, ("m", "y", "rowvar", "bias", "ddof"), 2)
        if bound.get("y") is not None:
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(m, y): join the variables "
                                                                "first, np.cov(np.vstack([m, y]))")
        array = self.array_argument(bound, "m", node, "a vector or a matrix of observations")
        if array.ndim > 2:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() of a vector or a "
                                                                     "matrix (NumPy's limit too)")
        bias = self.flag(bound.get("bias", sp.false), "bias", node)
        ddof = bound.get("ddof")
        ddof = sp.Integer(0 if bias else 1) if ddof is None else self.integer(ddof, "ddof", node)
        if array.ndim == 2 and not self.flag(bound.get("rowvar", sp.true), "rowvar", node):
            array = self.transposed(array, node)
        data = self.expression(self.materialized(array, "data", node), node)  # (read by the means and the products)
        means = self.reduction("mean", data, sp.Integer(data.ndim - 1), True, node)
        centred = self.expression(self.materialized(self.elementwise(
            lambda a, m: as_number(a) - m, [data, means], node), "centred", node), node)
        terms, output = (["k", "k"], "") if data.ndim == 1 else (["ik", "jk"], "ij")
        if data.ndim == 2:
            variables = self.resolved_size(data.shape[0])
            if variables == 1:
                raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node)}: of one variable NumPy "
                                                                    "gives a number: pass that variable as a vector")
            if not (variables.is_number or variables.free_symbols <= self.entry_symbols):
                raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node)}: its number of variables "
                                                                    f"({self.shape_text(variables)}) changes inside "
                                                                    "a loop, and NumPy gives a number where it is 1: "
                                                                    "take the covariance of a fixed set of variables")
            if not variables.is_number:
                self.shape_checks.append((sp.Ne(variables, 1), f"{self.function.__name__}(): {ast.unparse(node)} on "
                                                               f"line {self.line(node)} is lifted for more than one "
                                                               f"variable ({self.shape_text(variables)} is 1): pass "
                                                               "one variable as a vector"))
        products = self.contracted(terms, output, [centred, centred], node)
        count = data.shape[-1] - ddof
        return self.elementwise(lambda p: self.arithmetic(ast.Div(), as_number(p), count, node), [products], node)

    # --- cumulative sums ---------------------------------------------------------------------------------------
    def cumulative(self, target, node):
        """np.cumsum(a, axis=k) / np.cumprod: a running sum (product) along axis k of any array; without axis, of
        the array read in C order (a vector)."""
        bound = self.arguments(node, ("a", "axis"), 2)
        return self.cumulative_along(self.array_argument(bound, "a", node), bound.get("axis"), node,
                                     "prod" if target is np.cumprod else "sum")

    def accumulated(self, target, node):
        """np.add.accumulate, np.multiply.accumulate, np.maximum.accumulate, np.minimum.accumulate (a, axis=0): the
        running sum, product, largest or smallest along `axis` (a running maximum: drawdowns, envelopes)."""
        bound = self.arguments(node, ("array", "axis"), 2)
        kind = ACCUMULATED[target.__self__]
        return self.cumulative_along(self.array_argument(bound, "array", node), bound.get("axis", sp.Integer(0)),
                                     node, kind)

    def cumulative_along(self, array, axis, node, kind="sum"):
        """A running sum (product, largest, smallest) along `axis` written into a local array: one carried loop per
        line along that axis; the largest and smallest start from the first element and meet a NaN as
        np.maximum does."""
        if axis is None and array.ndim > 1:
            array = self.expression(self.reshaped(array, (sp.Integer(-1),), node), node)
        axis = self.axis_of(axis if axis is not None else sp.Integer(0), array.ndim, node, optional=False)
        result = self.allocate(array.shape, node, "cumulative")
        others = array.shape[:axis] + array.shape[axis + 1:]

        def line(outer):
            index, running = self.fresh("i", integer=True), self.fresh("running")
            at = outer[:axis] + (index,) + outer[axis:]
            first = self.assign("first", as_number(array.at(outer[:axis] + (sp.Integer(0),) + outer[axis:])),
                                node) if kind in ("max", "min") else None
            with self.nested_block() as body:
                element = as_number(array.at(at))
                following = self.assign("running", {"prod": lambda: running * element, "sum": lambda: running + element,
                                                    "max": lambda: numpy_extreme(Maximum, running, element),
                                                    "min": lambda: numpy_extreme(Minimum, running, element)}[kind](),
                                        node)
                self.store(result, at, following, False, node)
            self.body.append(Loop(index, sp.Integer(0), array.shape[axis], sp.Integer(1), body,
                                  [Carried(running, first if kind in ("max", "min") else sp.Integer(kind == "prod"),
                                           following, self.fresh("running"))],
                                  self.line(node)))

        self.loop_nest(others, line, node)
        return result

    # --- joins -------------------------------------------------------------------------------------------------
    def joined(self, target, node):
        """np.concatenate(parts, axis=k), np.stack(parts, axis=k), np.vstack, np.hstack, np.column_stack and
        np.append of arrays whose sizes are known from their shapes: each element is read from the part it lies in
        (a list written out, or built by `.append`)."""
        label = ast.unparse(node.func)
        parameters = {np.concatenate: ("arrays", "axis"), np.stack: ("arrays", "axis"),
                      np.append: ("arr", "values", "axis")}.get(target, ("tup",))
        bound = self.arguments(node, parameters, len(parameters), unlifted=parameters[:1])
        advice = f"{label}([a, b, ...]) of a list of arrays, written out or built by .append"
        if target is np.append:
            parts = [self.value(bound["arr"]) if "arr" in bound else None, bound.get("values")]
            if not self.is_array(parts[0]) or parts[1] is None or bound.get("axis") is not None and not all(
                    map(self.is_array, parts)):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(a, b) or {label}(a, b, axis=k) of "
                                                                    "two arrays (b may be a number without axis)")
            if bound.get("axis") is None:  # (np.append without axis joins the arrays read in C order)
                parts = [self.reshaped(p, (sp.Integer(-1),), node) if self.is_array(p) else ArrayExpression(
                    (sp.Integer(1),), lambda i, p=self.number(p, node): p, False, str(p)) for p in parts]
        else:
            if parameters[0] not in bound:
                raise self.error(errors.UnsupportedCallError, node, advice)
            parts = self.listed(bound[parameters[0]], advice, node)
        axis = bound.get("axis", sp.Integer(0))
        if isinstance(parts, ArrayValue):  # the rows of a loop's appends: a matrix already
            if target in (np.concatenate, np.hstack, np.append):
                raise self.error(errors.UnsupportedCallError, node, f"{label} of a list appended to in a loop: "
                                                                    "use np.stack or np.column_stack")
            columns = target is np.column_stack or target is np.stack and self.axis_of(axis, 2, node) == 1
            return self.transposed(parts, node) if columns else parts
        arrays = [self.expression(self.materialized(p, "part", node), node) for p in parts]
        if target is np.column_stack:  # (a vector is a column there; in np.vstack with matrices, a row)
            arrays = [self.widened(a, 1) for a in arrays]
        if target is np.vstack and any(a.ndim > 1 for a in arrays):
            arrays = [self.widened(a, 0) for a in arrays]
        ndim = arrays[0].ndim
        if any(a.ndim != ndim for a in arrays):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label} of arrays with different numbers of axes "
                             f"({', '.join(str(a.ndim) for a in arrays)}): give every part the same (x[:, None] "
                             "makes a column of a vector)")
        if target is np.stack:
            return self.stacked(arrays, self.axis_of(axis, ndim + 1, node, optional=False), node)
        if target is np.vstack:
            return self.stacked(arrays, 0, node) if ndim == 1 else self.concatenated(arrays, 0, node)
        if target is np.hstack:
            return self.concatenated(arrays, 0 if ndim == 1 else 1, node)
        if target is np.column_stack:
            return self.concatenated(arrays, 1, node)
        return self.concatenated(arrays, self.axis_of(axis, ndim, node, optional=False), node)

    def widened(self, array, axis):
        """A vector as a matrix with an axis of size 1 at `axis` (0: a row, 1: a column); other arrays as they are."""
        if array.ndim != 1:
            return array
        return ArrayExpression(array.shape[:axis] + (sp.Integer(1),) + array.shape[axis:],
                               lambda i: array.at(i[1 - axis:2 - axis]), array.view, array.text)

    def concatenated(self, arrays, axis, node):
        """The arrays one after the other along `axis` (their other sizes equal)."""
        for other in arrays[1:]:
            for k in range(arrays[0].ndim):
                if k != axis:
                    self.same_size(arrays[0].shape[k], other.shape[k], f"the sizes along axis {k} of the joined "
                                                                       "arrays", node)
        offsets = [sp.Integer(0)]
        for array in arrays:
            offsets.append(offsets[-1] + array.shape[axis])
        shape = arrays[0].shape[:axis] + (offsets[-1],) + arrays[0].shape[axis + 1:]

        def at(i):
            return self.chosen([(sp.And(start <= i[axis], i[axis] < end),
                                 lambda a=a, start=start: a.at(i[:axis] + (i[axis] - start,) + i[axis + 1:]))
                                for a, start, end in zip(arrays, offsets, offsets[1:])])

        return ArrayExpression(shape, at, False, ast.unparse(node))

    def stacked(self, arrays, axis, node):
        """The arrays (of one shape) along a new axis at position `axis`."""
        for other in arrays[1:]:
            for k in range(arrays[0].ndim):
                self.same_size(arrays[0].shape[k], other.shape[k], f"the sizes along axis {k} of the stacked "
                                                                   "arrays", node)
        shape = arrays[0].shape[:axis] + (sp.Integer(len(arrays)),) + arrays[0].shape[axis:]
        return self.refuse_rank(ArrayExpression(shape, lambda i: self.chosen(
            [(sp.Eq(i[axis], k), lambda a=a: a.at(i[:axis] + i[axis + 1:])) for k, a in enumerate(arrays)]),
            False, ast.unparse(node)), node)

    # --- norms -------------------------------------------------------------------------------------------------
    def norm(self, target, node):
        """np.linalg.norm(x, ord=None, axis=None, keepdims=False): vector norms (ord None, 2, 1, inf, -inf) of a
        vector or along `axis`; of a matrix (no axis, or a tuple of two) the Frobenius norm (ord None or 'fro') and
        the largest column (ord 1) or row (ord inf) sum of magnitudes; ord=None without axis reads any array as one
        vector, as NumPy does."""
        bound = self.arguments(node, ("x", "ord", "axis", "keepdims"), 4, texts=("ord",))
        array = self.array_argument(bound, "x", node)
        order, axis, keepdims = bound.get("ord"), bound.get("axis"), bool(bound.get("keepdims", False))
        order = order if not isinstance(order, sp.Basic) or not order.is_number or order in (sp.oo, -sp.oo) \
            else sp.nsimplify(order)
        axes = axis if isinstance(axis, tuple) else None if axis is None else (axis,)
        if axes is not None:
            axes = tuple(sp.Integer(self.axis_of(a, array.ndim, node, optional=False)) for a in axes)
        if axes is None and order is None:  # (any array, read as one vector)
            axes = tuple(map(sp.Integer, range(array.ndim)))
            return self.vector_norm(array, None, axes, keepdims, node)
        if axes is None:
            axes = tuple(map(sp.Integer, range(array.ndim))) if array.ndim <= 2 else None
        if axes is not None and len(axes) == 1 and order in VECTOR_NORMS:
            return self.vector_norm(array, order, axes, keepdims, node)
        if axes is not None and len(axes) == 2 and axes[0] != axes[1] and order in MATRIX_NORMS:
            if MATRIX_NORMS[order] is None:
                return self.vector_norm(array, None, axes, keepdims, node)
            inner = axes[MATRIX_NORMS[order]]  # summed first; the largest over the other
            sums = self.reduction("sum", self.elementwise(_magnitude, [array], node), inner, True, node)
            return self.reduction("max", sums, tuple(axes), keepdims, node)
        raise self.rank_error(errors.UnsupportedCallError, node,
                              f"np.linalg.norm with ord={order!r} of a {array.ndim}-D array"
                              f"{'' if axis is None else f' along axis={axis}'}: symgrad takes ord=None, 1, 2, np.inf "
                              "or -np.inf of a vector (or along one axis), and ord=None, 'fro', 1 or np.inf of a "
                              "matrix (or along two axes)")

    def vector_norm(self, array, order, axes, keepdims, node):
        kind, element, after = VECTOR_NORMS[order]
        reduced = self.reduction(kind, self.elementwise(element, [array], node), axes, keepdims, node)
        return reduced if after is None else self.elementwise(lambda e: after(as_number(e)), [reduced], node)

    def clipped(self, target, node):
        """np.clip(a, a_min, a_max) (or min=, max=): np.minimum(np.maximum(a, a_min), a_max), as NumPy defines it;
        a bound of None leaves that side open (np.clip(p, 1e-12, None) is np.maximum(p, 1e-12))."""
        bound = self.arguments(node, ("a", "a_min", "a_max", "min", "max"), 3)
        low, high = bound.get("a_min", bound.get("min")), bound.get("a_max", bound.get("max"))
        if low is None and high is None or "a" not in bound:
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r}: np.clip(a, a_min, a_max) with at least one bound that is not "
                             "None")
        operands = [bound["a"]] + [b for b in (low, high) if b is not None]

        def element(x, *limits):
            limits = iter(limits)
            x = as_number(x) if low is None else Maximum(as_number(x), as_number(next(limits)))
            return x if high is None else Minimum(x, as_number(next(limits)))

        return self.elementwise(element, operands, node)

    def without_non_finite(self, target, node):
        """np.nan_to_num(x, nan=0.0, posinf=None, neginf=None): NaN replaced by `nan`, infinities by `posinf` and
        `neginf` (the largest finite floats by default), each element's derivative its own where it is finite and 0
        where it was replaced."""
        bound = self.arguments(node, ("x", "copy", "nan", "posinf", "neginf"), 1)
        largest = sp.Float(np.finfo(np.float64).max)
        nan, posinf, neginf = (as_number(bound.get(name) if bound.get(name) is not None else default) for name, default
                               in (("nan", sp.Integer(0)), ("posinf", largest), ("neginf", -largest)))

        def element(x):
            x = as_number(x)
            infinite = sp.Ne(isinf(x), 0)  # (not x == oo: SymPy takes a real symbol for finite)
            return sp.Piecewise((nan, sp.Ne(isnan(x), 0)), (posinf, sp.And(infinite, x > 0)), (neginf, infinite),
                                (x, True))

        return self.elementwise(element, [bound["x"]], node)

    # --- operators as functions, logical functions, methods --------------------------------------------------
    def operator_function(self, target, node):
        """np.add(a, b), np.subtract, np.multiply, np.divide (np.true_divide), np.negative(a), np.reciprocal(a): the
        operator they are, on numbers and on arrays (broadcast), as `a + b` lifts."""
        op, left = OPERATOR_FUNCTIONS[target]
        parameters = ("x",) if left is not None else ("x1", "x2")
        bound = self.arguments(node, parameters, len(parameters))
        if len(bound) != len(parameters) or None in bound.values():
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node.func)}({', '.join(parameters)}) of numbers or arrays")
        operands = ([left] if left is not None else []) + [bound[p] for p in parameters]
        self.no_list_arithmetic(operands, node)
        if target is np.reciprocal and any(not self.is_array(o) and integer_valued(self.number(o, node))
                                           for o in operands[1:]):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r} of an integer is an integer in NumPy (0 for n > 1): write 1.0 / "
                             f"{ast.unparse(node.args[0] if node.args else node.keywords[0].value)} for the float")
        if any(self.is_array(o) for o in operands):
            return self.array_arithmetic(op(), *operands, node)
        return self.arithmetic(op(), *(self.number(o, node) for o in operands), node)

    def logical(self, target, node):
        """np.logical_and(a, b), np.logical_or, np.logical_xor, np.logical_not(a): conditions of the operands'
        truths (a number is true where it is not 0), elementwise on arrays."""
        parameters = ("x",) if target is np.logical_not else ("x1", "x2")
        bound = self.arguments(node, parameters, len(parameters))
        if len(bound) != len(parameters) or None in bound.values():
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node.func)}({', '.join(parameters)}) of conditions, numbers or arrays")
        return self.truths(target, [bound[p] for p in parameters], node)

    def truths(self, target, operands, node):
        """The condition `LOGICAL_FUNCTIONS[target]` of the operands' truths: a mask of arrays, 1 or 0 of numbers
        (as a comparison of numbers is)."""
        self.no_list_arithmetic(operands, node)
        result = self.elementwise(lambda *elements: LOGICAL_FUNCTIONS[target](*map(truth, elements)), operands, node)
        return result if self.is_array(result) else as_number(result)

    def mask_operator(self, op, left, right, node):
        """`(x > a) & (x < b)`, `|`, `^` of masks (arrays of conditions) or conditions: np.logical_and, ... as NumPy
        computes them on booleans; of other values (integers, floats) refused: it would be their bits."""
        for operand, side in ((left, node.left), (right, node.right)):
            mask = self.mask_element(self.expression(operand, side))[0] if self.is_array(operand) else (
                isinstance(operand, sp.Basic) and (is_condition(operand) or isinstance(operand, CONDITIONS)))
            if not mask:
                symbol = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}[type(op)]
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"`{symbol}` of {ast.unparse(side)!r}, which is not a condition or a mask: symgrad "
                                 f"takes {symbol} of comparisons and masks, each comparison in parentheses "
                                 f"((x > a) {symbol} (x < b)); for numbers use np.logical_and / np.logical_or / "
                                 "np.logical_xor, or `and` / `or` in conditions")
        return self.truths(MASK_OPERATORS[type(op)], [left, right], node)

    def method_function(self, value, node):
        """`x.clip(lo, hi)`, `A.trace()`, `A.squeeze(axis=0)`: the NumPy function of METHOD_FUNCTIONS with the array
        first; None for other methods."""
        function = METHOD_FUNCTIONS.get(node.func.attr)
        if function is None:
            return None
        receiver = node.func.value
        stand_in = receiver if isinstance(receiver, ast.Name) else ast.copy_location(
            ast.Name(id=ast.unparse(receiver), ctx=ast.Load()), receiver)  # (bound to its value: lifted once)
        call = ast.copy_location(ast.Call(func=node.func, args=[stand_in] + node.args, keywords=node.keywords), node)
        added = stand_in.id not in self.frame.variables
        self.frame.variables[stand_in.id] = value if added else self.frame.variables[stand_in.id]
        try:
            lowered = self.numpy_function(function, call)
            if lowered is None:
                lowered = self.numpy_call(function, call, [value] + [self.value(a) for a in node.args])
        finally:
            if added:
                del self.frame.variables[stand_in.id]
        return lowered

    def squeezed(self, target, node):
        """np.squeeze(a, axis) (and the method): `a` without the axes of `axis` (an integer literal or a tuple of
        them), whose size must be 1 (checked when the kernel starts where the arguments decide it); without axis,
        the axes whose size is 1 where symgrad knows every size (x[None], keepdims=True, literal shapes)."""
        bound = self.arguments(node, ("a", "axis"), 2)
        array = self.array_argument(bound, "a", node)
        sizes = [self.resolved_size(size) for size in array.shape]
        axis = bound.get("axis")
        if axis is None:  # (the axes known to be 1; the others are checked not to be 1 when the kernel starts)
            axes = [k for k, size in enumerate(sizes) if size == 1]
            unknown = [k for k, size in enumerate(sizes) if not size.is_number]
            if not axes or not all(sizes[k].free_symbols <= self.entry_symbols for k in unknown):
                label, first = ast.unparse(node.func), ast.unparse(node.args[0]) if node.args else "a"
                method = isinstance(node.func, ast.Attribute) and first == ast.unparse(node.func.value)
                written, spelled = ((f"{label}()", f"{label}(axis=0)") if method else
                                    (f"{label}({first})", f"{label}({first}, axis=0)"))
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{written!r}: symgrad cannot tell which axes of {array.text} have size 1 (its "
                                 f"sizes come from the arguments): name them, {spelled} or axis=(0, 2)")
            for k in unknown:
                self.shape_checks.append((sp.Ne(sizes[k], 1), f"{self.function.__name__}(): {ast.unparse(node)} on "
                                                              f"line {self.line(node)} is lifted for axis {k} of a "
                                                              f"size other than 1 ({self.shape_text(sizes[k])}): "
                                                              "name the axes to squeeze with axis="))
        else:
            axes = sorted({self.axis_of(a, array.ndim, node, optional=False)
                           for a in (axis if isinstance(axis, tuple) else (axis,))})
            for k in axes:
                if sizes[k].is_number and sizes[k] != 1:
                    raise self.error(errors.UnsupportedCallError, node,
                                     f"{ast.unparse(node)!r}: axis {k} of {array.text} has size {sizes[k]}, not 1 "
                                     "(NumPy raises ValueError): squeeze only axes of size 1")
                self.same_size(sizes[k], 1, f"the size along axis {k} of {array.text} (squeezed)", node)
        kept = [k for k in range(array.ndim) if k not in axes]
        if not kept:  # (every axis: the one element, a number)
            return as_number(array.at((sp.Integer(0),) * array.ndim))

        def at(indices):
            full = [sp.Integer(0)] * array.ndim
            for k, index in zip(kept, indices):
                full[k] = index
            return array.at(tuple(full))

        return ArrayExpression(tuple(array.shape[k] for k in kept), at, array.view, ast.unparse(node))

    # --- NumPy's conveniences, written with the reductions ----------------------------------------------------
    def peak_to_peak(self, target, node):
        """np.ptp(a, axis, keepdims): the largest element less the smallest."""
        bound = self.arguments(node, ("a", "axis", "keepdims"), 2)
        array = self.array_argument(bound, "a", node)
        axis, keepdims = bound.get("axis"), bool(bound.get("keepdims", False))
        array = self.expression(self.materialized(array, "data", node), node)  # (read by both reductions)
        largest, smallest = (self.reduction(kind, array, axis, keepdims, node) for kind in ("max", "min"))
        return self.elementwise(lambda a, b: as_number(a) - as_number(b), [largest, smallest], node)

    def average(self, target, node):
        """np.average(a, axis, weights): the mean, or sum(a * w) / sum(w) over `axis`, the weights of a's shape or,
        with an axis, a vector along it (as NumPy takes them)."""
        bound = self.arguments(node, ("a", "axis", "weights", "returned", "keepdims"), 3)
        array = self.array_argument(bound, "a", node)
        axis, keepdims = bound.get("axis"), bool(bound.get("keepdims", False))
        if bound.get("returned"):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(..., returned=True): "
                                                                "take np.sum(weights) beside it")
        if bound.get("weights") is None:
            return self.reduction("mean", array, axis, keepdims, node)
        weights = self.array_argument(bound, "weights", node, "an array and weights")
        if weights.ndim != array.ndim:
            along = self.axis_of(axis, array.ndim, node) if not isinstance(axis, tuple) else None
            if weights.ndim != 1 or along is None:
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{ast.unparse(node)!r}: weights of the array's shape, or a vector along one axis= "
                                 "given as an integer literal")
            vector = weights
            weights = ArrayExpression(tuple(vector.shape[0] if k == along else sp.Integer(1)
                                            for k in range(array.ndim)), lambda i: vector.at((i[along],)),
                                      vector.view, vector.text)  # (it broadcasts along the other axes)
        weights = self.expression(self.materialized(weights, "weights", node), node)  # (read twice)
        weighted = self.elementwise(lambda a, w: as_number(a) * as_number(w), [array, weights], node)
        total = self.reduction("sum", weighted, axis, keepdims, node)
        scale = self.reduction("sum", self.elementwise(lambda a, w: 0 * as_number(a) + as_number(w),
                                                       [array, weights], node), axis, keepdims, node)
        return self.elementwise(lambda t, w: self.arithmetic(ast.Div(), as_number(t), as_number(w), node),
                                [total, scale], node)

    def count_nonzero(self, target, node):
        """np.count_nonzero(a, axis, keepdims): the number of elements that are not 0 (true, for conditions)."""
        bound = self.arguments(node, ("a", "axis", "keepdims"), 2)
        counted = self.elementwise(lambda e: as_number(as_condition(e)), [bound.get("a")], node)
        return self.reduction("sum", counted, bound.get("axis"), bool(bound.get("keepdims", False)), node)

    def selected(self, target, node):
        """np.select(conditions, choices, default): the choice of the first condition that holds, elementwise;
        both lists written out."""
        bound = self.arguments(node, ("condlist", "choicelist", "default"), 3, unlifted=("condlist", "choicelist"))
        lists = [bound.get(name) for name in ("condlist", "choicelist")]
        if not all(isinstance(listed, (ast.List, ast.Tuple)) for listed in lists) or \
                len(lists[0].elts) != len(lists[1].elts) or not lists[0].elts:
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}([c1, c2, ...], [a1, a2, "
                                                                "...], default) with both lists written out, of one "
                                                                "length")
        operands = [self.value(e) for e in lists[0].elts + lists[1].elts] + [bound.get("default", sp.Integer(0))]
        count = len(lists[0].elts)

        def first(*elements):
            conditions, choices = elements[:count], elements[count:2 * count]
            return python_piecewise(*[(as_number(a), as_condition(c)) for c, a in zip(conditions, choices)],
                                    (as_number(elements[-1]), True))

        return self.elementwise(first, operands, node)

    def without_nan(self, target, node):
        """np.nansum, np.nanprod, np.nanmean, np.nanmax, np.nanmin: the reduction of the elements that are not NaN
        (their derivative 0); nanmax/nanmin of only NaNs is NaN, nanmean of none is NaN, as NumPy's."""
        bound = self.arguments(node, ("a", "axis", "keepdims"), 2)
        array = self.expression(self.materialized(self.array_argument(bound, "a", node), "data", node), node)
        axis, keepdims = bound.get("axis"), bool(bound.get("keepdims", False))
        kind = target.__name__.removeprefix("nan")
        neutral = {"sum": 0, "mean": 0, "prod": 1, "max": -sp.oo, "min": sp.oo}[kind]
        kept = self.elementwise(lambda e: python_piecewise((sp.Integer(neutral) if neutral in (0, 1) else neutral,
                                                            sp.Ne(isnan(as_number(e)), 0)), (as_number(e), True)),
                                [array], node)
        result = self.reduction("sum" if kind == "mean" else kind, kept, axis, keepdims, node)
        if kind == "sum" or kind == "prod":
            return result
        count = self.reduction("sum", self.elementwise(lambda e: 1 - isnan(as_number(e)), [array], node), axis,
                               keepdims, node)
        if kind == "mean":
            return self.elementwise(lambda t, c: self.arithmetic(ast.Div(), as_number(t), as_number(c), node),
                                    [result, count], node)
        return self.elementwise(lambda r, c: python_piecewise((sp.nan, sp.Eq(as_number(c), 0)), (as_number(r), True)),
                                [result, count], node)

    def moved_axes(self, target, node):
        """np.moveaxis(a, source, destination): a transpose, with the axes of `source` (integer literals, or tuples
        of them) put at `destination`, the others kept in order."""
        bound = self.arguments(node, ("a", "source", "destination"), 3)
        array = self.array_argument(bound, "a", node)
        moves = [bound.get(name) for name in ("source", "destination")]
        moves = [m if isinstance(m, tuple) else (m,) for m in moves]
        if len(moves[0]) != len(moves[1]):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node)!r}: as many destinations as "
                                                                "sources")
        source, destination = ([self.axis_of(a, array.ndim, node, optional=False) for a in m] for m in moves)
        order = [k for k in range(array.ndim) if k not in source]
        for to, axis in sorted(zip(destination, source)):
            order.insert(to, axis)
        return self.transposed(array, node, tuple(map(sp.Integer, order)))

    # --- matrices, shifts, pads, flips -------------------------------------------------------------------------
    def diagonal(self, target, node):
        """np.diag(v, k) of a vector: the square matrix with v on diagonal k; np.diag(A, k) of a matrix: diagonal k
        (k an integer literal)."""
        bound = self.arguments(node, ("v", "k"), 2)
        array = self.array_argument(bound, "v", node, "a vector or a matrix")
        k = bound.get("k", sp.Integer(0))
        if not (isinstance(k, sp.Basic) and k.is_Integer) or array.ndim > 2:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(v, k) of a vector or a "
                                                                "matrix, k an integer literal")
        k = int(k)
        if array.ndim == 1:
            size = array.shape[0] + abs(k)
            return ArrayExpression((size, size), lambda i: self.chosen(
                [(sp.Eq(i[1] - i[0], k), lambda: array.at((i[0] if k >= 0 else i[1],))),
                 (sp.true, lambda: sp.Integer(0))]), False, ast.unparse(node))
        return self.diagonal_of(array, k, node)

    def taken(self, target, node):
        """np.take(a, indices, axis=None): a gather along `axis` (of a vector when axis is None), `indices` an
        array of indices or an integer."""
        bound = self.arguments(node, ("a", "indices", "axis"), 3)
        array = self.array_argument(bound, "a", node, "an array")
        if bound.get("axis") is None and array.ndim > 1:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node)!r}: np.take without axis reads the flattened array: take it "
                                  f"of {ast.unparse(node.args[0]) if node.args else 'a'}.ravel(), or give axis=")
        axis = self.axis_of(bound.get("axis", sp.Integer(0)), array.ndim, node, optional=False)
        self.not_along_a_gather(array.shape[axis])
        indices = bound.get("indices")
        if not self.is_array(indices):
            index = self.integer(self.number(indices, node), "indices", node)
            return ArrayExpression(array.shape[:axis] + array.shape[axis + 1:],
                                   lambda i: array.at(i[:axis] + (index,) + i[axis:]), array.view,
                                   ast.unparse(node)) if array.ndim > 1 else array.at((index,))
        indices = self.gathering(indices, array.text, node)
        width = indices.ndim
        return ArrayExpression(array.shape[:axis] + indices.shape + array.shape[axis + 1:], lambda i: array.at(
            i[:axis] + (indices.at(i[axis:axis + width]),) + i[axis + width:]), False, ast.unparse(node))

    def taken_along_axis(self, target, node):
        """np.take_along_axis(arr, indices, axis): `arr` read at `indices` along `axis`, the other axes in step
        (`np.take_along_axis(logp, y[:, None], axis=1)`, a sort by np.argsort along an axis)."""
        bound = self.arguments(node, ("arr", "indices", "axis"), 3)
        array = self.array_argument(bound, "arr", node, "an array")
        indices = self.gathering(bound.get("indices"), array.text, node) if self.is_array(bound.get("indices")) \
            else None
        if indices is None or indices.ndim != array.ndim or bound.get("axis") is None:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node)!r}: np.take_along_axis(arr, indices, axis) takes an array of "
                                  "indices with as many axes as arr (y[:, None] for one per row) and an axis")
        axis = self.axis_of(bound["axis"], array.ndim, node, optional=False)
        self.not_along_a_gather(array.shape[axis])
        for k in range(array.ndim):
            if k != axis:
                self.same_size(array.shape[k], indices.shape[k], f"the sizes along axis {k} of arr and indices",
                               node)
        return ArrayExpression(indices.shape, lambda i: array.at(i[:axis] + (indices.at(i),) + i[axis + 1:]), False,
                               ast.unparse(node))

    def matrix_diagonal(self, target, node):
        """np.diagonal(A, offset) of a matrix (and the method A.diagonal(offset)): np.diag(A, offset)."""
        bound = self.arguments(node, ("a", "offset"), 2)
        array = self.array_argument(bound, "a", node, "a matrix")
        offset = bound.get("offset", sp.Integer(0))
        if array.ndim != 2 or not (isinstance(offset, sp.Basic) and offset.is_Integer):
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(A, offset) of a "
                                                                     "matrix, offset an integer literal")
        return self.diagonal_of(array, int(offset), node)

    def diagonal_of(self, array, k, node):
        """Diagonal k of a matrix, a view: above the main one for k > 0, below it for k < 0."""
        rows, columns = array.shape
        length = sp.Min(rows, columns - k) if k >= 0 else sp.Min(rows + k, columns)
        return ArrayExpression((length,), lambda i: array.at((i[0], i[0] + k) if k >= 0 else (i[0] - k, i[0])),
                               array.view, ast.unparse(node))

    def triangle(self, target, node):
        """np.triu(m, k) / np.tril(m, k): the elements on and above (below) diagonal k, the others 0; of the last
        two axes of a stack of matrices."""
        bound = self.arguments(node, ("m", "k"), 2)
        array = self.array_argument(bound, "m", node, "a matrix (or a stack of matrices)")
        k = self.integer(bound.get("k", sp.Integer(0)), "k", node)
        if array.ndim < 2:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(m, k) of a matrix: "
                                                                "give a 2-D array")
        keep = operator.ge if target is np.triu else operator.le
        return ArrayExpression(array.shape, lambda i: sp.Piecewise(
            (as_number(array.at(i)), keep(i[-1] - i[-2], k)), (sp.Integer(0), True)), False, ast.unparse(node))

    def rolled(self, target, node):
        """np.roll(a, shift, axis=None): the elements moved `shift` places along `axis` (an integer expression;
        without axis, along the array read in C order), those pushed off the end coming back at the start."""
        bound = self.arguments(node, ("a", "shift", "axis"), 3)
        array = self.array_argument(bound, "a", node)
        shift = self.integer(bound.get("shift"), "the shift (one, for one axis)", node)
        axis = bound.get("axis")
        if axis is None and array.ndim > 1:
            flat = self.expression(self.reshaped(array, (sp.Integer(-1),), node), node)
            return self.reshaped(self.roll_along(flat, shift, 0, node), array.shape, node)
        return self.roll_along(array, shift, self.axis_of(axis if axis is not None else sp.Integer(0), array.ndim,
                                                          node, optional=False), node)

    def roll_along(self, array, shift, axis, node):
        size = array.shape[axis]
        return ArrayExpression(array.shape, lambda i: array.at(
            i[:axis] + (IntMod(i[axis] - shift, size),) + i[axis + 1:]), array.view, ast.unparse(node))

    def tiled(self, target, node):
        """np.tile(a, reps): `a` repeated reps[k] times along each axis (one integer for the last axis, or one per
        axis; `a` gains leading axes where reps has more), element i being a[i % a.shape]."""
        bound = self.arguments(node, ("A", "reps"), 2, nested=("reps",))
        array = self.array_or_number(bound, "A", node)
        counts = bound.get("reps") if isinstance(bound.get("reps"), tuple) else (bound.get("reps"),)
        counts = tuple(self.integer(r, "each repetition count", node) for r in counts)
        for count in counts:
            self.not_negative(count, "the repetition counts", f"{ast.unparse(node.func)}(a, reps)", node)
        lead = max(len(counts) - array.ndim, 0)
        counts = (sp.Integer(1),) * (array.ndim + lead - len(counts)) + counts
        sizes = (sp.Integer(1),) * lead + tuple(array.shape)
        shape = tuple(n * r for n, r in zip(sizes, counts))
        return self.refuse_rank(ArrayExpression(shape, lambda i: array.at(tuple(
            index if r == 1 else IntMod(index, n) for index, n, r in zip(i[lead:], sizes[lead:], counts[lead:]))),
            array.view, ast.unparse(node)), node)

    def repeated(self, target, node):
        """np.repeat(a, repeats, axis=None): each element `repeats` times (one integer) along `axis`, or of the
        array read in C order without one, element i being a[i // repeats]."""
        bound = self.arguments(node, ("a", "repeats", "axis"), 3)
        array = self.array_or_number(bound, "a", node)
        count = self.integer(bound.get("repeats"), "the repetition count (one, for every element)", node)
        self.not_negative(count, "the repetition count", f"{ast.unparse(node.func)}(a, repeats)", node)
        axis = bound.get("axis")
        if axis is None and array.ndim > 1:
            array = self.expression(self.reshaped(array, (sp.Integer(-1),), node), node)
        axis = self.axis_of(axis if axis is not None else sp.Integer(0), array.ndim, node, optional=False)
        shape = array.shape[:axis] + (array.shape[axis] * count,) + array.shape[axis + 1:]
        return ArrayExpression(shape, lambda i: array.at(i[:axis] + (IntDiv(i[axis], count),) + i[axis + 1:]),
                               array.view, ast.unparse(node))

    def padded(self, target, node):
        """np.pad(a, width) in mode 'constant': `width` an integer, (before, after) for every axis, or one pair per
        axis; constant_values one number (default 0)."""
        bound = self.arguments(node, ("array", "pad_width", "mode", "constant_values"), 3, texts=("mode",),
                               nested=("pad_width",))
        array = self.array_argument(bound, "array", node)
        advice = (f"{ast.unparse(node.func)}(a, width) with mode='constant' (the default), integer widths (n, "
                  "(before, after), or one pair per axis) and one number as constant_values")
        width, mode = bound.get("pad_width"), bound.get("mode", "constant")
        fill = bound.get("constant_values", sp.Integer(0))
        pairs = width if isinstance(width, tuple) and width and isinstance(width[0], tuple) else (width,)
        pairs = tuple(p if isinstance(p, tuple) else (p, p) for p in pairs)
        if len(pairs) == 1:
            pairs = pairs * array.ndim
        if (mode != "constant" or self.is_array(fill) or isinstance(fill, tuple) or len(pairs) != array.ndim
                or not all(len(p) == 2 and isinstance(w, sp.Basic) and w.is_integer for p in pairs for w in p)):
            raise self.error(errors.UnsupportedCallError, node, advice)
        for w in (w for p in pairs for w in p):
            self.not_negative(w, "the pad widths", advice, node)
        fill = self.number(fill, node)
        shape = tuple(n + before + after for n, (before, after) in zip(array.shape, pairs))

        def at(i):
            inside = sp.And(*(sp.And(before <= index, index < before + n)
                              for index, n, (before, _) in zip(i, array.shape, pairs)))
            return self.chosen([(inside, lambda: array.at(tuple(index - before for index, (before, _)
                                                                  in zip(i, pairs)))), (sp.true, lambda: fill)])

        return ArrayExpression(shape, at, False, ast.unparse(node))

    def flipped(self, target, node):
        """np.flip(m, axis=None) (every axis, one, or a tuple), np.fliplr (axis 1), np.flipud (axis 0): a view."""
        if target is np.flip:
            bound = self.arguments(node, ("m", "axis"), 2)
            array = self.array_argument(bound, "m", node)
            axis = bound.get("axis")
            axes = map(sp.Integer, range(array.ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
            axes = {self.axis_of(a, array.ndim, node, optional=False) for a in axes}
        else:
            bound = self.arguments(node, ("m",), 1)
            array = self.array_argument(bound, "m", node)
            least = 2 if target is np.fliplr else 1
            if array.ndim < least:
                raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(m) of an array of "
                                                                    f"{least} axes or more")
            axes = {1 if target is np.fliplr else 0}
        return ArrayExpression(array.shape, lambda i: array.at(tuple(
            n - 1 - index if k in axes else index for k, (index, n) in enumerate(zip(i, array.shape)))),
            array.view, ast.unparse(node))

    def polynomial(self, target, node):
        """np.polyval(p, x): p[0] x^(n-1) + ... + p[n-1] by Horner's rule, a loop over the coefficients (of x
        elementwise where x is an array); p an array or a list of numbers."""
        bound = self.arguments(node, ("p", "x"), 2, nested=("p",))
        if isinstance(bound.get("p"), tuple) and not any(isinstance(c, tuple) for c in bound["p"]):
            bound["p"] = self.array_of(list(bound["p"]), node)  # (a list of numbers written out)
        p = self.array_argument(bound, "p", node, "a vector of coefficients and x")
        if p.ndim != 1 or "x" not in bound:
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(p, x) of a vector of "
                                                                "coefficients p")
        p = self.expression(self.materialized(p, "coefficients", node), node)  # (read once per element of x)

        def horner(x):
            x = as_number(x)
            return self.reduce("horner", sp.Integer(0), p.shape[0], lambda k: as_number(p.at((k,))), node,
                               lambda total, c: self.arithmetic(ast.Add(), total * x, c, node))

        return self.elementwise(horner, [bound["x"]], node)

    def filled_diagonal(self, node):
        """np.fill_diagonal(B, v) as a statement, on a local array of two axes: B[i, i] = v for every i of the
        shorter side (v a number, or a vector read at i modulo its length, as NumPy repeats it)."""
        bound = self.arguments(node, ("a", "val", "wrap"), 3)
        array, value = bound.get("a"), bound.get("val")
        if not (isinstance(array, ArrayValue) and array.local and len(array.shape) == 2) or bound.get("wrap"):
            raise self.error(errors.UnsupportedStatementError, node,
                             f"{ast.unparse(node)}: np.fill_diagonal writes into a local matrix (B = A.copy() "
                             "first, for an argument), without wrap=True")
        if self.is_array(value):
            vector = self.expression(value, node)
            if vector.ndim != 1:
                raise self.error(errors.UnsupportedStatementError, node, f"{ast.unparse(node)}: a number or a vector "
                                                                         "of values")
            element = lambda i: as_number(vector.at((IntMod(i, vector.shape[0]),)))  # noqa: E731
        else:
            number = self.number(value, node)
            element = lambda i: number  # noqa: E731
        self.loop_nest((Minimum(*array.shape),), lambda i: self.store(
            array, (i[0], i[0]), self.number(element(i[0]), node), False, node), node)

    # --- einsum and the contractions written with it -----------------------------------------------------------
    def einsum(self, target, node):
        """np.einsum('ij,jk->ik', A, B) with a literal subscript string: the product of the operands' elements over
        the union of their indices, summed over the indices not in the output (implicit output: the indices that
        appear once, in alphabetical order).  `...` in a term stands for the operand's axes its letters do not name
        (right-aligned across the terms, as NumPy aligns them), given letters of their own here."""
        label = ast.unparse(node.func)
        subscripts = node.args[0] if node.args else None
        if not (isinstance(subscripts, ast.Constant) and isinstance(subscripts.value, str)):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label}() with a literal subscript string first ({label}('ij,j->i', A, x))")
        for keyword in node.keywords:
            if keyword.arg != "optimize":  # (the order of the products: it does not change the result)
                raise self.error(errors.UnsupportedCallError, keyword,
                                 f"the keyword {keyword.arg}= of {label}: symgrad takes optimize= only")
        text = subscripts.value.replace(" ", "")
        inputs, arrow, output = text.partition("->")
        terms = inputs.split(",")
        operands = [self.value(a) for a in node.args[1:]]
        letters = [letter for term in terms for letter in term.replace("...", "")]
        if not arrow:  # (the axes `...` stands for come first, then the letters that appear once)
            output = ("..." if "..." in inputs else "") + "".join(
                sorted(letter for letter in set(letters) if letters.count(letter) == 1))
        named = letters + list(output.replace("...", ""))
        if (len(terms) != len(operands) or not all(c.isalpha() for c in named)
                or any(part.count("...") > 1 for part in terms + [output])
                or len(set(output.replace("...", ""))) != len(output.replace("...", ""))
                or not set(output.replace("...", "")) <= set(letters) or not all(self.is_array(o) for o in operands)):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label}({text!r}, ...): give one term of letters (and at most one `...`) per array "
                             "operand, and an output of distinct letters found in the terms ('ij,jk->ik')")
        arrays = [self.expression(self.materialized(o, "operand", node), node) for o in operands]
        widths = [array.ndim - len(term.replace("...", "")) for term, array in zip(terms, arrays)]
        for term, array, operand, width in zip(terms, arrays, node.args[1:], widths):
            if width < 0 or width and "..." not in term:
                raise self.rank_error(errors.UnsupportedCallError, node,
                                      f"{label}({text!r}, ...): the term {term!r} names {array.ndim - width} axes "
                                      f"of {ast.unparse(operand)}, which has {array.ndim}")
        spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in named]
        width = max([w for term, w in zip(terms, widths) if "..." in term], default=0)
        if width and "..." not in output:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{label}({text!r}, ...): `...` stands for {width} axes of the operands, which "
                                  "NumPy keeps only where the output names `...` too (write '...ij->...' and sum "
                                  "after)")
        terms = [term.replace("...", "".join(spare[width - w:width])) for term, w in zip(terms, widths)]
        return self.contracted(terms, output.replace("...", "".join(spare[:width])), arrays, node)

    def contracted(self, terms, output, arrays, node):
        """The einsum of `arrays` named by `terms` (a string of letters each, one per axis) into `output`."""
        sizes = {}
        for term, array in zip(terms, arrays):
            for letter, size in zip(term, array.shape):
                if letter in sizes:
                    self.same_size(sizes[letter], size, f"the sizes of the axes named {letter!r}", node)
                else:
                    sizes[letter] = size
        summed = [letter for letter in dict.fromkeys("".join(terms)) if letter not in output]

        def element(kept):
            def product(inner):
                at = dict(zip(output, kept)) | dict(zip(summed, inner))
                factors = [as_number(a.at(tuple(at[letter] for letter in term))) for term, a in zip(terms, arrays)]
                result = factors[0]
                for factor in factors[1:]:
                    result = self.arithmetic(ast.Mult(), result, factor, node)
                return result

            return self.fold("sum", [sizes[letter] for letter in summed], product, node) if summed else product(())

        if not output:
            return element(())
        return self.refuse_rank(ArrayExpression(tuple(sizes[letter] for letter in output), element, False,
                                                ast.unparse(node)), node)

    def tensordot(self, target, node):
        """np.tensordot(a, b, axes=2): the sum over the last `axes` axes of a and the first of b, or over the axes
        of a pair of lists (axes=([1, 2], [0, 1])); the einsum whose terms name those axes alike, a's other axes
        then b's in the output."""
        bound = self.arguments(node, ("a", "b", "axes"), 3, nested=("axes",))
        a = self.expression(self.materialized(self.array_argument(bound, "a", node, "two arrays"), "operand", node),
                            node)
        b = self.expression(self.materialized(self.array_argument(bound, "b", node, "two arrays"), "operand", node),
                            node)
        axes = bound.get("axes", sp.Integer(2))
        pair = axes if isinstance(axes, tuple) and len(axes) == 2 else None
        if pair is None and isinstance(axes, sp.Basic) and axes.is_Integer and 0 <= axes <= min(a.ndim, b.ndim):
            pair = (tuple(range(a.ndim - int(axes), a.ndim)), tuple(range(int(axes))))
        pair = pair and [p if isinstance(p, tuple) else (p,) for p in pair]
        if not (pair and len(pair[0]) == len(pair[1]) and all(
                isinstance(k, (int, sp.Integer)) and -n <= k < n for p, n in zip(pair, (a.ndim, b.ndim)) for k in p)
                and all(len({int(k) % n for k in p}) == len(p) for p, n in zip(pair, (a.ndim, b.ndim)))):
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node)!r}: axes= must be an integer literal from 0 to the smaller "
                                  "number of axes, or a pair of lists of as many distinct axes of a and of b "
                                  "(axes=([1], [0]))")
        ours, theirs = ([int(k) % n for k in p] for p, n in zip(pair, (a.ndim, b.ndim)))
        left = "abc"[:a.ndim]
        right = "".join(left[ours[theirs.index(k)]] if k in theirs else "xyz"[k] for k in range(b.ndim))
        output = "".join(c for k, c in enumerate(left) if k not in ours) + "".join(
            c for k, c in enumerate(right) if k not in theirs)
        return self.contracted([left, right], output, [a, b], node)

    def vdot(self, target, node):
        """np.vdot(a, b): the sum of the products of the elements of two arrays of one size, read in C order."""
        bound = self.arguments(node, ("a", "b"), 2)
        flat = [self.expression(self.reshaped(self.array_argument(bound, name, node, "two arrays"),
                                              (sp.Integer(-1),), node), node) for name in ("a", "b")]
        return self.contracted(["i", "i"], "", flat, node)

    def kronecker(self, target, node):
        """np.kron(a, b): the blocks a[i, j] * b, element (r, c) = a[r // p, c // q] * b[r % p, c % q] for b of
        shape (p, q); the array of fewer axes gets leading axes of size 1 first, as NumPy gives it."""
        bound = self.arguments(node, ("a", "b"), 2)
        a, b = (self.expression(self.materialized(self.array_argument(bound, name, node, "two arrays"), "operand",
                                                  node), node) for name in ("a", "b"))
        ndim = max(a.ndim, b.ndim)
        a, b = (ArrayExpression((sp.Integer(1),) * (ndim - x.ndim) + x.shape, lambda i, x=x: x.at(
            i[ndim - x.ndim:]), x.view, x.text) for x in (a, b))
        block = lambda r, q: IntDiv(r, q) if q != 1 else r  # noqa: E731
        within = lambda r, q: IntMod(r, q) if q != 1 else sp.Integer(0)  # noqa: E731
        return ArrayExpression(tuple(p * q for p, q in zip(a.shape, b.shape)), lambda i: self.arithmetic(
            ast.Mult(), as_number(a.at(tuple(map(block, i, b.shape)))), as_number(b.at(tuple(map(within, i, b.shape)))),
            node), False, ast.unparse(node))


# The NumPy functions lowered here: the function -> the method of NumpyFunctions (or of NumpySeries, in
# numpy_series.py, or of LinearAlgebra, in linear_algebra.py) that lowers its call.
FUNCTIONS = {
    **{function: "operator_function" for function in OPERATOR_FUNCTIONS},
    **{function: "logical" for function in LOGICAL_FUNCTIONS},
    np.squeeze: "squeezed",
    np.clip: "clipped",
    np.cov: "covariance",
    np.linalg.matrix_power: "matrix_power",
    np.sort: "sorted_copy",
    np.argsort: "sorting_order",
    np.nan_to_num: "without_non_finite",
    np.take: "taken",
    np.take_along_axis: "taken_along_axis",
    np.median: "median",
    np.percentile: "percentile",
    np.quantile: "percentile",
    np.std: "statistic",
    np.var: "statistic",
    np.cumsum: "cumulative",
    np.cumprod: "cumulative",
    np.ptp: "peak_to_peak",
    np.average: "average",
    np.count_nonzero: "count_nonzero",
    np.select: "selected",
    np.nansum: "without_nan",
    np.nanprod: "without_nan",
    np.nanmean: "without_nan",
    np.nanmax: "without_nan",
    np.nanmin: "without_nan",
    np.moveaxis: "moved_axes",
    np.diagonal: "matrix_diagonal",
    np.concatenate: "joined",
    np.stack: "joined",
    np.vstack: "joined",
    np.hstack: "joined",
    np.column_stack: "joined",
    np.append: "joined",
    np.linalg.norm: "norm",
    np.diag: "diagonal",
    np.triu: "triangle",
    np.tril: "triangle",
    np.roll: "rolled",
    np.tile: "tiled",
    np.repeat: "repeated",
    np.pad: "padded",
    np.flip: "flipped",
    np.fliplr: "flipped",
    np.flipud: "flipped",
    np.polyval: "polynomial",
    np.einsum: "einsum",
    np.tensordot: "tensordot",
    np.vdot: "vdot",
    np.kron: "kronecker",
    np.linalg.cholesky: "cholesky",
    np.linalg.solve: "general_solve",
    np.linalg.inv: "general_inverse",
    np.linalg.det: "general_determinant",
    np.linalg.slogdet: "log_determinant",
    np.trapezoid: "trapezoid",
    np.gradient: "gradient",
    np.convolve: "convolved",
    np.correlate: "convolved",
    np.cross: "cross",
    np.add.accumulate: "accumulated",
    np.multiply.accumulate: "accumulated",
    np.maximum.accumulate: "accumulated",
    np.minimum.accumulate: "accumulated",
}
# The ufuncs whose .accumulate is lowered, and the running value it keeps.
ACCUMULATED = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min"}
# NumPy functions that write into an array they are given, called as a statement: the function -> the method.
IN_PLACE = {np.fill_diagonal: "filled_diagonal"}


def numpy_method(target):
    """The method of NumpyFunctions that lowers `target`, a method of a NumPy object in `FUNCTIONS`
    (np.maximum.accumulate), or None."""
    try:
        return FUNCTIONS.get(target) if getattr(target, "__self__", None) is not None else None
    except TypeError:  # (an unhashable attribute)
        return None


def in_place_method(target):
    """The method of NumpyFunctions that lifts a call of `target` (a function of `IN_PLACE`) as a statement, or None."""
    try:
        return IN_PLACE.get(target)
    except TypeError:  # (an unhashable global)
        return None


# SciPy's functions lowered here (SciPy is not a dependency: looked up where the user's code imported it), by
# module and attribute path.
SCIPY_FUNCTIONS = {
    ("scipy.linalg", "cholesky"): "cholesky",
    ("scipy.linalg", "solve_triangular"): "triangular_solve",
    ("scipy.linalg", "cho_factor"): "cholesky_factored",
    ("scipy.linalg", "cho_solve"): "cholesky_solve",
    ("scipy.linalg", "solve"): "general_solve",
    ("scipy.linalg", "inv"): "general_inverse",
    ("scipy.linalg", "det"): "general_determinant",
    ("scipy.stats", "multivariate_normal", "logpdf"): "normal_logpdf",
    ("scipy.integrate", "trapezoid"): "trapezoid",
}


def scipy_function(target):
    """The method of NumpyFunctions that lowers `target`, a SciPy function of `SCIPY_FUNCTIONS`, or None."""
    for (module, *path), method in SCIPY_FUNCTIONS.items():
        found = sys.modules.get(module)
        for name in path:
            found = getattr(found, name, None)
        if found is not None and found == target:  # (==: a bound method is made anew at each access)
            return method
    return None
