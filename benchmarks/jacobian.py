"""Jacobian of a residual vector: 1000 data points, 10 parameters (three Gaussian peaks on a baseline), against
``jax.jit(jax.jacfwd(f))`` and ``jax.jit(jax.jacrev(f))`` of the same model, timed in the same run, interleaved.

    python -m benchmarks.jacobian [--points 1000] [--repeat 15]

Prints per-call microseconds (the median and the best round: on a loaded machine the best is the steadier) and the
ratio of each to symgrad's dense Jacobian (the median of per-round ratios).  symgrad's rows are `sg.jacobian` (the
mode chosen from the sizes: forward, one sweep carrying the tangents of the 10 parameters it reads at constant
indices and storing each residual's row of J where it computes it), the same with ``mode="rev"`` (1000 reverse
sweeps, each over all the rows) and `sg.value_and_jacobian` (the same sweep's value_and_grad kernel).
"""

import argparse
import math

import numpy as np

from benchmarks.timing import call_times, log, median, paired_rounds

PEAKS = 3


def peaks(p, x, y):
    """Residuals of three Gaussian peaks (height, centre, width) on a constant baseline p[9]."""
    n = x.shape[0]
    r = np.zeros(n)
    for i in range(n):
        s = p[9] - y[i]
        for k in range(3):
            s += p[3 * k] * math.exp(-(((x[i] - p[3 * k + 1]) / p[3 * k + 2]) ** 2))
        r[i] = s
    return r


def peaks_jax(p, x, y):
    import jax.numpy as jnp

    r = p[9] - y
    for k in range(PEAKS):
        r = r + p[3 * k] * jnp.exp(-(((x - p[3 * k + 1]) / p[3 * k + 2]) ** 2))
    return r


def problem(points):
    rng = np.random.default_rng(0)
    x = np.linspace(-5.0, 5.0, points)
    truth = np.array([1.0, -2.0, 0.7, 2.0, 0.5, 1.1, 0.5, 2.5, 0.4, 0.1])
    y = peaks(truth, x, np.zeros(points)) + 0.01 * rng.normal(size=points)
    p = truth * 1.1
    return p, x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--batch", type=float, default=0.05, help="seconds per timed batch")
    options = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import symgrad as sg

    p, x, y = problem(options.points)
    jacobian = sg.jacobian(peaks)
    calls = {
        "symgrad jacobian (fwd)": jacobian,
        "symgrad jacobian mode=rev": sg.jacobian(peaks, mode="rev"),
        "symgrad value_and_jacobian": sg.value_and_jacobian(peaks),
        "jax.jit(jax.jacfwd)": jax.jit(jax.jacfwd(peaks_jax)),
        "jax.jit(jax.jacrev)": jax.jit(jax.jacrev(peaks_jax)),
    }
    reference = np.asarray(calls["jax.jit(jax.jacfwd)"](p, x, y))
    for name, function in calls.items():
        result = function(p, x, y)
        result = result[1] if isinstance(result, tuple) else result
        error = np.abs(np.asarray(result) - reference).max()
        log(f"{name}: max |J - jax.jacfwd| = {error:.1e}")
        assert error < 1e-9 * (1 + np.abs(reference).max()), name
    log("timing...")
    samples = call_times({name: (f, (p, x, y)) for name, f in calls.items()}, options.repeat, options.batch,
                         budget_seconds=3.0)
    base = samples["symgrad jacobian (fwd)"]
    print(f"Jacobian of {options.points} residuals w.r.t. 10 parameters (ratio: time / symgrad jacobian)")
    print(f"{'':30s} {'median us':>10s} {'best us':>10s} {'ratio':>8s}")
    for name in calls:
        seconds = [s for _, s in samples[name]]
        print(f"{name:30s} {median(seconds) * 1e6:10.1f} {min(seconds) * 1e6:10.1f} "
              f"{paired_rounds(samples[name], base):8.2f}")


if __name__ == "__main__":
    main()
