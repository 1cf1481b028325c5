"""Random programs in symgrad's language subset, Csmith-style: one seed, one program, always the same.

A program is a module: helper functions, then ``f`` built from a random sequence of *blocks* (a reduction loop, a
prefix sum, a recurrence, a local array filled in one loop and read in a later one, a triangular loop, a guarded
stencil, an early return...).  Each block defines new float variables and every later block may read them, so loops
read the results of earlier loops, as real code does.  The return expression reads every block's result.

Values stay small (tanh clips recurrences, coefficients are below one, logs and square roots get arguments of the form
``1.5 + e*e``) so that the Python function is well defined; the exceptions are deliberate: an int argument that sends
an index past the end, or divides by zero, where the reference is Python's own exception.
"""

import random
import re
from dataclasses import dataclass, field

FLOAT_NAMES = ("a", "b", "c")
# Argument names that collide with names symgrad generates (issue 8, item 7): used now and then.
COLLIDING_NAMES = ("n_given", "x_shape0", "x_bar", "a_bar")

SMOOTH = (
    "math.tanh({0})", "np.tanh({0})", "math.sin({0})", "np.cos({0})", "math.atan({0})",
    "math.exp(0.5 * math.tanh({0}))", "np.exp(-({0}) * ({0}))", "math.log(1.5 + ({0}) * ({0}))",
    "np.log1p(({0}) * ({0}))", "math.sqrt(1.0 + ({0}) * ({0}))", "math.erf({0})", "math.hypot({0}, 1.5)",
    "(({0}) ** 2)", "math.log(2.0 + math.sin({0}), 3.0)", "np.cbrt(2.0 + ({0}) * ({0}))",
    "np.log2(1.5 + ({0}) * ({0}))", "np.log10(2.0 + np.cos({0}))", "np.expm1(0.5 * np.tanh({0}))",
    "np.arcsinh({0})",
)
KINKED = ("abs({0})", "max({0}, {1})", "min({0}, {1})", "np.maximum({0}, {1})", "np.minimum({0}, 0.25)",
          "np.fabs({0})", "np.maximum(0.25, {0})", "np.fmin({0}, 0.25)")
ARITHMETIC = ("({0} + {1})", "({0} - {1})", "({0} * {1})", "({0} / (1.5 + ({1}) * ({1})))")
# Constant expressions whose float64 value differs from the exact one (issue 8, item 6).
INEXACT_CONSTANTS = ("math.sin(math.pi)", "math.tan(math.pi / 4)", "(0.1 + 0.2)", "math.cos(math.pi / 2)",
                     "math.exp(math.log(3.0))")
FLOOR_DIVISORS = ("0.1", "0.3", "0.7", "1.1")


@dataclass
class Program:
    """A generated module: its source, the function's name, its arguments and the ones to differentiate."""

    seed: int
    source: str
    args: dict  # argument name -> float, int, list (1-D) or list of lists (2-D), in call order
    wrt: tuple
    name: str = "f"
    features: list = field(default_factory=list)

    def as_json(self):
        return {"seed": self.seed, "source": self.source, "args": self.args, "wrt": list(self.wrt),
                "name": self.name, "features": self.features}


@dataclass
class Array:
    """A 1-D array a loop may read: its name, its length at the call, and how the program spells that length."""

    name: str
    length: int
    spelled: str


class Writer:
    """Writes one program; `rng` decides everything, so a seed is a program."""

    def __init__(self, seed, blocks=None):
        self.seed = seed
        self.blocks = [(name, weight) for name, weight in self.BLOCKS if blocks is None or name in blocks]
        self.extras = [name for name in self.EXTRA_BLOCKS if blocks is None or name in blocks]
        self.extra_terms = []  # the return's terms reading the extra block's results
        self.rng = random.Random(seed)
        self.lines = []
        self.helpers = []  # (name, source) of module-level functions
        self.scalar_helpers = []
        self.args = {}
        self.scalars = []  # float variables defined so far (arguments first)
        self.arrays = []  # 1-D arrays readable by index: arguments, then filled local arrays
        self.matrix = None  # (name, rows, columns) of a 2-D argument
        self.int_argument = None
        self.results = []  # variables the return expression must read
        self.features = []
        self.counter = 0

    # --- names, numbers, lines ---------------------------------------------------------------------------
    def fresh(self, stem):
        self.counter += 1
        return f"{stem}{self.counter}"

    def constant(self, low=-1.2, high=1.2):
        return f"{self.rng.uniform(low, high):.2f}"

    def emit(self, depth, text):
        self.lines.append("    " * (depth + 1) + text)

    def note(self, feature):
        if feature not in self.features:
            self.features.append(feature)

    # --- arguments ---------------------------------------------------------------------------------------
    def float_value(self):
        """Mostly a random float; now and then a round one (0.0, 1.0, 0.3), where float // and x**i have edges."""
        if self.rng.random() < 0.1:
            return round(self.rng.uniform(-1.5, 1.5), 1)
        return self.rng.uniform(-1.5, 1.5)

    def int_value(self, length):
        """Usually a count that fits the arrays, sometimes one past them, rarely a huge one (int64 overflow)."""
        roll = self.rng.random()
        if roll < 0.03:
            return self.rng.choice([2**62, 2**63 - 1])
        if roll < 0.08:
            return 0
        return self.rng.randint(1, length + 2)

    def choose_arguments(self):
        length = self.rng.randint(2, 6)
        self.args["x"] = [self.float_value() for _ in range(length)]
        self.arrays.append(Array("x", length, self.rng.choice(["len(x)", "len(x)", "x.shape[0]", "x.size"])))
        if self.rng.random() < 0.5:
            other = length if self.rng.random() < 0.5 else self.rng.randint(1, 6)
            self.args["y"] = [self.float_value() for _ in range(other)]
            self.arrays.append(Array("y", other, "len(y)"))
        if self.rng.random() < 0.2:
            rows = self.rng.randint(1, 4)
            self.args["A"] = [[self.float_value() for _ in range(length)] for _ in range(rows)]
            self.matrix = ("A", rows, length)
        names = list(FLOAT_NAMES[: self.rng.randint(1, 3)])
        if self.rng.random() < 0.03:
            names[-1] = self.rng.choice(COLLIDING_NAMES)
            self.note("colliding name")
        for name in names:
            self.args[name] = self.float_value()
            self.scalars.append(name)
        if self.rng.random() < 0.4:
            self.int_argument = "n"
            self.args["n"] = self.int_value(length)

    # --- expressions ------------------------------------------------------------------------------------
    def leaf(self, atoms):
        roll = self.rng.random()
        if roll < 0.02:
            self.note("inexact constant")
            return self.rng.choice(INEXACT_CONSTANTS)
        if roll < 0.15 or not atoms:
            return self.constant()
        return self.rng.choice(atoms)

    def expression(self, atoms, depth=2):
        """A random float expression over `atoms`, bounded for bounded atoms."""
        if depth <= 0 or self.rng.random() < 0.25:
            return self.leaf(atoms)
        roll = self.rng.random()
        inner = lambda: self.expression(atoms, depth - 1)  # noqa: E731 - the recursion, spelled once
        if roll < 0.4:
            return self.rng.choice(ARITHMETIC).format(inner(), inner())
        if roll < 0.68:
            return self.rng.choice(SMOOTH).format(inner())
        if roll < 0.78:
            self.note("kink")
            return self.rng.choice(KINKED).format(inner(), inner())
        if roll < 0.82:
            self.note("float // and %")
            operator = self.rng.choice(["//", "%"])
            return f"({self.leaf(atoms)} {operator} {self.rng.choice(FLOOR_DIVISORS)})"
        if roll < 0.9:
            return self.helper_call(inner(), inner())
        return f"({inner()} if {self.condition(atoms)} else {inner()})"

    def reading(self, required, others, depth=2):
        """An expression over `required + others` that reads at least one of `required` (a loop's elements)."""
        text = self.expression(required + others, depth)
        if not any(atom in text for atom in required):
            text = self.rng.choice(ARITHMETIC).format(self.rng.choice(required), text)
        return text

    def condition(self, atoms, int_conditions=()):
        """A comparison on floats (or on the loop index), sometimes combined with and/or/not."""
        if int_conditions and self.rng.random() < 0.4:
            single = self.rng.choice(int_conditions)
        elif self.rng.random() < 0.04:
            self.note("inexact constant")
            single = f"{self.rng.choice(INEXACT_CONSTANTS)} > {self.rng.choice(['0', '0.3', '1.0', '3.0'])}"
        else:
            single = f"{self.expression(atoms, 1)} {self.rng.choice(['<', '>', '<=', '>='])} {self.constant()}"
        roll = self.rng.random()
        if roll < 0.1:
            return f"not ({single})"
        if roll < 0.2:
            return f"{single} {self.rng.choice(['and', 'or'])} {self.leaf(atoms)} > {self.constant()}"
        return single

    def helper_call(self, first, second):
        """A call to a module-level helper (defined on first use), sometimes with a branch inside."""
        if not self.scalar_helpers or self.rng.random() < 0.3:
            self.define_scalar_helper()
        self.note("helper")
        return f"{self.rng.choice(self.scalar_helpers)}({first}, {second})"

    def define_scalar_helper(self):
        name = self.fresh("helper")
        body = [f"def {name}(u, v):"]
        if self.rng.random() < 0.4:
            body.append(f"    if {self.expression(['u', 'v'], 1)} > {self.constant()}:")
            body.append(f"        return {self.expression(['u', 'v'], 1)}")
        body.append(f"    t = {self.expression(['u', 'v'], 2)}")
        body.append(f"    return {self.expression(['t', 'u', 'v'], 1)}")
        self.helpers.append((name, "\n".join(body)))
        self.scalar_helpers.append(name)

    # --- loop helpers -----------------------------------------------------------------------------------
    def array(self):
        return self.rng.choice(self.arrays)

    def same_length(self, array):
        return [a for a in self.arrays if a.length == array.length]

    def elements(self, array, index="i"):
        """What a loop over `array` may read at `index`: each array of the same length (mirrored, sometimes)."""
        atoms = [f"{a.name}[{index}]" for a in self.same_length(array)]
        if self.rng.random() < 0.2:
            mirrored = self.rng.choice(self.same_length(array))
            atoms.append(f"{mirrored.name}[{mirrored.spelled} - 1 - {index}]")
            self.note("mirrored index")
        if self.rng.random() < 0.15:
            atoms.append(f"(0.1 * {index})")
        return atoms

    def accumulate(self, depth, target, value):
        operator = self.rng.choice(["+=", "+=", "+=", "-="])
        self.emit(depth, f"{target} {operator} {value}")

    def start_sum(self, stem="s"):
        name = self.fresh(stem)
        self.emit(0, f"{name} = 0.0")
        return name

    def finish(self, *names):
        """Make the block's results visible to later blocks and to the return expression."""
        self.scalars.extend(names)
        self.results.extend(names)

    # --- blocks: each adds statements to f and defines new floats -----------------------------------------
    def block_assign(self):
        """A straight-line float; now and then reading arrays at literal indices, negative ones counting from the
        end (y may have a single element, so x[-2] can be Python's IndexError)."""
        name = self.fresh("v")
        if self.rng.random() < 0.3:
            array = self.array()
            reads = [f"{array.name}[{self.rng.choice(['0', '1', '-1', '-2'])}]" for _ in range(2)]
            self.emit(0, f"{name} = {self.reading(reads, self.scalars)}")
            self.note("literal index")
        else:
            self.emit(0, f"{name} = {self.expression(self.scalars)}")
        self.finish(name)

    def block_reduction(self):
        """A sum over one array; later blocks read the total (softmax cross-entropy's shape)."""
        array = self.array()
        total = self.start_sum()
        self.emit(0, f"for i in range({array.spelled}):")
        self.accumulate(1, total, self.reading(self.elements(array), self.scalars))
        self.finish(total)
        self.note("reduction")

    def block_product(self):
        array = self.array()
        product = self.fresh("p")
        self.emit(0, f"{product} = 1.0")
        self.emit(0, f"for i in range({array.spelled}):")
        self.emit(1, f"{product} *= 1.0 + 0.3 * math.tanh({self.reading(self.elements(array), self.scalars)})")
        self.finish(product)
        self.note("product")

    def block_prefix_sum(self):
        """A running sum read inside its own loop: z += x[i]; s += z * z."""
        array = self.array()
        running, total = self.start_sum("z"), self.start_sum()
        self.emit(0, f"for i in range({array.spelled}):")
        elements = self.elements(array)
        self.accumulate(1, running, self.reading(elements, self.scalars, 1))
        self.accumulate(1, total, self.reading([running], elements + self.scalars))
        self.finish(running, total)
        self.note("prefix sum")

    def block_recurrence(self):
        """Carried state that is not an accumulator: h = tanh(c * h + e)."""
        array = self.array()
        state = self.fresh("h")
        self.emit(0, f"{state} = {self.expression(self.scalars, 1)}")
        if self.rng.random() < 0.3:
            self.emit(0, f"for i in range({array.spelled} - 1, -1, -1):")
            self.note("negative step")
        else:
            self.emit(0, f"for i in range({array.spelled}):")
        value = self.reading(self.elements(array), [state, state] + self.scalars)
        self.emit(1, f"{state} = math.tanh({self.constant(-0.9, 0.9)} * {state} + {value})")
        self.finish(state)
        self.note("recurrence")

    def block_local_array(self):
        """A local array filled in one loop, becoming readable by every later loop."""
        array = self.array()
        local = self.fresh("w")
        self.emit(0, f"{local} = np.zeros({array.spelled})")
        self.emit(0, f"for i in range({array.spelled}):")
        value = self.reading(self.elements(array), self.scalars)
        if self.rng.random() < 0.3:
            self.emit(1, f"{local}[i] += {value}")
        else:
            self.emit(1, f"{local}[i] = {value}")
        if self.rng.random() < 0.3:
            self.emit(0, f"for i in range(1, {array.spelled}):")
            self.emit(1, f"{local}[i] += 0.5 * {local}[i - 1]")
        self.arrays.append(Array(local, array.length, f"len({local})"))
        self.note("local array")
        self.block_reduction_over(self.arrays[-1])

    def block_reduction_over(self, array):
        total = self.start_sum()
        self.emit(0, f"for i in range({array.spelled}):")
        self.accumulate(1, total, self.reading(self.elements(array), self.scalars))
        self.finish(total)

    def block_differences(self):
        """A local array sized by a local int (m = len(x) - 1), the shape of a finite-difference stencil."""
        array = self.array()
        if array.length < 2:
            return self.block_reduction()
        size, local = self.fresh("m"), self.fresh("d")
        self.emit(0, f"{size} = {array.spelled} - 1")
        self.emit(0, f"{local} = np.zeros({size})")
        self.emit(0, f"for i in range({size}):")
        self.emit(1, f"{local}[i] = {array.name}[i + 1] - {array.name}[i]")
        self.arrays.append(Array(local, array.length - 1, size))
        self.note("local int size")
        self.block_reduction_over(self.arrays[-1])

    def block_nested(self):
        """Two loops, the inner over another array, or triangular (its bound uses the outer index)."""
        outer = self.array()
        total = self.start_sum()
        self.emit(0, f"for i in range({outer.spelled}):")
        if self.rng.random() < 0.5:
            inner = self.array()
            self.emit(1, f"for j in range({inner.spelled}):")
            inner_read = f"{inner.name}[j]"
            self.note("nested")
        else:
            bound, reads = self.rng.choice([("i", ["j", "i - j", "i - 1 - j"]), ("i + 1", ["j", "i - j", "j + 1"]),
                                            (f"i + 1, {outer.spelled}", ["j", "j - i"])])
            self.emit(1, f"for j in range({bound}):")
            inner_read = f"{outer.name}[{self.rng.choice(reads)}]"
            self.note("triangular")
        self.accumulate(2, total, self.reading([inner_read], self.elements(outer) + self.scalars))
        self.finish(total)

    def block_matrix(self):
        """Reads of a 2-D argument, A[i, j] or A[i][j], against x."""
        if self.matrix is None:
            return self.block_nested()
        name, _, _ = self.matrix
        total = self.start_sum()
        self.emit(0, f"for i in range({name}.shape[0]):")
        row = self.start_sum_inside(1)
        self.emit(1, f"for j in range({name}.shape[1]):")
        element = f"{name}[i, j]" if self.rng.random() < 0.6 else f"{name}[i][j]"
        self.emit(2, f"{row} += {element} * {self.reading(['x[j]'], self.scalars, 1)}")
        self.accumulate(1, total, self.reading([row], self.scalars))
        self.finish(total)
        self.note("2-D argument")

    def start_sum_inside(self, depth):
        name = self.fresh("r")
        self.emit(depth, f"{name} = 0.0")
        return name

    def block_local_matrix(self):
        """A 2-D local array filled in a nested loop and read, transposed, by a later one."""
        rows, columns = self.array(), self.array()
        local, total = self.fresh("H"), self.fresh("s")
        self.emit(0, f"{local} = np.zeros(({rows.spelled}, {columns.spelled}))")
        self.emit(0, f"for i in range({rows.spelled}):")
        self.emit(1, f"for j in range({columns.spelled}):")
        self.emit(2, f"{local}[i, j] = {self.reading([f'{rows.name}[i]', f'{columns.name}[j]'], self.scalars)}")
        self.emit(0, f"{total} = 0.0")
        self.emit(0, f"for j in range({columns.spelled}):")
        self.emit(1, f"for i in range({rows.spelled}):")
        self.accumulate(2, total, self.reading([f"{local}[i, j]", f"{local}[i][j]"], self.scalars))
        self.finish(total)
        self.note("local 2-D array")

    def block_step(self):
        """A loop with a step: pairs (x[i], x[i + 1]) with step 2, or every third element."""
        array = self.array()
        total = self.start_sum()
        start, stop, reads = self.rng.choice([
            ("0", f"{array.spelled} - 1", ["i", "i + 1"]), ("0", array.spelled, ["i", "i + 1"]),
            ("1", array.spelled, ["i", "i - 1"]), ("0", array.spelled, ["i"])])
        step = self.rng.choice([2, 3])
        self.emit(0, f"for i in range({start}, {stop}, {step}):")
        self.accumulate(1, total, self.reading([f"{array.name}[{r}]" for r in reads], self.scalars))
        self.finish(total)
        self.note("step")

    def block_branch_in_loop(self):
        """if/else (or elif) inside a loop, on an element or on the index."""
        array = self.array()
        total = self.start_sum()
        self.emit(0, f"for i in range({array.spelled}):")
        elements = self.elements(array)
        int_conditions = ["i % 2 == 0", "i > 0", f"i < {array.spelled} - 1", "i == 1"]
        self.emit(1, f"if {self.condition(elements + self.scalars, int_conditions)}:")
        self.accumulate(2, total, self.reading(elements, self.scalars))
        if self.rng.random() < 0.3:
            self.emit(1, f"elif {self.condition(elements + self.scalars, int_conditions)}:")
            self.accumulate(2, total, self.reading(elements, self.scalars))
        if self.rng.random() < 0.7:
            self.emit(1, "else:")
            self.accumulate(2, total, self.reading(elements, self.scalars))
        self.finish(total)
        self.note("branch in loop")

    def block_guarded_read(self):
        """A read that is in range only under its guard, as a stencil with boundary handling writes it."""
        array = self.array()
        total = self.start_sum()
        self.emit(0, f"for i in range({array.spelled}):")
        guard, negated, neighbour = self.rng.choice([
            (f"i + 1 < {array.spelled}", f"i + 1 >= {array.spelled}", "i + 1"), ("i > 0", "i <= 0", "i - 1"),
            (f"i + 2 < {array.spelled}", f"i + 2 >= {array.spelled}", "i + 2")])
        stencil = f"({array.name}[{neighbour}] - {array.name}[i]) ** 2"
        other = self.reading(self.elements(array), self.scalars, 1)
        test = f"{array.name}[{neighbour}] > {self.constant()}"
        form = self.rng.choice(["if", "if", "and", "nested", "or", "read first"])
        if form == "nested":  # the inner condition reads the neighbour only under the outer guard
            self.emit(1, f"if {guard}:")
            self.emit(2, f"if {test}:")
            self.accumulate(3, total, stencil)
        elif form == "or":  # `or` the other way round: the neighbour is read only when the guard holds
            self.emit(1, f"if {negated} or not ({test}):")
            self.accumulate(2, total, other)
            self.emit(1, "else:")
            self.accumulate(2, total, stencil)
        else:  # "read first": Python reads the neighbour before the guard, and raises past the end
            condition = {"if": guard, "and": f"{guard} and {test}", "read first": f"{test} and {guard}"}[form]
            self.emit(1, f"if {condition}:")
            self.accumulate(2, total, stencil)
            if self.rng.random() < 0.5:
                self.emit(1, "else:")
                self.accumulate(2, total, other)
        self.finish(total)
        self.note("guarded read")
        if form != "if":
            self.note("short-circuit guard")

    def block_index_arithmetic(self):
        """Reads at computed indices: non-affine (i*i, (3*i)//2, (5*i)%7), through a local int (j = i + 1), and
        with the int argument as a bound, so some calls index past the end and Python raises IndexError."""
        array = self.array()
        bound = self.int_argument if self.int_argument and self.rng.random() < 0.6 else array.spelled
        total = self.start_sum()
        self.emit(0, f"for i in range({bound}):")
        indices = ["i", "i + 1", "2 * i", "i * i", "(3 * i) // 2", "(5 * i) % 7", "i // 2", f"{bound} - 1 - i"]
        if bound == array.spelled:  # under a huge int bound, an index that never leaves the array never ends
            indices += [f"(5 * i) % {array.spelled}", f"(i * i) % {array.spelled}"]
        index = self.rng.choice(indices)
        if self.rng.random() < 0.35:
            self.emit(1, f"j = {index}")
            index = "j"
            self.note("local int index")
        self.accumulate(1, total, self.reading([f"{array.name}[{index}]"], self.scalars))
        self.finish(total)
        self.note("index arithmetic")

    def block_flattened(self):
        """A 1-D array read as a matrix: x[i * m + j] with m a local int."""
        array = self.array()
        total = self.start_sum()
        if self.int_argument and self.rng.random() < 0.3:
            columns = self.int_argument  # a local alias would hide that n is an int: kinds are read by name
        else:
            columns = self.fresh("m")
            self.emit(0, f"{columns} = {self.rng.choice([f'{array.spelled} // 2', '2'])}")
        rows = self.rng.choice(["2", f"{array.spelled} // {columns}" if self.rng.random() < 0.5 else "1"])
        self.emit(0, f"for i in range({rows}):")
        self.emit(1, f"for j in range({columns}):")
        self.accumulate(2, total, self.reading([f"{array.name}[i * {columns} + j]"], self.scalars))
        self.finish(total)
        self.note("flattened index")

    def block_branch(self):
        """A top-level if/elif/else assigning one variable."""
        name = self.fresh("v")
        self.emit(0, f"if {self.condition(self.scalars)}:")
        self.emit(1, f"{name} = {self.expression(self.scalars)}")
        if self.rng.random() < 0.3:
            self.emit(0, f"elif {self.condition(self.scalars)}:")
            self.emit(1, f"{name} = {self.expression(self.scalars)}")
        self.emit(0, "else:")
        self.emit(1, f"{name} = {self.expression(self.scalars)}")
        self.finish(name)

    def block_early_return(self):
        self.emit(0, f"if {self.condition(self.scalars)}:")
        self.emit(1, f"return {self.expression(self.scalars)}")
        self.note("early return")

    def block_array_reduction(self):
        """np.sum, builtin sum, np.dot, @, a generator sum, an array helper, max(abs(x))."""
        array = self.array()
        partners = [a for a in self.same_length(array) if a.name in self.args]
        choices = [f"np.sum({array.name})", f"sum({array.name})",
                   f"sum({self.reading(self.elements(array), self.scalars, 1)} for i in range({array.spelled}))",
                   f"{self.array_helper()}({array.name})"]
        if array.name in self.args and len(partners) > 1:
            other = self.rng.choice(partners).name
            choices += [f"np.dot({array.name}, {other})", f"{array.name} @ {other}"]
        if self.rng.random() < 0.05:
            choices = [f"max(abs({array.name}))"]
            self.note("max of one array")
        name = self.fresh("v")
        self.emit(0, f"{name} = {self.rng.choice(choices)}")
        self.finish(name)

    def array_helper(self):
        name = self.fresh("total")
        body = [f"def {name}(v):", "    t = 0.0", "    for i in range(len(v)):",
                f"        t += {self.reading(['v[i]'], ['t'])}", "    return t"]
        self.helpers.append((name, "\n".join(body)))
        self.note("array helper")
        return name

    def block_power_of_index(self):
        """c[i] * a ** i: an integer power of a float, zero-based (issue 8, item 5)."""
        array = self.array()
        total = self.start_sum()
        base = self.rng.choice(self.scalars)
        self.emit(0, f"for i in range({array.spelled}):")
        self.accumulate(1, total, f"{array.name}[i] * {base} ** i")
        self.finish(total)
        self.note("power of index")

    def block_divide_by_int(self):
        """Division by the int argument, which may be 0: Python's ZeroDivisionError is the reference."""
        if not self.int_argument:
            return self.block_assign()
        name = self.fresh("v")
        self.emit(0, f"{name} = {self.expression(self.scalars, 1)} / {self.int_argument}")
        self.finish(name)
        self.note("division by int")

    def block_table_lookup(self):
        """Linear interpolation in an array at a float position: the cell an int made by math.floor, int(), round()
        or int(np.floor()) of a float, clipped into the array, and the weight a float minus that int; now and then a
        NumPy rounding (a float) used as a number.  Python's int of a float, and a derivative 0 through it."""
        array = self.array()
        position, cell, weight = self.fresh("p"), self.fresh("k"), self.fresh("w")
        self.emit(0, f"{position} = 1.5 * ({self.expression(self.scalars, 1)}) + 1.0")
        rounded = self.rng.choice([f"math.floor({position})", f"int({position})", f"round({position})",
                                   f"int(np.floor({position}))", f"math.ceil({position}) - 1",
                                   f"math.trunc({position})"])
        self.emit(0, f"{cell} = min(max({rounded}, 0), {array.spelled} - 1)")
        self.emit(0, f"{weight} = {position} - {cell}")
        name = self.fresh("v")
        ahead = f"{array.name}[min({cell} + 1, {array.spelled} - 1)]"
        value = f"(1.0 - {weight}) * {array.name}[{cell}] + {weight} * {ahead}"
        if self.rng.random() < 0.3:
            numpy_rounding = self.rng.choice(["np.floor", "np.ceil", "np.rint", "np.trunc", "np.round"])
            value += f" + {numpy_rounding}({self.leaf(self.scalars)} * 3.0) * {self.leaf(self.scalars)}"
        self.emit(0, f"{name} = {value}")
        self.finish(name)
        self.note("table lookup by a rounded int")

    def block_listed(self):
        """Reductions of a list or tuple of computed numbers, as NumPy and Python read them."""
        parts = [self.expression(self.scalars, 1) for _ in range(self.rng.randint(1, 3))] + [self.constant()]
        listed = f"[{', '.join(parts)}]" if self.rng.random() < 0.7 else f"({', '.join(parts)},)"
        name = self.fresh("v")
        reduced = self.rng.choice([f"sum({listed})", f"np.sum({listed})", f"np.mean({listed})", f"max({listed})",
                                   f"min({listed})", f"math.prod({listed})", f"np.prod({listed})",
                                   f"np.max({listed})"])
        if self.rng.random() < 0.3:
            terms = self.fresh("terms")
            self.emit(0, f"{terms} = [{', '.join(parts)}]")
            reduced = f"np.sum({terms}) * {terms}[{self.rng.randrange(len(parts))}]"
        self.emit(0, f"{name} = {reduced}")
        self.finish(name)
        self.note("reduction of a list of numbers")

    def block_layer_rows(self):
        """A network's rows: per row, a hidden layer (or two, the second dense over the first) rewritten whole in a
        local array, a score summed from it, and a kinked loss (a hinge) of the score; rows past the kink have a
        zero backward pass (pass `skip_zero_rows`)."""
        rows, units = self.array(), self.array()
        layers, total = [self.fresh("h") for _ in range(self.rng.choice([1, 1, 2]))], self.start_sum()
        inside = self.rng.random() < 0.3  # the layers allocated inside the row loop
        for layer in layers if not inside else ():
            self.emit(0, f"{layer} = np.zeros({units.spelled})")
        self.emit(0, f"for i in range({rows.spelled}):")
        for layer in layers if inside else ():
            self.emit(1, f"{layer} = np.zeros({units.spelled})")
        for at, layer in enumerate(layers):
            self.emit(1, f"for j in range({units.spelled}):")
            if at == 0:
                pre = self.reading([f"{rows.name}[i]"], [f"{units.name}[j]", "(0.1 * j)"] + self.scalars, 1)
            else:
                self.emit(2, "acc = 0.0")
                self.emit(2, f"for k in range({units.spelled}):")
                self.emit(3, f"acc += {layers[at - 1]}[k] * {self.reading([f'{units.name}[k]', '(0.1 * k)'], [], 1)}")
                # a plain ReLU of the sum (its sweep over k skipped per unit, `gate_first`), or any reading of it
                pre = "acc" if self.rng.random() < 0.3 else self.reading(["acc"], [f"{units.name}[j]"] + self.scalars,
                                                                          1)
            if self.rng.random() < 0.3:
                self.emit(2, f"z = {pre}")
                self.emit(2, "if z > 0:")
                self.emit(3, f"{layer}[j] = z")
                self.emit(2, "else:")
                self.emit(3, f"{layer}[j] = 0.0")
            else:
                self.emit(2, f"{layer}[j] = {self.rng.choice(KINKED + SMOOTH[:3]).format(pre, '0.0')}")
        score = self.fresh("r")
        self.emit(1, f"{score} = 0.0")
        self.emit(1, f"for j in range({units.spelled}):")
        self.emit(2, f"{score} += {self.reading([f'{layers[-1]}[j]'], [f'{units.name}[j]'] + self.scalars, 1)}")
        margin = f"{self.constant(0.5, 1.5)} - {self.rng.choice(self.elements(rows))} * {score}"
        if self.rng.random() < 0.3:
            self.emit(1, f"m = {margin}")
            self.emit(1, "if m > 0:")
            self.emit(2, f"{total} += m")
        else:
            self.emit(1, f"{total} += max(0.0, {margin})")
        if self.rng.random() < 0.6:  # the loss read only by the return: its adjoint is fixed, and the sweep fuses
            self.results.append(total)
        else:
            self.finish(total)
        self.note("layer rows")

    BLOCKS = (
        ("block_assign", 8), ("block_reduction", 12), ("block_product", 3), ("block_prefix_sum", 8),
        ("block_recurrence", 8), ("block_local_array", 8), ("block_differences", 4), ("block_nested", 8),
        ("block_matrix", 3), ("block_local_matrix", 3), ("block_step", 5), ("block_branch_in_loop", 8),
        ("block_guarded_read", 5),
        ("block_index_arithmetic", 7), ("block_flattened", 3), ("block_branch", 5), ("block_early_return", 3),
        ("block_array_reduction", 5), ("block_power_of_index", 2), ("block_divide_by_int", 2),
        ("block_layer_rows", 5),
    )
    # Blocks drawn apart, from a random stream of their own, and read by the return after the others: every seed's
    # program of the blocks above stays what it was (the regression tests name seeds), and some gain one of these.
    EXTRA_BLOCKS = ("block_table_lookup", "block_listed")
    EXTRA_SHARE = 0.4

    # --- the whole program -------------------------------------------------------------------------------
    def extra_block(self):
        """Now and then one of EXTRA_BLOCKS, with its own random stream, its results kept out of the others'."""
        stream = random.Random(f"{self.seed} extra")
        if not self.extras or (self.blocks and stream.random() >= self.EXTRA_SHARE):
            return
        main, self.rng = self.rng, stream
        scalars, results = list(self.scalars), list(self.results)
        getattr(self, stream.choice(self.extras))()
        self.extra_terms = [f"{self.constant(0.2, 0.9)} * {name}" for name in self.results[len(results):]]
        self.scalars, self.results, self.rng = scalars, results, main

    def final_return(self):
        """Read every result, with small coefficients, plus one nonlinear term."""
        terms = [f"{self.constant(0.2, 0.9)} * {name}" for name in self.results]
        terms.append(self.expression(self.scalars, 2))
        self.emit(0, "return " + " + ".join(terms + self.extra_terms))

    def write(self):
        self.choose_arguments()
        names, weights = zip(*self.blocks) if self.blocks else ((), ())
        for _ in range(self.rng.randint(2, 6) if names else 0):
            getattr(self, self.rng.choices(names, weights)[0])()
        self.extra_block()
        self.final_return()
        header = ["import math", "", "import numpy as np", ""]
        helpers = [text + "\n" for _, text in self.helpers]
        body = "\n".join(helpers + self.lines)
        # An argument the body never names would be taken for a float: leave unused arrays out.
        self.args = {name: value for name, value in self.args.items()
                     if not isinstance(value, list) or re.search(rf"\b{name}\b", body)}
        signature = f"def f({', '.join(self.args)}):"
        source = "\n".join(header + ["\n".join(helpers), signature] + self.lines) + "\n"
        wrt = tuple(name for name, value in self.args.items() if not isinstance(value, int))
        return Program(self.seed, source, dict(self.args), wrt, features=list(self.features))


def generate(seed, blocks=None):
    """The program for `seed` (deterministic), made of the blocks named in `blocks` (default: all)."""
    return Writer(seed, blocks).write()
