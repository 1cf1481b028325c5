"""SGD with gradient accumulation over mini-batches and clipping by global norm, in Python and in @numba.njit.

Run it with ``python examples/sgd_clipping.py``; ``--small`` trains on fewer samples for fewer epochs.

The model is linear regression, y = X w + b, and ``batch_loss`` is the mean squared error over the rows
``start .. stop - 1`` of the data: the mini-batch is chosen by two int arguments, so no array is copied.  One
SGD update

1. accumulates the gradients of ``ACCUMULATE`` consecutive mini-batches of ``BATCH`` rows and averages them
   (for mini-batches of equal size this is exactly the gradient over all their rows, which the example checks),
2. clips the averaged gradient by its global norm over (w, b): if ||(dw, db)|| > MAX_NORM it is scaled down to
   norm MAX_NORM, the same rule as ``torch.nn.utils.clip_grad_norm_``,
3. steps against it.

The loop is written once, in plain Python, calling the kernel ``batch_loss.kernels.value_and_grad`` (the same
compiled function that ``batch_loss(...)`` calls).  It runs twice: as Python, and compiled by ``numba.njit``,
which compiles the kernel call into the loop.  Both give the same weights, to the last bits.
"""

import argparse
import math
import time

import numba
import numpy as np

import symgrad as sg

BATCH, ACCUMULATE = 8, 4  # four mini-batches of eight rows per update: an effective batch of 32
MAX_NORM = 1.0
RATE = 0.1


@sg.value_and_grad(wrt=("w", "b"))
def batch_loss(w, b, X, y, start, stop):
    """Mean squared error of the linear model over rows start .. stop - 1."""
    total = 0.0
    for i in range(start, stop):
        prediction = b
        for j in range(X.shape[1]):
            prediction += X[i, j] * w[j]
        total += (prediction - y[i]) ** 2
    return total / (stop - start)


# `batch_value_and_grad`, bound under __main__ (importing this file derives nothing), is the dispatcher
# `batch_loss.kernels.value_and_grad`: a module-level name, so it can be called from Python and compiled into the
# njit loop below (no Python between the calls there).  `batch_loss(...)` is this same dispatcher.
@numba.njit
def clip_by_norm(gw, gb, max_norm):
    """Scale (gw, gb) down to norm `max_norm` when it is longer: -> (gw, gb, whether it was clipped)."""
    norm = math.sqrt(np.dot(gw, gw) + gb * gb)
    if norm > max_norm:
        return gw * (max_norm / norm), gb * (max_norm / norm), True
    return gw, gb, False


def train(w, b, X, y, epochs):
    """SGD: -> final (w, b), the number of updates, and how many of them were clipped.

    Plain Python, calling the compiled kernel once per mini-batch; `train_in_numba` below is this very function
    compiled by Numba."""
    n = X.shape[0]
    updates = clipped = 0
    for _ in range(epochs):
        for first in range(0, n, BATCH * ACCUMULATE):
            gw, gb, count = np.zeros_like(w), 0.0, 0
            for k in range(ACCUMULATE):  # accumulate the mini-batches' gradients
                start = first + k * BATCH
                if start >= n:
                    break
                _, (dw, db) = batch_value_and_grad(w, b, X, y, start, min(start + BATCH, n))
                gw += dw
                gb += db
                count += 1
            gw, gb, was_clipped = clip_by_norm(gw / count, gb / count, MAX_NORM)
            w, b = w - RATE * gw, b - RATE * gb
            updates += 1
            clipped += was_clipped
    return w, b, updates, clipped


train_in_numba = numba.njit(train)


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer samples and epochs, for a smoke test")
    arguments = parser.parse_args()
    n_samples, epochs = (256, 20) if arguments.small else (4096, 50)
    rng = np.random.default_rng(0)
    true_w, true_b = np.array([3.0, -2.0, 1.0, 0.5, -1.0]), 2.0
    X = rng.standard_normal((n_samples, len(true_w)))
    y = X @ true_w + true_b + 0.1 * rng.standard_normal(n_samples)
    print(f"data: {n_samples} samples, {len(true_w)} features, y = X w + b + noise (sd 0.1); "
          f"updates over {ACCUMULATE} mini-batches of {BATCH}, clipped to norm {MAX_NORM}, rate {RATE}")

    section("1. What symgrad derived")
    print(batch_loss)

    section("2. Accumulation and clipping, checked")
    w0, b0 = np.zeros(len(true_w)), 0.0
    pieces = [batch_loss(w0, b0, X, y, k * BATCH, (k + 1) * BATCH)[1] for k in range(ACCUMULATE)]
    accumulated = np.append(sum(p[0] for p in pieces), sum(p[1] for p in pieces)) / ACCUMULATE
    _, (whole_w, whole_b) = batch_loss(w0, b0, X, y, 0, BATCH * ACCUMULATE)
    by_hand = X[:BATCH * ACCUMULATE].T @ (X[:BATCH * ACCUMULATE] @ w0 + b0 - y[:BATCH * ACCUMULATE])
    by_hand = 2 * np.append(by_hand, np.sum(X[:BATCH * ACCUMULATE] @ w0 + b0 - y[:BATCH * ACCUMULATE]))
    by_hand /= BATCH * ACCUMULATE
    print(f"mean of {ACCUMULATE} mini-batch gradients: {np.array2string(accumulated, precision=6)}")
    print(f"gradient over their {BATCH * ACCUMULATE} rows at once: "
          f"{np.array2string(np.append(whole_w, whole_b), precision=6)}")
    print(f"max relative error vs one batch of all the rows: "
          f"{np.max(np.abs(accumulated - np.append(whole_w, whole_b))) / np.max(np.abs(accumulated)):.1e}")
    print(f"max relative error vs the hand-derived 2 X^T r / n, 2 sum(r) / n: "
          f"{np.max(np.abs(accumulated - by_hand)) / np.max(np.abs(by_hand)):.1e}")
    gw, gb, was_clipped = clip_by_norm(accumulated[:-1], accumulated[-1], MAX_NORM)
    print(f"its norm {np.linalg.norm(accumulated):.4f} > {MAX_NORM}: clipped ({was_clipped}) to norm "
          f"{math.sqrt(gw @ gw + gb * gb):.4f}, same direction (cosine "
          f"{np.append(gw, gb) @ accumulated / np.linalg.norm(accumulated) / MAX_NORM:.6f})")

    section(f"3. {epochs} epochs of SGD, the loop in Python")
    start = time.perf_counter()
    w, b, updates, clipped = train(w0, b0, X, y, epochs)
    python_seconds = time.perf_counter() - start
    print(f"{updates} updates, {clipped} of them clipped; {python_seconds / epochs * 1e3:.2f} ms per epoch")
    print(f"fitted w = {np.array2string(w, precision=4)}, b = {b:.4f}")
    print(f"true   w = {np.array2string(true_w, precision=4)}, b = {true_b:.4f}")
    print(f"mean squared error over all the data: {batch_loss.value(w, b, X, y, 0, n_samples):.5f} "
          "(the noise's variance is 0.01)")

    section("4. The same loop compiled: train_in_numba = numba.njit(train)")
    start = time.perf_counter()
    train_in_numba(w0, b0, X, y, 1)
    print(f"compiling train_in_numba: {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    w_numba, b_numba, updates_numba, clipped_numba = train_in_numba(w0, b0, X, y, epochs)
    numba_seconds = time.perf_counter() - start
    difference = max(np.max(np.abs(w_numba - w)), abs(b_numba - b))
    print(f"{updates_numba} updates, {clipped_numba} clipped; {numba_seconds / epochs * 1e3:.3f} ms per epoch "
          f"({python_seconds / numba_seconds:.0f}x the Python loop)")
    print(f"max |difference| from the Python loop's weights: {difference:.1e}")
    if difference > 1e-9 or (updates_numba, clipped_numba) != (updates, clipped):
        raise SystemExit("the Numba loop and the Python loop disagree")


if __name__ == "__main__":
    batch_value_and_grad = batch_loss.kernels.value_and_grad
    main()
