"""Fit the stiffness and damping of an oscillator to a noisy trajectory, differentiating through 1000 Euler steps.

Run it with ``python examples/oscillator_fit.py`` (it needs scipy); ``--small`` simulates 100 steps only.

The model is x'' = -k x - c x', integrated with explicit Euler: the state (x, v) is carried from step to step,
and the loss adds up the squared error between the simulated x and the observation at every step.  symgrad
differentiates through the whole simulation with respect to (k, c): it records the states on a tape in the
forward loop and runs the loop backwards for the adjoints (print the formulas below to see it).  L-BFGS-B then
fits k and c from a poor start.
"""

import argparse
import os
import time

# L-BFGS-B's own work is many small BLAS calls; OpenBLAS threads only slow those down (by 10-30x on a busy
# machine), so ask for one thread unless the user chose otherwise.  Must come before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.optimize import minimize

import symgrad as sg

TRUE_K, TRUE_C = 4.0, 0.3
X0, V0, DT = 1.0, 0.0, 0.01
NOISE = 0.05


@sg.value_and_grad(wrt=("k", "c"))
def trajectory_loss(k, c, observed, x0, v0, dt):
    x, v = x0, v0
    total = 0.0
    for t in range(len(observed)):
        x, v = x + dt * v, v - dt * (k * x + c * v)  # one explicit Euler step of x'' = -k x - c x'
        total += (x - observed[t]) ** 2
    return total


def simulate(k, c, x0, v0, dt, steps):
    """The same Euler steps in plain NumPy/Python, returning the trajectory x(t_1), ..., x(t_steps)."""
    xs = np.empty(steps)
    x, v = x0, v0
    for t in range(steps):
        x, v = x + dt * v, v - dt * (k * x + c * v)
        xs[t] = x
    return xs


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100 steps instead of 1000, for a smoke test")
    arguments = parser.parse_args()
    steps = 100 if arguments.small else 1000

    rng = np.random.default_rng(42)
    observed = simulate(TRUE_K, TRUE_C, X0, V0, DT, steps) + NOISE * rng.standard_normal(steps)
    print(f"{steps} Euler steps of dt = {DT} from x = {X0}, v = {V0}; observations made with k = {TRUE_K}, "
          f"c = {TRUE_C} and Gaussian noise of standard deviation {NOISE}")

    section("1. What symgrad derived: a forward loop, and the same loop run backwards")
    print(trajectory_loss)

    section("2. The gradient is exact")
    start = time.perf_counter()
    value, (dk, dc) = trajectory_loss(1.0, 1.0, observed, X0, V0, DT)  # first call: load or derive, compile
    print(f"first call (derive or load from cache, then compile): {time.perf_counter() - start:.2f} s")
    h = 1e-6
    loss = trajectory_loss.value
    fd_k = (loss(1.0 + h, 1.0, observed, X0, V0, DT) - loss(1.0 - h, 1.0, observed, X0, V0, DT)) / (2 * h)
    fd_c = (loss(1.0, 1.0 + h, observed, X0, V0, DT) - loss(1.0, 1.0 - h, observed, X0, V0, DT)) / (2 * h)
    exact, numeric = np.array([dk, dc]), np.array([fd_k, fd_c])
    print(f"at k = 1, c = 1: loss {value:.6f}")
    print(f"{'':<28}{'d/dk':>16}{'d/dc':>16}")
    print(f"{'symgrad':<28}{dk:>16.9f}{dc:>16.9f}")
    print(f"{'central finite differences':<28}{fd_k:>16.9f}{fd_c:>16.9f}")
    print(f"max relative error: {np.max(np.abs(exact - numeric)) / np.max(np.abs(exact)):.1e}")

    section("3. Fit (k, c) with L-BFGS-B from k = 1, c = 1")

    def objective(p):
        value, (dk, dc) = trajectory_loss(p[0], p[1], observed, X0, V0, DT)
        return value, np.array([dk, dc])

    start = time.perf_counter()
    result = minimize(objective, np.array([1.0, 1.0]), method="L-BFGS-B", jac=True,
                      bounds=[(0.0, None), (0.0, None)])
    seconds = time.perf_counter() - start
    print(f"{result.message}: {result.nit} iterations, {result.nfev} evaluations, {seconds * 1e3:.1f} ms")
    print(f"{'':<12}{'true':>8}{'fitted':>10}")
    print(f"{'k':<12}{TRUE_K:>8.3f}{result.x[0]:>10.4f}")
    print(f"{'c':<12}{TRUE_C:>8.3f}{result.x[1]:>10.4f}")
    residual = observed - simulate(result.x[0], result.x[1], X0, V0, DT, steps)
    print(f"rms residual {np.sqrt(np.mean(residual ** 2)):.4f} (the noise's standard deviation is {NOISE})")
    calls = 1000
    start = time.perf_counter()
    for _ in range(calls):
        trajectory_loss(result.x[0], result.x[1], observed, X0, V0, DT)
    print(f"one value_and_grad through {steps} steps: {(time.perf_counter() - start) / calls * 1e6:.1f} us")


if __name__ == "__main__":
    main()
