"""Batched value_and_grad at 10^6 points: symgrad's vmap on all cores against the same batch kernel on one thread,
against ``jax.jit(jax.vmap(jax.value_and_grad(f)))`` and against a Python loop calling the transform, in one run;
beside them the memory floor, a parallel loop that moves the same bytes and computes nothing (no batch kernel can
beat it: `1 thread/floor` and `jax/floor` are the most a kernel could gain over one thread and over JAX).

    python -m benchmarks.batch             # 10^6 points, 7 rounds
    python -m benchmarks.batch --points 100000 --rounds 3

Each round times every system once (one call over the whole batch, results compared with the serial ones), in a
rotating order (`timing.call_times`), so that the drift of a shared machine hits them alike; the ratios are medians of the per-round
ratios.  JAX runs in float64 on the CPU, on arrays already on its device, and each call blocks until ready.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import problems  # noqa: E402
import twins  # noqa: E402
from timing import call_times, log  # noqa: E402

import symgrad as sg  # noqa: E402

CASES = ("rosen2", "neuron")


def points(name, count, rng):
    """`count` points of the problem's arguments, one array per argument."""
    if name == "rosen2":
        return [rng.uniform(-2, 2, count), rng.uniform(-2, 2, count)]
    return [*rng.uniform(-1, 1, (3, count)), *rng.uniform(-2, 2, (2, count)), rng.integers(0, 2, count).astype(float)]


def jax_batched(name, wrt):
    """jit(vmap(value_and_grad)) of the problem's JAX twin, or None when JAX is not installed."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    twin = getattr(twins, name)
    function = jax.jit(jax.vmap(jax.value_and_grad(lambda *a: twin(jnp, *a), argnums=wrt)))

    def call(*arrays):
        value, gradients = function(*arrays)
        return jax.block_until_ready((value, gradients))

    return call, jax.numpy.asarray


@numba.njit(parallel=True)
def _touch(inputs, outputs):
    """Read every input and write every output once, in parallel: the memory traffic of a batch and nothing else."""
    for i in numba.prange(inputs[0].shape[0]):
        s = 0.0
        for k in range(len(inputs)):
            s += inputs[k][i]
        for k in range(len(outputs)):
            outputs[k][i] = s


def memory_floor(arrays, results):
    """A call that moves the batch's bytes (its points in, `results` arrays of their size out, reused as vmap
    reuses its own) and computes nothing: no kernel can beat it on this machine."""
    inputs = tuple(np.ascontiguousarray(a) for a in arrays)
    outputs = tuple(np.empty_like(inputs[0]) for _ in range(results))
    return lambda: _touch(inputs, outputs)


def measure(name, count, rounds, rng):
    problem = problems.PROBLEMS[name]
    wrt = problem.wrt_tuple
    batched = sg.vmap(sg.value_and_grad(problem.function(), wrt=wrt), in_axes=0)
    arrays = points(name, count, rng)
    threads = numba.get_num_threads()

    def symgrad_threads(count_threads):
        def call():
            numba.set_num_threads(count_threads)
            try:
                return batched(*arrays)
            finally:
                numba.set_num_threads(threads)
        return call

    transform = batched.transform
    columns = [a.tolist() for a in arrays]

    def python_loop():
        """What users wrote before vmap: the transform called point by point."""
        results = [transform(*point) for point in zip(*columns)]
        return np.array([r[0] for r in results]), tuple(np.array(g) for g in zip(*(r[1] for r in results)))

    systems = {"symgrad vmap": symgrad_threads(threads), "symgrad 1 thread": symgrad_threads(1),
               "python loop": python_loop}
    jax_call = jax_batched(name, wrt)
    if jax_call is not None:
        jax_function, to_device = jax_call
        on_device = [to_device(a) for a in arrays]
        systems["jax jit(vmap)"] = lambda: jax_function(*on_device)
    floor = memory_floor(arrays, 1 + len(wrt))
    reference = systems["symgrad 1 thread"]()
    for label, run in systems.items():  # warm up (JAX traces and compiles here) and check the results
        values, gradients = run()
        assert np.array_equal(np.asarray(values), reference[0]) or label.startswith("jax")  # same kernel: same bits
        error = max(np.max(np.abs(np.asarray(g) - r) / (1 + np.abs(r))) for g, r in zip(gradients, reference[1]))
        assert error < 1e-10, (label, error)
    floor()
    systems["memory floor"] = floor
    times = {label: [seconds for _, seconds in samples]
             for label, samples in call_times({label: (run, ()) for label, run in systems.items()}, rounds, 0.0).items()}
    return times, threads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10**6)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args(argv)
    rng = np.random.default_rng(2026)
    print(f"batched value_and_grad, {options.points:,} points, median of {options.rounds} rounds "
          f"(ms per batch; ratios: median of the per-round ratios)")
    print(f"{'problem':>8} {'threads':>7} {'vmap ms':>9} {'1 thread ms':>12} {'jax ms':>9} {'loop ms':>9} "
          f"{'vs 1 thread':>12} {'vs jax':>8} {'vs loop':>8} {'floor ms':>9} {'1 thread/floor':>15} "
          f"{'jax/floor':>10}")
    for name in CASES:
        log(f"measuring {name}...")
        times, threads = measure(name, options.points, options.rounds, rng)
        ours, serial = times["symgrad vmap"], times["symgrad 1 thread"]
        jax_times = times.get("jax jit(vmap)")
        speedup = statistics.median(s / o for s, o in zip(serial, ours))
        jax_text = "missing" if jax_times is None else f"{1e3 * statistics.median(jax_times):9.2f}"
        jax_ratio = "-" if jax_times is None else f"{statistics.median(j / o for j, o in zip(jax_times, ours)):7.1f}x"
        loop = times["python loop"]
        loop_ratio = statistics.median(p / o for p, o in zip(loop, ours))
        floor = times["memory floor"]  # (the most any batch kernel can gain: over one thread, and over JAX)
        floor_gain = statistics.median(s / f for s, f in zip(serial, floor))
        jax_floor = "-" if jax_times is None else f"{statistics.median(j / f for j, f in zip(jax_times, floor)):9.1f}x"
        print(f"{name:>8} {threads:>7} {1e3 * statistics.median(ours):9.2f} {1e3 * statistics.median(serial):12.2f} "
              f"{jax_text:>9} {1e3 * statistics.median(loop):9.0f} {speedup:11.2f}x {jax_ratio:>8} "
              f"{loop_ratio:7.0f}x {1e3 * statistics.median(floor):9.2f} {floor_gain:14.2f}x {jax_floor:>10}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
