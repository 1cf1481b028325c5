"""Boolean-mask gathers as values: `r = y[valid] - X[valid] @ w`, then `np.mean(r ** 2)`, `np.max(x[x > 0])`,
`len(pos)`.

NumPy's `x[m]` has as many elements as `m` has true ones, a size the data decides.  Such a value is kept as the
array it gathers from, whole, with a stand-in size in place of its first axis: a fresh integer symbol, the same
for every gather through one mask (one spelling, its names bound to the same values).  What is elementwise along
that axis (arithmetic with numbers, with other gathers through the mask, with arrays that broadcast along it, `@`
over the other axes, functions) carries the stand-in through.  A loop over the stand-in (a reduction, a row of a
product, the stores that make a local array of it) runs over the whole axis with its body under the mask, and
`len`, `.shape` and `.size` count the mask's true elements.  Anything that would align the stand-in with another
size (an array not gathered through the mask), index along it, or otherwise reach the kernels is refused where the
gather is written, never read by position.
"""

import ast
import dataclasses
from dataclasses import dataclass

import sympy as sp

from .. import errors
from ..ir import walk
from .numpy_lowering import MASK_ADVICE, ArrayExpression, as_condition, as_number


@dataclass
class Gather:
    """A stand-in size: the mask (a vector over the gathered axis), the axis's real size, the count of the mask's
    true elements (a float, once lifted), and the refusal to raise where the stand-in is misused."""

    mask: ArrayExpression
    size: sp.Expr
    count: sp.Expr
    refusal: Exception


class MaskGathers:
    """The stand-in sizes of mask gathers (a mixin of Lifter: `self.gathers` maps each stand-in to its Gather)."""

    def gathered(self, source, mask, index_node, node, copy=True):
        """`x[m]`, `X[m]` or `X[m, :]`, m a vector of conditions over the first axis: `source` with the stand-in
        size of m in place of that axis, read from a copy of the array unless it is an argument (which nothing
        writes).  (A mask of several axes comes here with it and the array raveled over those axes: C order.)"""
        self.same_size(mask.shape[0], source.shape[0], f"the sizes of {source.text} and its mask", node)
        names = tuple(id(self.frame.variables.get(n.id)) for n in ast.walk(index_node) if isinstance(n, ast.Name))
        stores = sum(n for base, n in self.stores.items() if base not in self.gather_copies)
        key = (ast.dump(index_node), names, stores)  # (a store in between: another mask)
        stand_in = self.gather_keys.get(key)
        if stand_in is None:
            stand_in = self.gather_keys[key] = self.fresh("count", integer=True, nonnegative=True)
            mask = self.expression(self.copied_for_gather(mask, "kept", node), node)
            count = self.fold("sum", [mask.shape[0]], lambda i: as_number(as_condition(mask.at(i))), node)
            refusal = self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r} (a mask gather, as many elements as the mask has true "
                                 f"ones) is used where its positions or its size matter (an index, a slice, a shift, "
                                 f"an array of the full size): {MASK_ADVICE}")
            self.gathers[stand_in] = Gather(mask, mask.shape[0], count, refusal)
        if copy:  # (NumPy's gather is a copy: a later store into what it reads must not reach it)
            source = self.expression(self.copied_for_gather(source, "gathered", node), node)
        return ArrayExpression((stand_in,) + source.shape[1:], source.at, True, ast.unparse(node), fresh=True)

    def copied_for_gather(self, value, name, node):
        """`value` computed now into a local array of its own (the stores that make it do not count as stores
        between two gathers through one mask)."""
        copy = self.materialized(dataclasses.replace(value, view=False), name, node)
        self.gather_copies.add(copy.base)
        return copy

    def gather_of(self, size):
        """The Gather whose stand-in `size` is, or None."""
        return self.gathers.get(size) if isinstance(size, sp.Symbol) else None

    def real_sizes(self, sizes):
        """`sizes` with each stand-in replaced by its axis's real size (a local array of a gather is made whole)."""
        return tuple(self.gathers[s].size if self.gather_of(s) else s for s in sizes)

    def counted(self, expression):
        """A size used as a number (`len(r)`, np.mean's divisor): each stand-in in it as its mask's count."""
        return sp.sympify(expression).xreplace({s: g.count for s, g in self.gathers.items()})

    def not_along_a_gather(self, size):
        """Refuse indexing (or anything positional) along a stand-in axis."""
        gather = self.gather_of(size)
        if gather is not None:
            raise gather.refusal

    def misused_gathers(self, statements):
        """Refuse the program if a stand-in reached a statement: a use that neither carried it nor ran it over its
        mask (the safety net behind the rules above)."""
        if not self.gathers:
            return
        stand_ins = set(self.gathers)
        for statement in walk(statements):
            parts = [getattr(statement, f, None) for f in ("value", "start", "stop", "guard", "condition")]
            parts += list(getattr(statement, "indices", ())) + list(getattr(statement, "shape", ()))
            parts += [e for c in getattr(statement, "carried", ()) for e in (c.initial, c.next)]
            for part in parts:
                if isinstance(part, sp.Basic) and part.free_symbols & stand_ins:
                    raise self.gathers[next(iter(part.free_symbols & stand_ins))].refusal
