"""Every problem written once more, as a user of an array library writes it: the twin each peer differentiates.

A twin takes the library's namespace `xp` first (``jax.numpy``, ``autograd.numpy``, torch, SymPy, CasADi or
micrograd, wrapped by `systems`), then the problem's arguments.  One text serves every peer, so no peer gets a
better or worse version of a problem than another.  Where libraries differ in idiom, `xp` carries the idiom:
``xp.add_bias`` (CasADi does not broadcast), ``xp.scan`` (JAX's ``lax.scan``; a Python loop elsewhere).  A name
the library lacks raises `NotExpressible` from the namespace, which is how micrograd (no exp, log, tanh, sin or
cos) reports the problems it cannot express.
"""

import math
import types

from array_problems import ALPHA, DT
from bench_problems import CHAIN_STEPS


def rosen2(xp, x, y):
    return (1 - x)**2 + 100*(y - x**2)**2


def neuron(xp, w1, w2, b, x1, x2, y):
    z = w1*x1 + w2*x2 + b
    p = (xp.tanh(z) + 1)/2
    return -(y*xp.log(p) + (1 - y)*xp.log(1 - p))


def ackley(xp, x, y):
    return (-20*xp.exp(-0.2*xp.sqrt(0.5*(x**2 + y**2)))
            - xp.exp(0.5*(xp.cos(2*math.pi*x) + xp.cos(2*math.pi*y))) + math.e + 20)


def chain(xp, x, a, steps=CHAIN_STEPS):
    for _ in range(steps):  # unrolled while tracing, like the written-out Python
        x = xp.sin(x)*xp.cos(0.5*x + a) + 0.1*x
    return x


def rosen(xp, x):
    return xp.sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)


def logistic(xp, w, X, y):
    z = X @ w
    return xp.mean(xp.log1p(xp.exp(-z)) + (1 - y)*z)


def mlp(xp, W1, b1, W2, b2, w3, b3, X, y):
    h1 = xp.maximum(xp.add_bias(X @ W1.T, b1), 0.0)
    h2 = xp.maximum(xp.add_bias(h1 @ W2.T, b2), 0.0)
    score = h2 @ w3 + b3
    data_loss = xp.mean(xp.maximum(1.0 - y*score, 0.0))
    squares = xp.sum(W1**2) + xp.sum(b1**2) + xp.sum(W2**2) + xp.sum(b2**2) + xp.sum(w3**2) + b3**2
    return data_loss + ALPHA*squares


def oscillator(xp, k, c, obs):
    def step(carry, o):
        x, v, err = carry
        a = -k*x - c*v
        x, v = x + DT*v, v + DT*a
        return (x, v, err + (x - o)**2), None

    (_, _, err), _ = xp.scan(step, (1.0, 0.0, 0.0), obs)
    return err


def python_scan(step, carry, xs):
    """``lax.scan`` for libraries without one: a Python loop over the rows of `xs`."""
    for t in range(xs.shape[0]):
        carry, _ = step(carry, xs[t])
    return carry, None


class same_source:
    """The twin of a vectorised NumPy function: its own code object with `np` bound to the peer's namespace, so
    JAX, autograd and PyTorch run the very text symgrad differentiates, not a copy that could drift from it."""

    def __init__(self, function):
        self.function, self._bound = function, {}

    def __call__(self, xp, *args):
        bound = self._bound.get(id(xp))
        if bound is None or bound[0] is not xp:  # rebound once per namespace (a tracer calls this every time)
            code = types.FunctionType(self.function.__code__, {**self.function.__globals__, "np": xp})
            bound = self._bound[id(xp)] = (xp, code)
        return bound[1](*args)
