"""Gradients written by hand, once, as plain Python and NumPy: the reference every ratio is taken against.

Run as they are, they are the "hand NumPy" system; compiled by `njit` they are "hand Numba", the reference.
Each returns ``(value, gradient)`` shaped like symgrad's ``value_and_grad``.  The module imports no Numba, so a
fresh process timing hand NumPy does not pay for it.
"""

import functools
import math

import numpy as np
from array_problems import ALPHA, DT
from bench_problems import CHAIN_STEPS


@functools.lru_cache(maxsize=None)
def njit(function):
    """`function` compiled the way symgrad compiles its kernels: error_model="numpy" (neither side pays for
    ZeroDivisionError checks), cached on disk (so a second process finds the machine code, as symgrad's does)."""
    import numba

    return numba.njit(cache=True, error_model="numpy")(function)


def rosen2_hand(x, y):
    t = y - x * x
    u = 1.0 - x
    return u * u + 100.0 * t * t, (-2.0 * u - 400.0 * x * t, 200.0 * t)


def neuron_hand(w1, w2, b, x1, x2, y):
    z = w1 * x1 + w2 * x2 + b
    p = 0.5 * (math.tanh(z) + 1.0)
    loss = -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))
    dz = 2.0 * (p - y)  # dloss/dp * dp/dz = ((p - y) / (p (1 - p))) * (2 p (1 - p))
    return loss, (dz * x1, dz * x2, dz)


def ackley_hand(x, y):
    two_pi = 2.0 * math.pi
    r = math.sqrt(0.5 * (x * x + y * y))
    e1 = math.exp(-0.2 * r)
    e2 = math.exp(0.5 * (math.cos(two_pi * x) + math.cos(two_pi * y)))
    value = -20.0 * e1 - e2 + math.e + 20.0
    radial = 2.0 * e1 / r  # d(-20 e1)/dx = 20 * 0.2 * e1 * (0.5 x / r)
    return value, (radial * x + math.pi * e2 * math.sin(two_pi * x),
                   radial * y + math.pi * e2 * math.sin(two_pi * y))


def chain_hand(x, a):
    # Forward loop storing the states (and the sin/cos it computed anyway), then a backward loop.
    tape = np.empty((3, CHAIN_STEPS))
    for k in range(CHAIN_STEPS):
        sx = math.sin(x)
        cu = math.cos(0.5 * x + a)
        tape[0, k] = x
        tape[1, k] = sx
        tape[2, k] = cu
        x = sx * cu + 0.1 * x
    x_bar = 1.0
    a_bar = 0.0
    for k in range(CHAIN_STEPS - 1, -1, -1):
        xk = tape[0, k]
        sx = tape[1, k]
        su = math.sin(0.5 * xk + a)
        a_bar -= x_bar * sx * su
        x_bar *= math.cos(xk) * tape[2, k] - 0.5 * sx * su + 0.1
    return x, (x_bar, a_bar)


def rosen_hand(x):
    n = x.shape[0]
    g = np.empty(n)
    s = 0.0
    carry = 0.0  # d/dx[i] of the previous term, 200 (x[i] - x[i-1]^2)
    for i in range(n - 1):
        xi = x[i]
        t = x[i + 1] - xi * xi
        u = 1.0 - xi
        s += 100.0 * t * t + u * u
        g[i] = carry - 400.0 * xi * t - 2.0 * u
        carry = 200.0 * t
    if n > 0:
        g[n - 1] = carry
    return s, g


def logistic_hand(w, X, y):
    n, d = X.shape
    g = np.zeros(d)
    inv_n = 1.0 / n
    total = 0.0
    for i in range(n):
        z = 0.0
        for j in range(d):
            z += X[i, j] * w[j]
        e = math.exp(-z)
        total += math.log1p(e) + (1.0 - y[i]) * z
        dz = ((1.0 - y[i]) - e / (1.0 + e)) * inv_n
        for j in range(d):
            g[j] += dz * X[i, j]
    return total * inv_n, g


def mlp_hand(W1, b1, W2, b2, w3, b3, X, y):
    n, d = X.shape
    hidden = W1.shape[0]
    gW1 = np.zeros((hidden, d))
    gb1 = np.zeros(hidden)
    gW2 = np.zeros((hidden, hidden))
    gb2 = np.zeros(hidden)
    gw3 = np.zeros(hidden)
    gb3 = 0.0
    h1 = np.empty(hidden)
    h2 = np.empty(hidden)
    dh1 = np.empty(hidden)
    inv_n = 1.0 / n
    data_loss = 0.0
    for i in range(n):
        # forward for this point
        for j in range(hidden):
            acc = b1[j]
            for k in range(d):
                acc += W1[j, k] * X[i, k]
            h1[j] = max(acc, 0.0)
        for j in range(hidden):
            acc = b2[j]
            for k in range(hidden):
                acc += W2[j, k] * h1[k]
            h2[j] = max(acc, 0.0)
        score = b3
        for j in range(hidden):
            score += w3[j] * h2[j]
        margin = 1.0 - y[i] * score
        # backward for this point, only where the hinge is active (elsewhere its gradient is 0)
        if margin > 0.0:
            data_loss += margin
            ds = -y[i] * inv_n
            gb3 += ds
            for k in range(hidden):
                dh1[k] = 0.0
            for j in range(hidden):
                gw3[j] += ds * h2[j]
                if h2[j] > 0.0:
                    da = ds * w3[j]
                    gb2[j] += da
                    for k in range(hidden):
                        gW2[j, k] += da * h1[k]
                        dh1[k] += da * W2[j, k]
            for j in range(hidden):
                if h1[j] > 0.0:
                    da = dh1[j]
                    gb1[j] += da
                    for k in range(d):
                        gW1[j, k] += da * X[i, k]
    two_alpha = 2.0 * ALPHA
    squares = b3 * b3
    for j in range(hidden):
        squares += b1[j] * b1[j] + b2[j] * b2[j] + w3[j] * w3[j]
        gb1[j] += two_alpha * b1[j]
        gb2[j] += two_alpha * b2[j]
        gw3[j] += two_alpha * w3[j]
        for k in range(d):
            squares += W1[j, k] * W1[j, k]
            gW1[j, k] += two_alpha * W1[j, k]
        for k in range(hidden):
            squares += W2[j, k] * W2[j, k]
            gW2[j, k] += two_alpha * W2[j, k]
    return data_loss * inv_n + ALPHA * squares, (gW1, gb1, gW2, gb2, gw3, gb3 + two_alpha * b3)


def oscillator_hand(k, c, obs):
    # Two parameters: forward sensitivities (d/dk and d/dc of x and v) carried in the same loop, no tape.
    x, v = 1.0, 0.0
    xk, vk, xc, vc = 0.0, 0.0, 0.0, 0.0
    err, gk, gc = 0.0, 0.0, 0.0
    for t in range(obs.shape[0]):
        a = -k * x - c * v
        ak = -x - k * xk - c * vk
        ac = -v - k * xc - c * vc
        x, v = x + DT * v, v + DT * a
        xk, vk = xk + DT * vk, vk + DT * ak
        xc, vc = xc + DT * vc, vc + DT * ac
        r = x - obs[t]
        err += r * r
        gk += 2.0 * r * xk
        gc += 2.0 * r * xc
    return err, (gk, gc)
