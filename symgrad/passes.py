"""The optimisation passes of reverse mode and codegen, each with a switch that turns it off.

Every pass here is a claim that a faster program computes the same numbers.  Each is written as a named function
whose docstring states its precondition, and each can be turned off, so that the differential fuzzer can compare
optimised kernels with unoptimised ones (as compilers test -O2 against -O0):

* per transform: ``sg.grad(f, optimize=False)`` turns every pass off, ``optimize={"fuse_reductions": False}``
  turns off the named ones;
* per process: ``SYMGRAD_DISABLE_PASSES=all`` or ``SYMGRAD_DISABLE_PASSES=fuse_reductions,closed_form``.

The enabled set is part of the derivation key, so a switch never returns kernels derived under another setting.
"""

import os

# name -> (the module holding the pass, what it does); docs/api.md lists the names.
PASSES = {
    "name_sums": ("reverse", "names each sum inside a power or function, so the partials share it"),
    "fuse_sibling_loops": ("reverse", "runs loops in a row over the same range as one loop when neither iteration "
                                      "depends on the other's (the two sums of a loss read the data once)"),
    "fuse_row_layers": ("reverse", "runs the loops over the rows of a vectorised network's layers as one loop, "
                                   "each n x hidden array they pass on made as one row of scratch per iteration"),
    "hoist_allocations": ("reverse", "makes a local array once before a loop whose every iteration makes it and "
                                     "rewrites it whole before reading it"),
    "guarded_sums": ("reverse", "writes `if c: s += t` as s - (-t if c else 0.0), so s stays an accumulator"),
    "activation_outputs": ("reverse", "takes tanh', exp', sigmoid' and relu' from the activation's output (read back "
                                      "from its array, or taped in place of its input), so the input needs no tape"),
    "write_once_arrays": ("reverse", "neither tapes nor undoes the stores into a local array written once per "
                                     "element before any read; the sweep reads the array itself"),
    "useful_activity": ("reverse", "gives adjoints only to values the output depends on through a nonzero partial "
                                   "(not through a comparison or an index: np.argmax's loop), and drops the tapes "
                                   "nothing pops"),
    "accumulator_adjoint": ("reverse", "uses one adjoint for every iteration of a pure accumulator (s += ...)"),
    "dead_carries": ("codegen", "drops the values a loop carries that nothing after it reads (the loss summed in "
                                "a gradient kernel), with what only they need"),
    "dead_arrays": ("codegen", "drops the local arrays nothing reads, with their stores (a network's unused last "
                               "activation)"),
    "hoist_invariants": ("codegen", "computes the calls whose arguments a loop does not change (lgamma(r) in a "
                                    "likelihood over the data) once, before the loop"),
    "closed_form": ("codegen", "replaces small straight-line gradients by their simplified closed form"),
    "cse": ("codegen", "shares common subexpressions within each straight run of statements"),
    "merge_stores": ("codegen", "merges several += into one array element into one store"),
    "fuse_reductions": ("codegen", "runs a loop's reverse sweep inside its forward loop"),
    "per_row_fusion": ("codegen", "fuses loops whose local arrays are rewritten whole every iteration"),
    "skip_zero_sweeps": ("codegen", "skips a reverse sweep while the adjoint scaling it is zero"),
    "skip_zero_rows": ("codegen", "skips the rest of a row's reverse sweep, through its layers' adjoint arrays, "
                                  "while the adjoint that starts it is zero (an inactive hinge); a guarded block "
                                  "that ends a loop's body is printed as an early `continue`"),
    "sweep_additions": ("codegen", "runs the additions next to a skipped sweep that are multiples of its adjoint "
                                   "(a layer's bias adjoint) under the sweep's test"),
    "gate_first": ("codegen", "inside a row that skip_zero_rows guards, tests a ReLU's output before the adjoint "
                              "that skips its sweep (the branch resolves early, as a hand kernel's)"),
    "any_order_sweeps": ("codegen", "runs a reverse sweep first to last when its iterations only add"),
    "accumulator_chain": ("codegen", "prints acc + (terms) so a loop's dependency chain is one addition"),
    "recurrence_order": ("codegen", "adds the terms of a sum that read a loop's recurrence last, off its chain"),
    "write_once_adjoints": ("codegen", "stores each element of an array a loop adds into at fixed offsets once, "
                                       "carrying the pending sums in scalars, and skips the zero fill it covers"),
    "write_once_rows": ("codegen", "stores each element of a 2-D array that a loop over its rows adds into once "
                                   "per element with = and drops the zero fill it covers"),
    "chunk_scratch": ("codegen", "with parallel=True, also runs on threads a loop over the rows whose iterations "
                                 "use local arrays or tapes as scratch (made again per chunk), store into rows of "
                                 "their own, or hold guarded blocks"),
    "vector_functions": ("codegen", "calls symgrad.vector_math's exp, log, log1p, tanh, sin, cos in loops LLVM "
                                     "vectorises"),
    "split_rows": ("codegen", "splits a row loop so that its run of exp/log/log1p/tanh/sin/cos becomes a loop of "
                              "its own, over blocks of rows"),
    "flat_elementwise": ("codegen", "computes exp/log/log1p/tanh/sin/cos of a 2-D argument's elements, called in "
                                    "loops over its rows and columns, in one flat loop before them that vectorises"),
    "lane_sums": ("codegen", "adds the terms a split row loop stored for a sum in eight partial sums, as NumPy's "
                             "np.sum does, not one after another"),
}

ALL = frozenset(PASSES)


def enabled(optimize=True):
    """The names of the passes to run for a transform's `optimize` option and SYMGRAD_DISABLE_PASSES."""
    if optimize is True:
        chosen = set(ALL)
    elif optimize is False:
        chosen = set()
    elif isinstance(optimize, dict):
        unknown = set(optimize) - ALL
        if unknown:
            raise ValueError(f"optimize: unknown pass(es) {', '.join(sorted(unknown))}; the passes are "
                             f"{', '.join(sorted(ALL))}")
        chosen = {name for name in ALL if optimize.get(name, True)}
    else:
        raise TypeError(f"optimize must be True, False or a dict of pass names to booleans, not {optimize!r}")
    disabled = {name.strip() for name in os.environ.get("SYMGRAD_DISABLE_PASSES", "").split(",") if name.strip()}
    if "all" in disabled:
        return frozenset()
    unknown = disabled - ALL
    if unknown:
        raise ValueError(f"SYMGRAD_DISABLE_PASSES: unknown pass(es) {', '.join(sorted(unknown))}; the passes are "
                         f"{', '.join(sorted(ALL))} (or all)")
    return frozenset(chosen - disabled)
