"""Test problems from pymoo, taken as written.

Source: anyoptimization/pymoo, pymoo/problems/single/*.py and pymoo/problems/multi/*.py (the commit of each file
is in its entry).  Copyright (c) 2017 Julian Blank; licence: MIT (the repository's LICENSE at commit f0585dfa), and
Apache License 2.0 from pymoo 0.6 on; both are in LICENSES.md.

Adaptation, the same for every problem: the method ``_evaluate(self, x, out, *args, **kwargs)`` becomes a function
of the population ``x`` (one row per candidate) and the problem's settings; ``self.n_var`` becomes ``x.shape[1]``
and ``self.a`` an argument ``a`` with the constructor's default; ``out["F"] = F`` becomes ``return np.sum(F)``
(the sum over candidates and objectives: candidates are independent, and a sum of the objectives is a fixed
scalarisation); constraints (``out["G"]``) are left out.  pymoo's ``anp`` (autograd.numpy or its gradient
toolbox) is NumPy here.
"""

import numpy as np
import numpy as anp

from .spec import Entry, Origin
from . import loops

PYMOO = Origin("pymoo", "anyoptimization/pymoo", "MIT / Apache-2.0", "Copyright (c) 2017 Julian Blank")
ADAPTED = "method _evaluate -> function of x; self.n_var -> x.shape[1]; out['F'] = F -> return np.sum(F)"


def ackley(x, a=20, b=1 / 5, c=2 * np.pi):
    part1 = -1.0 * a * anp.exp(-1.0 * b * anp.sqrt((1.0 / x.shape[1]) * anp.sum(x * x, axis=1)))
    part2 = -1.0 * anp.exp((1.0 / x.shape[1]) * anp.sum(anp.cos(c * x), axis=1))
    return np.sum(part1 + part2 + a + anp.exp(1))


def griewank(x):
    return np.sum(1 + 1 / 4000 * np.sum(np.power(x, 2), axis=1)
                  - np.prod(np.cos(x / np.sqrt(np.arange(1, x.shape[1] + 1))), axis=1))


def himmelblau(x):
    return np.sum((x[:, 0] ** 2 + x[:, 1] - 11) ** 2 + (x[:, 0] + x[:, 1] ** 2 - 7) ** 2)


def rastrigin(x, A=10.0):
    z = anp.power(x, 2) - A * anp.cos(2 * anp.pi * x)
    return np.sum(A * x.shape[1] + anp.sum(z, axis=1))


def rosenbrock(x):
    terms = []
    for i in range(x.shape[1] - 1):
        val = 100 * (x[:, i + 1] - x[:, i] ** 2) ** 2 + (1 - x[:, i]) ** 2
        terms.append(val)
    return np.sum(anp.sum(anp.column_stack(terms), axis=1))


def schwefel(x):
    return np.sum(418.9829 * x.shape[1] - anp.sum(x * anp.sin(anp.sqrt(anp.abs(x))), axis=1))


def sphere(x):
    return np.sum(anp.sum(anp.square(x - 0.5), axis=1))


def zakharov(x):
    a = anp.sum(0.5 * anp.arange(1, x.shape[1] + 1) * x, axis=1)
    return np.sum(anp.sum(anp.square(x), axis=1) + anp.square(a) + anp.power(a, 4))


def zdt1(x):
    f1 = x[:, 0]
    g = 1 + 9.0 / (x.shape[1] - 1) * anp.sum(x[:, 1:], axis=1)
    f2 = g * (1 - anp.power((f1 / g), 0.5))

    return np.sum(anp.column_stack([f1, f2]))


def zdt2(x):
    f1 = x[:, 0]
    c = anp.sum(x[:, 1:], axis=1)
    g = 1.0 + 9.0 * c / (x.shape[1] - 1)
    f2 = g * (1 - anp.power((f1 * 1.0 / g), 2))

    return np.sum(anp.column_stack([f1, f2]))


def zdt3(x):
    f1 = x[:, 0]
    c = anp.sum(x[:, 1:], axis=1)
    g = 1.0 + 9.0 * c / (x.shape[1] - 1)
    f2 = g * (1 - anp.power(f1 * 1.0 / g, 0.5) - (f1 * 1.0 / g) * anp.sin(10 * anp.pi * f1))

    return np.sum(anp.column_stack([f1, f2]))


def zdt4(x):
    f1 = x[:, 0]
    g = 1.0
    g += 10 * (x.shape[1] - 1)
    for i in range(1, x.shape[1]):
        g += x[:, i] * x[:, i] - 10.0 * anp.cos(4.0 * anp.pi * x[:, i])
    h = 1.0 - anp.sqrt(f1 / g)
    f2 = g * h

    return np.sum(anp.column_stack([f1, f2]))


def zdt6(x):
    f1 = 1 - anp.exp(-4 * x[:, 0]) * anp.power(anp.sin(6 * anp.pi * x[:, 0]), 6)
    g = 1 + 9.0 * anp.power(anp.sum(x[:, 1:], axis=1) / (x.shape[1] - 1.0), 0.25)
    f2 = g * (1 - anp.power(f1 / g, 2))

    return np.sum(anp.column_stack([f1, f2]))


def kursawe(x):
    terms = []
    for i in range(2):
        terms.append(-10 * anp.exp(-0.2 * anp.sqrt(anp.square(x[:, i]) + anp.square(x[:, i + 1]))))
    f1 = anp.sum(anp.column_stack(terms), axis=1)

    f2 = anp.sum(anp.power(anp.abs(x), 0.8) + 5 * anp.sin(anp.power(x, 3)), axis=1)

    return np.sum(anp.column_stack([f1, f2]))


def bnh(x):
    f1 = 4 * x[:, 0] ** 2 + 4 * x[:, 1] ** 2
    f2 = (x[:, 0] - 5) ** 2 + (x[:, 1] - 5) ** 2

    return np.sum(anp.column_stack([f1, f2]))


def srn(x):
    f1 = 2 + (x[:, 0] - 2) ** 2 + (x[:, 1] - 1) ** 2
    f2 = 9 * x[:, 0] - (x[:, 1] - 1) ** 2

    return np.sum(anp.column_stack([f1, f2]))


def _entry(function, path, commit, low, high, columns, settings=(), loop=None):
    """A problem of one population x drawn in [low, high), with its settings (the constructor's defaults)."""
    def make(rng, n):
        return (rng.uniform(low, high, (n, columns)), *settings)
    return Entry(f"pymoo.{function.__name__}", function, ("x",), make, PYMOO, path, commit, ADAPTED, loop=loop)


SINGLE, MULTI = "pymoo/problems/single/", "pymoo/problems/multi/"
ENTRIES = [
    _entry(ackley, SINGLE + "ackley.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", -32.768, 32.768, 4,
           (20.0, 0.2, 2 * np.pi)),
    _entry(griewank, SINGLE + "griewank.py", "2c0fc0d11ee0ac5bfc7ba9cca08e8e847f922ed2", -600, 600, 4,
           loop=loops.griewank),
    _entry(himmelblau, SINGLE + "himmelblau.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", -6, 6, 2),
    _entry(rastrigin, SINGLE + "rastrigin.py", "2f78c6c5f8c65180271ab5ee424c7f62f97f9ff2", -5, 5, 4, (10.0,)),
    _entry(rosenbrock, SINGLE + "rosenbrock.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", -2.048, 2.048, 4),
    _entry(schwefel, SINGLE + "schwefel.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", -500, 500, 4,
           loop=loops.schwefel),
    _entry(sphere, SINGLE + "sphere.py", "0f7b242d788afbf431635a36581bd043a331a591", 0, 1, 4),
    _entry(zakharov, SINGLE + "zakharov.py", "6c37b279a4aca89bcbf0286d9ea67b259dd4fbda", -10, 10, 4,
           loop=loops.zakharov),
    _entry(zdt1, MULTI + "zdt.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", 0, 1, 6),
    _entry(zdt2, MULTI + "zdt.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", 0, 1, 6),
    _entry(zdt3, MULTI + "zdt.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", 0, 1, 6),
    _entry(zdt4, MULTI + "zdt.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", 0, 1, 6),
    _entry(zdt6, MULTI + "zdt.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", 0, 1, 6),
    _entry(kursawe, MULTI + "kursawe.py", "1126aae69c2cfdf8462e4f848406b069d94c0d56", -5, 5, 3),
    _entry(bnh, MULTI + "bnh.py", "d95520673186871ff90ab0f73a86671cf04045b1", 0, 3, 2),
    _entry(srn, MULTI + "srn.py", "42a5da6ea87b8eb7785a9eb69ebae9dee6eb60e4", -20, 20, 2),
]
