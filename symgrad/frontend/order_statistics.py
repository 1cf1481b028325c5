"""Order statistics lowered to loops: np.sort and np.argsort along an axis, np.median, np.percentile and np.quantile
(NumPy's default linear method) of a vector with a number for q.

An array is sorted by ranks: element i goes to the place of the count of the elements before it along the axis in
NumPy's order (smaller, or equal and earlier; NaN after every number, as NumPy sorts it), so each place is written
once and the derivative of a sorted element is the derivative of the element it came from, as JAX's; argsort
stores the element's position there instead.  The ranks cost n^2 comparisons per sorted line: quick for the
vectors of a loss (10^3 elements in about a millisecond), slow past 10^4.
"""

import ast

import sympy as sp

from .. import errors
from ..rules import AsIndex, IntDiv, isnan
from .numpy_lowering import ArrayExpression, as_number


class OrderStatistics:
    """The order-statistic rows of `FUNCTIONS` (a mixin of Lifter, beside `NumpyFunctions`, whose argument binding
    it uses)."""

    def sorted_copy(self, target, node):
        """np.sort(a, axis=-1): the elements in ascending order along an axis (the last by default)."""
        array, axis = self.sorting_axis(self.arguments(node, ("a", "axis"), 2), node)
        return self.ascending(array, node, axis)

    def sorting_order(self, target, node):
        """np.argsort(a, axis=-1): the positions along an axis that sort it (ties in order, NaN last, as NumPy's
        stable sort), an array of indices for gathers (`y[np.argsort(x)]`) and slices; its derivative is 0."""
        array, axis = self.sorting_axis(self.arguments(node, ("a", "axis", "kind"), 3, texts=("kind",)), node)
        order = self.expression(self.ranked(array, axis, lambda element, indices: indices[axis], "order", node),
                                node)
        return ArrayExpression(order.shape, lambda indices: AsIndex(as_number(order.at(indices))), True,
                               ast.unparse(node))  # (a view: each element a read of the local array of positions)

    def sorting_axis(self, bound, node):
        """The array and the axis (a literal, the last by default) that np.sort and np.argsort take; positions along
        a mask gather are refused (a sorted gather's places are not the mask's)."""
        array = self.array_argument(bound, "a", node, "an array")
        axis = bound.get("axis", sp.Integer(-1))
        if axis is None and array.ndim > 1:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node)!r}: axis=None sorts the flattened array: write it of "
                                  f"{ast.unparse(node.args[0]) if node.args else 'a'}.ravel()")
        axis = self.axis_of(sp.Integer(0) if axis is None else axis, array.ndim, node)
        self.not_along_a_gather(array.shape[axis])
        return array, axis

    def median(self, target, node):
        """np.median(a, axis): the middle element, or the mean of the two middle ones (of a vector, or along an
        axis)."""
        return self.interpolated_order(self.arguments(node, ("a", "axis"), 2), sp.Rational(1, 2), node)

    def percentile(self, target, node):
        """np.percentile(a, q, axis) and np.quantile(a, q, axis), q a number (0 to 100, or 0 to 1): NumPy's linear
        method, between the sorted elements at floor and ceil of q (n - 1)."""
        bound = self.arguments(node, ("a", "q", "axis"), 3)
        q = bound.get("q")
        if self.is_array(q) or not (isinstance(q, sp.Basic) and q.is_number):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(a, q) with q a number "
                                                                "written in the source (one quantile per call)")
        top = 100 if target.__name__ == "percentile" else 1
        if not 0 <= q <= top:
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(): q must be between 0 "
                                                                f"and {top}, as NumPy requires")
        return self.interpolated_order(bound, sp.nsimplify(q) / top, node)

    def interpolated_order(self, bound, fraction, node):
        """The element at position `fraction` (n - 1) of the sorted elements along `axis` (of a vector, or of each
        line of an array along the axis given), between its neighbours linearly; nan where the line has a NaN or
        no element, as NumPy's.  Of a mask gather, of the mask's count elements."""
        array = self.array_argument(bound, "a", node, "an array")
        axis = bound.get("axis")
        if array.ndim > 1 and axis is None:
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node.func)}() of an array of {array.ndim} axes without axis= reads "
                                  f"its elements as one vector: write it of "
                                  f"{ast.unparse(node.args[0]) if node.args else 'a'}.ravel(), or give axis=")
        axis = self.axis_of(sp.Integer(0) if axis is None else axis, array.ndim, node)
        gather = self.gather_of(array.shape[axis])
        size = AsIndex(gather.count) if gather is not None else array.shape[axis]
        ascending = self.expression(self.ascending(array, node, axis), node)  # (a gather's first `size` places)
        numerator, denominator = sp.fraction(fraction)

        def statistic(rest):
            def at(k):
                return as_number(ascending.at(rest[:axis] + (k,) + rest[axis:]))

            low = IntDiv(numerator * (size - 1), denominator)  # (floor of the position: an index)
            weight = fraction * (size - 1) - low
            value = at(low)
            if weight != 0:  # (NumPy's median is the mean of the two middle elements; its quantiles are its lerp)
                above = at(sp.Min(low + 1, size - 1))  # (one element: its weight is 0)
                difference = above - value
                value = sp.Piecewise((value, sp.Eq(weight, 0)), ((value + above) / 2, sp.true)) if fraction == \
                    sp.Rational(1, 2) else sp.Piecewise((above - difference * (1 - weight), weight >= sp.Rational(1, 2)),
                                                        (value + difference * weight, sp.true))
            last = at(size - 1)  # (NaN sorts last: with a NaN, NumPy's median is nan)
            return sp.Piecewise((last, sp.Ne(isnan(last), 0)), (value, True))

        def line(rest):
            if sp.Gt(size, 0) is sp.true:
                return statistic(rest)
            return self.chosen([(sp.Gt(size, 0), lambda: statistic(rest)), (sp.true, lambda: sp.nan)])

        if array.ndim == 1:
            return self.assign("order_statistic", line(()), node)
        rest_shape = array.shape[:axis] + array.shape[axis + 1:]
        result = self.allocate(rest_shape, node, "order_statistic")
        self.loop_nest(rest_shape, lambda rest: self.store(result, rest, line(rest), False, node), node)
        return result

    def ascending(self, array, node, axis=0):
        """The array's elements in NumPy's ascending order along `axis`, stored by rank into a local array."""
        return self.ranked(array, axis, lambda element, indices: element, "ascending", node)

    def ranked(self, array, axis, placed, name, node):
        """A local array of the array's shape holding `placed(element, indices)` of each element at the place of
        its rank along `axis`: the count of the elements before it in NumPy's order (smaller, or equal and
        earlier; NaN after every number, NaNs in order)."""
        array = self.expression(self.materialized(array, "data", node), node)
        size = array.shape[axis]
        result = self.allocate(array.shape, node, name)

        def place(indices):
            element, i = as_number(array.at(indices)), indices[axis]

            def before(j):
                other = as_number(array.at(indices[:axis] + (j,) + indices[axis + 1:]))
                earlier = sp.Lt(j, i)
                number_first = sp.And(sp.Ne(isnan(element), 0), sp.Eq(isnan(other), 0))
                tied = sp.And(sp.Eq(isnan(other), 0), sp.Eq(isnan(element), 0), sp.Eq(other, element), earlier)
                both_nan = sp.And(sp.Ne(isnan(element), 0), sp.Ne(isnan(other), 0), earlier)
                return sp.Piecewise((sp.Integer(1), sp.Or(sp.Lt(other, element), tied, number_first, both_nan)),
                                    (sp.Integer(0), True))

            rank = self.reduce("rank", sp.Integer(0), size, before, node)
            self.store(result, indices[:axis] + (AsIndex(rank),) + indices[axis + 1:], placed(element, indices),
                       False, node)

        self.loop_nest(array.shape, place, node)
        return result
