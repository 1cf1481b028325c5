"""Differential fuzzing of symgrad: `generator` writes programs, `oracle` judges one against Python, JAX and finite
differences and against symgrad's own other modes, `pool` runs the judging in worker processes, `minimize` shrinks
a failure, and ``python -m benchmarks.fuzz`` runs a campaign (docs/testing.md)."""
