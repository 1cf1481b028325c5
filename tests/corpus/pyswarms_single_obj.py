"""Single-objective test functions from PySwarms, taken as written.

Source: ljvmiranda921/pyswarms, pyswarms/utils/functions/single_obj.py (commit
038a3356165aa170a028615dd848d19142ad4307).  Licence: MIT, Copyright (c) 2017, Lester James V. Miranda; the
licence text is in LICENSES.md.

Adaptation, the same for every function: the domain check at the top (``if not ...: raise ValueError``) is left
out, and ``return j`` (one cost per particle) becomes ``return np.sum(j)``: particles are independent, so the
gradient of the sum is every particle's own gradient.  Docstrings are shortened to one line.
"""

import numpy as np

from .spec import Entry, Origin, population
from . import loops

PYSWARMS = Origin("PySwarms", "ljvmiranda921/pyswarms", "MIT", "Copyright (c) 2017, Lester James V. Miranda")
PATH = "pyswarms/utils/functions/single_obj.py"
COMMIT = "038a3356165aa170a028615dd848d19142ad4307"
ADAPTED = "domain check left out; return j -> return np.sum(j) (sum over the particles)"


def ackley(x):
    """Ackley's objective function."""
    d = x.shape[1]
    j = (
        -20.0 * np.exp(-0.2 * np.sqrt((1 / d) * (x**2).sum(axis=1)))
        - np.exp((1 / float(d)) * np.cos(2 * np.pi * x).sum(axis=1))
        + 20.0
        + np.exp(1)
    )

    return np.sum(j)


def beale(x):
    """Beale objective function."""
    x_ = x[:, 0]
    y_ = x[:, 1]
    j = (
        (1.5 - x_ + x_ * y_) ** 2.0
        + (2.25 - x_ + x_ * y_**2.0) ** 2.0
        + (2.625 - x_ + x_ * y_**3.0) ** 2.0
    )

    return np.sum(j)


def booth(x):
    """Booth's objective function."""
    x_ = x[:, 0]
    y_ = x[:, 1]
    j = (x_ + 2 * y_ - 7) ** 2.0 + (2 * x_ + y_ - 5) ** 2.0

    return np.sum(j)


def bukin6(x):
    """Bukin N. 6 Objective Function"""
    x_ = x[:, 0]
    y_ = x[:, 1]
    j = 100 * np.sqrt(np.absolute(y_ - 0.01 * x_**2.0)) + 0.01 * np.absolute(
        x_ + 10
    )

    return np.sum(j)


def crossintray(x):
    """Cross-in-tray objective function."""
    x_ = x[:, 0]
    y_ = x[:, 1]

    j = -0.0001 * np.power(
        np.abs(
            np.sin(x_)
            * np.sin(y_)
            * np.exp(np.abs(100 - (np.sqrt(x_**2 + y_**2) / np.pi)))
        )
        + 1,
        0.1,
    )

    return np.sum(j)


def easom(x):
    """Easom objective function."""
    x_ = x[:, 0]
    y_ = x[:, 1]

    j = (
        -1
        * np.cos(x_)
        * np.cos(y_)
        * np.exp(-1 * ((x_ - np.pi) ** 2 + (y_ - np.pi) ** 2))
    )

    return np.sum(j)


def eggholder(x):
    """Eggholder objective function."""
    x_ = x[:, 0]
    y_ = x[:, 1]

    j = -(y_ + 47) * np.sin(np.sqrt(np.abs((x_ / 2) + y_ + 47))) - x_ * np.sin(
        np.sqrt(np.abs(x_ - (y_ + 47)))
    )

    return np.sum(j)


def goldstein(x):
    """Goldstein-Price's objective function."""
    x_ = x[:, 0]
    y_ = x[:, 1]
    j = (
        1
        + (x_ + y_ + 1) ** 2.0
        * (
            19
            - 14 * x_
            + 3 * x_**2.0
            - 14 * y_
            + 6 * x_ * y_
            + 3 * y_**2.0
        )
    ) * (
        30
        + (2 * x_ - 3 * y_) ** 2.0
        * (
            18
            - 32 * x_
            + 12 * x_**2.0
            + 48 * y_
            - 36 * x_ * y_
            + 27 * y_**2.0
        )
    )

    return np.sum(j)


def himmelblau(x):
    """Himmelblau's  objective function"""
    x_ = x[:, 0]
    y_ = x[:, 1]

    j = (x_**2 + y_ - 11) ** 2 + (x_ + y_**2 - 7) ** 2

    return np.sum(j)


def holdertable(x):
    """Holder Table objective function"""
    x_ = x[:, 0]
    y_ = x[:, 1]

    j = -np.abs(
        np.sin(x_)
        * np.cos(y_)
        * np.exp(np.abs(1 - np.sqrt(x_**2 + y_**2) / np.pi))
    )

    return np.sum(j)


def levi(x):
    """Levi objective function"""
    mask = np.full(x.shape, False)
    mask[:, -1] = True
    masked_x = np.ma.array(x, mask=mask)

    w_ = 1 + (x - 1) / 4
    masked_w_ = np.ma.array(w_, mask=mask)
    d_ = x.shape[1] - 1

    j = (
        np.sin(np.pi * w_[:, 0]) ** 2.0
        + ((masked_x - 1) ** 2.0).sum(axis=1)
        * (1 + 10 * np.sin(np.pi * (masked_w_).sum(axis=1) + 1) ** 2.0)
        + (w_[:, d_] - 1) ** 2.0 * (1 + np.sin(2 * np.pi * w_[:, d_]) ** 2.0)
    )

    return np.sum(j)


def matyas(x):
    """Matyas objective function"""
    x_ = x[:, 0]
    y_ = x[:, 1]
    j = 0.26 * (x_**2.0 + y_**2.0) - 0.48 * x_ * y_

    return np.sum(j)


def rastrigin(x):
    """Rastrigin objective function."""
    d = x.shape[1]
    j = 10.0 * d + (x**2.0 - 10.0 * np.cos(2.0 * np.pi * x)).sum(axis=1)

    return np.sum(j)


def rosenbrock(x):
    """Rosenbrock objective function."""
    r = np.sum(
        100 * (x.T[1:] - x.T[:-1] ** 2.0) ** 2 + (1 - x.T[:-1]) ** 2.0, axis=0
    )

    return np.sum(r)


def schaffer2(x):
    """Schaffer N.2 objective function"""
    x_ = x[:, 0]
    y_ = x[:, 1]
    j = 0.5 + (
        (np.sin(x_**2.0 - y_**2.0) ** 2.0 - 0.5)
        / ((1 + 0.001 * (x_**2.0 + y_**2.0)) ** 2.0)
    )

    return np.sum(j)


def sphere(x):
    """Sphere objective function."""
    j = (x**2.0).sum(axis=1)

    return np.sum(j)


def threehump(x):
    """Three-hump camel objective function"""
    x_ = x[:, 0]
    y_ = x[:, 1]

    j = 2 * x_**2 - 1.05 * (x_**4) + (x_**6) / 6 + x_ * y_ + y_**2

    return np.sum(j)


def _entry(function, low, high, columns=2, loop=None, jax=True):
    """A function of one population x, drawn in [low, high) (two arrays of bounds: per column)."""
    return Entry(f"pyswarms.{function.__name__}", function, ("x",), population(low, high, columns), PYSWARMS, PATH,
                 COMMIT, ADAPTED, loop=loop, jax=jax)


ENTRIES = [
    _entry(ackley, -32, 32, 4, loop=loops.ackley),
    _entry(beale, -4.5, 4.5, loop=loops.beale),
    _entry(booth, -10, 10),
    _entry(bukin6, np.array([-15, -3]), np.array([-5, 3])),
    _entry(crossintray, -10, 10),
    _entry(easom, 1, 5),  # near the minimum at (pi, pi), where the gradient is not vanishingly small
    _entry(eggholder, -512, 512),
    _entry(goldstein, -2, 2),
    _entry(himmelblau, -5, 5, loop=loops.himmelblau),
    _entry(holdertable, -10, 10),
    _entry(levi, -10, 10, jax="np.ma masked arrays: jax.numpy has no np.ma"),
    _entry(matyas, -10, 10),
    _entry(rastrigin, -5.12, 5.12, 4, loop=loops.rastrigin),
    _entry(rosenbrock, -2, 2, 4, loop=loops.rosenbrock_population),
    _entry(schaffer2, -2, 2),  # inside [-100, 100], where sin(x**2 - y**2) is slow enough for a finite step
    _entry(sphere, -5, 5, 4, loop=loops.sphere),
    _entry(threehump, -5, 5),
]
