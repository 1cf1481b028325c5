"""Forward mode: derivatives with respect to a few scalars carried along with the values, in one pass.

For a recurrence differentiated with respect to a handful of scalar parameters (the stiffness and damping of an
integrated oscillator), carrying ``d state / d parameter`` forward through the loop costs a few extra numbers
per step and no tape, where reverse mode would record every step and sweep back over them.  Each statement
``v = e(s1..sk)`` gains, per parameter p, ``v_dot_p = sum_i de/ds_i * s_i_dot_p`` with the same local partials
as reverse mode (`reverse.local_partial`), so the rules table serves both.
"""

import sympy as sp

from . import passes
from .ir import Allocate, Assign, Carried, Derivative, Loop, Program, Store, walk
from .reverse import defined_names, differentiable_atoms, local_partial, name_sums, unique_symbol

MAX_PARAMETERS = 4  # more scalars than this, and one reverse sweep is cheaper than carrying them all


def prefers_forward(program, wrt):
    """Forward mode for a program with loops differentiated with respect to a few float scalars."""
    scalars = all(program.argument(name).kind == "float" for name in wrt)
    return scalars and len(wrt) <= MAX_PARAMETERS and any(isinstance(s, Loop) for s in program.body)


class Tangents:
    def __init__(self, program, wrt, seeds=None, enabled=passes.ALL):
        self.program = program
        self.wrt = list(wrt)
        self.used_names = {a.name for a in program.arguments} | {s.name for a in program.arguments for s in a.shape}
        self.used_names |= defined_names(program.body)
        self.body = name_sums(program.body, self.fresh) if "name_sums" in enabled else program.body
        self.tangent = {}  # (symbol or array label, parameter) -> tangent symbol, array base or number
        self.partials = {}  # (value, atom, out) -> folded local partial, shared by the parameters
        if seeds is not None:  # one direction, `wrt[0]`: per argument a number, a float symbol or an array base
            for name, seed in seeds.items():  # (whose element v[i] is the tangent of x[i])
                self.tangent[(program.argument(name).symbol, self.wrt[0])] = seed
            self.active = {self.wrt[0]: active_values(program.body, {program.argument(name).symbol
                                                                     for name, seed in seeds.items() if seed != 0})
                           } if seeds else {}  # (no seeds: the caller sets them, and every value may be active)
            return
        for name in self.wrt:
            for other in self.wrt:
                self.tangent[(program.argument(name).symbol, other)] = sp.Integer(1 if name == other else 0)
        self.active = {name: active_values(self.body, {program.argument(name).symbol}) for name in self.wrt}

    def fresh(self, name):
        return unique_symbol(self.used_names, name)

    def inactive(self, name, parameter):
        """Whether the value or array `name` cannot depend on `parameter` (see `active_values`): it gets no tangent."""
        return parameter in self.active and name not in self.active[parameter]

    def of(self, atom, parameter):
        """The tangent of an atom (a symbol or an array element) along one parameter."""
        if isinstance(atom, sp.Indexed):
            base = self.tangent.get((atom.base.label, parameter))
            return sp.Integer(0) if base is None else sp.Indexed(base, *atom.indices)
        return self.tangent.get((atom, parameter), sp.Integer(0))

    def differential(self, value, parameter, out=None):
        """d value / d parameter from the local partials of `value` and the tangents of what it reads."""
        total = sp.Integer(0)
        for atom in sorted(differentiable_atoms(value), key=str):
            tangent = self.of(atom, parameter)
            if tangent != 0:
                total += _times(self.folded_partial(value, atom, out), tangent)
        return total

    def folded_partial(self, value, atom, out):
        """d value / d atom with its branches folded to the top, once for every parameter: a branch's NaN then
        stays in its branch when the tangent multiplies it.  (Folded term by term, as reverse mode does; folding
        the sum multiplied the branches of every term together: fuzz seed 1003323, minutes.)"""
        key = (value, atom, out)
        if key not in self.partials:
            partial = local_partial(value, atom, out)
            self.partials[key] = sp.piecewise_fold(partial) if partial.has(sp.Piecewise) else partial
        return self.partials[key]

    def named(self, symbol, parameter, value, guard, line, out, taped=False):
        """Bind the tangent of `symbol`: a number stays a number, anything else gets a statement."""
        # The tangent of a taped read is a read of the tangent array: reverse mode (over this forward program, for
        # a Hessian) records it as it records the value's, so it stays a read, under the read's guard (wrapped in
        # a Piecewise, it was not recorded, and the reverse sweep read the array as the last iteration left it).
        taped = taped and isinstance(value, sp.Indexed)
        if guard is not sp.true and value != 0 and not taped:
            value = sp.Piecewise((value, guard), (0, True))
        if value.is_number:
            self.tangent[(symbol, parameter)] = value
            return
        tangent = self.fresh(f"{symbol.name}_dot_{parameter}")
        self.tangent[(symbol, parameter)] = tangent
        out.append(Assign(tangent, value, guard if taped else sp.true, line, taped))

    def statements(self, statements):
        out = []
        for statement in statements:
            out.append(statement)
            if isinstance(statement, Assign):
                for parameter in self.wrt:
                    value = self.differential(statement.value, parameter, statement.target)
                    self.named(statement.target, parameter, value, statement.guard, statement.line, out,
                               statement.taped)
            elif isinstance(statement, Allocate):
                for parameter in self.wrt:
                    if self.inactive(statement.base.label, parameter):
                        continue  # (its tangent is zero: `of` reads 0 for an element of an array with none)
                    base = sp.IndexedBase(self.fresh(f"{statement.base.label.name}_dot_{parameter}"),
                                          shape=statement.base.shape)
                    self.tangent[(statement.base.label, parameter)] = base
                    out.append(Allocate(base, statement.shape, statement.line))
            elif isinstance(statement, Store):
                for parameter in self.wrt:
                    base = self.tangent.get((statement.base.label, parameter))
                    if base is not None:
                        out.append(Store(base, statement.indices, self.differential(statement.value, parameter),
                                         statement.accumulate, statement.line))
            elif isinstance(statement, Loop):
                out[-1] = self.loop(statement)
        return out

    def loop(self, loop):
        """A loop carrying the tangents of its carried values as more carried values."""
        phis = {}
        for c in loop.carried:
            for parameter in self.wrt:
                if self.inactive(c.phi, parameter):
                    continue
                phis[(c, parameter)] = self.fresh(f"{c.phi.name}_dot_{parameter}")
                self.tangent[(c.phi, parameter)] = phis[(c, parameter)]
        body = self.statements(loop.body)
        carried = list(loop.carried)
        for c in loop.carried:
            for parameter in self.wrt:
                if self.inactive(c.phi, parameter):
                    continue
                initial = self.differential(c.initial, parameter) if not c.initial.is_Symbol else self.of(
                    c.initial, parameter)
                following = self.of(c.next, parameter) if c.next.is_Symbol else self.differential(c.next, parameter)
                result = self.fresh(f"{c.result.name}_dot_{parameter}")
                self.tangent[(c.result, parameter)] = result
                carried.append(Carried(phis[(c, parameter)], initial, following, result))
        return Loop(loop.index, loop.start, loop.stop, loop.step, body, carried, loop.line)


def active_values(statements, seeds):
    """The symbols and array labels of `statements` whose value can depend on the `seeds` (activity analysis, to a
    fixed point over loops): only these get tangents.  A value that merely passes zero tangents along gets none, so
    `0 * sqrt'(0)` is never computed where the value does not depend on the parameter at all (fuzz seed 12100922:
    `np.std(y - y)` by forward mode with respect to an unused scalar gave nan)."""
    active = set(seeds)

    def reads_active(value):
        return any((atom.base.label if isinstance(atom, sp.Indexed) else atom) in active
                   for atom in differentiable_atoms(value))

    grown = True
    while grown:
        grown = False
        for statement in walk(statements):
            if isinstance(statement, Assign) and statement.target not in active and reads_active(statement.value):
                active.add(statement.target)
                grown = True
            elif isinstance(statement, Store) and statement.base.label not in active and \
                    reads_active(statement.value):
                active.add(statement.base.label)
                grown = True
            elif isinstance(statement, Loop):
                for c in statement.carried:
                    if c.phi not in active and (reads_active(c.initial) or reads_active(c.next)):
                        active |= {c.phi, c.result}
                        grown = True
    return active


def _times(partial, tangent):
    """partial * tangent, the tangent moved into each branch of a folded Piecewise partial."""
    if isinstance(partial, sp.Piecewise):
        return sp.Piecewise(*[(value * tangent, condition) for value, condition in partial.args])
    return partial * tangent


def directional(program, seeds, direction="v"):
    """`program` followed through by its derivative along the direction `seeds` (argument name -> a number, a
    float symbol, or an array base whose v[i] is the tangent of x[i]), as a Program returning that directional
    derivative: reverse mode differentiates it once more for a Hessian-vector product, and forward mode again
    for a higher derivative.  The arguments the seeds introduce are the caller's to add."""
    tangents = Tangents(program, [direction], seeds)
    tangents.used_names |= {s.name if isinstance(s, sp.Symbol) else s.label.name
                            for s in seeds.values() if not isinstance(s, (int, sp.Number))}
    body = tangents.statements(program.body)
    output = program.outputs[0]
    tangent = tangents.of(output, direction) if isinstance(output, (sp.Symbol, sp.Indexed)) else \
        tangents.differential(output, direction)
    if not tangent.is_Atom:  # reverse mode seeds a symbol: give the output one
        symbol = tangents.fresh(f"{program.name}_dot")
        body.append(Assign(symbol, tangent))
        tangent = symbol
    return Program(f"{program.name}_dot", list(program.arguments), body, [tangent], program.filename,
                   program.line, shape_checks=list(program.shape_checks), passed_globals=program.passed_globals,
                   folded_globals=program.folded_globals)


def forward(program, wrt, output=0, enabled=passes.ALL):
    """The derivative of `program.outputs[output]` with respect to the scalars in `wrt`, by forward mode."""
    tangents = Tangents(program, wrt, enabled=enabled)
    body = tangents.statements(tangents.body)
    seed = program.outputs[output]
    gradients = [tangents.of(seed, parameter) if isinstance(seed, sp.Symbol) else sp.Integer(0) for parameter in wrt]
    return Derivative(program, list(wrt), body, [], gradients, {}, {}, mode="forward")
