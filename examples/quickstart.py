"""symgrad quickstart: exact gradients of plain Python functions, compiled with Numba.

Run it with ``python examples/quickstart.py`` (it needs scipy).  It

1. derives the gradient of the 2-D Rosenbrock function and prints the formulas,
2. minimises Rosenbrock with scipy's BFGS, once with symgrad's compiled gradient and once with scipy's
   finite differences, and compares them,
3. derives the gradient of a tanh neuron's loss, and
4. fits that neuron by gradient descent written in the user's own ``@numba.njit`` loop, which calls the
   compiled kernel directly.

The first run derives and compiles the kernels (a few seconds, SymPy and Numba at work); later runs load them
from the derivation cache and Numba's on-disk cache.
"""

import math
import time

import numba
import numpy as np
from scipy.optimize import minimize

import symgrad as sg


# --- 1. Rosenbrock: a plain Python function, differentiated w.r.t. both arguments ----------------------------
@sg.value_and_grad(wrt=("x", "y"))
def rosen(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosen_and_gradient(p):
    """scipy's view: one vector in, (value, gradient vector) out."""
    value, (dx, dy) = rosen(p[0], p[1])
    return value, np.array([dx, dy])


def rosen_value(p):
    """The value alone (symgrad's compiled forward kernel), for the finite-difference run."""
    return rosen.value(p[0], p[1])


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def per_call_seconds(function, *args, repeat=5, number=100_000):
    """Best-of-`repeat` time of one call, in seconds."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function(*args)
        best = min(best, (time.perf_counter() - start) / number)
    return best


def timed_minimize(**options):
    """scipy.optimize.minimize with BFGS from (-1.2, 1.0), and its best-of-5 wall time."""
    best, result = math.inf, None
    for _ in range(5):
        start = time.perf_counter()
        result = minimize(x0=np.array([-1.2, 1.0]), method="BFGS", **options)
        best = min(best, time.perf_counter() - start)
    return result, best


# --- 3. a tanh neuron: squared error of tanh(w*x + b) against a target, differentiated w.r.t. w and b --------
@sg.value_and_grad(wrt=("w", "b"))
def neuron_loss(w, b, x, target):
    y = math.tanh(w * x + b)
    return 0.5 * (y - target) ** 2


# --- 4. the compiled kernel called from the user's own Numba code --------------------------------------------
# Bound to a module-level name, the dispatcher is compiled into the njit code that calls it (no Python in the loop).
# It is bound under __main__, not at import: importing this file (`symgrad show examples/quickstart.py:rosen`) must
# derive and compile nothing.
@numba.njit
def fit_neuron(xs, targets, w, b, learning_rate, epochs):
    """Full-batch gradient descent on the mean loss over (xs, targets), entirely inside Numba."""
    n = len(xs)
    loss = 0.0
    for _ in range(epochs):
        loss, grad_w, grad_b = 0.0, 0.0, 0.0
        for i in range(n):
            value, (dw, db) = loss_value_and_grad(w, b, xs[i], targets[i])
            loss += value / n
            grad_w += dw / n
            grad_b += db / n
        w -= learning_rate * grad_w
        b -= learning_rate * grad_b
    return w, b, loss


def main():
    section("1. Rosenbrock: what symgrad derived")
    print(rosen)  # str(): the function and each partial derivative as plain text
    print("\nas LaTeX (rosen.latex()):")
    print(rosen.latex())
    value, gradient = rosen(-1.2, 1.0)  # the first call loads (or derives) and compiles the kernels
    print(f"\nrosen(-1.2, 1.0) -> value {value:.4f}, gradient ({gradient[0]:.4f}, {gradient[1]:.4f})")

    section("2. BFGS from (-1.2, 1.0): exact gradient vs finite differences")
    rosen_and_gradient(np.array([0.0, 0.0]))  # warm up both entry points before timing
    rosen_value(np.array([0.0, 0.0]))
    exact, exact_time = timed_minimize(fun=rosen_and_gradient, jac=True)
    approx, approx_time = timed_minimize(fun=rosen_value, jac=None)
    print(f"{'gradient':<24}{'solution':<28}{'nfev':>6}{'njev':>6}{'wall time':>12}")
    for label, result, seconds in (("symgrad (jac=True)", exact, exact_time),
                                   ("finite diff (jac=None)", approx, approx_time)):
        solution = f"({result.x[0]:.10f}, {result.x[1]:.10f})"
        print(f"{label:<24}{solution:<28}{result.nfev:>6}{result.njev:>6}{seconds * 1e3:>9.2f} ms")
    print(f"distance from the true minimum (1, 1): symgrad {np.linalg.norm(exact.x - 1):.1e}, "
          f"finite differences {np.linalg.norm(approx.x - 1):.1e}")
    print(f"one call of the compiled value_and_grad from Python: "
          f"{per_call_seconds(rosen, 1.5, 2.0) * 1e6:.2f} us  (rosen(1.5, 2.0))")

    section("3. A tanh neuron: loss = 0.5 * (tanh(w*x + b) - target)**2")
    print(neuron_loss)
    value, (dw, db) = neuron_loss(0.5, 0.1, 2.0, 0.3)
    print(f"\nneuron_loss(w=0.5, b=0.1, x=2.0, target=0.3) -> value {value:.6f}, d/dw {dw:.6f}, d/db {db:.6f}")

    section("4. Gradient descent in the user's own @numba.njit loop")
    xs = np.linspace(-2.0, 2.0, 200)
    targets = np.tanh(1.5 * xs - 0.5)  # data made by the neuron with w = 1.5, b = -0.5
    fit_neuron(xs, targets, 0.1, 0.0, 0.5, 1)  # compile fit_neuron once before timing
    start = time.perf_counter()
    w, b, loss = fit_neuron(xs, targets, 0.1, 0.0, 0.5, 5000)
    seconds = time.perf_counter() - start
    print(f"5000 epochs x 200 points = 1,000,000 kernel calls inside Numba in {seconds * 1e3:.1f} ms "
          f"({seconds / 1e6 * 1e9:.1f} ns per point, loop included)")
    print(f"fitted w = {w:.6f}, b = {b:.6f} (data made with w = 1.5, b = -0.5), mean loss {loss:.2e}")


if __name__ == "__main__":
    loss_value_and_grad = neuron_loss.kernels.value_and_grad
    main()
