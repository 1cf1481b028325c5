"""`symgrad.dask`: the gradient of a loss over the rows of `dask.array` data, each chunk of rows evaluated by the
compiled kernel on a Dask worker and the partial values and gradients added up by a tree reduction.

A loss qualifies when it is a sum over the rows of the chunked arguments (or such a sum divided once by the number
of rows, a mean): then the loss of all the rows is the sum of the losses of the chunks, and so is its gradient.
`row_sum_rewrite` checks this from the lifted program with the test ``parallel=True`` applies to a loop (codegen's
`sums_only`), and names the line that breaks it.  A mean is differentiated as its numerator (the sum), and the
division by the total number of rows is done once, at the end: every chunk's partial result is a plain sum.  A
term that does not read the rows (a penalty on the parameters) is added by the first chunk's task alone.

Workers need nothing from the client's disk: each task carries the generated module's text (one graph key per
call, which Dask sends to each worker once), named by the hash of that text; a worker stores it in its own cache
directory and compiles it once per process (`_worker_kernel`).  The chunk function is this module's, so workers
need symgrad installed, not the user's code.

Requires the optional extra: ``pip install -e ".[dask]"``.
"""

import hashlib
import inspect
import threading
import warnings

import numpy as np

from . import api, cache, module_values

SPLIT_EVERY = 8  # partial results added per task of the tree reduction
REST_SHARE = "_rest_share"  # the argument each chunk's kernel weighs the part of the loss outside the sums by


class RowSumError(ValueError):
    """The function is not a sum (or mean) over the rows of its chunked arguments, so chunks cannot be added up."""


class RechunkWarning(UserWarning):
    """A dask array was chunked along an axis other than its rows, and was rechunked to whole rows."""


# --- which functions qualify ---------------------------------------------------------------------------------
def row_sum_rewrite(program, chunked, wrt):
    """(program, whether a mean, whether a rest): the program to differentiate per chunk when `program` returns a
    sum over the rows of the `chunked` arguments, or such a sum divided by the number of rows (a mean: the
    program returning the sum), plus a rest that does not read the rows (a penalty on the parameters: the per-chunk
    program adds it times an extra float argument, `REST_SHARE`, which is nonzero for one chunk); a `RowSumError`
    naming the line that breaks the rule otherwise."""
    import dataclasses

    import sympy as sp

    from .codegen import sums_only
    from .ir import Allocate, Argument, Assign, Loop, Store, walk

    arguments = {a.name: a for a in program.arguments}

    def refuse(line, why):
        place = f"{program.filename}:{line}: " if line else f"{program.filename}:{program.line}: "
        raise RowSumError(f"{place}{program.name}() cannot be evaluated chunk by chunk over the rows of "
                          f"{', '.join(chunked)}: {why}")

    for name in chunked:
        if arguments[name].kind not in ("array1", "array2"):
            refuse(None, f"argument {name!r} is a {arguments[name].kind}, and only 1-D and 2-D array arguments are "
                         "chunked by rows")
        if name in wrt:
            refuse(None, f"the gradient with respect to the chunked data {name!r} is asked for; differentiate "
                         "with respect to the parameters, and pass the data as dask arrays")
    bases = {arguments[name].base for name in chunked}
    rows = {arguments[name].shape[0] for name in chunked}
    definitions, results = {}, set()

    def reads(expr):
        return [e for e in sp.sympify(expr).atoms(sp.Indexed) if e.base in bases]

    def counts(expr):
        """The row counts `expr` uses (an array read carries its base's shape: not a use)."""
        expr = sp.sympify(expr)
        plain = expr.xreplace({e: sp.Dummy() for e in expr.atoms(sp.Indexed)})
        indices = [i for e in expr.atoms(sp.Indexed) for i in e.indices]
        return (plain.free_symbols | set().union(*(sp.sympify(i).free_symbols for i in indices))) & rows

    for statement in program.body:
        if isinstance(statement, Assign):
            value = statement.value.xreplace(definitions)
            if reads(value):
                refuse(statement.line, f"it reads {reads(value)[0]} outside a loop over the rows")
            definitions[statement.target] = value
            continue
        if isinstance(statement, Allocate) and statement.shape and statement.shape[0] in rows and not any(
                counts(n) for n in statement.shape[1:]):
            bases.add(statement.base)  # a local array of one entry per row (`X @ w` passed to a helper): each
            continue  # chunk makes its own rows of it, filled and read at the row a loop over the rows is at
        if not isinstance(statement, Loop):
            expressions = statement.shape if isinstance(statement, Allocate) else (statement.value, *statement.indices)
            if any(reads(e) or counts(e) for e in expressions):
                refuse(statement.line, "it uses the rows of the chunked data outside a loop over them")
            continue
        loop = statement
        stop = sp.sympify(loop.stop).xreplace(definitions)
        expressions = list(_expressions(loop.body, definitions)) + [
            (sp.sympify(e).xreplace(definitions), loop.line) for c in loop.carried for e in (c.initial, c.next)]
        if not any(reads(e) or counts(e) for e, _ in expressions + [(stop, loop.line)]):
            continue  # a loop that does not touch the rows (over the parameters, say)
        if loop.start != 0 or loop.step != 1 or stop not in rows:
            refuse(loop.line, f"a loop reading the chunked data runs over range({loop.start}, {stop}, {loop.step}); "
                              "it must visit every row once: range(X.shape[0]) or range(len(y))")
        for expr, line in expressions:
            for read in sp.sympify(expr).atoms(sp.Indexed):
                if read.base not in bases and loop.index in sp.Tuple(*read.indices).free_symbols:
                    refuse(line, f"it reads {read} with the row index, but {read.base} is not chunked: pass it as a "
                                 "dask array too, chunked like the others")
            for read in reads(expr):
                if read.indices[0] != loop.index:
                    refuse(line, f"it reads {read}, and a loop over the rows may read only the row it is at "
                                 f"({read.base}[{loop.index}, ...]): another row may be in another chunk")
            if counts(expr):
                refuse(line, "it uses the number of rows inside the loop over them; a chunk knows only its own")
            if sp.sympify(expr).free_symbols & results:
                refuse(line, f"it uses {sorted(map(str, sp.sympify(expr).free_symbols & results))[0]}, a sum over "
                             "the rows made by an earlier loop, which a chunk knows only in part")
        for store in (s for s in walk(loop.body) if isinstance(s, Store) and s.base in bases):
            if store.accumulate or store.indices[0] != loop.index:
                refuse(store.line, f"it writes {store.base}[{', '.join(map(str, store.indices))}], and a loop over the "
                                   f"rows may write only the row it is at of an array of rows")
        if not sums_only(_without_stores(loop, bases)):
            refuse(loop.line, "its iterations carry a value from one row to the next that is not a sum (a recurrence, "
                              "a product, a running maximum) or write a local array, so chunks cannot run apart")
        for carried in loop.carried:
            if not sp.sympify(carried.initial).xreplace(definitions).is_zero:
                refuse(loop.line, f"a sum over the rows starts at {carried.initial}, not 0: every chunk would add it "
                                  "again; add it to the result after the loop")
        results |= {carried.result for carried in loop.carried}
    output = sp.sympify(program.outputs[0]).xreplace(definitions)
    if reads(output):
        refuse(None, f"the returned value reads {reads(output)[0]} outside a loop over the rows")
    # output = (sums over the rows) [/ rows] + rest, the rest free of the rows (a penalty on the parameters)
    rest = output.xreplace({r: 0 for r in results})
    sums = output - rest
    if counts(rest):
        refuse(None, f"the returned value adds {rest}, which uses the number of rows outside the sum over them; a "
                     "chunk knows only its own")
    used = counts(sums)
    numerator = sums
    if used:
        count = used.pop()
        numerator = sp.Add(*(term * count for term in sp.Add.make_args(sums)))
        if used or counts(numerator):
            refuse(None, f"the returned value {output} uses the number of rows other than as one division of the "
                         "sum over the rows (a mean: return s / len(y))")
    if any(sp.diff(numerator, r).free_symbols & results for r in results):
        refuse(None, f"the returned value {output} is not a sum of the sums over the rows (times constants)")
    mean = bool(counts(sums))
    arguments, chunk_loss = program.arguments, numerator
    if not sp.sympify(rest).is_zero:
        # The rest is added by one chunk alone, with weight 1 (a sum) or the total number of rows (a mean, divided
        # by it at the end); the others weigh it 0 and do not evaluate it (0 * inf would be nan).
        share = sp.Symbol(REST_SHARE, real=True)
        arguments = arguments + [Argument(REST_SHARE, share)]
        chunk_loss = numerator + sp.Piecewise((share * rest, sp.Ne(share, 0)), (0, True))
    # Reverse mode seeds the adjoint of the returned symbol: the new result is assigned to one.
    result = sp.Symbol("_chunk_loss", real=True)
    body = program.body + [Assign(result, chunk_loss, line=program.line)]
    return dataclasses.replace(program, arguments=arguments, body=body, outputs=[result]), mean, \
        not sp.sympify(rest).is_zero


def _without_stores(loop, bases):
    """`loop` without its stores into the arrays of `bases` (the row arrays its rows fill: each chunk has its own
    rows of them, so they do not tie one chunk to another), for `sums_only` to judge the rest."""
    import dataclasses

    from .ir import Loop, Store

    body = [_without_stores(s, bases) if isinstance(s, Loop) else s for s in loop.body
            if not (isinstance(s, Store) and s.base in bases)]
    return dataclasses.replace(loop, body=body)


def _expressions(statements, definitions):
    """Every expression a statement list evaluates, with its line, definitions substituted."""
    import sympy as sp

    from .ir import Assign, Loop, Store

    for statement in statements:
        if isinstance(statement, Assign):
            yield statement.value.xreplace(definitions), statement.line
        elif isinstance(statement, Store):
            for expr in (statement.value, *statement.indices):
                yield sp.sympify(expr).xreplace(definitions), statement.line
        elif isinstance(statement, Loop):
            for expr in (statement.start, statement.stop, statement.step,
                         *(e for c in statement.carried for e in (c.initial, c.next))):
                yield sp.sympify(expr).xreplace(definitions), statement.line
            yield from _expressions(statement.body, definitions)


# --- on the workers ------------------------------------------------------------------------------------------
_kernels = {}  # (hash of the module text, kernel name) -> dispatcher: compiled once per worker process
_kernels_lock = threading.Lock()


def _worker_kernel(digest, text, name):
    """Kernel `name` of the shipped module text, compiled once per process from the worker's own cache directory
    (the client's is never read): stored there under the hash of its text, so an entry found is that text."""
    from .jit import compile_kernel

    with _kernels_lock:
        if (digest, name) not in _kernels:
            module = cache.load(digest)
            if module is not None and module.SOURCE != text:
                cache.discard(digest, "its text is not the text shipped under its hash")
                module = None
            module = module or cache.store(digest, text)
            _kernels[digest, name] = compile_kernel(module, name, nogil=True)  # chunks on the scheduler's threads
        return _kernels[digest, name]


def _shipped(digest, text):
    """The module text as one graph key: Dask sends it to each worker once, not once per chunk."""
    return digest, text


def _evaluate(payload, name, *args):
    """The kernel on one chunk of rows: its (partial sum, partial gradient)."""
    kernel = _worker_kernel(*payload, name)
    return kernel(*(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in args))


def _added(*parts):
    """The sum of partial results: floats, arrays, and tuples of them, element by element."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_added(*items) for items in zip(*parts))
    total = first.copy() if isinstance(first, np.ndarray) else first
    for part in parts[1:]:
        total = total + part
    return total


def _divided(result, count):
    """A mean's result: the sums divided once by the number of rows (`count` None: a sum, as it is)."""
    if count is None:
        return result
    if isinstance(result, tuple):
        return tuple(_divided(item, count) for item in result)
    return result / count


# --- the transform -----------------------------------------------------------------------------------------
class DaskTransform:
    """A gradient over `dask.array` data: called with the function's arguments, where the data arguments may be
    dask arrays chunked by rows, it returns what the in-memory transform returns (``compute=False``: a
    `dask.delayed` object computing it)."""

    def __init__(self, function, wrt, mode, parallel=False, optimize=True, method="auto", split_every=SPLIT_EVERY):
        self.transform = api.Transform(function, wrt, mode, parallel, optimize, method)
        self.fun, self.wrt, self._mode = function, self.transform.wrt, mode
        self.split_every = int(split_every)
        if self.split_every < 2:
            raise ValueError(f"split_every={split_every!r}: a tree reduction adds at least 2 parts per task")
        # (chunked argument names, array ranks) -> (hash of the text, text, whether a mean, the part outside the
        # sums, kinds, the module: its FOLDED module-level numbers and helpers are checked at each call)
        self._modules = {}
        self._lock = threading.RLock()
        self.__name__, self.__doc__ = function.__name__, function.__doc__

    def __call__(self, *args, compute=True, **keywords):
        import dask
        import dask.array as da

        args = api._positional(self.fun, args, keywords)
        names = list(inspect.signature(self.fun).parameters)
        chunked = tuple(name for name, value in zip(names, args) if isinstance(value, da.Array))
        if not chunked:
            result = self.transform(*args)
            return result if compute else dask.delayed(result)
        observed = tuple((name, api._observed_kind(value)) for name, value in zip(names, args)
                         if isinstance(value, (np.ndarray, da.Array)))
        digest, text, mean, rest, kinds = self._module(chunked, observed)
        arrays = _aligned(self.fun.__name__, dict(zip(names, args)), chunked, dict(zip(names, kinds)))
        for name, kind, value in zip(names, kinds, args):
            problem = None if name in chunked else api._argument_problem(kind, value)
            if problem:
                raise TypeError(f"{self.fun.__name__}(): argument {name!r} {problem}")
        # Keys of their own for each call (pure=False): a call repeated while Dask still releases the previous
        # call's keys would otherwise wait on them (distributed reschedules it).
        payload = dask.delayed(_shipped, pure=False)(digest, text)
        blocks = {name: arrays[name].to_delayed().reshape(arrays[name].numblocks[0], -1)[:, 0] for name in chunked}
        shared = {name: dask.delayed(value, pure=False) if isinstance(value, np.ndarray) else value
                  for name, value in zip(names, args) if name not in chunked}
        count = arrays[chunked[0]].shape[0]
        shares = [[(count if mean else 1.0) if k == 0 else 0.0] if rest else [] for k in range(len(blocks[chunked[0]]))]
        parts = [dask.delayed(_evaluate, pure=False)(
                     payload, self._mode, *(blocks[name][k] if name in chunked else shared[name] for name in names),
                     *shares[k])
                 for k in range(len(blocks[chunked[0]]))]
        while len(parts) > 1:
            parts = [dask.delayed(_added, pure=False)(*parts[k:k + self.split_every])
                     for k in range(0, len(parts), self.split_every)]
        total = dask.delayed(_divided, pure=False)(parts[0], count if mean else None)
        return total.compute() if compute else total

    def _module(self, chunked, observed):
        """(hash, text, is a mean, argument kinds) of the per-chunk module for this set of chunked arguments and
        the ranks of the arrays passed (`observed`, which decide the kinds the body leaves open, as
        `Transform._observe`): from the client's cache, or derived (the check of the rule runs then, and a refusal
        is never stored); derived again when a module-level number or helper it folded in has changed."""
        with self._lock:
            entry = self._modules.get((chunked, observed))
            if entry is not None and entry[5].FOLDED and module_values.current(self.fun, entry[5]) is None:
                del self._modules[chunked, observed]  # (a module-level number or helper changed: derive again)
            if (chunked, observed) not in self._modules:
                t = self.transform
                options = (t.parallel, tuple(sorted(t.passes)), t.method, "sum over the rows of", chunked, observed)
                key = cache.derivation_key(t.fun, t._positions, t._as_tuple, options)
                module = cache.load(key)
                if module is None:
                    found = []

                    def rewrite(program):
                        refusal = module_values.not_passed("symgrad.dask", program.name, program.passed_globals)
                        if refusal:
                            raise refusal
                        program, mean, rest = row_sum_rewrite(program, chunked, t.wrt)
                        found.append((mean, rest))
                        return program

                    derivation = api._derive(t.fun, t.wrt, t._as_tuple, t.parallel, t.passes, t.method, rewrite,
                                             observed)
                    mean, rest = found[0]
                    text = derivation.module_text + (f"\nMEAN_OF_ROWS = {mean!r}  # symgrad.dask divides once\n"
                                                     f"REST = {rest!r}  # a part outside the sums: one chunk adds it\n")
                    module = cache.store(key, text)
                text = module.SOURCE
                digest = hashlib.sha256(text.encode()).hexdigest()[:24]
                self._modules[chunked, observed] = (digest, text, module.MEAN_OF_ROWS, module.REST, module.KINDS,
                                                    module)
            return self._modules[chunked, observed][:5]

    def __repr__(self):
        return f"<symgrad.dask.{self._mode} of {self.fun.__name__} wrt {', '.join(self.wrt)}>"


def _aligned(function, arguments, chunked, kinds):
    """The chunked arguments as dask arrays of float64 whose chunks hold whole rows, the same rows in each:
    chunks along another axis are merged (with a `RechunkWarning`), and the row chunks follow the first's."""
    result, first = {}, chunked[0]
    for name in chunked:
        array = arguments[name]
        ndim = {"array1": 1, "array2": 2}.get(kinds[name], 0)
        where = f"{function}(): argument {name!r}"
        if array.ndim != ndim:
            raise TypeError(f"{where} must be a {ndim}-D float64 array, got a dask array of shape {array.shape}"
                            if ndim else f"{where} is a {kinds[name]}, not an array: pass a number")
        if array.dtype != np.float64:
            raise TypeError(f"{where} must be a float64 array, got dtype {array.dtype}: pass x.astype(float)")
        if any(np.isnan(size) for size in array.shape):
            raise ValueError(f"{where} has unknown chunk sizes: call .compute_chunk_sizes() first")
        if array.ndim == 2 and array.numblocks[1] > 1:
            warnings.warn(f"symgrad.dask: {where} is chunked along axis 1 ({array.numblocks[1]} chunks); a chunk "
                          "must hold whole rows, so it is rechunked with .rechunk({1: -1}): chunk it by rows "
                          "to avoid the copy", RechunkWarning, stacklevel=3)
            array = array.rechunk({1: -1})
        if array.shape[0] != arguments[first].shape[0]:
            raise ValueError(f"{where} has {array.shape[0]} rows, but argument {first!r} has "
                             f"{arguments[first].shape[0]}: the chunked arguments must have the same rows")
        if name != first and array.chunks[0] != result[first].chunks[0]:
            array = array.rechunk({0: result[first].chunks[0]})
        result[name] = array
    return result


def value_and_grad(function=None, wrt=0, parallel=False, optimize=True, method="auto", split_every=SPLIT_EVERY):
    """`symgrad.value_and_grad` over dask arrays chunked by rows: ``(value, gradient)`` with a float value.

    `function` must be a sum over the rows of its chunked arguments, or such a sum divided by their number (a
    mean); anything else raises `RowSumError` naming the line.  ``parallel=True`` runs each chunk's loop on the
    worker's Numba threads; `split_every` partial results are added per task."""
    if function is None:
        return lambda f: DaskTransform(f, wrt, "value_and_grad", parallel, optimize, method, split_every)
    return DaskTransform(function, wrt, "value_and_grad", parallel, optimize, method, split_every)


def grad(function=None, wrt=0, parallel=False, optimize=True, method="auto", split_every=SPLIT_EVERY):
    """`symgrad.grad` over dask arrays chunked by rows (see `value_and_grad`)."""
    if function is None:
        return lambda f: DaskTransform(f, wrt, "grad", parallel, optimize, method, split_every)
    return DaskTransform(function, wrt, "grad", parallel, optimize, method, split_every)
