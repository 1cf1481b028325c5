"""A corpus of vectorised NumPy objectives that other people wrote, with their origins and licences.

It is data, not tests: tests/test_corpus.py checks symgrad on every entry (a refusal is recorded, a wrong number
fails) and ``python -m benchmarks.corpus`` reports the share symgrad takes as written and, with ``--speed``, its
per-call time beside JAX and the hand-written loop versions.  Each module holds the code of one project, as the
project wrote it, with the licence in its docstring and the smallest adaptation in each entry (`spec.Entry`).
"""

from . import autograd_examples, pymoo_problems, pyswarms_single_obj, sklearn_losses

ENTRIES = (pyswarms_single_obj.ENTRIES + pymoo_problems.ENTRIES + autograd_examples.ENTRIES
           + sklearn_losses.ENTRIES)
BY_NAME = {entry.name: entry for entry in ENTRIES}
ORIGINS = sorted({entry.origin for entry in ENTRIES}, key=lambda origin: origin.project)
