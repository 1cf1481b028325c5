"""The logistic NLL's (`array_problems.logistic_nll`, a mean) value and gradient over 10^7 x 10 rows: symgrad.dask on a dask array in memory (threaded
scheduler) against the in-memory ``parallel=True`` kernel, the same gradient written with dask.array operations
(dask-ml's approach), and JAX on the materialised array; then a LocalCluster of 2 worker processes.

    python -m benchmarks.dask_speed                    # 10^7 rows, 5 rounds
    python -m benchmarks.dask_speed --rows 1000000 --rounds 3 --no-cluster

Each round times every system once, in a rotating order (`timing.call_times`); times are medians, ratios medians of per-round ratios.
On the cluster: the time of one call on 1,000 rows (the scheduler's round trip, the overhead of an iteration)
and the throughput in rows per second of a call on data the workers hold (persisted), against the in-memory kernel.
"""

import argparse
import os
import statistics
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import twins  # noqa: E402
from array_problems import logistic_nll as nll  # noqa: E402
from timing import call_times  # noqa: E402

import symgrad as sg  # noqa: E402
import symgrad.dask as sgd  # noqa: E402

CHUNK_ROWS = 1_000_000


def dask_array_ops(w, X, y):
    """The gradient as dask-ml computes it: array operations, one graph, computed together."""
    import dask
    import dask.array as da

    z = X @ w
    value = da.mean(da.logaddexp(0, z) - y*z)
    gradient = X.T @ (1 / (1 + da.exp(-z)) - y) / X.shape[0]
    return dask.compute(value, gradient)


def jax_call(X, y):
    """jit(value_and_grad) of the problem's JAX twin on the materialised arrays, or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    loss = jax.jit(jax.value_and_grad(lambda w: twins.logistic(jnp, w, Xj, yj)))
    return lambda w: jax.block_until_ready(loss(jnp.asarray(w)))


def main(argv=None):
    import dask.array as da

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10**7)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-cluster", action="store_true")
    options = parser.parse_args(argv)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(options.rows, 10))
    y = (rng.random(options.rows) < 0.5).astype(float)
    w = rng.normal(size=10) * 0.1
    Xd, yd = da.from_array(X, chunks=(CHUNK_ROWS, 10)), da.from_array(y, chunks=CHUNK_ROWS)
    in_memory = sg.value_and_grad(nll, parallel=True)
    chunked = sgd.value_and_grad(nll)
    systems = {"in-memory parallel=True": lambda: in_memory(w, X, y),
               "symgrad.dask threaded": lambda: chunked(w, Xd, yd),
               "dask.array operations": lambda: dask_array_ops(w, Xd, yd)}
    jax_loss = jax_call(X, y)
    if jax_loss is not None:
        systems["jax jit on the array"] = lambda: jax_loss(w)
    reference = in_memory(w, X, y)
    for label, run in systems.items():  # warm up: compile, trace; check every result against the kernel's
        value, gradient = run()
        assert abs(float(value) - reference[0]) < 1e-9 and np.allclose(gradient, reference[1], 1e-8, 1e-12), label
    times = {label: [seconds for _, seconds in samples]
             for label, samples in call_times({k: (run, ()) for k, run in systems.items()}, options.rounds, 0.0).items()}
    ours = times["symgrad.dask threaded"]
    print(f"logistic NLL value and gradient, {options.rows:,} x 10 rows ({X.nbytes / 2**20:,.0f} MiB), chunks of "
          f"{CHUNK_ROWS:,} rows, threaded scheduler, median of {options.rounds} rounds")
    print(f"{'system':>26} {'ms':>9} {'vs symgrad.dask':>16}")
    for label, values in times.items():
        ratio = statistics.median(v / o for v, o in zip(values, ours))
        print(f"{label:>26} {1e3 * statistics.median(values):9.1f} {ratio:15.2f}x", flush=True)
    if not options.no_cluster:
        cluster_figures(chunked, w, X, y, Xd, yd, times["in-memory parallel=True"], options.rounds)


def cluster_figures(chunked, w, X, y, Xd, yd, memory_times, rounds):
    import dask.array as da
    import distributed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      env={"SYMGRAD_QUIET": "1"}) as cluster, distributed.Client(cluster):
            small = da.from_array(X[:1000], chunks=(500, 10)), da.from_array(y[:1000], chunks=500)
            chunked(w, *small)  # the workers compile the shipped module here
            trips = [_seconds(lambda: chunked(w, *small)) for _ in range(20)]
            held = Xd.persist(), yd.persist()
            distributed.wait(list(held))
            chunked(w, *held)
            calls = [_seconds(lambda: chunked(w, *held)) for _ in range(rounds)]
    rows = X.shape[0]
    print(f"LocalCluster, 2 worker processes x 1 thread: one call on 1,000 rows (the round trip of an iteration) "
          f"{1e3 * statistics.median(trips):.1f} ms; on {rows:,} rows held by the workers "
          f"{1e3 * statistics.median(calls):.1f} ms = {rows / statistics.median(calls) / 1e6:.0f} M rows/s, against "
          f"{rows / statistics.median(memory_times) / 1e6:.0f} M rows/s for the in-memory parallel=True kernel")


def _seconds(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
