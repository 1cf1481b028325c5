"""Vectorised NumPy programs for the differential fuzzer (``python -m benchmarks.fuzz --numpy``).

The loop programs of `generator` exercise the IR, the sweeps and the kernel passes; these exercise the NumPy
lowering (symgrad/frontend/numpy_lowering.py) the way users write NumPy: whole-array arithmetic with broadcasting
(`(n, m) + (m,)`, `v[:, None]`, keepdims reductions stretched back), slices (`x[1:] - x[:-1]`, `A[:, 1:]`,
`A[:, j]`), matrix products in every orientation, reductions with `axis=`, `np.where`/`np.maximum`/`np.clip` at
kinks, local arrays read twice and rebound.  Every value carries its shape as a tuple of symbolic sizes ("n",
"m", "n-1", ...), and an operation is only written between shapes NumPy accepts, so each program runs in Python;
the oracle then judges it exactly as a loop program (value against Python, gradient against differences and
JAX, forward against reverse, optimised against unoptimised).
"""

import random
import re
from dataclasses import dataclass

from benchmarks.fuzz.generator import Program

SMOOTH = ("np.tanh({0})", "np.sin({0})", "np.exp(0.5 * np.tanh({0}))", "np.log1p({0} * {0})",
          "np.sqrt(1.0 + {0} * {0})", "np.arctan({0})", "np.cos({0})", "({0}) ** 2", "np.log(2.0 + np.sin({0}))",
          "np.expm1(0.3 * np.tanh({0}))", "np.log2(1.5 + {0} * {0})", "np.cbrt(2.0 + {0} * {0})")
KINKED = ("np.abs({0})", "np.maximum({0}, {c})", "np.minimum({0}, {c})", "np.where({0} > {c}, {0}, 0.1 * {0})",
          "np.clip({0}, -0.8, 0.8)", "np.maximum({0}, 0.0)", "np.maximum({c}, {0})", "np.fmin({0}, {c})",
          "np.where({0} <= {c}, {c}, {0})", "np.where({0} >= {c}, {0}, {c})")
REDUCTIONS = ("np.sum", "np.mean", "np.max", "np.min")


@dataclass(frozen=True)
class Value:
    """An expression and its shape: a tuple of symbolic sizes, () for a number."""

    text: str
    shape: tuple


class NumpyWriter:
    """Writes one vectorised program; `rng` decides everything, so a seed is a program."""

    def __init__(self, seed):
        self.seed = seed
        self.rng = random.Random(seed)
        self.sizes = {"n": self.rng.randint(2, 6), "m": self.rng.randint(2, 5)}
        self.args = {}
        self.values = []  # what expressions may read: arguments, then locals
        self.lines = []
        self.features = []
        self.counter = 0

    def note(self, feature):
        if feature not in self.features:
            self.features.append(feature)

    def constant(self, low=-0.9, high=0.9):
        return f"{self.rng.uniform(low, high):.2f}"

    def number(self):
        return round(self.rng.uniform(-1.5, 1.5), 3)

    def size(self, symbol):
        """The length a symbolic size has at the call ("n-1" is n - 1)."""
        base, _, minus = symbol.partition("-")
        return self.sizes[base] - int(minus or 0)

    # --- arguments -----------------------------------------------------------------------------------------
    def choose_arguments(self):
        n, m = self.sizes["n"], self.sizes["m"]
        shapes = {"x": ("n",), "A": ("n", "m"), "w": ("m",), "y": ("n",), "B": ("m", "n"), "s": ()}
        chosen = ["x", "A", "w"] + [name for name in ("y", "B", "s") if self.rng.random() < 0.5]
        for name in chosen:
            shape = shapes[name]
            if not shape:
                self.args[name] = self.number()
            elif len(shape) == 1:
                self.args[name] = [self.number() for _ in range(n if shape == ("n",) else m)]
            else:
                rows, columns = (n, m) if shape == ("n", "m") else (m, n)
                self.args[name] = [[self.number() for _ in range(columns)] for _ in range(rows)]
            self.values.append(Value(name, shape))

    # --- expressions ---------------------------------------------------------------------------------------
    def of_shape(self, shape, depth):
        """An expression of `shape` (a value read, sliced, combined or reduced to it)."""
        candidates = [v for v in self.values if v.shape == shape]
        if depth <= 0 or (candidates and self.rng.random() < 0.35):
            if candidates:
                return self.rng.choice(candidates).text
            return self.made(shape, 0)
        return self.made(shape, depth)

    def made(self, shape, depth):
        """An expression of `shape` built by one operation."""
        makers = [self.elementwise, self.function, self.kink]
        if len(shape) == 1:
            makers += [self.product, self.reduced_matrix, self.column_or_row, self.statistic_along]
            if shape[0] in ("n", "m"):
                makers += [self.sliced_difference, self.cumulative, self.rolled, self.joined_rows]
        if len(shape) == 2:
            makers += [self.broadcast, self.outer_or_transpose, self.along_axis]
        if shape == ():
            makers = [self.reduction, self.reduction, self.dot, self.elementwise, self.function, self.statistic,
                      self.contraction, self.comprehension, self.windows]
        for _ in range(8):
            made = self.rng.choice(makers)(shape, depth - 1)
            if made is not None:
                return f"({made})"  # (an operand of any operator: `w * (x @ A)`, never `(w * x) @ A`)
        return self.leaf(shape)

    def leaf(self, shape):
        """An argument of `shape`, or a slice or reduction of one that has it."""
        exact = [v for v in self.values if v.shape == shape]
        if exact:
            return self.rng.choice(exact).text
        if shape == ():
            return self.constant()
        if len(shape) == 1:
            return f"np.sum(A, axis=0)" if shape == ("m",) else "np.sum(A, axis=1)" if shape == ("n",) else (
                f"x[1:]" if shape == ("n-1",) else "w[1:]")
        return "np.outer(x, w)" if shape == ("n", "m") else "A.T"

    def elementwise(self, shape, depth):
        left, right = self.of_shape(shape, depth), self.of_shape(shape if self.rng.random() < 0.7 else (), depth)
        operator = self.rng.choice(["+", "-", "*", "*", "/"])
        if operator == "/":
            return f"({left}) / (1.5 + ({right}) ** 2)"
        return f"({left} {operator} {right})"

    def function(self, shape, depth):
        self.note("whole-array function")
        return self.rng.choice(SMOOTH).format(f"({self.of_shape(shape, depth)})")

    def kink(self, shape, depth):
        self.note("kink")
        return self.rng.choice(KINKED).format(f"({self.of_shape(shape, depth)})", c=self.constant(-0.5, 0.5))

    def product(self, shape, depth):
        """A matrix-vector product giving a vector of `shape`."""
        if shape == ("n",):
            self.note("matrix product")
            return self.rng.choice([f"A @ ({self.of_shape(('m',), depth)})",
                                    f"np.dot(A, {self.of_shape(('m',), depth)})",
                                    f"({self.of_shape(('n', 'm'), depth)}) @ w"])
        if shape == ("m",):
            self.note("matrix product")
            return self.rng.choice([f"({self.of_shape(('n',), depth)}) @ A", f"A.T @ ({self.of_shape(('n',), depth)})"]
                                   + ([f"B @ ({self.of_shape(('n',), depth)})"] if "B" in self.args else []))
        return None

    def reduced_matrix(self, shape, depth):
        """A reduction of a matrix along one axis."""
        if shape not in (("n",), ("m",)):
            return None
        self.note("axis reduction")
        axis = 1 if shape == ("n",) else 0
        function = self.rng.choice(REDUCTIONS)
        return f"{function}({self.of_shape(('n', 'm'), depth)}, axis={self.rng.choice([axis, axis - 2])})"

    def column_or_row(self, shape, depth):
        if shape == ("n",):
            self.note("column")
            return f"A[:, {self.rng.randrange(self.sizes['m'])}]"
        if shape == ("m",):
            self.note("row")
            return f"A[{self.rng.randrange(-self.sizes['n'], self.sizes['n'])}]"
        return None

    def sliced_difference(self, shape, depth):
        """A vector of `shape` from its neighbours: a slice difference padded back, or a slice of a longer one."""
        self.note("slices")
        inner = self.of_shape(shape, depth)
        name = self.local(inner, shape)
        return self.rng.choice([f"np.concatenate([{name}[:1], {name}[1:] - {name}[:-1]])",
                                f"np.concatenate([{name}[1:] * {name}[:-1], {name}[-1:]])",
                                f"np.concatenate([np.diff({name}), {name}[:1]])",
                                f"{name}[::-1]"])

    def cumulative(self, shape, depth):
        self.note("cumsum")
        return f"np.cumsum({self.of_shape(shape, depth)}) / {self.size(shape[0])}.0"

    def broadcast(self, shape, depth):
        """A matrix from a matrix and a vector or a keepdims reduction stretched along an axis."""
        if shape != ("n", "m"):
            return None
        self.note("broadcasting")
        matrix = self.of_shape(shape, depth)
        stretched = self.rng.choice([
            f"{self.of_shape(('m',), depth)}",
            f"({self.of_shape(('n',), depth)})[:, None]",
            f"{self.rng.choice(REDUCTIONS)}({matrix}, axis=1, keepdims=True)",
            f"{self.rng.choice(REDUCTIONS)}({matrix}, axis=0, keepdims=True)"])
        return f"({matrix} {self.rng.choice(['+', '-', '*'])} {stretched})"

    def outer_or_transpose(self, shape, depth):
        if shape == ("n", "m"):
            self.note("outer")
            return self.rng.choice([f"np.outer({self.of_shape(('n',), depth)}, {self.of_shape(('m',), depth)})",
                                    f"({self.of_shape(('n',), depth)})[:, None] * ({self.of_shape(('m',), depth)})"
                                    "[None, :]"] + (["B.T"] if "B" in self.args else []))
        if shape == ("m", "n"):
            return f"({self.of_shape(('n', 'm'), depth)}).T"
        return None

    def statistic_along(self, shape, depth):
        """np.std / np.var / a vector norm of a matrix along one axis."""
        if shape not in (("n",), ("m",)):
            return None
        self.note("statistics")
        axis = 1 if shape == ("n",) else 0
        matrix = self.of_shape(("n", "m"), depth)
        return self.rng.choice([f"np.std({matrix}, axis={axis})", f"np.var({matrix}, axis={axis - 2}, ddof=1)",
                                f"np.linalg.norm({matrix}, axis={axis})", f"({matrix}).var(axis={axis})"])

    def statistic(self, shape, depth):
        self.note("statistics")
        vector = self.of_shape(self.rng.choice([("n",), ("m",)]), depth)
        return self.rng.choice([f"np.std({vector})", f"np.var({vector})", f"np.linalg.norm({vector})",
                                f"({vector}).std()", f"np.linalg.norm({self.of_shape(('n', 'm'), depth)})"])

    def rolled(self, shape, depth):
        self.note("roll and flip")
        vector = self.of_shape(shape, depth)
        return self.rng.choice([f"np.roll({vector}, {self.rng.choice([1, -1, 2])})", f"np.flip({vector})"])

    def joined_rows(self, shape, depth):
        """A sum along axis 0 of two matrices stacked by rows (or of a matrix and itself reversed)."""
        if shape != ("m",):
            return None
        self.note("joins")
        first, second = self.of_shape(("n", "m"), depth), self.of_shape(("n", "m"), depth)
        return self.rng.choice([f"np.sum(np.concatenate([{first}, {second}], axis=0), axis=0)",
                                f"np.mean(np.vstack([{first}, {second}[::-1]]), axis=0)"])

    def along_axis(self, shape, depth):
        """A matrix from a matrix along an axis: cumulative sums, rolls, flips."""
        if shape != ("n", "m"):
            return None
        self.note("along an axis")
        matrix = self.of_shape(shape, depth)
        axis = self.rng.choice([0, 1, -1])
        return self.rng.choice([f"np.cumsum({matrix}, axis={axis}) / {self.size(shape[axis])}.0",
                                f"np.roll({matrix}, 1, axis={axis})", f"np.flip({matrix}, axis={axis})"])

    def contraction(self, shape, depth):
        self.note("einsum")
        matrix, vector = self.of_shape(("n", "m"), depth), self.of_shape(("m",), depth)
        return self.rng.choice([f"np.einsum('ij,j->', {matrix}, {vector})",
                                f"np.einsum('ij,ij->', {matrix}, {self.of_shape(('n', 'm'), depth)})",
                                f"np.sum(np.einsum('ij,j->i', {matrix}, {vector}) ** 2)"])

    def comprehension(self, shape, depth):
        """A sum of a generator or of a list comprehension over a vector's elements or neighbours."""
        self.note("comprehension")
        name = self.local(self.of_shape(("n",), depth), ("n",))
        return self.rng.choice([f"sum({name}[i] * {name}[i + 1] for i in range(len({name}) - 1))",
                                f"sum([e * e for e in {name}])",
                                f"np.sum(np.array([{name}[i] - {name}[i - 1] for i in range(1, len({name}))]) ** 2)"])

    def windows(self, shape, depth):
        """A sum over windows of a vector whose bounds move with a loop variable (`v[i - 2:i + 1]`): from where
        they fit, under an `if`, clipped with `max` or `min`, or running backwards; each as NumPy reads it."""
        self.note("windows")
        name = self.local(self.of_shape(("n",), depth), ("n",))
        width, term = self.rng.randint(1, 2), self.rng.choice(SMOOTH + ("{0}",))
        self.counter += 1
        total = f"t{self.counter}"
        loop, window = self.rng.choice([
            (f"for i in range({width}, len({name})):", f"{name}[i - {width}:i + 1]"),
            (f"for i in range(len({name})):\n        if i >= {width}:", f"{name}[i - {width}:i + 1]"),
            (f"for i in range(len({name})):", f"{name}[max(i - {width}, 0):i + 1]"),
            (f"for i in range(len({name})):", f"{name}[i::-1] * {name}[:i + 1]"),
            (f"for i in range(1, len({name})):", f"{name}[:i] - {name}[i]"),
            (f"for i in range(len({name})):", f"{name}[i:min(i + {width + 1}, len({name}))]"),
            (f"for i in range(len({name})):\n        if i + {width} < len({name}):", f"{name}[i:i + {width + 1}]"),
        ])
        indent = " " * (8 + 4 * loop.count("\n"))
        self.lines += [f"    {total} = 0.0", f"    {loop}", f"{indent}{total} += np.sum({term.format(f'({window})')})"]
        self.values.append(Value(total, ()))
        return total

    def reduction(self, shape, depth):
        self.note("reduction")
        source = self.rng.choice([("n",), ("m",), ("n", "m")])
        return f"{self.rng.choice(REDUCTIONS)}({self.of_shape(source, depth)})"

    def dot(self, shape, depth):
        self.note("dot")
        vector = self.rng.choice([("n",), ("m",)])
        return f"({self.of_shape(vector, depth)}) @ ({self.of_shape(vector, depth)})"

    # --- statements ----------------------------------------------------------------------------------------
    def local(self, text, shape):
        """`text` assigned to a fresh local (read later, perhaps twice); its name."""
        self.counter += 1
        name = f"t{self.counter}"
        self.lines.append(f"    {name} = {text}")
        self.values.append(Value(name, shape))
        return name

    def statement(self):
        shape = self.rng.choice([("n",), ("m",), ("n", "m"), ("n", "m"), ()])
        name = self.local(self.of_shape(shape, self.rng.randint(1, 3)), shape)
        if self.rng.random() < 0.25:  # rebound: the name now holds a new array computed from its old one
            self.note("rebinding")
            self.lines.append(f"    {name} = {self.rng.choice(SMOOTH).format(name)} + {self.constant()} * {name}")

    # Forms drawn apart, from a random stream of their own, and read by the return after the others: every seed's
    # program of the forms above stays what it was (the regression tests name seeds), and some gain one of these.
    EXTRA_FORMS = (
        "np.sum(np.tile({v}, 2) * np.tile({u}, 2))", "np.sum(np.repeat({v}, 2) ** 2)",
        "np.sum(np.tile({M}, (2, 1)) ** 2)", "np.sum(np.repeat({M}, 2, axis=1) * {c})",
        "np.mean([{s}, {t}, {c}])", "math.prod([{s}, {t}])", "sum(({s}, {t}))", "max([{s}, {t}, {c}])",
        "np.sum(np.floor(3.0 * {v}) * {v})", "np.sum(np.round({v}, 1) * {u})", "np.sum(np.fmod({v}, 0.4) * {u})",
        "np.sum(np.rint(2.0 * {v}) * np.trunc(3.0 * {u}) * {v})",
    )
    EXTRA_SHARE = 0.4

    # Statements drawn from a third stream of their own (the programs of the first two stay what they were): mask
    # gathers kept as values, in-place updates through a second name of an array, a general matrix's solve and
    # determinants.  A mask keeps the largest element too, so that no gather is empty (NumPy's max of none raises).
    ALIASED_FORMS = (
        ("keep = ({u} > {c}) | ({u} >= np.max({u}))\n    g = {v}[keep]",
         "np.sum(g ** 2) + np.mean(np.tanh(g)) * len(g)"),
        ("keep = ({u} > {c}) | ({u} >= np.max({u}))\n    g = {v}[keep]\n    h = {u}[keep]",
         "np.max(g * h) + np.min(g) + np.std(h)"),
        ("keep = ({r} > {c}) | ({r} >= np.max({r}))\n    G = {M}[keep]",
         "np.sum(G.T @ G) + np.sum(np.mean(G, axis=0) ** 2)"),
        ("a = {v} * 1.0\n    b = a\n    b += {u}", "np.sum(a * {v})"),
        ("a = np.zeros_like({v})\n    b = a\n    b -= {s} * {v}\n    b *= {u}", "np.sum(a ** 2)"),
        ("K = {M}.T @ {M} + np.outer(np.tanh({w}), {w}) + 2.0 * np.eye({M}.shape[1])",
         "np.sum(np.linalg.solve(K, {w}) ** 2) + np.linalg.slogdet(K)[1] + 0.1 * np.linalg.det(K)"),
        ("K = {M}.T @ {M} + np.eye({M}.shape[1])", "np.sum(np.linalg.inv(K) * np.outer({w}, {w}))"),
    )
    ALIASED_SHARE = 0.3

    # A fourth stream: orders and gathers by arrays of indices made in the function (np.argsort along an axis, a
    # table of them gathering a vector, take_along_axis, arrays of indices broadcast together), sorts along an axis
    # and a gather through a mask of two axes.
    ORDER_FORMS = (
        ("o = np.argsort({u})", "np.sum({v}[o] * np.arange(len({v}))) + np.sum({u}[o[:2]] ** 2)"),
        ("o = np.argsort({M}, axis=1)", "np.sum(np.take_along_axis({M}, o, axis=1)[:, -1]) + np.sum({w}[o] * {M})"),
        ("S = np.sort({M}, axis=0)", "np.sum(S[0] * S[-1]) + np.sum(np.sort({v}) * {u})"),
        ("keep = ({M} > {c}) | ({M} >= np.max({M}))\n    g = {M}[keep]", "np.sum(np.tanh(g)) + np.max(g) * len(g)"),
        ("o = np.argsort(-{r})", "np.sum({M}[o] @ {w}) + np.sum({M}[o[:, None], np.argsort({w})] ** 2)"),
    )
    ORDER_SHARE = 0.25

    def drawn_apart(self, label, share, forms, name, feature, more=()):
        """Now and then one of `forms` (a value, or its setup statements and its value), drawn from a random stream
        of its own (`label`), bound to `name`, kept out of `values`: the term the return adds, or None.  `more`
        names fields beyond v, u (vectors), M (a matrix), s, t (numbers) and c (a constant), with their shapes."""
        stream = random.Random(f"{self.seed} {label}")
        if stream.random() >= share:
            return None
        main, self.rng = self.rng, stream
        vector = stream.choice([("n",), ("m",)])
        form = stream.choice(forms)
        setup, value = form if isinstance(form, tuple) else ("", form)
        fields = dict(v=self.leaf(vector), u=self.leaf(vector), M=self.leaf(("n", "m")), s=self.leaf(()),
                      t=self.leaf(()), c=self.constant())  # (of values read as they are: `leaf` adds no statement)
        fields.update((field, self.leaf(shape)) for field, shape in more)
        self.note(feature)
        self.lines.extend("    " + line for line in setup.format(**fields).split("\n    ") if line)
        self.lines.append(f"    {name} = {value.format(**fields)}")
        term = f"{self.constant(0.2, 0.9)} * {name}"
        self.rng = main
        return term

    def write(self):
        self.choose_arguments()
        for _ in range(self.rng.randint(1, 4)):
            self.statement()
        extra = self.drawn_apart("extra", self.EXTRA_SHARE, self.EXTRA_FORMS, "extra",
                                 "tile, repeat, list, rounding or fmod")
        aliased = self.drawn_apart("aliased", self.ALIASED_SHARE, self.ALIASED_FORMS, "aliased",
                                   "mask gather, in-place alias or linear solve", (("w", ("m",)), ("r", ("n",))))
        ordered = self.drawn_apart("ordered", self.ORDER_SHARE, self.ORDER_FORMS, "ordered",
                                   "argsort, sort along an axis or a gather by a mask of two axes",
                                   (("w", ("m",)), ("r", ("n",))))
        locals_ = [v for v in self.values if v.text.startswith("t")]
        terms = [f"{self.constant(0.2, 0.9)} * {self.rng.choice(REDUCTIONS[:2])}({v.text})" if v.shape
                 else f"{self.constant(0.2, 0.9)} * {v.text}" for v in locals_]
        terms.append(self.of_shape((), 2))
        self.lines.append("    return " + " + ".join(terms + [t for t in (extra, aliased, ordered) if t]))
        body = "\n".join(self.lines)
        # An argument the body never names would be taken for a float: leave unused ones out.
        self.args = {name: value for name, value in self.args.items() if re.search(rf"\b{name}\b", body)}
        source = "import math\n\nimport numpy as np\n\n\n" + f"def f({', '.join(self.args)}):\n" + body + "\n"
        return Program(self.seed, source, dict(self.args), tuple(self.args), features=list(self.features))


def generate_numpy(seed):
    """The vectorised program for `seed` (deterministic)."""
    return NumpyWriter(seed).write()
