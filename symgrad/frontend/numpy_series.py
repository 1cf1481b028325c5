"""NumPy's functions of sampled series, lowered from their own arguments: np.trapezoid (and SciPy's), np.gradient,
np.convolve and np.correlate, and np.cross of 3-vectors.

Each is a row of `numpy_functions.FUNCTIONS` naming a method here.  Each element is written from the samples it
reads, as NumPy's own formula for it (a convolution's element is a loop over the overlap of the two series), so the
derivative is exact and nothing is interpreted at run time.  Where a formula needs a size (np.gradient's two or three
samples, np.cross's three components), that size is proven, refused, or checked when the kernel starts.
"""

import ast

import sympy as sp

from .. import errors
from ..rules import IntDiv, IntMod, Maximum, Minimum, python_piecewise
from .numpy_lowering import ArrayExpression, as_number


class NumpySeries:
    """The series rows of `FUNCTIONS` (a mixin of Lifter, beside `NumpyFunctions`, whose argument binding it uses)."""

    def at_least(self, size, least, what, node):
        """Require `size` to be at least `least`, as NumPy does: refused where it is a smaller number, checked when
        the kernel starts where it depends on the arguments."""
        size = self.resolved_size(sp.sympify(size))
        holds = sp.Ge(size, least)
        if holds is sp.true:
            return
        message = (f"{ast.unparse(node)!r} on line {self.line(node)} needs at least {least} {what} "
                   f"({self.shape_text(size)})")
        if holds is sp.false or not size.free_symbols <= self.entry_symbols:
            raise self.error(errors.UnsupportedCallError, node, message)
        self.shape_checks.append((holds, f"{self.function.__name__}(): {message}"))

    def along(self, array, axis, node):
        """`axis` (an integer literal, negative from the end) of `array`, and `place(outer, k)`, the indices of
        element k along it among `outer`, the indices of the other axes."""
        axis = self.axis_of(axis, array.ndim, node, optional=False)
        return axis, lambda outer, k: outer[:axis] + (k,) + outer[axis:]

    def over_other_axes(self, shape, axis, element):
        """An ArrayExpression of `shape` less `axis` whose element is `element(outer)`, or that element for a
        vector."""
        others = shape[:axis] + shape[axis + 1:]
        return ArrayExpression(others, element, False, "") if others else element(())

    def spacings(self, bound, name, size, node):
        """`dx(k)`, the step from sample k to k + 1: of a coordinate vector `name` (x[k + 1] - x[k]), or one number
        (`dx`, default 1)."""
        points = bound.get(name)
        if self.is_array(points):
            points = self.expression(points, node)
            if points.ndim != 1:
                raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node)!r}: give the sample points "
                                                                    "as a vector along the axis")
            self.same_size(points.shape[0], size, "the number of sample points and of samples", node)
            return lambda k: as_number(points.at((k + 1,))) - as_number(points.at((k,)))
        step = sp.Integer(1) if points is None else self.number(points, node)
        return lambda k: step

    # --- integrals and derivatives of samples --------------------------------------------------------------------
    def trapezoid(self, target, node):
        """np.trapezoid(y, x=None, dx=1.0, axis=-1) (and scipy.integrate.trapezoid): the sum over neighbouring
        samples of their mean times the step between them, along `axis`."""
        bound = self.arguments(node, ("y", "x", "dx", "axis"), 4)
        y = self.array_argument(bound, "y", node, "samples y")
        axis, place = self.along(y, bound.get("axis", sp.Integer(-1)), node)
        size = y.shape[axis]
        step = self.spacings(bound, "x" if bound.get("x") is not None else "dx", size, node)

        def integral(outer):
            return self.reduce("trapezoid", sp.Integer(0), size - 1, lambda k: (as_number(y.at(place(outer, k))) + as_number(
                y.at(place(outer, k + 1)))) * step(k) / 2, node)

        return self.over_other_axes(y.shape, axis, integral)

    def gradient(self, target, node):
        """np.gradient(f, spacing, axis=k, edge_order=1 or 2) along one axis (any axis of a vector): central
        differences inside, one-sided ones of `edge_order` at the ends, NumPy's formulas for uneven sample points
        (`spacing` a vector of coordinates) as for one step (a number, default 1)."""
        label = ast.unparse(node.func)
        if len(node.args) > 2:
            raise self.error(errors.UnsupportedCallError, node, f"{label}(f, spacing, axis=k) of one axis: call it "
                                                                "once per axis")
        bound = self.arguments(node, ("f", "spacing", "axis", "edge_order"), 2)
        f = self.array_argument(bound, "f", node, "samples f")
        axis = bound.get("axis")
        if axis is None and f.ndim > 1 or isinstance(axis, tuple):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{ast.unparse(node)!r} of an array of {f.ndim} axes gives one array per axis: name "
                             f"one, {label}(f, axis=0), and call it once per axis")
        axis, place = self.along(f, sp.Integer(0) if axis is None else axis, node)
        order = bound.get("edge_order", sp.Integer(1))
        if order not in (1, 2):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node)!r}: edge_order=1 or 2")
        size = f.shape[axis]
        self.at_least(size, int(order) + 1, f"samples along axis {axis} for edge_order={order}", node)
        dx = self.spacings(bound, "spacing", size, node)

        def at(i):
            outer, k = i[:axis] + i[axis + 1:], i[axis]

            def weighted(first, weights):  # (a * f[first] + b * f[first + 1] + ...)
                return sum(w * as_number(f.at(place(outer, first + j))) for j, w in enumerate(weights))

            def inside():
                h1, h2 = dx(k - 1), dx(k)
                return weighted(k - 1, (-h2 / (h1 * (h1 + h2)), (h2 - h1) / (h1 * h2), h1 / (h2 * (h1 + h2))))

            def start():
                if order == 1:
                    return weighted(0, (-1 / dx(0), 1 / dx(0)))
                h1, h2 = dx(0), dx(1)
                return weighted(0, (-(2 * h1 + h2) / (h1 * (h1 + h2)), (h1 + h2) / (h1 * h2), -h1 / (h2 * (h1 + h2))))

            def end():
                if order == 1:
                    return weighted(size - 2, (-1 / dx(size - 2), 1 / dx(size - 2)))
                h1, h2 = dx(size - 3), dx(size - 2)
                return weighted(size - 3, (h2 / (h1 * (h1 + h2)), -(h1 + h2) / (h1 * h2),
                                           (2 * h2 + h1) / (h2 * (h1 + h2))))

            return self.chosen([(sp.Eq(k, 0), start), (sp.Eq(k, size - 1), end), (sp.true, inside)])

        return ArrayExpression(f.shape, at, False, ast.unparse(node))

    # --- convolutions ----------------------------------------------------------------------------------------
    def convolved(self, target, node):
        """np.convolve(a, v, mode='full') and np.correlate(a, v, mode='valid') of two vectors: element k of the
        full convolution is the sum of a[k - j] * v[j] over the j where both exist; 'same' and 'valid' are NumPy's
        windows of it (correlate is the convolution with v reversed, its 'same' window placed as NumPy places it
        where v is the longer)."""
        correlate = target.__name__ == "correlate"
        bound = self.arguments(node, ("a", "v", "mode"), 3, texts=("mode",))
        a, v = (self.array_argument(bound, name, node, "two vectors") for name in ("a", "v"))
        mode = bound.get("mode", "valid" if correlate else "full")
        if a.ndim != 1 or v.ndim != 1 or mode not in ("full", "same", "valid"):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(a, v, mode) of two "
                                                                "vectors, mode 'full', 'same' or 'valid'")
        n, m = a.shape[0], v.shape[0]
        self.at_least(n, 1, "element in a", node)
        self.at_least(m, 1, "element in v", node)
        kernel = (lambda j: v.at((m - 1 - j,))) if correlate else (lambda j: v.at((j,)))
        shortest, longest = Minimum(n, m), Maximum(n, m)
        if mode == "full":
            length, offset = n + m - 1, sp.Integer(0)
        elif mode == "valid":
            length, offset = longest - shortest + 1, shortest - 1
        else:
            length = longest
            offset = IntDiv(shortest - 1, 2) if not correlate else python_piecewise(
                (IntDiv(shortest - 1, 2), sp.Ge(n, m)), (IntDiv(shortest, 2), True))

        def at(i):
            k = i[0] + offset
            return self.reduce("convolution", Maximum(k - n + 1, 0), Minimum(k + 1, m), lambda j: as_number(
                a.at((k - j,))) * as_number(kernel(j)), node)

        return ArrayExpression((length,), at, False, ast.unparse(node))

    def cross(self, target, node):
        """np.cross(a, b) of 3-vectors along the last axis, the other axes broadcast: component c is
        a[c + 1] b[c + 2] - a[c + 2] b[c + 1], the components counted modulo 3."""
        bound = self.arguments(node, ("a", "b"), 2)
        a, b = (self.array_argument(bound, name, node, "two arrays of 3-vectors") for name in ("a", "b"))
        for array in (a, b):
            self.same_size(array.shape[-1], 3, f"the size of the last axis of {array.text} and 3 (np.cross takes "
                           "3-vectors)", node)
        shape, (a, b), (index_a, index_b) = self.broadcast([a, b], node)

        def at(i):
            def component(array, index, shift):
                return as_number(array.at(index(i[:-1] + (IntMod(i[-1] + shift, 3),))))

            return (component(a, index_a, 1) * component(b, index_b, 2)
                    - component(a, index_a, 2) * component(b, index_b, 1))

        return ArrayExpression(shape, at, False, ast.unparse(node))
