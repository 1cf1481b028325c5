"""`sg.vmap`: a transform evaluated at many points by one compiled kernel that loops over them on Numba's threads.

The batch kernel is generated as module text (like codegen's kernels), named by a hash of that text and of the
transform's own entry, stored and verified by `cache` and compiled by `jit`.  It calls the transform's compiled
(serial) kernel once per point inside a ``prange`` loop and writes each point's results into their own row, so
the results do not depend on the number of threads: they are the serial kernel's, bit for bit.

An exception raised inside a ``prange`` loop is lost by Numba (the loop goes on and the output holds garbage), so
nothing may raise there.  A kernel raises only for its int arguments and array shapes (an index out of range, an
int that is not whole), never for float values, and the shapes are the same at every point of a batch.  So the
batch kernel first evaluates, serially, one point for each distinct tuple of batched int values (the first point
when no int is batched): if any point would raise, one of these raises, with the kernel's own message.  Then every
point runs on the threads (those points once more, to the same bits).
"""

import hashlib
import inspect
import numbers
import threading

import numpy as np

from . import cache, module_values

# What a batched argument of each kind becomes: one more leading axis.
_BATCHED_NDIM = {"float": 1, "int": 1, "array1": 2, "array2": 3}
_SHARED_NDIM = {"float": 0, "int": 0, "array1": 1, "array2": 2}


def normalise_axes(names, in_axes, function_name):
    """One entry per argument, each 0 (batched along its leading axis) or None (shared); an int or None alone
    applies to every argument, as in `jax.vmap`."""
    if in_axes is None or (isinstance(in_axes, numbers.Integral) and not isinstance(in_axes, bool)):
        in_axes = (in_axes,) * len(names)
    if not isinstance(in_axes, (tuple, list)):
        raise TypeError(f"vmap of {function_name}(): in_axes must be 0, None or a tuple of them with one entry per "
                        f"argument ({', '.join(names)}), not {type(in_axes).__name__}")
    if len(in_axes) != len(names):
        raise ValueError(f"vmap of {function_name}(): in_axes has {len(in_axes)} entries but {function_name}() has "
                         f"{len(names)} arguments ({', '.join(names)}): give one entry (0 or None) per argument")
    for name, axis in zip(names, in_axes):
        if not (axis is None or (isinstance(axis, numbers.Integral) and not isinstance(axis, bool) and axis == 0)):
            raise ValueError(f"vmap of {function_name}(): in_axes entry {axis!r} for argument {name!r}: symgrad batches "
                             "along the leading axis only (0), or shares the argument (None); move the batch axis "
                             "first with np.moveaxis")
    if all(axis is None for axis in in_axes):
        raise ValueError(f"vmap of {function_name}(): in_axes marks no argument as batched (0)")
    return tuple(None if axis is None else 0 for axis in in_axes)


def batch_source(module, name, axes, gradient_as_tuple):
    """The module text of the batch kernel of kernel `name` of the transform's module `module` (its NAME,
    ARGUMENTS, KINDS, WRT) over `axes`: the body calls the global KERNEL, which `Batched` sets to the
    transform's dispatcher before compiling."""
    refusal = module_values.not_passed("vmap", module.NAME, module.PASSED)
    if refusal:
        raise refusal
    arguments, kinds = module.ARGUMENTS, module.KINDS
    batched = [a for a, axis in zip(arguments, axes) if axis == 0]
    first = batched[0]
    lines = [f"def batched({', '.join(arguments)}):", f"    _n = {first}.shape[0]"]
    for argument in batched[1:]:
        lines += [f"    if {argument}.shape[0] != _n:",
                  f"        raise ValueError({_mismatch(module.NAME, argument, first)!r})"]
    # The results: one row per point.
    outputs = []  # (array name, expression of the point's result, kind of the result)
    if name in ("value", "value_and_grad"):
        outputs.append(("_values", "{r}[0]" if name == "value_and_grad" else "{r}", "float"))
    if name in ("grad", "value_and_grad"):
        gradient = "{r}[1]" if name == "value_and_grad" else "{r}"
        for k, wrt in enumerate(module.WRT):
            at = arguments.index(wrt)
            item = f"{gradient}[{k}]" if gradient_as_tuple else gradient
            outputs.append((f"_g{k}", item, (kinds[at], wrt, axes[at])))
    for array, _, kind in outputs:
        if kind == "float" or kind[0] in ("float", "int"):
            lines.append(f"    {array} = np.empty(_n)")
        else:
            kind, argument, axis = kind
            offset = 1 if axis == 0 else 0
            shape = ", ".join(f"{argument}.shape[{offset + k}]" for k in range(_SHARED_NDIM[kind]))
            lines.append(f"    {array} = np.empty((_n, {shape}))")
    def point(b, r):
        """One point's call and stores, with index `b` and result `r` (the serial part and the prange loop keep
        their variables apart, so that none lives across the parallel loop)."""
        call = f"KERNEL({', '.join(f'{a}[{b}]' if axis == 0 else a for a, axis in zip(arguments, axes))})"
        return [f"{r} = {call}"] + [f"{array}[{b}] = {item.format(r=r)}" for array, item, _ in outputs]

    # Serially first: one point per distinct tuple of batched ints (the first point when none is), which raises
    # any error a point of the batch can raise, where Numba reports it.
    ints = [a for a, kind, axis in zip(arguments, kinds, axes) if axis == 0 and kind == "int"]
    if ints:
        lines += ["    _seen = dict()", "    for _s in range(_n):",
                  f"        _key = ({''.join(f'{a}[_s], ' for a in ints)})",
                  "        if _key not in _seen:", "            _seen[_key] = _s"]
        lines += [f"            {line}" for line in point("_s", "_q")]
    else:
        lines += ["    if _n > 0:"] + [f"        {line}" for line in point("0", "_q")]
    # Then every point on the threads, those points again included (the same bits): a prange(1, n) ran 5x slower
    # than prange(n) (measured with rosen2 at 10^6 points), and a test per point would cost a branch each.
    lines += ["    for _b in prange(_n):"] + [f"        {line}" for line in point("_b", "_r")]
    results = [array for array, _, _ in outputs]
    if name == "value":
        returned = results[0]
    else:
        gradients = results[1:] if name == "value_and_grad" else results
        gradient_text = f"({', '.join(gradients)},)" if gradient_as_tuple else gradients[0]
        returned = f"{results[0]}, {gradient_text}" if name == "value_and_grad" else gradient_text
    lines.append(f"    return {returned}")
    return BATCH_TEMPLATE.format(name=module.NAME, kernel=name, axes=axes, arguments=arguments,
                                 dimensions=batch_dimensions(kinds, axes), body="\n".join(lines))


BATCH_TEMPLATE = '''"""symgrad batch kernel: {kernel} of {name}() over in_axes={axes!r}.

Generated code, named by a hash of its text and of the kernels it calls, sealed by a hash of its text.
"""
import numpy as np
from numba import prange

NAME = {name!r}
ARGUMENTS = {arguments!r}
DIMENSIONS = {dimensions!r}  # of the arguments, all float64 (arrays C-contiguous)
KERNEL = None  # the transform's compiled {kernel} kernel, set by symgrad.batch before this is compiled


{body}
'''


def _mismatch(function_name, argument, first):
    return (f"vmap of {function_name}(): argument {argument!r} has another batch size along axis 0 than argument "
            f"{first!r}; every batched argument needs the same number of points")


def batch_dimensions(kinds, axes):
    """The number of dimensions of each of the batch kernel's arguments (all float64, arrays C-contiguous)."""
    return tuple((_BATCHED_NDIM if axis == 0 else _SHARED_NDIM)[kind] for kind, axis in zip(kinds, axes))


class Batched:
    """A transform mapped over a leading batch axis (see `symgrad.vmap`): calling it returns the transform's
    results stacked along a new leading axis."""

    def __init__(self, transform, in_axes, gradient_as_tuple, positional, array_problem):
        self.transform = transform
        self._as_tuple = gradient_as_tuple
        # api's keyword binder and array check, so that a batched call and a plain one say the same
        self._positional, self._array_problem = positional, array_problem
        self._names = tuple(inspect.signature(transform.fun).parameters)
        self.in_axes = normalise_axes(self._names, in_axes, transform.fun.__name__)
        self._lock = threading.RLock()
        self.kernels = None  # the batch kernels, compiled on first access: api.vmap puts its lazy holder here
        self.__name__ = f"vmap_{transform.fun.__name__}"

    def __call__(self, *args, **keywords):
        """The transform's result at every point, stacked."""
        return self._call(self.transform._mode, args, keywords)

    def value(self, *args, **keywords):
        """The function's value at every point, as an array."""
        return self._call("value", args, keywords)

    def value_and_grad(self, *args, **keywords):
        """(values, gradients) at every point, stacked."""
        return self._call("value_and_grad", args, keywords)

    def _call(self, name, args, keywords):
        module = self.transform._load()
        if module.FOLDED and module_values.current(self.transform.fun, module) is None:  # (a module-level number
            with self._lock:  # changed: the transform's kernels and these are derived again for its value)
                self.transform._forget()
                self.kernels = type(self.kernels)(self)
        dispatcher = getattr(self.kernels, name)
        return dispatcher(*self._checked(self._positional(self.transform.fun, args, keywords)))

    def _checked(self, args):
        """The arguments as the batch kernel takes them (batched numbers as float64 arrays), or a TypeError or
        ValueError naming the argument that does not fit."""
        function = self.transform.fun.__name__
        kinds = self.transform._load().KINDS
        result, size, first = [], None, None
        for name, kind, axis, value in zip(self._names, kinds, self.in_axes, args):
            where = f"vmap of {function}(): argument {name!r}"
            if axis is None:
                problem = _shared_problem(kind, value, self._array_problem)
                if problem:
                    raise TypeError(f"{where} (shared, in_axes None) {problem}")
                result.append(float(value) if kind in ("float", "int") else value)
                continue
            value = _batched_value(where, kind, value, self._array_problem)
            if size is None:
                size, first = value.shape[0], name
            elif value.shape[0] != size:
                raise ValueError(f"{where} has {value.shape[0]} points along axis 0, but argument {first!r} has {size}; "
                                 "every batched argument needs the same number of points")
            result.append(value)
        return result

    def _compiled(self, name):
        """The batch kernel of kernel `name`: generated, stored in the cache (or found there) and compiled."""
        from .jit import compile_function

        inner = getattr(self.transform.kernels, name)
        module = self.transform._load()
        text = batch_source(module, name, self.in_axes, self._as_tuple)
        key = hashlib.sha256(f"{self.transform._key()}|{text}".encode()).hexdigest()[:24]
        batch = cache.load(key) or cache.store(key, text)
        batch.KERNEL = inner  # the same dispatcher for the same key: its code is what Numba links in
        import numba

        types = tuple(numba.types.Array(numba.float64, ndim, "C") if ndim else numba.float64
                      for ndim in batch.DIMENSIONS)
        return compile_function(batch, "batched", types, parallel=True, nogil=True)

    def __repr__(self):
        return f"<symgrad.vmap of {self.transform!r} over in_axes={self.in_axes!r}>"


def _shared_problem(kind, value, array_problem):
    """What is wrong with a shared argument, or None."""
    if kind in ("float", "int"):
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return None
        shape = f" of shape {value.shape}: mark it batched (0) in in_axes" if isinstance(value, np.ndarray) else ""
        return f"must be a real number, got {type(value).__name__}{shape}"
    return array_problem(value, _SHARED_NDIM[kind])


def _batched_value(where, kind, value, array_problem):
    """A batched argument as the kernel takes it: numbers as a float64 array (converted from any real dtype),
    arrays as they are (float64, C-contiguous, one more axis than the function's argument)."""
    if kind in ("float", "int"):
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(f"{where} (batched, in_axes 0) must be a 1-D array of numbers, one per point, got "
                             f"shape {array.shape}")
        if array.dtype == np.bool_ or array.dtype.kind not in "iuf":
            raise TypeError(f"{where} (batched, in_axes 0) must hold real numbers, got dtype {array.dtype}")
        return np.ascontiguousarray(array, dtype=np.float64)
    ndim = _BATCHED_NDIM[kind]
    problem = array_problem(value, ndim, f"a {ndim}-D float64 array (points along axis 0)")
    if problem:
        error = ValueError if isinstance(value, np.ndarray) and value.ndim != ndim else TypeError
        raise error(f"{where} (batched, in_axes 0) {problem}")
    return value
