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
import sys
import threading
from dataclasses import dataclass

import numpy as np

from . import cache, module_values

# What a batched argument of each kind becomes: one more leading axis.
_BATCHED_NDIM = {"float": 1, "int": 1, "array1": 2, "array2": 3, "array3": 4}
_SHARED_NDIM = {"float": 0, "int": 0, "array1": 1, "array2": 2, "array3": 3}


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


def output_specs(module, name, axes, gradient_as_tuple):
    """The batch kernel's result arrays, in order: (array name, the point's result in terms of ``{r}``, the
    position of the argument whose shape the row takes or None for a number, the number of leading axes of that
    argument to skip)."""
    arguments, kinds = module.ARGUMENTS, module.KINDS
    specs = []
    if name in ("value", "value_and_grad"):
        specs.append(("_values", "{r}[0]" if name == "value_and_grad" else "{r}", None, 0))
    if name in ("grad", "value_and_grad"):
        gradient = "{r}[1]" if name == "value_and_grad" else "{r}"
        for k, wrt in enumerate(module.WRT):
            at = arguments.index(wrt)
            item = f"{gradient}[{k}]" if gradient_as_tuple else gradient
            array_argument = kinds[at] not in ("float", "int")
            specs.append((f"_g{k}", item, at if array_argument else None, 1 if axes[at] == 0 else 0))
    return specs


def output_shapes(module, specs, args, size):
    """The shapes of the result arrays `specs` for a batch of `size` points of the arguments `args`."""
    return [(size,) if at is None else (size,) + args[at].shape[skip:skip + _SHARED_NDIM[module.KINDS[at]]]
            for _, _, at, skip in specs]


def batch_source(module, name, axes, gradient_as_tuple):
    """The module text of the batch kernels of kernel `name` of the transform's module `module` (its NAME,
    ARGUMENTS, KINDS, WRT) over `axes`: `batched_into`, which writes every point's results into result arrays it
    is given (the Python call passes reused ones), and `batched`, which allocates them, for ``@njit`` callers.
    `batched_into` calls the global KERNEL, which `Batched` sets to the transform's dispatcher before compiling,
    and `batched` the global INTO, set to `batched_into` compiled."""
    refusal = module_values.not_passed("vmap", module.NAME, module.PASSED)
    if refusal:
        raise refusal
    arguments, kinds = module.ARGUMENTS, module.KINDS
    specs = output_specs(module, name, axes, gradient_as_tuple)
    results = [array for array, _, _, _ in specs]
    batched = [a for a, axis in zip(arguments, axes) if axis == 0]
    first = batched[0]
    lines = [f"def batched_into({', '.join(arguments + tuple(results))}):", f"    _n = {first}.shape[0]"]
    for argument in batched[1:]:
        lines += [f"    if {argument}.shape[0] != _n:",
                  f"        raise ValueError({_mismatch(module.NAME, argument, first)!r})"]

    def point(b, r):
        """One point's call and stores, with index `b` and result `r` (the serial part and the prange loop keep
        their variables apart, so that none lives across the parallel loop)."""
        call = f"KERNEL({', '.join(f'{a}[{b}]' if axis == 0 else a for a, axis in zip(arguments, axes))})"
        return [f"{r} = {call}"] + [f"{array}[{b}] = {item.format(r=r)}" for array, item, _, _ in specs]

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
    # The allocating kernel, for @njit callers.
    lines += ["", "", f"def batched({', '.join(arguments)}):", f"    _n = {first}.shape[0]"]
    for array, _, at, skip in specs:
        shape = "" if at is None else "".join(f", {arguments[at]}.shape[{skip + k}]"
                                              for k in range(_SHARED_NDIM[kinds[at]]))
        lines.append(f"    {array} = np.empty((_n{shape}))")
    lines.append(f"    INTO({', '.join(arguments + tuple(results))})")
    lines.append(f"    return {_structure(name, results, gradient_as_tuple)}")
    # What the Python call returns from the result arrays it passed (plain Python, never compiled).
    lines += ["", "", f"def assembled({', '.join(results)}):",
              f"    return {_structure(name, results, gradient_as_tuple)}"]
    return BATCH_TEMPLATE.format(name=module.NAME, kernel=name, axes=axes, arguments=arguments,
                                 dimensions=batch_dimensions(kinds, axes), body="\n".join(lines))


def _structure(name, results, gradient_as_tuple):
    """The text of what a batch kernel returns, built from its result arrays `results`, as the transform's own
    result is built: a value, a gradient (a tuple of them for a tuple wrt), or both."""
    if name == "value":
        return results[0]
    gradients = results[1:] if name == "value_and_grad" else results
    gradient_text = f"({', '.join(gradients)},)" if gradient_as_tuple else gradients[0]
    return f"{results[0]}, {gradient_text}" if name == "value_and_grad" else gradient_text


BATCH_TEMPLATE = '''"""symgrad batch kernel: {kernel} of {name}() over in_axes={axes!r}.

Generated code, named by a hash of its text and of the kernels it calls, sealed by a hash of its text.
"""
import numpy as np
from numba import prange

NAME = {name!r}
ARGUMENTS = {arguments!r}
DIMENSIONS = {dimensions!r}  # of the arguments, all float64 (arrays C-contiguous)
KERNEL = None  # the transform's compiled {kernel} kernel, set by symgrad.batch before this is compiled
INTO = None  # batched_into compiled, set by symgrad.batch before `batched` is compiled


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
        self._into_kernels = {}  # kernel name -> _Compiled batched_into, the Python call's kernel
        self._kept = {}  # kernel name -> result arrays of recent calls, reused once nothing else refers to them
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
        if self.transform._cache_key is None:  # the first call: an argument's rank at one point decides its kind
            self._observe_one_point(args, keywords)
        module = self.transform._load()
        if module.FOLDED and module_values.current(self.transform.fun, module) is None:  # (a module-level number
            with self._lock:  # changed: the transform's kernels and these are derived again for its value)
                self.transform._forget()
                self.kernels = type(self.kernels)(self)
                self._into_kernels, self._kept = {}, {}
        args = self._checked(self._positional(self.transform.fun, args, keywords))
        kernel = self._into(name)
        specs = output_specs(kernel.module, name, self.in_axes, self._as_tuple)
        size = next(value.shape[0] for value, axis in zip(args, self.in_axes) if axis == 0)
        results = self._results(name, output_shapes(kernel.module, specs, args, size))
        kernel.dispatcher(*args, *results)
        return kernel.module.assembled(*results)

    def _observe_one_point(self, args, keywords):
        """Let the transform observe the arrays of one point (a batched argument without its leading axis), as a
        plain call would, where the body leaves a rank open (`np.sum(x**2)`)."""
        try:
            args = self._positional(self.transform.fun, args, keywords)
        except TypeError:
            return  # (the call raises it, naming what is missing)
        point = [_one_point(value) if axis == 0 else value for value, axis in zip(args, self.in_axes)]
        self.transform._observe(point, {})

    def _results(self, name, shapes):
        """Result arrays of `shapes` for one call: a set from an earlier call that nothing outside this object
        refers to any more, or new ones.  Freshly allocated arrays of megabytes come from the system as pages
        that fault on first write, which cost 10x the batch itself (rosen2 at 10^6 points: 16.7 ms against
        1.7 ms on one thread), so, as JAX's and PyTorch's allocators do, the last `RESULT_SETS` sets are kept.
        A set the caller still holds (or holds a view of: a view refers to its base) is never written."""
        with self._lock:
            kept = self._kept.setdefault(name, [])
            for results in kept:
                if [r.shape for r in results] == shapes and max(_references(results)) <= _UNREFERENCED:
                    return list(results)
            results = [np.empty(shape) for shape in shapes]
            kept.append(tuple(results))
            del kept[:-RESULT_SETS]
            return results

    def _into(self, name):
        """The compiled `batched_into` of kernel `name` (with its module), compiled on first use."""
        with self._lock:
            if name not in self._into_kernels:
                self._into_kernels[name] = self._compile(name, "batched_into")
            return self._into_kernels[name]

    def _checked(self, args):
        """The arguments as the batch kernel takes them (batched numbers as float64 arrays), or a TypeError or
        ValueError naming the argument that does not fit."""
        function = self.transform.fun.__name__
        kinds = self.transform._load().KINDS
        result, size, first = [], None, None
        for name, kind, axis, value in zip(self._names, kinds, self.in_axes, args):
            where = f"vmap of {function}(): argument {name!r}"
            if kind not in _SHARED_NDIM:
                raise TypeError(f"{where} is an array of indices (a gather), which vmap does not take: gather "
                                "before the call and pass the gathered values")
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
        """The allocating batch kernel of kernel `name`, for ``.kernels`` (``@njit`` callers)."""
        return self._compile(name, "batched").dispatcher

    def _compile(self, name, function):
        """`function` (batched_into, or batched, which calls it) of the batch module of kernel `name`: the text
        generated, stored in the cache (or found there) and compiled."""
        from .jit import compile_function

        import numba

        if function == "batched":
            into = self._into(name)
            into.module.INTO = into.dispatcher  # what `batched` calls: the same code for the same module
            module = into.module
        else:
            module = self._module(name)
        dimensions = module.DIMENSIONS
        if function == "batched_into":
            specs = output_specs(module, name, self.in_axes, self._as_tuple)
            dimensions += tuple(1 + (0 if at is None else _SHARED_NDIM[module.KINDS[at]]) for _, _, at, _ in specs)
        types = tuple(numba.types.Array(numba.float64, ndim, "C") if ndim else numba.float64 for ndim in dimensions)
        return _Compiled(module, compile_function(module, function, types, parallel=function == "batched_into",
                                                  nogil=True))

    def _module(self, name):
        """The batch module of kernel `name`, loaded from the cache or stored there, its KERNEL set."""
        inner = getattr(self.transform.kernels, name)
        transform_module = self.transform._load()
        text = batch_source(transform_module, name, self.in_axes, self._as_tuple)
        key = hashlib.sha256(f"{self.transform._key()}|{text}".encode()).hexdigest()[:24]
        batch = cache.load(key) or cache.store(key, text)
        batch.KERNEL = inner  # the same dispatcher for the same key: its code is what Numba links in
        batch.KINDS, batch.WRT = transform_module.KINDS, transform_module.WRT
        return batch

    def __reduce__(self):
        """Pickled (and copied) as `vmap` of the transform, which pickles as the function and options that made it."""
        from .api import vmap

        return vmap, (self.transform, self.in_axes)

    def __repr__(self):
        return f"<symgrad.vmap of {self.transform!r} over in_axes={self.in_axes!r}>"


def _one_point(value):
    """What one point of a batched argument looks like to `Transform._observe`: an array without the leading axis
    (its shape and dtype only: a batch may be empty), or a number for a vector of numbers."""
    if not isinstance(value, np.ndarray) or value.ndim < 2:
        return 0.0
    return np.empty(value.shape[1:], value.dtype)


RESULT_SETS = 2  # result sets kept per kernel: a loop's previous results are still bound while it calls again


@dataclass
class _Compiled:
    module: object
    dispatcher: object


def _references(arrays):
    """How many references each of `arrays` has, counted the same way wherever the arrays are held."""
    return [sys.getrefcount(array) for array in arrays]


_UNREFERENCED = _references((np.empty(1),))[0]  # the count of an array that only a tuple holds


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
