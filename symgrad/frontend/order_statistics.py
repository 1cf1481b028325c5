"""Order statistics lowered to loops: np.sort of a vector, np.median, np.percentile and np.quantile (NumPy's
default linear method) with a number for q.

A vector is sorted by ranks: element i goes to the place of the count of the elements before it in NumPy's order
(smaller, or equal and earlier; NaN after every number, as NumPy sorts it), so each place is written once and the
derivative of a sorted element is the derivative of the element it came from, as JAX's.  The ranks cost n^2
comparisons: quick for the vectors of a loss (10^3 elements in about a millisecond), slow past 10^4.
"""

import ast

import sympy as sp

from .. import errors
from ..rules import AsIndex, IntDiv, isnan
from .numpy_lowering import as_number


class OrderStatistics:
    """The order-statistic rows of `FUNCTIONS` (a mixin of Lifter, beside `NumpyFunctions`, whose argument binding
    it uses)."""

    def sorted_copy(self, target, node):
        """np.sort(a) of a vector (axis=-1 or 0): its elements in ascending order."""
        array = self.ordered_vector(self.arguments(node, ("a", "axis"), 2), node)
        self.not_along_a_gather(array.shape[0])  # (a sorted gather's places are not the mask's)
        return self.ascending(array, node)

    def median(self, target, node):
        """np.median(a) of a vector: the middle element, or the mean of the two middle ones."""
        return self.interpolated_order(self.arguments(node, ("a", "axis"), 2), sp.Rational(1, 2), node)

    def percentile(self, target, node):
        """np.percentile(a, q) and np.quantile(a, q) of a vector, q a number (0 to 100, or 0 to 1): NumPy's
        linear method, between the sorted elements at floor and ceil of q (n - 1)."""
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

    def ordered_vector(self, bound, node):
        array = self.array_argument(bound, "a", node, "a vector")
        axis = bound.get("axis")
        if array.ndim != 1 or axis is not None and axis not in (-1, 0):
            raise self.rank_error(errors.UnsupportedCallError, node,
                                  f"{ast.unparse(node.func)}() of a vector, not of an array of {array.ndim} axes: "
                                  "take it of each row in a loop (np.sort(A[i])), or of the values as one vector "
                                  "(A.ravel())")
        return array

    def interpolated_order(self, bound, fraction, node):
        """The element at position `fraction` (n - 1) of the sorted vector, between its neighbours linearly; nan
        where the vector has a NaN or no element, as NumPy's.  Of a mask gather, of the mask's count elements."""
        array = self.ordered_vector(bound, node)
        gather = self.gather_of(array.shape[0])
        size = AsIndex(gather.count) if gather is not None else array.shape[0]
        ascending = self.expression(self.ascending(array, node), node)  # (a gather's first `size` places)
        numerator, denominator = sp.fraction(fraction)

        def statistic():
            low = IntDiv(numerator * (size - 1), denominator)  # (floor of the position: an index)
            weight = fraction * (size - 1) - low
            value = as_number(ascending.at((low,)))
            if weight != 0:
                above = as_number(ascending.at((sp.Min(low + 1, size - 1),)))  # (one element: its weight is 0)
                value = self.arithmetic(ast.Add(), value, self.arithmetic(ast.Mult(), weight, above - value, node),
                                        node)
            last = as_number(ascending.at((size - 1,)))  # (NaN sorts last: with a NaN, NumPy's median is nan)
            return sp.Piecewise((last, sp.Ne(isnan(last), 0)), (value, True))

        if sp.Gt(size, 0) is sp.true:
            return self.assign("order_statistic", statistic(), node)
        return self.assign("order_statistic", self.chosen([(sp.Gt(size, 0), statistic), (sp.true, lambda: sp.nan)]),
                           node)

    def ascending(self, array, node):
        """The vector's elements in NumPy's ascending order, stored by rank into a local array."""
        array = self.expression(self.materialized(array, "data", node), node)
        size = array.shape[0]
        result = self.allocate((size,), node, "ascending")

        def place(i):
            element = as_number(array.at((i,)))

            def before(j):
                other = as_number(array.at((j,)))
                earlier = sp.Lt(j, i)
                number_first = sp.And(sp.Ne(isnan(element), 0), sp.Eq(isnan(other), 0))
                tied = sp.And(sp.Eq(isnan(other), 0), sp.Eq(isnan(element), 0), sp.Eq(other, element), earlier)
                both_nan = sp.And(sp.Ne(isnan(element), 0), sp.Ne(isnan(other), 0), earlier)
                return sp.Piecewise((sp.Integer(1), sp.Or(sp.Lt(other, element), tied, number_first, both_nan)),
                                    (sp.Integer(0), True))

            rank = self.reduce("rank", sp.Integer(0), size, before, node)
            self.store(result, (AsIndex(rank),), element, False, node)

        self.counted_loop(sp.Integer(0), size, place, node)
        return result

