"""What the corpus records about each function, and the seeded inputs it is checked on.

An `Entry` is one objective as its project wrote it: the function, the arguments it is differentiated with respect
to, a seeded input generator, where it came from and under which licence, the smallest change that made it a
plain function of floats and arrays, whether JAX can run the same source, and the hand-written loop version where
there is one.  The harness (tests/test_corpus.py) and the report (benchmarks/corpus.py) read only this.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np

SEED = 20261202
TEST_SIZE = 4  # rows (particles, samples) at which the tests compare gradients: small, so references are cheap
SPEED_SIZES = (10, 1000, 100_000)


@dataclasses.dataclass(frozen=True)
class Origin:
    """A project the corpus takes code from: its repository, licence and copyright line."""

    project: str
    repository: str
    licence: str
    copyright: str


@dataclasses.dataclass(frozen=True)
class Entry:
    """One corpus function.

    make_args(rng, n) -> the positional arguments at size n (rows of data, or particles of a population);
    `sized` is False where the function has a fixed size (then n is ignored).  `jax` is True where jax.numpy runs
    the same source, else the reason it cannot.  `loop` is the hand-written loop version (same arguments), the
    form symgrad takes today."""

    name: str
    function: Callable
    wrt: tuple
    make_args: Callable
    origin: Origin
    path: str
    commit: str
    adaptation: str
    sized: bool = True
    jax: object = True
    loop: Optional[Callable] = None
    largest: Optional[int] = None  # the largest size worth timing, where memory grows faster than n

    @property
    def url(self):
        return f"https://github.com/{self.origin.repository}/blob/{self.commit}/{self.path}"

    def args(self, n=TEST_SIZE, seed=SEED):
        """The arguments at size n, the same for every caller with the same seed."""
        return tuple(self.make_args(np.random.default_rng(seed), n))

    def positions(self):
        """The positions of the `wrt` arguments in the function's signature."""
        names = self.function.__code__.co_varnames[:self.function.__code__.co_argcount]
        return tuple(names.index(name) for name in self.wrt)


def population(low, high, columns):
    """A generator of an (n, columns) population drawn uniformly inside the function's search domain."""
    def make(rng, n):
        return (rng.uniform(low, high, (n, columns)),)
    return make


def one_hot(rng, n, classes):
    """n rows of one-hot class labels."""
    return np.eye(classes)[rng.integers(0, classes, n)]
