"""Parse: lift a Python function's source into a `Program`.

The stage in reading order: `source` (the parsed definition and where names resolve; `desugar` rewrites a few
spellings on it), `kinds` (each argument's kind, read off the body), `numpy_lowering` and `comprehensions` (mixins
of the lifter), `lifter` (the symbolic execution that writes the IR).
"""

from .kinds import infer_kinds
from .lifter import FRAMES_PER_LEVEL, UNROLL_LIMIT, Lifter, lift, with_room_to_recurse
from .source import Source, read_source

__all__ = ["FRAMES_PER_LEVEL", "UNROLL_LIMIT", "Lifter", "Source", "infer_kinds", "lift", "read_source",
           "with_room_to_recurse"]
