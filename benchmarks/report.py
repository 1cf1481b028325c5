"""The comparison's tables, as text for the terminal and as docs/performance.md with its two plots.

Every number here comes from the results of one run (`run.run`); the page is rewritten whole, never edited.
"""

import os
import re

import systems

FLAG = 1e-8  # a relative error above this is flagged
FLAG_TEXT = f"{FLAG:.0e}".replace("e-0", "e-")
SLOWER = 1.10  # a peer counts as ahead on a time figure when symgrad's is this many times larger (noise floor)
ROUNDING = 1e-14  # errors below this are rounding, not a difference between systems
HAND = ("numba", "numpy")  # the reference and its uncompiled self: their error is 0 by construction

STATUS_CELLS = {"missing": "missing", "not expressible": "n/e", "not run": "not run", "timed out": "t/o",
                "error": "error"}
LEGEND = ("n/e: the system cannot express the problem; not run: left out on purpose; t/o: the build (trace, derive, "
          "compile) passed the time cap; missing: not installed; error: it failed (see the JSON).")


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------
def seconds(value):
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def ratio(value):
    if value is None:
        return "-"
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def error(value):
    return "-" if value is None else f"{value:.0e}" + (" !" if value > FLAG else "")


def cell(entry, key, show):
    """One table cell: the figure, or the status that stands in for it."""
    if entry is None:
        return ""
    if entry.get("status") != "ok":
        return STATUS_CELLS[entry["status"]]
    return show(entry.get(key))


# ---------------------------------------------------------------------------------------------------------------
# Tables: rows are problems, columns systems
# ---------------------------------------------------------------------------------------------------------------
def tables(results):
    """(title, header, rows, note) for each figure."""
    names = results["systems"]
    labels = ["problem"] + [results["machine"]["systems"][s]["label"] for s in names]
    problems = results["problems"]

    def matrix(key, show, only_scalar=False, systems_shown=names, only_vectorised=False):
        rows = []
        for p in problems.values():
            if (only_scalar and not p["scalar"]) or (only_vectorised and not p.get("vectorised")):
                continue
            rows.append([p["label"]] + [cell(p["systems"].get(s), key, show) for s in systems_shown])
        return rows

    out = [
        ("Per call: value and gradient from Python (median)", labels, matrix("call_s", seconds), None),
        ("Ratio to hand Numba (median of per-round ratios; lower is faster)", labels, matrix("ratio", ratio), None),
        (f"Max relative error of value and gradient against the hand-written gradient (! above {FLAG_TEXT})", labels,
         matrix("max_rel_err", error), None),
    ]
    if any(p.get("vectorised") for p in problems.values()):
        out.append(("Vectorised rows: ratio to JAX's jitted gradient of the same text (median of per-round ratios)",
                    labels, matrix("ratio_to_jax", ratio, only_vectorised=True), None))
    if results.get("imports"):
        imports = results["imports"]
        cold = matrix("cold_first_call_s", seconds)
        cold.append(["import (once)"] + [seconds(imports.get(s, {}).get("cold_s")) for s in names])
        shared = None if results["settings"]["latency_per_pair"] else (
            "Quick mode: one process per system, its problems one after another, so the later ones find the "
            "system's engine started; the full mode starts a process per problem.")
        out.append(("First call in a fresh process, empty caches: import, build (trace / derive / compile) and "
                    "first call", labels, cold, shared))
        cached = [s for s in names if results["machine"]["systems"][s].get("cache", "none") != "none"]
        warm = matrix("warm_first_call_s", seconds, systems_shown=cached)
        warm.append(["import (once)"] + [seconds(imports.get(s, {}).get("warm_s")) for s in cached])
        note = "; ".join(f"{results['machine']['systems'][s]['label']}: {results['machine']['systems'][s]['cache']}"
                         for s in cached)
        others = [results["machine"]["systems"][s]["label"] for s in names if s not in cached]
        out.append(("Second process, warm caches (the systems that keep one)",
                    ["problem"] + [results["machine"]["systems"][s]["label"] for s in cached], warm,
                    f"What is cached: {note}." + (f" No cache to warm: {', '.join(others)}." if others else "")))
    out.append(("value_and_grad / value, per call from Python (scalar problems)", labels,
                matrix("vg_over_value", ratio, only_scalar=True), None))
    return out


def reasons(results):
    """Why cells hold no figure: (system label, reason, [problem labels]), one per distinct reason."""
    grouped = {}
    for p in results["problems"].values():
        for name, entry in p["systems"].items():
            if entry.get("status", "ok") not in ("ok", "missing"):
                key = (results["machine"]["systems"][name]["label"], f"{entry['status']}: {entry['reason']}")
                grouped.setdefault(key, []).append(p["label"])
    return [(label, reason, labels) for (label, reason), labels in sorted(grouped.items())]


def behind(results):
    """Every figure where a peer beats symgrad: (problem, figure, symgrad's shown, [(peer, the peer's shown)])."""
    figures = (("call_s", "per call", seconds), ("cold_first_call_s", "first call, cold", seconds),
               ("warm_first_call_s", "first call, warm", seconds), ("vg_over_value", "vg/value", ratio),
               ("max_rel_err", "max rel err", error))
    imports = {"label": "(all)", "systems": {name: {"status": "ok", "import_s": entry.get("cold_s")}
                                             for name, entry in results.get("imports", {}).items()}}
    rows = [(p, figures) for p in results["problems"].values()] + [(imports, (("import_s", "import", seconds),))]
    out = []
    for p, shown in rows:
        ours = p["systems"].get("symgrad")
        if not ours or ours.get("status") != "ok":
            continue
        for key, figure, show in shown:
            ahead = [(results["machine"]["systems"][name]["label"], show(theirs[key]))
                     for name, theirs in p["systems"].items()
                     if name != "symgrad" and theirs.get("status") == "ok" and _ahead(key, name, ours, theirs)]
            if ahead:
                out.append((p["label"], figure, show(ours[key]), ahead))
    return out


def _ahead(key, name, ours, theirs):
    """Whether peer `name` beats symgrad on figure `key` by more than noise.  Errors are not compared with the
    hand-written code's own, which are 0 by construction."""
    mine, other = ours.get(key), theirs.get(key)
    if mine is None or other is None:
        return False
    if key == "max_rel_err":
        return name not in HAND and mine > max(2 * other, ROUNDING)
    return mine > SLOWER * other


def scaling_tables(scaling):
    out = []
    for family, series in scaling["derivation"].items():
        rows = []
        for n, ours, sympy in zip(series["n"], series["symgrad"], series["sympy"]):
            theirs = ([seconds(sympy["derive_s"]), f"{sympy['operations']:,}"] if "derive_s" in sympy
                      else [STATUS_CELLS[sympy["status"]]] * 2)
            rows.append([f"{n:,}", seconds(ours["derive_s"]), f"{ours['operations']:,}"] + theirs)
        out.append((f"Derivation against n: {family}", ["n", "symgrad derive", "symgrad ops", "SymPy diff+lambdify",
                                                       "SymPy ops (after cse)"], rows, None))
    rows_figure = scaling["rows"]
    names = list(rows_figure["systems"])
    labels = [systems.SYSTEMS[s].label for s in names]
    rows = []
    for k, n in enumerate(rows_figure["n"]):
        times = [rows_figure["systems"][s][k] for s in names]
        reference = rows_figure["systems"].get(systems.REFERENCE, [None] * (k + 1))[k]
        ours = rows_figure["systems"].get("symgrad", [None] * (k + 1))[k]
        rows.append([f"{n:,}"] + [seconds(t) for t in times]
                    + [ratio(ours / reference) if ours and reference else "-"])
    out.append(("Logistic NLL, per call against rows (10 features)", ["rows"] + labels + ["symgrad / hand Numba"],
                rows, None))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------------
def _text_table(title, header, rows, note):
    widths = [max(len(str(r[k])) for r in [header] + rows) for k in range(len(header))]
    line = "  ".join(f"{h:<{widths[0]}}" if k == 0 else f"{h:>{widths[k]}}" for k, h in enumerate(header))
    out = ["", title, line, "-" * len(line)]
    out += ["  ".join(f"{c:<{widths[0]}}" if k == 0 else f"{c:>{widths[k]}}" for k, c in enumerate(r)) for r in rows]
    if note:
        out.append(note)
    return out


def header_lines(results):
    m = results["machine"]
    versions = ", ".join(f"{v['label']} {v['version'] or 'missing'}" for v in m["systems"].values())
    load = results.get("load_average_start"), results.get("load_average_end")
    changed = ["WARNING: symgrad's source changed during this run: its figures mix two versions (run it again)."
               if results.get("symgrad_source_changed") else ""]
    return changed + [f"symgrad against the field ({results['mode']} mode, {results['date']})",
            f"machine : {m['cpu']} | {m['cores']} cores ({m['usable_cores']} usable) | {m['platform']}",
            f"versions: Python {m['python']}, {versions}; llvmlite {m['llvmlite']}"
            + (f"; PyTorch threads {m['threads']['torch']}" if m["threads"]["torch"] else ""),
            f"load average at start / end: {load[0][0]:.2f} / {load[1][0]:.2f}" if all(load) else ""]


def text(results):
    out = [line for line in header_lines(results) if line]
    for table in tables(results):
        out += _text_table(*table)
    out += ["", LEGEND] + [f"  {label}, {reason} ({', '.join(labels)})" for label, reason, labels in reasons(results)]
    out += ["", "Where symgrad is behind (time figures: by more than "
            f"{(SLOWER - 1) * 100:.0f}%; errors: above {ROUNDING:g} and twice the peer's):"]
    out += [f"  {p}, {figure}: symgrad {mine}; " + ", ".join(f"{peer} {theirs}" for peer, theirs in ahead)
            for p, figure, mine, ahead in behind(results)]
    out += ["  (nowhere)"] if not behind(results) else []
    if results.get("scaling"):
        for table in scaling_tables(results["scaling"]):
            out += _text_table(*table)
    out += ["", f"total {results['elapsed_s']:.0f} s"]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# docs/performance.md and its plots
# ---------------------------------------------------------------------------------------------------------------
def _markdown_table(title, header, rows, note):
    out = [f"### {title}", "", "| " + " | ".join(header) + " |",
           "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + ([""] + [note] if note else []) + [""]


def plot_ratios(results, path):
    """Grouped bars: per-call time over hand Numba's, log scale, one group per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s for s in results["systems"] if s != systems.REFERENCE]
    problems = list(results["problems"].values())
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(13, 5.5))
    for k, name in enumerate(names):
        xs, ys = [], []
        for i, p in enumerate(problems):
            entry = p["systems"].get(name, {})
            if entry.get("status") == "ok" and entry.get("ratio"):
                xs.append(i - 0.4 + (k + 0.5) * width)
                ys.append(entry["ratio"])
        axes.bar(xs, ys, width, label=results["machine"]["systems"][name]["label"])
    axes.axhline(1.0, color="black", linewidth=1)
    axes.set_yscale("log")
    axes.set_xticks(range(len(problems)), [p["label"] for p in problems], rotation=20, ha="right")
    axes.set_ylabel("per-call time / hand Numba's (log)")
    axes.set_title("Value and gradient per call from Python, against a gradient written by hand in Numba "
                   "(lower is faster; no bar: not run, see the tables)")
    axes.legend(ncol=4, fontsize="small")
    axes.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_scaling(scaling, cap, path):
    """Derivation time and operation count against n; logistic NLL per call against rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.6))
    colours = iter(f"C{k}" for k in range(10))
    for family, series in scaling["derivation"].items():
        for system, style in (("symgrad", "o-"), ("sympy", "s--")):
            points = [(n, e) for n, e in zip(series["n"], series[system]) if "derive_s" in e]
            label, colour = f"{systems.SYSTEMS[system].label}, {family}", next(colours)
            if points:
                left.plot([n for n, _ in points], [e["derive_s"] for _, e in points], style, color=colour, label=label)
                middle.plot([n for n, _ in points], [e["operations"] for _, e in points], style, color=colour,
                            label=label)
            for n, e in zip(series["n"], series[system]):
                if e.get("status") == "timed out":
                    left.plot([n], [cap], "x", color=colour, markersize=10, label=f"{label}: {e['reason']}")
    left.set_title("derivation time against n")
    left.set_ylabel("seconds")
    middle.set_title("operations in the value-and-gradient code")
    for name, times in scaling["rows"]["systems"].items():
        points = [(n, t) for n, t in zip(scaling["rows"]["n"], times) if t]
        right.plot([n for n, _ in points], [t for _, t in points], "o-", label=systems.SYSTEMS[name].label)
    right.set_title("logistic NLL: per call against rows")
    right.set_ylabel("seconds per call")
    right.set_xlabel("rows")
    for axes in (left, middle, right):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.grid(which="both", alpha=0.3)
        axes.legend(fontsize="small")
    left.set_xlabel("n (terms of rosen, steps of the chain)")
    middle.set_xlabel("n")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


PAGE_HEAD = """# Performance

<!-- Generated by `{command}`: every number and both plots come from that run. Do not edit by hand; run it again. -->

symgrad against the field on the same problems: each written once as plain Python for symgrad
([bench_problems.py](../benchmarks/bench_problems.py), [array_problems.py](../benchmarks/array_problems.py)),
once as a gradient by hand ([hand.py](../benchmarks/hand.py): run as it is, "hand NumPy", and compiled with
`numba.njit`, "hand Numba", the reference every ratio is taken against) and once as the twin every peer
differentiates ([twins.py](../benchmarks/twins.py)).

Run `{command}` ({mode} mode) on {date}, {elapsed:.0f} s in all.

- Machine: {machine}
- Versions: {versions}
- Load average (1 min) at start / end: {load}

Peers: JAX is `jax.jit(jax.value_and_grad(f))` in float64 on the CPU, called on arrays already on the device;
autograd is `autograd.value_and_grad`; PyTorch is eager float64, clearing the gradients and calling `backward()`
on every call; SymPy is `diff` and `lambdify(cse=True)` with the `math` module, on the scalar problems and on
Rosenbrock written out for n up to {sympy_largest:,}; CasADi is an SX `Function` of the value and `gradient`, called
on `DM` arguments; micrograd (Karpathy's, scalar `Value`s in NumPy object arrays) runs what it can express with
`+`, `*`, `**` and `relu`, and builds a fresh graph per call as its training loop does.
"""

METHOD = """## How it is measured

- **Per call**: the system's value-and-gradient call from Python on its own argument types, converted once
  (device arrays, tensors, `DM`s), in batches of about {batch_ms:g} ms; the batches of all systems on a problem
  are interleaved over up to {repeat} rounds, rotating the order, and a slow system leaves the rounds after
  {budget:g} s and 3 samples. The figure is the median per call; the ratio is the median over rounds of the
  system's time over hand Numba's in the same round.
- **First call** ({latency}): a fresh `python` with its own empty caches imports the system (the "import" row),
  then builds the problem's function (traces, derives, compiles) and calls it once. The warm figure is a second
  process given the same cache directories: symgrad's derivation cache and Numba's cache, hand Numba's
  `cache=True`, JAX's persistent compilation cache. A build has {cap:g} s before it counts as timed out.
  [Where the first call goes](first-call.md) splits symgrad's into imports, derivation and compile, per problem.
- **Error**: the largest relative difference, over the value and every gradient component, between the system
  and the hand-written gradient, at {points} points (the timed one and random ones), with components below
  1e-6 of the largest measured against that floor; above {flag} is flagged with `!`.
- **Where symgrad is behind** lists every time figure on which a peer is more than {slower:.0f}% faster than
  symgrad and every error above {rounding:g} that is more than twice the peer's.
"""


VECTORISED = """## The vectorised rows

The rows marked "vectorised" give symgrad the problem as NumPy users write it
(`np.sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)`, `X @ w`, `np.maximum(X @ W1.T + b1, 0.0)`:
`*_vectorised` in [array_problems.py](../benchmarks/array_problems.py)), on the same data and against the same
hand-written Numba gradient of the loop version as the loop-written row of the same name, so the two rows' ratios
read side by side: symgrad's lowering of the NumPy text against its own kernel of the loops. JAX, autograd and
PyTorch run that very function, its `np` bound to `jax.numpy`, `autograd.numpy` or torch
(`twins.same_source`); the loop rows' twins were already this text, so their figures are the same computation
measured again, and SymPy, CasADi and micrograd are not run on these rows. The table "ratio to JAX's jitted
gradient of the same text" is symgrad's per-call time over JAX's, round by round (below 1.00x: symgrad is faster).
"""


KERNELS = """## Why symgrad is at N x here

Each array problem's generated kernel (`Transform.source()`) set against its hand-written Numba gradient
([hand.py](../benchmarks/hand.py)): source side by side, the inner loops' assembly (`dispatcher.inspect_asm()`),
and variants of the generated module edited by hand, each timed against hand Numba in one process (ratio of the
fastest batches of 300-400 interleaved rounds of 2 ms: this 2-core machine is shared, and its medians wander by
tens of per cent). The passes named are in [passes.py](../symgrad/passes.py); each can be turned off.

### rosen n=1000 and n=100000: 1.14x and 1.23x before, 1.05x and 1.09x after `write_once_adjoints`

- The gradient array was zero-filled (`np.zeros`: 8 bytes written per element before the loop starts) and then
  updated twice per element with `+=` (`x_bar[i + 1] += a` in iteration i, `x_bar[i] += b` in iteration i + 1, each
  a load and a store, the load waiting on the store of the iteration before). The hand kernel keeps the pending
  `200 t` in a register (`carry`) and stores each element once into `np.empty`: 16 bytes per element (read x,
  write g) against symgrad's 32 (the zero fill, read x, read x_bar back, write it). At n=100000 (800 kB per
  array) the extra pass over memory shows most.
- Pass `write_once_adjoints` writes the hand kernel's loop: each element's later-offset contributions wait in
  loop-carried scalars, each element is stored once, and the array is allocated with `np.empty` where the loop
  provably writes every element whenever it runs (`np.zeros` otherwise). Main's kernel against this branch's in
  one process: 1.14x to 1.05x (n=1000), 1.23x to 1.09x (n=100000). Starting each element's sum at `0.0 + first`
  (to keep the sign of an all-`-0.0` sum) cost 5%, so the first contribution starts the sum.
- What remains (5-9%) is not in the instructions: the unrolled loop bodies are now the same size as the hand
  kernel's (71 instructions for 4 elements, 68 of them floating point, 12 memory operations, no calls); the
  order of the additions differs (SymPy's), which moves the two loop-carried chains (`s` and the carry).
- Bytes per element at n=100000, one run: symgrad now moves 16 (as hand) at 12.8 GB/s, hand 13.9 GB/s, main's
  kernel 32 bytes in 140 us; `np.copyto` of the same 800 kB array ran at 93 GB/s. The loop is bound by its
  dependency chains (about 1.2 ns per element), not by memory; the zero fill and the read-back cost work.

### oscillator, 1000 steps: 1.15x before, 1.00x after `recurrence_order` and `name_sums` in forward mode

- The loop is latency-bound: nine recurrences (x, v, the error and their tangents in k and c). SymPy's term order
  printed `a_dot_k = -x - c*v_dot_k - k*x_dot_k`, so `v_dot_k`'s recurrence (`v_dot_k += 0.01*a_dot_k`) went through
  two additions per step where the hand kernel's `-x - k*xk - c*vk` has one. Pass `recurrence_order` adds the
  terms that read the recurrence a sum feeds last: 1.15x to 1.08x.
- Forward mode did not run `name_sums`: the tangent of `(x - obs[t])**2` was printed as `-2*obs[t] + 2*x_1`, the
  difference computed twice and two more operations per step on a loop with no slack. With the sum named
  (`err_1_part = x_1 - obs[t]`; tangent `2*err_1_part`): 1.00x (main's kernel 1.15x in the same process).
- The oscillator reads the module-level `DT`, so each call first checks that `DT` was not rebound (a stale
  kernel would be a wrong answer). That check cost 1.13x on the field table (the kernel is 3.9 µs); the generated
  entry of `module_values.checked_call` halves it (see "Module-level values" below): 1.04x, fastest batches,
  load 7.

### logistic NLL 10000x10: JAX ahead by SIMD exp/log1p before; `split_rows` and `vector_functions` after

- Main's kernel matches the hand one operation for operation (one `exp(-z)` shared by `log1p` and the
  gradient's `e/(1 + e)`, the same `z` loop, the same `w_bar[j] += dz*X[i, j]` loop), but XLA vectorises `exp`
  and `log1p` where Numba calls libm's scalar functions (this llvmlite has no SVML): neither symgrad's loop nor
  the hand one vectorised, and JAX was ahead (2.01x in the last full run).
- [vector_math.py](../symgrad/vector_math.py) has `exp`, `log`, `log1p`, `tanh`, `sin` and `cos` in float64
  arithmetic and int64 bit manipulation only (fdlibm's algorithms; Cephes's rational `tanh` below 0.625): the
  exponent is read off a shifter sum (AVX2 has no float-to-int64 conversion), the special cases are chosen by
  conditional expressions that LLVM turns into selects, and the functions are inlined into the caller's loop.
  `sin` and `cos` reduce every x by Payne and Hanek's method (a constant table of 2/pi's bits per exponent, read
  at a computed index; exact Dekker products): branch-free, one path for all x costs less than a Cody-Waite path
  for small x plus the table path that huge x needs, and it keeps 1 ulp up to 1.7e308.
  Their error against `math` (glibc) over 3.5 million points per function (2 million uniform bit patterns over
  all of float64, subnormals and both signs included, 1.5 million where the function does not saturate, and the
  special values: 0.0, -0.0, +-inf, nan, the overflow and underflow thresholds, log of negatives and of 0; for
  `sin` and `cos` 800,000 more at and beside the multiples of pi/2 below 10^5 pi/2, and the reduction's worst
  cases such as 6381956970095103 * 2^797 and 1e22, also against mpmath), tested by tests/test_vector_math.py,
  and a loop over 10^6 elements against the same loop calling libm (one run, load 4 on 2 cores; `sin` and `cos`
  on uniform data in [-1000, 1000], fastest of 15, load 3.7):

  | function | largest error | points above 1 ulp | loop over 10^6: vector_math / libm |
  | --- | --- | --- | --- |
  | `exp` | 1 ulp | 0 | 1.5 ms / 10.2 ms |
  | `log` | 1 ulp | 0 | 1.6 ms / 10.0 ms |
  | `log1p` | 1 ulp | 0 | 2.1 ms / 37.1 ms |
  | `tanh` | 2 ulp | 1193 | 2.5 ms / 35.7 ms |
  | `sin` | 1 ulp | 0 | 9.4 ms / 23.1 ms |
  | `cos` | 1 ulp | 0 | 9.8 ms / 24.2 ms |

  Special values are `math`'s exactly (sign of zero included); where `math` raises they give the IEEE result
  that the kernels' `error_model="numpy"` gives (`log(0) = -inf`, `log(-1) = nan`, `exp(1000) = inf`,
  `sin(inf) = nan`).  The `sin` and `cos` errors are against the correctly rounded value where glibc is itself
  off by more (glibc's `cos(5.319372648326541e+255)` is 8 ulp off; these give the correctly rounded value).
- Pass `split_rows` cuts the row loop around its run of assignments that call them, into three loops over
  each block of 512 rows: the dot products (stored in `_rows_z_2`), the loss terms and `z_2_bar` (a loop with
  no call and no carried value: it compiles to `<8 x double>` arithmetic, 8 rows at once), then the terms added
  in row order and the gradient update. Every statement computes what it did, in the same order, so with
  `vector_functions` off the split kernel equals the unsplit one to the bit (tests/test_kernel_passes.py).
  Pass `vector_functions` prints `vector_exp`/`vector_log1p` in loops that may vectorise (innermost, nothing
  carried) and leaves `math` elsewhere.
- Measured by `python -m benchmarks.vector_passes` (41 interleaved rounds in one process; load average 13.6 to
  14.8 on the 2 cores while it ran): with the passes off (main's kernel) and on, the loop row went from 326 µs to
  150 µs (after over before 0.45x, median of per-round ratios; 0.44x between the fastest rounds) and the
  vectorised row from 336 µs to 142 µs (0.42x). Against JAX in the same run: 0.39x and 0.34x (medians; JAX's
  threads suffered most from the load, 493 µs median), 0.94x and 0.92x between the fastest rounds (JAX 145 µs,
  symgrad 137 and 134 µs), where main's kernel was at 2.12x and 2.20x. Where the time goes now (the split kernel
  rewritten by hand, one part left out at a time): the dot products about 32 µs, the gradient update about 36
  µs (`w_bar[j] += ...` over 10 columns stays scalar: its trip count is below the vector loop's), the
  vectorised part with the terms' sum about 64 µs; four partial sums instead of the ordered one saved 4%, not
  worth changing the last bits, and blocks of 128 to 1024 rows measured the same.
- A quieter run of the same command (15 rounds, load average 1.1 to 1.2): after over before 0.59x (loop) and
  0.57x (vectorised); over JAX 0.88x and 0.75x (medians; 0.82x and 0.84x between the fastest rounds; main's kernel
  1.29x and 1.48x). `parallel=True` over serial: the serial kernel took 1.77x and 1.72x the parallel one's time
  (median of per-round ratios; 1.28x and 1.35x between the fastest rounds; main's kernel 1.34x and 1.84x). At
  load 13 the parallel kernels' median call took 55 to 180 ms (threads waiting for each other), for main's
  kernel as for this one.
- What threads can give here: `python -m benchmarks.parallel_floor` times the hand kernel serial and cut by hand
  into 16 `prange` chunks (what `parallel=True` prints), beside symgrad's serial and parallel kernels, interleaved
  in one process (2026-12-03, quiet machine, two runs, 9 and 31 rounds). The hand kernel gains 1.59x / 1.68x at
  10^4 rows and 1.72x / 1.70x at 10^6: on this machine two threads give about 1.7x, not 2x, to a kernel that
  spends 400 µs per call. symgrad's parallel kernel gains 1.62x / 1.42x at 10^4 rows and 1.39x / 1.69x at
  10^6 over its own serial kernel, which is already 1.6x faster than the hand serial one (vectorised
  `exp`/`log1p`): the same fixed cost of waking and joining the threads is a larger share of a shorter call.

### Bytes moved: rosen n=100000 and the logistic NLL at 10^6 rows

`python -m benchmarks.bandwidth` times `value_and_grad` and a copy (`np.copyto`) of as many bytes, interleaved.
A kernel's bytes are the least it must move (each input read once, each gradient written once): 16 per element
for rosen (read x, write x_bar), 88 per row for the logistic NLL (read a row of `X` and `y[i]`; `w` and `w_bar`
stay in cache, and `split_rows` reads each block of 512 rows a second time from cache, not from memory). One
run, load average 12.9 to 13.4 on the 2 cores:

| problem | bytes per element | median: time | GB/s | copy GB/s | of copy | fastest: time | GB/s | copy GB/s | of copy |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| rosen n=100000 | 16 | 2041 µs | 0.8 | 5.0 | 0.16 | 1374 µs | 1.2 | 17.3 | 0.07 |
| logistic NLL 10^6x10 | 88 | 252 ms | 0.3 | 1.3 | 0.26 | 214 ms | 0.4 | 2.6 | 0.16 |

At that load the copy itself ran at 1.3 to 17 GB/s (93 GB/s for rosen's 800 kB in a quieter run, above), and
rosen's kernel took ten times its quiet time, so these figures say little beyond the bytes per element. The
logistic kernel at 10^6 rows ran at 204 ns per row against 14 ns at 10^4 rows in the same minute (main's kernel:
405 and 33 ns): past the caches it waits on memory, which the split does not change (it reads each row from
memory once, as before).

### MLP 2-16-16-1, 100 points: 1.25-1.30x before, 1.07-1.10x after `activation_outputs` and ordered sweeps

- Every one of the 100 rows has an active hinge with the benchmark's data (checked at seed 0), so the reverse
  sweep runs for every row in both
  kernels; the inner 16-element loops are the same instructions in both (51 instructions per 8 elements of
  `W2_bar[j, k] += d*h1[k]; h1_bar[k] += d*W2[j, k]`, and vectorised copies behind the same runtime alias checks).
- symgrad taped the pre-activations (32 pushes and pops per row) where the hand kernel re-reads `h > 0`. Pass
  `activation_outputs` (reverse mode) takes the derivative of an activation whose slope is a function of its
  output (`rules.OUTPUT_SLOPES`: tanh, exp, the logistic `1/(1 + exp(-z))`, `max(z, c)`, `min(z, c)` and the same
  clamps written as an `if`) from that output: `h[j] = max(acc, 0.0)` is read back from `h[j]` in the sweep (every
  later store into an array made outside the loop is undone by then), and `a = tanh(acc)` in a loop in a loop is
  taped in place of `acc`; the loop result `acc` then has no tape when no partial reads it: 1.28x to 1.17x
  (`optimize` off and on in one process).
- The layer sweeps ran last unit first (`range(n - 1, -1, -1)`), which LLVM compiles worse than the hand kernel's
  forward loops (Numba's negative-index fix-up on every index; the generated kernel edited by hand to run them
  forward measured 1.20x to 1.12x). `any_order_sweeps` now also runs first to last a sweep whose only stores that
  are not `+=` go to its own element `[j]` of an array it reads at `[j]` alone (the layer's adjoint `h2_bar[j]`,
  read and reset unit by unit).
- Measured: main's and this kernel texts compiled as symgrad compiles them, timed in one process against the hand
  kernel (101 paired rounds, two runs, load average 10-15 on 2 cores): 1.25x / 1.30x before, 1.07x / 1.10x after.
  What is left: the second layer's adjoint still goes through the array `h2_bar` (added in the output layer's
  sweep, read and reset in the next) where the hand kernel computes `da = ds*w3[j]` in the loop that uses it;
  removing it by hand measured within noise.
- The other spellings of the same loop MLP (rows `mlp-rows`, `mlp-if`, `mlp-plain`, `mlp-helper`, same hand
  kernel), main / this kernel in the same run: layers allocated inside the row loop 3.26x / 1.08x (pass
  `hoist_allocations` makes an array that every row rewrites whole before reading it once, before the loop, so the
  kernel is the main row's); `s = s + t` 1.27x / 1.09x and a helper per unit 1.26x / 1.10x (both the main row's
  kernel; one run measured the helper's at 1.64x, the next 1.10x: an outlier of the loaded machine); ReLU and the
  hinge as `if`s 2.68x / 1.11x: the two branches' stores are now one store of `acc if acc > 0 else 0.0` (each
  branch stored and read the old value back, and the sweep did not fuse), and pass `guarded_sums` writes
  `if margin > 0: data_loss += margin` as `data_loss - (-margin if margin > 0 else 0.0)` (the same floats, -0.0
  included), so `data_loss` stays an accumulator with no tape and the row's sweep fuses.
- What is left in the loop rows (about 1.09x, kernel alone, fastest batches): it is all in the row's reverse sweep.
  Variants of the generated module edited by hand (fastest of 200-300 interleaved rounds, load 4-7): the hand
  kernel's per-row backward put in its place gives 1.09x to 1.02x, while the hand kernel's forward part or its
  penalty loop change nothing, nor does skipping the whole sweep of a row whose hinge is inactive (half the rows
  with the benchmark's data), nor allocating `h1`, `h2` without zeros. Of that 7%, about 3% is the ReLU's
  derivative: symgrad prints `acc_bar = h_bar*(1.0 if h > 0 else (0 if h == 0 else 0.0))` and then tests
  `acc_bar != 0.0`, where the hand kernel branches once, `if h[j] > 0.0`. The hand kernel's branch drops a NaN
  that symgrad must keep (`inf*0.0` when an adjoint overflows on an inactive unit); printing the exact equivalent
  `h_bar if h > 0 else h_bar*0.0` measured 1%, within noise. The rest is the second layer's adjoint going through
  `h2_bar` and the output layer's loop being separate from the second layer's sweep (each alone within noise).
  Not fixed.
- Rows past the hinge (2026-12-03, pass `skip_zero_rows`). In the argument sets the field run draws (seed
  20240601), 11% to 50% of the 100 rows sit past the hinge; with another seed, half of them. symgrad
  skipped the output layer's sweep of such a row (`skip_zero_sweeps`) but still ran the two layers' sweeps, each
  reading and resetting a zero adjoint for all 16 units; the hand kernel tests `margin > 0.0` once. Pass
  `skip_zero_rows` proves that the rest of the row's backward pass is zero while the hinge's adjoint is (every
  adjoint it computes is a multiple of that adjoint or of an element of a layer's adjoint array, and that array is
  all zero whenever a row starts: allocated as zeros, touched only there, reset over its whole length) and runs it
  after one test, printed as `if score_bar == 0.0: continue` (the same run nested under `if score_bar != 0.0:`
  measured 3-5% slower than before when every row is active; the `continue` form is not). Kernel against hand
  Numba in one process (60 interleaved rounds of 300 calls, median of per-round ratios, load 1-2): with half the
  rows past the hinge 1.18x to 1.07x (`mlp`) and 1.19x to 1.05x (`mlp-if`); with every row active 1.12x to 1.11x
  and 1.11x to 1.09x (within noise).

- A ReLU's test first (2026-12-04, passes `gate_first` and `sweep_additions`, on an Intel Xeon of 2 cores where
  the same kernels measured 1.12-1.16x for `mlp`, against 1.05-1.10x on the AMD EPYC above). Bisected with the
  generated module edited by hand (40-60 interleaved rounds, median of per-round ratios, one process): the hand
  kernel's per-row backward in place of symgrad's gave 1.12x to 1.01x; within it, what mattered was the order of
  two tests. symgrad tested `acc_bar != 0.0`, whose value waits for the adjoints the previous loop accumulated,
  and the CPU resolves that branch, taken at random as the ReLU's output is, late; the hand kernel branches on
  `h[j] > 0.0`, known since the forward pass. Printing `if h > 0: (if acc_bar != 0.0: sweep) elif acc_bar != 0.0:
  sweep` (the same statement, NaN included: where `h > 0` fails, `acc_bar` is 0 or NaN, and the second arm runs
  the sweep for a NaN as before) and adding the bias adjoint `b_bar[j] += acc_bar` inside the test: 1.12x to
  1.05-1.07x (`mlp`), 1.08x to 1.06x (`mlp-rows`), 1.07x to 1.05x (`mlp-if`), 1.07x to 1.06x (`mlp-plain`), 1.14x to
  1.10x (`mlp-helper`). Either change alone measured within noise. The gate only helps where the adjoint flowing
  in is nonzero but by chance, inside the row `skip_zero_rows` guards: in the vectorised MLP's layer-major
  sweeps it was a second random branch (1.18x to 1.23x), so it applies there only.
- `mlp-helper` keeps about 4% more than `mlp` although its kernel is the same but for the bounds of two loops
  (`W2.shape[1]` and `W1.shape[1]`, as `_dense_relu` loops over `W.shape[1]`, where `mlp` loops over `hidden` and
  `X.shape[1]`): the same kernel with `mlp`'s bounds measured 1.05x. The bounds are the program's own and may
  differ at a call; not changed.

### MLP, vectorised: 1.51x before, 1.15x after `write_once_arrays`

- The lowering of `h1 = np.maximum(X @ W1.T + b1, 0.0)` evaluates each layer for all rows into a 2-D local array.
  Reverse mode treated each store as one that may overwrite a value some earlier read saw: it taped the value
  each store overwrote (`tape_h1`, 1,600 records) and put it back in the sweep, and it taped the ReLU's output in
  place of its input (`tape_h1_at`), two pushes and two pops per element.
- Pass `write_once_arrays` (reverse mode) proves that a local array made outside every loop is written by one
  plain store whose indices are the indices of the loops around it, each once, all provably nonnegative, and
  that nothing reads the array before or inside that loop nest. Then every element is written at most once and
  the array holds at the end what every read saw: no store is taped or undone, the activation's output is read
  back from `h1[i, j]`, and the adjoint element is not reset after its one read. With the sweeps free of tapes,
  `any_order_sweeps` runs them first to last.
- Measured with `optimize={"write_once_arrays": False}` and on, in one process against hand Numba (fastest of 150
  interleaved rounds, load 7): 1.51x to 1.15x (30.6 µs to 23.4 µs; the loop MLP 1.10x in the same run).
- What is left against the loop MLP: the four 1,600-element layer and adjoint arrays (the hand kernel keeps one
  row's 16 values) and their zero fills. Allocating `h1` and `h2` without zeros, which the pass's precondition
  would allow where the loops cover the array, measured 1.3% (not done); the ReLU derivative's print as above
  2.5%.
- On the Intel Xeon of 2026-12-04 this row measured 1.17-1.18x (the same at bd5563d). The bias adjoint's addition
  `b_bar[j] += acc_bar`, made for every unit before the sweep's test, now runs inside it (`sweep_additions`: an
  addition into an array element that is a multiple of the sweep's adjoint, next to the sweep): 1.17x to
  1.12-1.13x. Three details decided it, each measured: the addition into a scalar sum (`b3_bar_sum +=
  score_bar`) stays outside (inside, it is no longer a plain running sum: +3%); the test is printed nested, not
  as `continue` (1.09x against 1.14x; the `continue` form stays for the rows `skip_zero_rows` guards,
  `When.row`); and `write_once_rows` reads a sweep under its test as one that may be skipped, so `h2_bar` is
  still stored once per element. Per-row fusion of the layers (`fuse_row_layers`), which would give the loop
  MLP's kernel, stays refused for a ReLU stored into its layer array: with it, the row needs tapes (12 in the
  kernel), and it measured slower (1.46x, on a machine loaded by a fuzz campaign).

### Corpus networks at 100,000 rows: one loop over the rows (`fuse_row_layers`)

- autograd's `neural_net_regression.logprob` (1-4-4-1, tanh) and `neural_net.log_posterior` (3-5-3, tanh,
  `logsumexp` over each row) lower each `np.dot(inputs, W) + b` and each `np.tanh` to a loop over the rows that
  writes an n x hidden local array, read by the next layer's loop at the same row. The gradient kernel of
  `logprob` made ten such arrays (five layers and five adjoints, 3.2 MB each, zero-filled) and passed over each
  twice: 10 row loops and about 60 MB written and reread per call, where a hand-written loop keeps one row's
  hidden values in vectors of 4.
- Pass `fuse_row_layers` (reverse mode, on the program) runs those loops as one loop over the rows and makes each
  array they pass on as one row of scratch; `hoist_allocations` then makes the rows once before the loop and
  `per_row_fusion` runs each row's reverse sweep right after it. The kernel is the hand loop form's (one loop, no
  tapes, no n x hidden arrays), and its floats are the unfused kernel's (same operations in the same order: 0
  difference at 100,000 rows).
- Measured, pass on against off (`optimize={"fuse_row_layers": False}`), 100,000 rows, same floats: interleaved
  in one process, fastest / median of 15 calls (load 1-6 on 2 cores): `logprob` 19.5-20.7 / 22-26 ms against
  28-33 / 37-43 ms, `log_posterior` 20-27 / 21-34 ms against 35-46 / 37-54 ms, `black_box_svi` 1.7 / 2.5 ms
  against 4.8 / 6.1 ms; a hand-written fused Numba loop for `logprob` (per-row vectors, the same `vector_tanh`)
  ran 20-24 ms beside the fused kernel's 18-19 ms. Interleaved with JAX's calls instead (as `benchmarks.corpus`
  times them), `logprob` on and off are within noise (19.7 / 25.4 ms against 20.5 / 23.2 ms): much of the gain
  above is the fresh pages of the ten 3.2 MB arrays, which that order leaves warm; the corpus benchmark
  (`--speed --parallel --repeat 15`, one run each, load about 1) measured `log_posterior` 2.40x to 1.90x of
  JAX and `logprob` 3.12x to 3.87x (noise: JAX itself moved from 7.4 to 6.3 ms). Of the corpus, only these
  three functions change.
- What is left against JAX (about 8.5-12 ms for `logprob` under the same load): XLA vectorises each layer across
  the rows, while the fused loop works one row at a time on vectors of 4, in scalar code, and stays serial with
  `parallel=True` (`codegen._chunkable` refused the scratch rows, which every chunk needs its own copy of; pass
  `chunk_scratch` below gives them one).
- The pass leaves alone a run that stores a named activation (`a = max(z, 0.0)`, then `h[i, j] = a`, the
  lowering of `np.maximum(X @ W1.T + b1, 0.0)`): `write_once_arrays` reads that output back from the whole array,
  while one row, rewritten every iteration, would need it taped (the vectorised MLP at 100 rows measured 37 µs
  unfused, 46 µs fused).

### Populations at 100,000 rows: `write_once_rows`, `flat_elementwise` and `lane_sums`, 2026-12-04

PySwarms' and pymoo's objectives take a population, one particle per row of x (n x 2 to n x 10), and reduce each
row (`np.sum(..., axis=1)`). The lowering gives a loop over the rows with, in it, short loops over the columns; JAX
runs each elementwise step over all n x d elements at once. Three causes, each now a pass:

- **The gradient's zero fill.** `x_bar = np.zeros((n, d))` then `x_bar[k, j] += ...`, one store per element: 8
  more bytes written per element, and each store a load and a store. Pass `write_once_rows` stores with `=` where
  each element of a row gets one contribution from the loop over that row (an inner sweep over the columns, or
  stores at distinct constant columns, `x[:, 0]` and `x[:, 1]`), and allocates `np.empty` where the stores cover
  every element whenever the loop runs (for constant columns: when `shape[1]` is their number). The sphere
  function's kernel at 100,000 x 2, edited by hand, one process: 187 µs to 157 µs.
- **Scalar libm calls in short inner loops.** `cos(2 pi x[k, j])` sits in a loop of 4 columns that carries the
  row's sum, which no vectoriser takes, and the gradient's sweep calls `sin` of the same. Pass `flat_elementwise`
  computes such calls (of one element of a 2-D argument, with numbers and scalar arguments, through the body's
  assignments, `sin(t)` with `t = sqrt(|x[k, j]|)`) for every element first, in one flat loop of
  `vector_math`'s functions over the array, and the loops read the results. That loop is a function of its own
  (`_<kernel>_flat<k>`): inside the kernel, LLVM did not vectorise a loop reading a reshaped view (8.9 ms against
  1.4 ms for `cos` of 400,000 elements). Same process, pass on against off, median of 30 calls: Rastrigin at
  100,000 x 4 13.8 ms to 5.5 ms, Schwefel 18.5 ms to 7.1 ms.
- **A sum's chain of additions.** `split_rows` stores each row's term and adds the terms of a block afterwards, in
  order, one addition waiting on the last: about 0.5 ns per row, 50 µs at 100,000 rows. Pass `lane_sums` adds a
  block's terms in eight partial sums, as NumPy's `np.sum` adds (`runtime.lane_sum`): 13.6 µs for the same
  100,000 terms, and no less accurate than the running sum (its error bound is smaller; tested against
  `math.fsum`). This is the one pass that changes how a value rounds. Taking the gradient's stores after the run
  into it as well (`x_bar[k] += ...` at once, not through a block array to a part of its own) gave autograd's
  `tanh` example 308 µs to 281 µs with the kernel edited by hand, but where `x_bar` may alias the arrays the run
  reads LLVM no longer vectorised the run: autograd's logistic loss on threads went from 0.63 ms to 2.0 ms, so
  the run still ends at a store.
- Still behind JAX at 100,000 rows: population functions whose calls read two columns (`x[:, 0]`, `x[:, 1]`) with
  more than two `sin`/`cos` or a non-integer power (`**0.1` calls libm's `pow`, which no loop vectorises:
  Cross-in-tray, Eggholder, Holder table), and per-row networks and losses over rows of 1 to 4 columns
  (`neural_net_regression.logprob`, `log_posterior`, `binary_log_loss`), where the work is in loops whose trip
  count (the hidden units, the classes) is known only at run time. Raising the `sin`/`cos` limit to 4 made
  Cross-in-tray slower (8.3 ms to 10.8 ms: its run also calls `pow`, so the loop stays scalar and the inlined
  Payne-Hanek reduction costs more than libm's) and its first call 1.5 s longer. Computing the calls of columns
  (`sin(x[k, 0])`) first as well, over contiguous copies of the columns (a column read in place did not
  vectorise: 4.4 ms against 0.74 ms for sin and cos of two columns of 100,000 rows), measured Eggholder 6.0 to
  4.1 ms and ZDT6 7.3 to 4.6 ms, but with four vectorised `sin`/`cos` Cross-in-tray's first call took 4.8 s
  instead of 0.8 s, and with libm's kept the separate loop was slower (11.4 ms): not landed. What would close
  these rows is a kernel specialised to the sizes of the first call (JAX's static shapes: loops of 2 or 4 known
  at compile time unroll and vectorise across rows), with the general kernel behind a check of the sizes.

### Threads for rows with scratch, tapes and rows of their own (`chunk_scratch`), 2026-12-03

- Before: `parallel=True` ran a loop in chunks only where its iterations did nothing but add into sums and
  adjoint arrays. The fused row loop of a vectorised network or loss also writes scratch rows (one row of each
  layer and of its adjoint), records tapes (the running maximum of a `logsumexp`) and stores its own row of the
  gradient (`y_prob_bar[i, j]`), so `logprob`, `log_posterior`, `log_loss` and `binary_log_loss` stayed serial.
- Pass `chunk_scratch` (codegen, `in_chunks` and `_chunkable`) lets such a loop run in the 16 chunks when it reads
  the data (an array argument not differentiated). Its precondition, in `_chunkable`'s helpers:
  - a scratch array made before the loop, touched by nothing else, is made again in each chunk when every
    iteration either stores each element first (`_overwritten_first`) or leaves it all zeros as it found it
    (`_zeros_after`: the adjoint of a layer, read and reset after use);
  - a tape no other statement uses gets one per chunk when every iteration pops it as often as it pushes onto it,
    counted through the trip counts of the loops around each push and pop, none under a condition (`_balanced`);
  - an array stored into at the loop's index along one axis, with the index starting at 0 or above, is stored
    into directly (`_own_rows`): no two iterations reach one element;
  - a sweep whose iterations only add (run first to last) counts as a loop, and a value defined in the loop
    blocks it only where a later statement reads it before defining it (`_reads_from_before`).
- Measured with `python -m benchmarks.corpus --speed --parallel --names ... --sizes 1000,100000` (2 cores, load
  1-1.7, one run; the serial and JAX columns moved by up to 1.8x between runs this afternoon), at 100,000 rows:

  | function | JAX jit | symgrad | symgrad `parallel=True` | parallel / serial | parallel / JAX |
  | --- | ---: | ---: | ---: | ---: | ---: |
  | `neural_net.log_posterior` | 13.7 ms | 33.9 ms | 18.2 ms | 1.86x faster | 1.33x |
  | `neural_net_regression.logprob` | 9.07 ms | 25.0 ms | 12.9 ms | 1.94x faster | 1.81x |
  | `sklearn.log_loss` | 3.68 ms | 4.69 ms | 3.02 ms | 1.55x faster | 0.84x |
  | `sklearn.binary_log_loss` | 2.52 ms | 4.72 ms | 2.99 ms | 1.58x faster | 1.30x |

  `log_loss` is now ahead of JAX with threads; the two networks gain what two cores can give, and stay behind
  JAX, which vectorises each layer across the rows where the fused loop works on one row's vectors of 4 or 5.
- Compile time: a threaded loop costs Numba more to compile. `parallel=True` on the vectorised MLP's first
  call takes 10.7-12.5 s against 5.3 s serial (its data loops are threaded in all three kernels); loops over
  the parameters alone are left serial for that reason (`DATA_LOOPS_ONLY`). The quick field run's build cap is
  30 s for this.
- Each threaded loop is a function of its own (`_<kernel>_chunks<k>`, `Kernel._outlining_chunks`), compiled
  with `parallel=True` and threads for its `prange` loop alone (`jit.explicit_prange`); the kernel that calls it
  when the loop is long is compiled serially, so that its serial branch (every call below 4096 rows) is the
  serial kernel's code. Numba empties the dict of parallel options it is given: until this stop, only the first
  threaded kernel of a process had Numba's other conversions off, and later ones started threads for every
  `np.zeros`. The vectorised MLP at 100 rows then ran at 1.75x-2.7x its serial time when the logistic loss had
  compiled first (`benchmarks.run --quick --problems logistic,mlp-vec`); it now runs at 0.98x-1.02x.

### np.argmax: no tape for the position (`useful_activity`)

- `x[np.argmax(x)] * 2 + np.sum(x**2)` lowers np.argmax to a loop carrying the best element and its position.
  Reverse mode counted every value that depends on `x` as active, so the gradient kernel taped both carried
  values (two tapes of n - 1 floats) and ran a reverse loop that added zeros: the position reaches the output
  only as an index (`AsIndex`), and the best element only through comparisons.
- Pass `useful_activity` gives a value an adjoint only when it is varied (it depends on a `wrt` argument) and
  useful (the output depends on it), both through nonzero partials: a read inside a condition or a locally
  constant function (`AsIndex`, `sign`, `floor`, `isnan`) carries none (`reverse.carrying_atoms`). The tapes that
  no reverse sweep then pops are dropped (`unpopped_tapes`). The gradient kernel is the forward loops and
  `x_bar[argmax] += 2.0`.
- Measured (`sg.grad`, n = 100,000, the pass on and off interleaved, 15 rounds, 15:38 UTC, load 6.4 with a test
  run beside it): median 1.78 against 1.83 ms, best 0.91 against 0.98 ms, paired ratio 1.12; the memory saved is
  the two tapes, 1.6 MB at this n.
"""


BIG_PROGRAMS = ("Programs of thousands of straight-line statements (derivation, compile time and peak memory against "
                "the number of statements, with SymPy `diff` + `lambdify` beside them): "
                "[architecture.md, Big programs](architecture.md#big-programs), printed by "
                "`python -m benchmarks.scaling_statements`.")


# Sections of the page that other scripts measure (benchmarks/second_order.py, jacobian.py, module_values.py) and
# whose text says so: a rewrite of the field's tables keeps them as they are.
KEPT_SECTIONS = ("## Second order", "## Jacobians", "## Module-level values")


def _kept_sections(path, headings=KEPT_SECTIONS):
    """The sections of the page at `path` whose headings start with one of `headings`, in its order (none when
    there is no page yet)."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        return []
    return [section.rstrip("\n") + "\n" for section in re.split(r"(?m)^(?=## )", text)
            if section.startswith(headings)]


def write_docs(results, directory):
    """Rewrite performance.md and its plots in `directory`; the paths written."""
    os.makedirs(directory, exist_ok=True)
    ratios_png, scaling_png = "performance-ratios.png", "performance-scaling.png"
    m = results["machine"]
    load = results.get("load_average_start"), results.get("load_average_end")
    peers = [f"{v['label']} {v['version'] or 'missing'}" for name, v in m["systems"].items() if name not in HAND]
    versions = ", ".join([f"Python {m['python']}", f"numba {m['numba']} (llvmlite {m['llvmlite']})",
                          f"NumPy {m['numpy']}"] + peers
                         + ([f"PyTorch threads {m['threads']['torch']}"] if m["threads"]["torch"] else []))
    page = [PAGE_HEAD.format(command=results["command"], mode=results["mode"], date=results["date"],
                             elapsed=results["elapsed_s"], versions=versions,
                             machine=f"{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}",
                             load=f"{load[0][0]:.2f} / {load[1][0]:.2f}" if all(load) else "unknown",
                             sympy_largest=systems.SymPy.LARGEST),
            header_lines(results)[0], "", "## Results", "",
            f"![Per-call time over hand Numba's, per problem and system]({ratios_png})", ""]
    for table in tables(results):
        page += _markdown_table(*table)
    page += [LEGEND, ""] + [f"- {label}, {reason} ({', '.join(labels)})" for label, reason, labels in reasons(results)]
    page += ["", "## Where symgrad is behind", ""]
    rows = behind(results)
    page += [f"- {p}, {figure}: symgrad {mine}; " + ", ".join(f"{peer} {theirs}" for peer, theirs in ahead)
             for p, figure, mine, ahead in rows]
    page += ["- nowhere" if not rows else "", ""]
    page += [VECTORISED] if any(p.get("vectorised") for p in results["problems"].values()) else []
    page += [KERNELS]
    page += _kept_sections(os.path.join(directory, "performance.md"))
    written = [os.path.join(directory, ratios_png)]
    plot_ratios(results, written[0])
    if not results.get("scaling"):  # (a run without the scaling figure keeps the page's last one, less the
        # paragraph that follows it, which is written below: kept, it piled up a copy per run)
        page += [re.sub(r"\n*" + re.escape(BIG_PROGRAMS) + r"\n*", "\n\n", section).rstrip("\n") + "\n"
                 for section in _kept_sections(os.path.join(directory, "performance.md"), ("## Scaling",))]
    if results.get("scaling"):
        page += ["## Scaling", "", f"![Derivation time, operation count and per-call time against size]({scaling_png})",
                 "", "Rosenbrock is written out term by term in n scalar arguments and the chain is written out n "
                 "times ([bench_problems.py](../benchmarks/bench_problems.py)); symgrad's time is "
                 "`Transform._derived()` (parse, reverse mode, codegen, without Numba) and its count is "
                 "`Kernel.operation_count()` of the value-and-gradient kernel, the count "
                 "tests/test_linear_size.py holds linear. SymPy's series stops at its first time-out.", ""]
        for table in scaling_tables(results["scaling"]):
            page += _markdown_table(*table)
        written.append(os.path.join(directory, scaling_png))
        plot_scaling(results["scaling"], results["settings"]["cap_s"], written[-1])
    page += [BIG_PROGRAMS, ""]
    c = results["settings"]
    page += [METHOD.format(batch_ms=c["batch_s"] * 1e3, repeat=c["repeat"], budget=c["budget_s"], cap=c["cap_s"],
                           points=c["check_points"], flag=FLAG_TEXT, slower=(SLOWER - 1) * 100, rounding=ROUNDING,
                           latency="one process per system and problem" if c["latency_per_pair"]
                           else "quick mode: one process per system, its problems one after another"),
             "## Reproduce", "", "```bash", 'python -m pip install -e ".[bench]"',
             "python -m benchmarks.run --quick              # a few minutes; prints these tables",
             "python -m benchmarks.run --write-docs         # full mode; rewrites this page and its plots",
             "```", ""]
    path = os.path.join(directory, "performance.md")
    with open(path, "w") as handle:
        handle.write("\n".join(page))
    return [path] + written
