"""The logistic NLL with passes `split_rows` and `vector_functions` off and on, serial and parallel, against JAX.

``python -m benchmarks.vector_passes [--rows N] [--rounds R]`` times symgrad's `value_and_grad` of the loop
(`logistic_nll`) and vectorised (`logistic_nll_vectorised`) spellings, with both passes off (the kernel main
printed before them) and on, with and without ``parallel=True``, and JAX's jitted gradient of the vectorised
text, all interleaved in one process.  It prints each one's median and fastest round, and the ratios (median of
per-round ratios, and of the fastest rounds): to JAX, after over before, and serial over parallel.
"""

import argparse
import statistics

import numpy as np

import symgrad as sg

from .array_problems import logistic_nll, logistic_nll_vectorised
from .timing import call_times, log

OFF = {"split_rows": False, "vector_functions": False}


def calls(rows):
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(rows, 10)), (rng.random(rows) < 0.5) * 1.0, rng.normal(size=10) * 0.3
    chosen = {}
    for label, function in (("loop", logistic_nll), ("vectorised", logistic_nll_vectorised)):
        for when, optimize in (("before", OFF), ("after", True)):
            chosen[f"{label} {when}"] = (sg.value_and_grad(function, optimize=optimize), (w, X, y))
            chosen[f"{label} {when} parallel"] = (sg.value_and_grad(function, optimize=optimize, parallel=True),
                                                  (w, X, y))
    import jax

    jax.config.update("jax_enable_x64", True)
    gradient = jax.jit(jax.value_and_grad(_jax_loss()))
    arrays = tuple(jax.numpy.asarray(a) for a in (w, X, y))
    chosen["jax"] = (lambda *a: jax.block_until_ready(gradient(*a)), arrays)
    return chosen


def _jax_loss():
    """`logistic_nll_vectorised`'s text with jax.numpy for NumPy (as benchmarks.twins does for every peer)."""
    import jax.numpy as jnp

    def loss(w, X, y):
        z = X @ w
        return jnp.mean(jnp.log1p(jnp.exp(-z)) + (1 - y) * z)

    return loss


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vector_passes", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000, help="rows of 10 features (default 10000)")
    parser.add_argument("--rounds", type=int, default=41, help="interleaved rounds (default 41)")
    options = parser.parse_args(argv)
    chosen = calls(options.rows)
    log("timing, interleaved...")
    samples = {name: dict(values) for name, values in
               call_times(chosen, repeat=options.rounds, batch_seconds=0.02).items()}

    def ratio(a, b):
        common = set(samples[a]) & set(samples[b])
        median = statistics.median(samples[a][r] / samples[b][r] for r in common)
        return f"{median:5.2f}x (fastest {min(samples[a].values()) / min(samples[b].values()):.2f}x)"

    for name in chosen:
        print(f"{name:28} {statistics.median(samples[name].values()) * 1e6:9.1f} µs (fastest "
              f"{min(samples[name].values()) * 1e6:8.1f})  over JAX {ratio(name, 'jax')}")
    for label in ("loop", "vectorised"):
        print(f"{label}: after over before {ratio(f'{label} after', f'{label} before')}; serial over parallel: "
              f"after {ratio(f'{label} after', f'{label} after parallel')}, "
              f"before {ratio(f'{label} before', f'{label} before parallel')}")


if __name__ == "__main__":
    main()
