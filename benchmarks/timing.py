"""Per-call timing from Python, shared by every benchmark script.

Calls are timed in batches sized to a fixed duration, and the batches of all the functions compared are
interleaved, rotating the order every round, so that the machine's drift (a shared 2-core VM wanders by tens of
per cent) hits all of them alike and their per-round ratios stay steady.
"""

import statistics
import sys
import textwrap
import time

_CALLERS = {}


def log(message):
    """Progress goes to stderr, so that stdout holds the report alone."""
    print(message, file=sys.stderr, flush=True)


def _caller(arity):
    """A Python loop calling fn(a0, ..., a{arity-1}) `number` times: the call a user writes, without *args."""
    if arity not in _CALLERS:
        params = ", ".join(f"a{k}" for k in range(arity))
        source = textwrap.dedent(f"""
            def run(fn, number, {params}):
                start = perf_counter()
                for _ in range(number):
                    fn({params})
                return perf_counter() - start
            """)
        namespace = {"perf_counter": time.perf_counter}
        exec(compile(source, f"<bench caller {arity}>", "exec"), namespace)  # noqa: S102 (generated timing code)
        _CALLERS[arity] = namespace["run"]
    return _CALLERS[arity]


def call_times(calls, repeat, batch_seconds, budget_seconds=None, min_repeat=3):
    """Per-call seconds of each call in `calls` (name -> (function, args)): one sample per round it took part in.

    A function slower than a batch runs once per batch; with `budget_seconds`, a function leaves the rounds once
    its batches have taken that long and it has `min_repeat` samples, so a peer that needs a second per call
    does not hold up the run.  Returns name -> list of (round, seconds)."""
    names = list(calls)
    numbers = {}
    for name in names:  # warm up, then size a batch to last about batch_seconds
        function, args = calls[name]
        run = _caller(len(args))
        function(*args)
        number = 1
        while True:
            elapsed = run(function, number, *args)
            if elapsed >= batch_seconds / 4 or number >= 10**7:
                break
            number *= 4
        numbers[name] = max(1, int(number * batch_seconds / max(elapsed, 1e-9)))
    samples = {name: [] for name in names}
    spent = dict.fromkeys(names, 0.0)
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if budget_seconds is not None and spent[name] >= budget_seconds and len(samples[name]) >= min_repeat:
                continue
            function, args = calls[name]
            elapsed = _caller(len(args))(function, numbers[name], *args)
            spent[name] += elapsed
            samples[name].append((r, elapsed / numbers[name]))
    return samples


def python_call_times(functions, args, repeat, batch_seconds):
    """`call_times` for functions that all take the same `args`: name -> list of per-call seconds."""
    samples = call_times({name: (f, args) for name, f in functions.items()}, repeat, batch_seconds)
    return {name: [seconds for _, seconds in s] for name, s in samples.items()}


def paired_rounds(numerator, denominator):
    """`paired_ratio` of two `call_times` sample lists, over the rounds both took part in."""
    by_round = dict(denominator)
    common = [(seconds, by_round[r]) for r, seconds in numerator if r in by_round]
    return paired_ratio(*zip(*common)) if common else None


def median(samples):
    return statistics.median(samples)


def paired_ratio(numerator, denominator):
    """Median over repeats of numerator[r] / denominator[r]: batches timed side by side share the machine's
    drift (this VM's timings wander by tens of per cent), so their ratio is steadier than a ratio of medians."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))
