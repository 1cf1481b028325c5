"""Generators of big straight-line programs for the scaling benchmark and tests.

`live_source(n)`: ``n`` statements ``t_k = f(t_{k-1}, t_j)`` (``j < k`` drawn at random, seeded by ``n``) mixing
sin, tanh, exp and products, returning ``t_{n-1}``: every statement is live, so nothing is eliminated early.
`wide_source(m)`: one expression in ``m`` arguments, ``sin(a0*a1 + a1*a2 + ... + a_{m-1}*a0)``.
"""

import random

TEMPLATES = (
    "math.sin({a}) * 0.5 + 0.1 * {b}",
    "math.tanh({a} - {b})",
    "math.exp(-{a} * {a}) + 0.3 * {b}",
    "{a} * 0.9 + 0.05 * {b} * {b}",
    "{a} + 0.5 * math.tanh({b})",
)


def live_source(n, name=None):
    """Python source of a function of (x, y) with `n` live straight-line statements."""
    name = name or f"live{n}"
    rng = random.Random(n)
    lines = ["import math", "", "", f"def {name}(x, y):", "    t0 = x * y + 1.0", "    t1 = math.sin(x) + y"]
    for k in range(2, n):
        lines.append(f"    t{k} = " + rng.choice(TEMPLATES).format(a=f"t{k - 1}", b=f"t{rng.randrange(k - 1)}"))
    lines.append(f"    return t{n - 1}")
    return "\n".join(lines) + "\n"


def wide_source(m, name=None):
    """Python source of a function of `m` float arguments a0..a{m-1}."""
    name = name or f"wide{m}"
    arguments = ", ".join(f"a{k}" for k in range(m))
    terms = " + ".join(f"a{k} * a{(k + 1) % m}" for k in range(m))
    return f"import math\n\n\ndef {name}({arguments}):\n    return math.sin({terms})\n"


def write_module(directory, name, source):
    """Write `source` as `<directory>/<name>.py` and import it (symgrad reads the function's source file)."""
    import importlib.util
    import os
    import sys

    path = os.path.join(directory, f"{name}.py")
    with open(path, "w") as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
