"""symgrad on one corpus entry: its value and gradients, or the refusal it raised."""

import dataclasses
import time

import symgrad as sg

REFUSALS = (sg.UnsupportedSyntaxError, TypeError)  # a construct, or an argument kind, symgrad does not take


@dataclasses.dataclass
class Attempt:
    """What `value_and_grad` did with a function: `refusal` is None where it was taken."""

    transform: object
    value: float = None
    gradients: tuple = None
    refusal: Exception = None
    seconds: float = 0.0  # the first call: derive, compile, run (or refuse)

    @property
    def taken(self):
        return self.refusal is None

    def first_line(self):
        """The refusal's first line, or "" where the function was taken."""
        return "" if self.taken else f"{type(self.refusal).__name__}: {str(self.refusal).splitlines()[0]}"


def attempt(entry, args, loop=False, parallel=False):
    """symgrad's value_and_grad of the entry (or of its loop version) at `args`, the first call timed."""
    transform = sg.value_and_grad(entry.loop if loop else entry.function, wrt=tuple(entry.wrt), parallel=parallel)
    start = time.perf_counter()
    try:
        value, gradients = transform(*args)
    except REFUSALS as refusal:
        return Attempt(transform, refusal=refusal, seconds=time.perf_counter() - start)
    return Attempt(transform, float(value), tuple(gradients), seconds=time.perf_counter() - start)
