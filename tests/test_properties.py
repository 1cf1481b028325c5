"""Property tests: random programs from the scalar subset, differentiated by symgrad, against two references.

A hypothesis strategy generates whole Python modules (assignments with random binary operations and listed unary
functions on safe domains, augmented assignments, tuple-returning and defaulted helper functions, literal
``for``-range loops, ``if``/``else`` statements, conditional expressions, early returns, ``and``/``not``
conditions, and kinked functions such as ``abs``/``max``/``floor``).  Alongside the source text the generator
builds, independently, the same program in SymPy: at each sample point the SymPy twin follows the path the program
takes there and yields one expression.  symgrad's gradient must match ``sympy.diff`` of that expression and central
finite differences of the Python function.

Kinks are kept away from the sample points: every branch condition and every kink argument is recorded as a
margin, and a sample point is used only where each margin is clearly away from zero.
"""

import contextlib
import math
import operator
import os
import signal
from dataclasses import dataclass

import pytest
import sympy as sp
from conftest import central_difference, write_module
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import symgrad as sg

R = sp.Rational

SETTINGS = {
    "deadline": None,
    "database": None,
    "derandomize": bool(os.environ.get("CI")),  # reproducible in CI, exploring locally
    # No shrinking: every shrink step costs a derivation and a Numba compile (minutes in all); a failure message
    # carries the whole generated program instead.
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}

# (python template over {a}, sympy builder, margin builder or None).  Arguments are kept on safe domains by the
# templates themselves (log of 1.5 + a*a, asin of 0.5*tanh(a), ...).
UNARY = [
    ("math.sin({a})", sp.sin, None),
    ("np.sin({a})", sp.sin, None),
    ("math.cos({a})", sp.cos, None),
    ("np.cos({a})", sp.cos, None),
    ("math.tan(0.5 * math.tanh({a}))", lambda a: sp.tan(sp.tanh(a) / 2), None),
    ("math.tanh({a})", sp.tanh, None),
    ("np.tanh({a})", sp.tanh, None),
    ("math.sinh(np.sin({a}))", lambda a: sp.sinh(sp.sin(a)), None),
    ("np.cosh(0.5 * np.sin({a}))", lambda a: sp.cosh(sp.sin(a) / 2), None),
    ("math.atan({a})", sp.atan, None),
    ("np.arctan({a})", sp.atan, None),
    ("math.asin(0.5 * math.tanh({a}))", lambda a: sp.asin(sp.tanh(a) / 2), None),
    ("np.arccos(0.5 * np.sin({a}))", lambda a: sp.acos(sp.sin(a) / 2), None),
    ("math.asinh({a})", sp.asinh, None),
    ("np.arccosh(2.0 + ({a}) * ({a}))", lambda a: sp.acosh(2 + a * a), None),
    ("math.atanh(0.5 * math.tanh({a}))", lambda a: sp.atanh(sp.tanh(a) / 2), None),
    ("math.exp(0.5 * math.sin({a}))", lambda a: sp.exp(sp.sin(a) / 2), None),
    ("np.exp(-({a}) * ({a}))", lambda a: sp.exp(-a * a), None),
    ("math.expm1(math.tanh({a}))", lambda a: sp.exp(sp.tanh(a)) - 1, None),
    ("math.log(1.5 + ({a}) * ({a}))", lambda a: sp.log(R(3, 2) + a * a), None),
    ("np.log1p(({a}) * ({a}))", lambda a: sp.log(1 + a * a), None),
    ("math.log2(2.0 + math.sin({a}))", lambda a: sp.log(2 + sp.sin(a)) / sp.log(2), None),
    ("np.log10(1.5 + ({a}) * ({a}))", lambda a: sp.log(R(3, 2) + a * a) / sp.log(10), None),
    ("math.log(2.0 + math.cos({a}), 3.0)", lambda a: sp.log(2 + sp.cos(a)) / sp.log(3), None),
    ("math.sqrt(1.5 + ({a}) * ({a}))", lambda a: sp.sqrt(R(3, 2) + a * a), None),
    ("np.cbrt(2.0 + ({a}) * ({a}))", lambda a: sp.cbrt(2 + a * a), None),
    ("math.hypot({a}, 1.5)", lambda a: sp.sqrt(a * a + R(9, 4)), None),
    ("math.erf({a})", sp.erf, None),
    ("math.erfc({a})", sp.erfc, None),
    ("math.gamma(2.0 + math.sin({a}))", lambda a: sp.gamma(2 + sp.sin(a)), None),
    ("math.lgamma(1.5 + ({a}) * ({a}))", lambda a: sp.loggamma(R(3, 2) + a * a), None),
    ("(({a}) ** 2)", lambda a: a ** 2, None),
    ("pow({a}, 3)", lambda a: a ** 3, None),
    ("(-({a}))", lambda a: -a, None),
    # kinked: the argument must stay away from the kink at the sample points
    ("abs({a})", sp.Abs, lambda a: a),
    ("math.fabs({a})", sp.Abs, lambda a: a),
    ("np.sign({a}) * ({a})", lambda a: sp.sign(a) * a, lambda a: a),
    ("math.floor({a})", sp.floor, lambda a: sp.sin(sp.pi * a)),
    ("np.ceil({a})", sp.ceiling, lambda a: sp.sin(sp.pi * a)),
    ("(({a}) % 1.5)", lambda a: a - R(3, 2) * sp.floor(a / R(3, 2)), lambda a: sp.sin(sp.pi * a / R(3, 2))),
    ("max({a}, 0.0)", lambda a: sp.Max(a, 0), lambda a: a),
]

BINARY = [
    ("({a} + {b})", lambda a, b: a + b, None),
    ("({a} - {b})", lambda a, b: a - b, None),
    ("({a} * {b})", lambda a, b: a * b, None),
    ("({a} / (1.5 + ({b}) * ({b})))", lambda a, b: a / (R(3, 2) + b * b), None),
    ("math.atan2({a}, 1.5 + ({b}) * ({b}))", lambda a, b: sp.atan2(a, R(3, 2) + b * b), None),
    ("np.arctan2(1.0 + ({a}) * ({a}), {b})", lambda a, b: sp.atan2(1 + a * a, b), None),
    ("np.hypot({a}, 1.0 + ({b}) * ({b}))", lambda a, b: sp.sqrt(a * a + (1 + b * b) ** 2), None),
    ("((1.5 + ({a}) * ({a})) ** (0.5 * math.sin({b})))",
     lambda a, b: (R(3, 2) + a * a) ** (sp.sin(b) / 2), None),
    ("math.pow(2.0 + math.cos({a}), math.tanh({b}))", lambda a, b: (2 + sp.cos(a)) ** sp.tanh(b), None),
    ("max({a}, {b})", sp.Max, lambda a, b: a - b),
    ("np.minimum({a}, {b})", sp.Min, lambda a, b: a - b),
    ("min({a}, {b}, 0.25)", lambda a, b: sp.Min(a, b, R(1, 4)),
     lambda a, b: (a - b) * (a - R(1, 4)) * (b - R(1, 4))),
]

CONSTANTS = [("0.5", R(1, 2)), ("1.5", R(3, 2)), ("2.0", sp.Integer(2)), ("3", sp.Integer(3)), ("0.25", R(1, 4)),
             ("math.pi", sp.pi), ("np.e", sp.E)]

COMPARISONS = [(">", operator.gt), ("<", operator.lt), (">=", operator.ge), ("<=", operator.le)]


class Context:
    """Evaluates a generated program's SymPy twin at one sample point.

    Branches are decided here, numerically, so the twin is the smooth expression of the path taken at that point
    (no Piecewise: SymPy's Piecewise constructor tries to solve inequalities, which is slow and can fail).  Every
    branch condition and kink argument is recorded as a margin: the point is used only where all are clearly
    nonzero, so the path (and the smooth piece of each kinked function) is the same throughout a neighbourhood."""

    def __init__(self, substitutions):
        self.substitutions = substitutions
        self.margins = []

    def number(self, expr):
        return _number(expr, self.substitutions)

    def record(self, expr):
        self.margins.append(abs(self.number(expr)))

    def compare(self, a, b, op):
        difference = self.number(a - b)
        self.margins.append(abs(difference))
        return op(difference, 0.0)


@dataclass
class Expression:
    source: str
    build: object  # (env: name -> sympy, context) -> sympy.Expr


@dataclass
class Helper:
    name: str
    source: str
    default: object  # (source, sympy) or None
    returns_pair: bool
    build: object  # (args: list of sympy, context) -> sympy or tuple


@dataclass
class Program:
    source: str
    arguments: list
    steps: list  # (env, context) -> None, or ("return", value) for a taken early return
    final: Expression

    def build(self, substitutions):
        """The SymPy twin of the path taken at the point, and the margins met on the way."""
        context = Context(substitutions)
        env = {name: sp.Symbol(name, real=True) for name in self.arguments}
        for step in self.steps:
            outcome = step(env, context)
            if outcome is not None:
                return outcome[1], context.margins
        return self.final.build(env, context), context.margins


def expressions(draw, names, depth, extra_leaves=()):
    """A random expression over `names` (and loop indices in `extra_leaves`)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        leaves = list(names) + list(extra_leaves)
        if draw(st.integers(0, 4)) == 0 or not leaves:
            text, value = draw(st.sampled_from(CONSTANTS))
            return Expression(text, lambda env, context, value=value: value)
        name = draw(st.sampled_from(leaves))
        if name in extra_leaves:  # an int loop index used in float arithmetic
            return Expression(f"(0.5 * {name})", lambda env, context, name=name: R(1, 2) * env[name])
        return Expression(name, lambda env, context, name=name: env[name])
    if draw(st.booleans()):
        template, builder, margin = draw(st.sampled_from(UNARY))
        inner = expressions(draw, names, depth - 1, extra_leaves)

        def build(env, context, inner=inner, builder=builder, margin=margin):
            a = inner.build(env, context)
            if margin is not None:
                context.record(margin(a))
            return builder(a)

        return Expression(template.format(a=inner.source), build)
    template, builder, margin = draw(st.sampled_from(BINARY))
    left = expressions(draw, names, depth - 1, extra_leaves)
    right = expressions(draw, names, depth - 1, extra_leaves)

    def build(env, context, left=left, right=right, builder=builder, margin=margin):
        a, b = left.build(env, context), right.build(env, context)
        if margin is not None:
            context.record(margin(a, b))
        return builder(a, b)

    return Expression(template.format(a=left.source, b=right.source), build)


def conditions(draw, names):
    """A condition (source, build -> bool): a comparison, a chained comparison, or and/or/not of comparisons."""

    def comparison():
        left, right = expressions(draw, names, 1), expressions(draw, names, 1)
        text, op = draw(st.sampled_from(COMPARISONS))

        def build(env, context, left=left, right=right, op=op):
            return context.compare(left.build(env, context), right.build(env, context), op)

        return f"{left.source} {text} {right.source}", build

    kind = draw(st.sampled_from(["compare", "compare", "chain", "and", "or", "not"]))
    if kind == "compare":
        return comparison()
    if kind == "chain":
        low, middle, high = (expressions(draw, names, 1) for _ in range(3))

        def build(env, context):
            a, b, c = (e.build(env, context) for e in (low, middle, high))
            first, second = context.compare(a, b, operator.lt), context.compare(b, c, operator.lt)
            return first and second

        return f"{low.source} < {middle.source} < {high.source}", build
    if kind == "not":
        text, inner = comparison()
        return f"not ({text})", lambda env, context: not inner(env, context)
    (text_a, a), (text_b, b) = comparison(), comparison()

    def build(env, context):
        first, second = a(env, context), b(env, context)  # both recorded: stricter than Python's short circuit
        return (first and second) if kind == "and" else (first or second)

    return f"({text_a}) {kind} ({text_b})", build


def helpers(draw, index):
    """A module-level helper: two statements, maybe a default argument, maybe returning a pair."""
    name = f"helper_{index}"
    with_default = draw(st.booleans())
    returns_pair = draw(st.booleans())
    parameters = ["p", "q"]
    default = draw(st.sampled_from(CONSTANTS[:5])) if with_default else None
    local = expressions(draw, parameters, 2)
    first = expressions(draw, parameters + ["r"], 2)
    second = expressions(draw, parameters + ["r"], 2) if returns_pair else None
    header = f"def {name}(p, q={default[0]}):" if with_default else f"def {name}(p, q):"
    returned = first.source + (f", {second.source}" if returns_pair else "")
    source = f"{header}\n    r = {local.source}\n    return {returned}\n"

    def build(args, context):
        env = {"p": args[0], "q": args[1] if len(args) > 1 else default[1]}
        env["r"] = local.build(env, context)
        if returns_pair:
            return first.build(env, context), second.build(env, context)
        return first.build(env, context)

    return Helper(name, source, default, returns_pair, build)


@st.composite
def programs(draw, branchy=False):
    arguments = ["x", "y", "z"][:draw(st.integers(1, 3))]
    helper_list = [helpers(draw, k) for k in range(draw(st.integers(0, 2)))]
    names = list(arguments)  # variables visible to later statements
    lines, steps = [], []
    fresh = iter(f"v{k}" for k in range(1000))
    kinds = ["assign", "assign", "augment", "loop", "ifexp"]
    if helper_list:
        kinds += ["helper", "helper"]
    if branchy:
        kinds += ["if", "if", "if", "return"]
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(kinds))
        if kind == "assign":
            target, value = next(fresh), expressions(draw, names, 2)
            lines.append(f"    {target} = {value.source}")

            def step(env, context, target=target, value=value):
                env[target] = value.build(env, context)

            names.append(target)
        elif kind == "augment":
            target = draw(st.sampled_from(names))
            text, op = draw(st.sampled_from([("+", operator.add), ("-", operator.sub), ("*", operator.mul)]))
            value = expressions(draw, names, 2)
            lines.append(f"    {target} {text}= {value.source}")

            def step(env, context, target=target, op=op, value=value):
                env[target] = op(env[target], value.build(env, context))
        elif kind == "loop":
            target = draw(st.sampled_from(names))
            count = draw(st.integers(1, 2))
            body = expressions(draw, names, 2, extra_leaves=("i",))
            lines.append(f"    for i in range({count}):")
            lines.append(f"        {target} = 0.5 * {target} + {body.source}")

            def step(env, context, target=target, count=count, body=body):
                for i in range(count):
                    env["i"] = sp.Integer(i)
                    env[target] = R(1, 2) * env[target] + body.build(env, context)
                env.pop("i")
        elif kind == "ifexp":
            target = next(fresh)
            text, condition = conditions(draw, names)
            a, b = expressions(draw, names, 2), expressions(draw, names, 2)
            lines.append(f"    {target} = {a.source} if {text} else {b.source}")

            def step(env, context, target=target, condition=condition, a=a, b=b):
                env[target] = (a if condition(env, context) else b).build(env, context)

            names.append(target)
        elif kind == "helper":
            helper = draw(st.sampled_from(helper_list))
            args = [expressions(draw, names, 1)]
            if helper.default is None or draw(st.booleans()):
                args.append(expressions(draw, names, 1))
            call = f"{helper.name}({', '.join(a.source for a in args)})"
            targets = (next(fresh), next(fresh)) if helper.returns_pair else (next(fresh),)
            lines.append(f"    {', '.join(targets)} = {call}")

            def step(env, context, helper=helper, args=args, targets=targets):
                result = helper.build([a.build(env, context) for a in args], context)
                for target, value in zip(targets, result if helper.returns_pair else (result,)):
                    env[target] = value

            names += list(targets)
        elif kind == "if":
            text, condition = conditions(draw, names)
            target = next(fresh)
            updated = draw(st.sampled_from(names))  # also reassigned, on one side only
            a, b, c = (expressions(draw, names, 2) for _ in range(3))
            lines.append(f"    if {text}:")
            lines.append(f"        {target} = {a.source}")
            lines.append(f"        {updated} = {c.source}")
            lines.append("    else:")
            lines.append(f"        {target} = {b.source}")

            def step(env, context, condition=condition, target=target, updated=updated, a=a, b=b, c=c):
                if condition(env, context):
                    env[target], env[updated] = a.build(env, context), c.build(env, context)
                else:
                    env[target] = b.build(env, context)

            names.append(target)
        else:  # an early return
            text, condition = conditions(draw, names)
            value = expressions(draw, names, 2)
            lines.append(f"    if {text}:")
            lines.append(f"        return {value.source}")

            def step(env, context, condition=condition, value=value):
                if condition(env, context):
                    return "return", value.build(env, context)
                return None

        steps.append(step)
    final = expressions(draw, names[-3:] + list(arguments), 2)
    lines.append(f"    return {final.source}")
    header = "import math\n\nimport numpy as np\n\n\n" + "\n\n".join(h.source for h in helper_list) + "\n\n"
    source = header + f"def program({', '.join(arguments)}):\n" + "\n".join(lines) + "\n"
    return Program(source, arguments, steps, final)


def _number(expr, substitutions):
    value = complex(sp.sympify(expr).subs(substitutions).evalf(30))
    assert abs(value.imag) <= 1e-12 * max(1.0, abs(value.real)), f"the reference is complex: {value}"
    return value.real


def _without_kink_terms(expr):
    # floor, ceil and sign are flat almost everywhere (sympy leaves their derivatives unevaluated)
    expr = expr.replace(lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling, sp.sign)),
                        lambda e: sp.Integer(0))
    expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.Integer(0))
    return expr.replace(lambda e: isinstance(e, sp.Subs) and e.expr == 0, lambda e: sp.Integer(0))


class _ReferenceTooSlow(Exception):
    pass


@contextlib.contextmanager
def reference_time_limit(seconds):
    """Bound the time SymPy may spend on one example's reference (its simplification on construction has a heavy
    tail); an example over the limit is rejected, never passed.  symgrad itself is not under this limit."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise _ReferenceTooSlow()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def references(program, points):
    """(point, value, gradient) from the SymPy twin at each point clear of kinks and branch switches."""
    symbols = [sp.Symbol(n, real=True) for n in program.arguments]
    result = []
    for point in points:
        substitutions = {s: sp.Float(repr(p), 30) for s, p in zip(symbols, point)}
        expression, margins = program.build(substitutions)
        if all(m > 1e-3 for m in margins):
            try:
                gradient = [_number(_without_kink_terms(sp.diff(expression, s)), substitutions) for s in symbols]
            except TypeError:  # SymPy 1.14 fails on some twins (it subtracts two relationals while ordering a
                continue  # product of Min and floor terms): no reference at this point, as for a slow one
            result.append((point, _number(expression, substitutions), gradient))
    return result


def check_program(program, points):
    """Compile `program` once and compare its gradient at each usable point with sympy.diff and FD."""
    try:
        with reference_time_limit(15.0):
            usable = references(program, points)
    except _ReferenceTooSlow:
        usable = []
    assume(usable)
    module = write_module(program.source)
    function = module.program
    for point, reference_value, reference in usable:
        value = float(function(*point))
        assume(math.isfinite(value) and abs(value) < 1e6 and all(abs(r) < 1e8 for r in reference))
        assert reference_value == pytest.approx(value, rel=1e-9, abs=1e-9), \
            f"generator bug: the SymPy twin does not compute the program's value\n{program.source}"
    vg = sg.value_and_grad(function, wrt=tuple(program.arguments))
    for point, _, reference in usable:
        value = float(function(*point))
        got_value, gradient = vg(*point)
        assert got_value == pytest.approx(value, rel=1e-11, abs=1e-12), f"value at {point}\n{program.source}"
        scale = max(1.0, abs(value))
        for k, (name, d, r) in enumerate(zip(program.arguments, gradient, reference)):
            assert math.isfinite(d), f"d/d{name} at {point} is {d}\n{program.source}"
            assert abs(d - r) <= 1e-9 * max(1.0, abs(r)), \
                f"d/d{name} at {point}: symgrad {d!r}, sympy {r!r}\n{program.source}"
            fd = central_difference(function, point, k)
            assert abs(d - fd) <= 1e-6 * max(scale, abs(fd)), \
                f"d/d{name} at {point}: symgrad {d!r}, finite differences {fd!r}\n{program.source}"


POINTS = st.lists(st.tuples(*[st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)] * 3),
                  min_size=3, max_size=3)


@settings(max_examples=40, **SETTINGS)
@given(program=programs(branchy=False), points=POINTS)
def test_random_straight_line_programs(program, points):
    """Assignments, augmented assignments, helpers (defaults, pairs), literal loops, conditional expressions."""
    check_program(program, [p[:len(program.arguments)] for p in points])


@settings(max_examples=40, **SETTINGS)
@given(program=programs(branchy=True), points=POINTS)
def test_random_branchy_programs(program, points):
    """As above, plus if/else statements that reassign on one side only and early returns."""
    check_program(program, [p[:len(program.arguments)] for p in points])
