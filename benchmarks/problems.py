"""The problems of the comparison, each once: the plain Python symgrad differentiates, the gradient written by hand,
the twin every peer differentiates, and the data it is timed on.

Light on purpose (the standard library, NumPy and the problem modules): a fresh process that measures a system's
first-call latency imports this before its clock starts.
"""

import functools
import importlib

import array_problems
import bench_problems
import hand
import twins


class Problem:
    """One row of the comparison.  `family` names the hand-written gradient (``<family>_hand``) and, for an array
    problem, its data (`array_problems.make_args`); `size` is the data size (None for a scalar problem, whose
    arguments are `args`, with `sample` drawing more for the error check).  `function` is the plain Python
    function, or a `Generated` one.  `vectorised` marks a row whose function is the vectorised NumPy spelling of
    a loop-written row of the same family (same data, same hand-written reference, the peers running that text)."""

    def __init__(self, name, label, function, wrt, family, twin, args=None, sample=None, size=None,
                 vectorised=False):
        self.name, self.label, self._function, self.wrt, self.family = name, label, function, wrt, family
        self.twin, self._args, self._sample, self.size = twin, args, sample, size
        self.vectorised = vectorised

    @property
    def scalar(self):
        return self.size is None

    @property
    def wrt_tuple(self):
        return self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)

    def function(self):
        """The plain Python function symgrad differentiates."""
        return self._function.load() if isinstance(self._function, Generated) else self._function

    def hand(self):
        """The hand-written gradient, plain Python and NumPy."""
        return getattr(hand, self.family + "_hand")

    def args(self, rng):
        """The arguments the calls are timed on: fixed for a scalar problem, data of `size` drawn from `rng`."""
        return self._args if self.scalar else array_problems.make_args(self.family, self.size, rng)

    def sample(self, rng):
        """Another argument tuple of the same shapes, for the error check."""
        if self.scalar:
            return tuple(float(a) for a in self._sample(rng))
        return array_problems.make_args(self.family, self.size, rng)

    def resized(self, size):
        """The same array problem on data of another size (the scaling figure)."""
        return Problem(f"{self.family}@{size}", self.label, self._function, self.wrt, self.family, self.twin,
                       size=size, vectorised=self.vectorised)


class Generated:
    """A function in a generated module (written by `generate` in every process of a run), imported when needed."""

    def __init__(self, module, attribute):
        self.module, self.attribute = module, attribute

    def load(self):
        return getattr(importlib.import_module(self.module), self.attribute)


def generate(directory):
    """Write and import the generated chain module, at the same module name in every process of a run."""
    bench_problems.write_module(directory, bench_problems.CHAIN_MODULE, bench_problems.chain_source())


def chain_problem(steps, function):
    """The chain of `steps` steps; its twin takes the number of steps."""
    return Problem(f"chain{steps}", f"chain, {steps} steps", function, (0, 1), "chain",
                   functools.partial(twins.chain, steps=steps), (0.3, 0.2),
                   lambda rng: (rng.uniform(-2, 2), rng.uniform(-1, 1)))


def vectorised_problem(name, label, function, wrt, family, size):
    """Row `name` + "-vec": the vectorised `function`, timed against the loop row's hand-written gradient."""
    return Problem(f"{name}-vec", f"{label}, vectorised", function, wrt, family, twins.same_source(function),
                   size=size, vectorised=True)


PROBLEMS = {p.name: p for p in [
    Problem("rosen2", "rosen2(x, y)", bench_problems.rosen2, (0, 1), "rosen2", twins.rosen2, (1.5, 2.0),
            lambda rng: rng.uniform(-2, 2, 2)),
    Problem("neuron", "tanh neuron + BCE", bench_problems.neuron, (0, 1, 2), "neuron", twins.neuron,
            (0.3, -0.2, 0.1, 0.5, 1.5, 1.0),
            lambda rng: (*rng.uniform(-1, 1, 3), *rng.uniform(-2, 2, 2), rng.integers(0, 2))),
    Problem("ackley", "Ackley 2-D", bench_problems.ackley, (0, 1), "ackley", twins.ackley, (0.3, 0.7),
            lambda rng: rng.uniform(-3, 3, 2)),
    chain_problem(bench_problems.CHAIN_STEPS, Generated(bench_problems.CHAIN_MODULE, "chain")),
    *[Problem(f"rosen{n}", f"rosen n={n}", array_problems.rosen, 0, "rosen", twins.rosen, size=n)
      for n in (10, 1000, 100000)],
    Problem("logistic", "logistic NLL 10000x10", array_problems.logistic_nll, 0, "logistic", twins.logistic,
            size=10000),
    Problem("mlp", "MLP 2-16-16-1, 100 pts", array_problems.mlp_loss, (0, 1, 2, 3, 4, 5), "mlp", twins.mlp,
            size=100),
    # Other spellings of the same MLP (issue 13, item 4), each timed against the same hand-written gradient.
    *[Problem(f"mlp-{spelling}", f"MLP 2-16-16-1, 100 pts, {label}", function, (0, 1, 2, 3, 4, 5), "mlp",
              twins.mlp, size=100)
      for spelling, label, function in [
          ("rows", "layers allocated per row", array_problems.mlp_loss_arrays_per_row),
          ("if", "ReLU as an if", array_problems.mlp_loss_if_relu),
          ("plain", "sums as s = s + t", array_problems.mlp_loss_plain_sums),
          ("helper", "units in a helper", array_problems.mlp_loss_helpers)]],
    Problem("oscillator", "oscillator, 1000 steps", array_problems.oscillator, (0, 1), "oscillator",
            twins.oscillator, size=1000),
    # The vectorised NumPy spellings: symgrad lowers them to loops; JAX, autograd and PyTorch run the same text.
    *[vectorised_problem(f"rosen{n}", f"rosen n={n}", array_problems.rosen_vectorised, 0, "rosen", n)
      for n in (1000, 100000)],
    vectorised_problem("logistic", "logistic NLL 10000x10", array_problems.logistic_nll_vectorised, 0, "logistic",
                       10000),
    vectorised_problem("mlp", "MLP 2-16-16-1, 100 pts", array_problems.mlp_loss_vectorised, (0, 1, 2, 3, 4, 5),
                       "mlp", 100),
]}
