"""The benchmark problems, each written once as plain Python for symgrad.

This module imports nothing but `math`, so a fresh process that imports it to measure symgrad's start-up
latency pays for symgrad and Numba only.  The 60-step chain is generated into a file of its own at run time
by `bench_core.chain_source` (symgrad reads source with `inspect`, so it has to live in a real file).
"""

import math


def rosen2(x, y):
    return (1 - x)**2 + 100*(y - x**2)**2


def neuron(w1, w2, b, x1, x2, y):
    z = w1*x1 + w2*x2 + b
    p = (math.tanh(z) + 1)/2
    loss = -(y*math.log(p) + (1 - y)*math.log(1 - p))
    return loss


def ackley(x, y):
    return (-20*math.exp(-0.2*math.sqrt(0.5*(x**2 + y**2)))
            - math.exp(0.5*(math.cos(2*math.pi*x) + math.cos(2*math.pi*y))) + math.e + 20)
