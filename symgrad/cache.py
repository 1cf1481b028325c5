"""The derivation cache: generated kernel modules on disk, named by a hash of everything they derive from.

A second process that decorates the same function finds the module by its key and loads it without
importing SymPy at all; Numba's own ``cache=True`` then finds the compiled machine code beside it.
Module files are written once under their key and never rewritten, because Numba stamps its cache
entries with the source file's mtime and size (DESIGN.md: a rewritten callee leaves cached callers stale).

The cache is input from disk, so every file starts with the SHA-256 of the rest and is checked before it is
executed; whatever fails the check or does not execute is deleted (with Numba's files beside it) and
recomputed, with one `CacheWarning`.  Files are written atomically with mode 0600, into a directory created
0700; a directory owned by another user or writable by others is refused, and an unwritable one is replaced,
by a private temporary directory for the process.  One lock serialises loads and stores, and a module is put
in ``sys.modules`` only once it has executed, so no thread sees it half-made.
This module must stay free of SymPy and Numba imports.
"""

import __future__
import ast
import atexit
import contextlib
import dis
import hashlib
import importlib.util
import inspect
import json
import numbers
import os
import pathlib
import shutil
import sys
import sysconfig
import tempfile
import textwrap
import threading
import types
import warnings
import weakref

VERSION = "0.1.0"

# Where a symgrad transform keeps the function it was made from (read by the fingerprint and the frontend).
INLINE_ATTRIBUTE = "__symgrad_function__"

_PACKAGE = pathlib.Path(__file__).resolve().parent


def cache_directory():
    """SYMGRAD_CACHE_DIR, else the user's cache directory (XDG on Linux, Library/Caches on macOS, LOCALAPPDATA)."""
    configured = os.environ.get("SYMGRAD_CACHE_DIR")
    if configured:
        return pathlib.Path(configured)
    if sys.platform == "win32":
        root = pathlib.Path(os.environ.get("LOCALAPPDATA", pathlib.Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        root = pathlib.Path.home() / "Library" / "Caches"
    else:
        root = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return root / "symgrad"


def _referenced_names(code):
    names = set(code.co_names) | set(code.co_freevars)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _referenced_names(constant)
    return names


def _attribute_chains(source):
    """The dotted names ``a.b.c`` the source reads, as tuples: the bytecode keeps only the separate names."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return set()
    chains = set()
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if parts and isinstance(node, ast.Name):
            chains.add((node.id, *reversed(parts)))
    return chains


def _describe(value, label):
    """A stable description of a value a function reads; `label` names a function (see `_function_fingerprint`)."""
    value = getattr(value, INLINE_ATTRIBUTE, value)
    if isinstance(value, types.FunctionType):
        return "function " + label(value)
    if isinstance(value, types.ModuleType):
        return "module " + value.__name__
    if isinstance(value, numbers.Number):
        return describe_number(value)
    if isinstance(value, (list, tuple)) or hasattr(value, "ndim"):  # (a module-level array passed at each call:
        return f"{type(value).__name__} of {_axes(value)} axes"  # its values are not part of the key, its rank is)
    if callable(value):
        return f"callable {getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return f"object {type(value).__qualname__}"


def describe_number(value):
    """A number as the key and the call path's check of a module-level number (`api`) both describe it."""
    return f"{type(value).__name__} {value!r}"


_helper_descriptions = weakref.WeakKeyDictionary()  # function -> `describe_helper` (its source is read once)


def describe_helper(value):
    """A module-level helper a function calls, as the call path checks it (`module_values`): the fingerprint of
    its source and all it reaches, so a `def` run again with the same body (a notebook cell) is the same helper
    and one with another body is not.  Anything else is described as a number is."""
    function = getattr(value, INLINE_ATTRIBUTE, value)
    if not isinstance(function, types.FunctionType):
        return describe_number(value)
    described = _helper_descriptions.get(function)  # (every checked call comes here: no lock once described)
    if described is None:
        with _lock:
            described = _helper_descriptions.get(function) or \
                f"function {function.__qualname__} {_function_fingerprint(function)[:24]}"
            _helper_descriptions[function] = described
    return described


def _axes(value):
    """The number of axes of an array, or of a list of numbers (of lists of numbers...) read as one."""
    if hasattr(value, "ndim") and not isinstance(value, type):  # (a class, np.ndarray, has an `ndim` descriptor)
        return value.ndim
    return 1 + _axes(value[0]) if isinstance(value, (list, tuple)) and value else int(isinstance(value, (list, tuple)))


_MISSING = object()


def _function_fingerprint(function):
    """A hash of the source of a function and of every function it reaches, each with its first line (kernel
    messages name lines) and a description of every outside name it reads; a chain through modules
    (`helpers.shape`, `pkg.cfg.SCALE`) is followed to its end.  Neither the file nor the module name is part of
    it: two scripts with the same function share kernels.  The helpers are visited with a work list, not by
    recursion, so a chain of nested helpers as deep as Python runs is no deeper here."""
    labels, pending, digest = {}, [], hashlib.sha256()

    def label(reached):
        if reached not in labels:
            labels[reached] = f"#{len(labels)}"
            pending.append(reached)
        return labels[reached]

    label(function)
    while pending:
        digest.update("\n".join(_own_parts(pending.pop(0), label)).encode() + b"\n\0")
    return digest.hexdigest()


_SOURCE_CHECKED = weakref.WeakKeyDictionary()  # function -> (__code__, the source found to compile to it)


def check_source(function, source):
    """Raise `StaleSourceError` when `source` (what inspect reads for `function`) does not compile to the
    function's own code: the file was edited since the function was defined, or its __code__ was replaced by code
    from elsewhere.  Checked once per function object, code object and source text (a compile of the definition:
    well under a millisecond for a page of source); a source that does not compile on its own (a lambda inside a
    call) passes, and so does a function of a module whose asserts pytest rewrote (its code is not its source's)."""
    try:  # (inspect reads the source of the function a decorator wrapped, through __wrapped__)
        code = inspect.unwrap(function).__code__
    except (AttributeError, ValueError):
        return
    if _SOURCE_CHECKED.get(function) == (code, source):  # (`is` for the code, then a string comparison)
        return
    text = textwrap.dedent(source)
    if code.co_freevars:  # (a closure: compiled inside a function that defines its free names, as where it stands)
        text = (f"def _symgrad_enclosing():\n    {' = '.join(code.co_freevars)} = None\n"
                + textwrap.indent(text, "    ") + f"\n    return {code.co_name}\n")
    try:  # (with the `from __future__` flags the code was compiled with: `annotations` changes a nested def's code)
        compiled = compile(text, code.co_filename, "exec", flags=code.co_flags & _FUTURE_FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError):
        compiled = None
    found = _code_named(compiled, code.co_name) if compiled is not None else None
    rewritten = "@pytest_ar" in getattr(function, "__globals__", {})  # (pytest rewrote the module's asserts)
    if found is not None and not rewritten and _code_shape(found) != _code_shape(code):
        from .errors import StaleSourceError

        filename = inspect.getsourcefile(function) or code.co_filename
        raise StaleSourceError(
            f"the source of {function.__name__}() at {filename}:{code.co_firstlineno} does not match the function "
            f"object: the file was edited after {function.__name__} was defined, or its __code__ was replaced; run "
            f"the definition again (reload the module, re-run the cell) so that the function and its source agree")
    _SOURCE_CHECKED[function] = (code, source)


_FUTURE_FLAGS = sum(getattr(__future__, feature).compiler_flag for feature in __future__.all_feature_names)


def _code_named(code, name):
    """The first code object named `name` inside `code` (breadth first), or None."""
    pending = [code]
    while pending:
        current = pending.pop(0)
        if current.co_name == name and current is not code:
            return current
        pending += [c for c in current.co_consts if inspect.iscode(c)]
    return None


def _code_shape(code):
    """What two compilations of the same definition share wherever it stands: its instructions and their
    arguments, without line numbers or jump offsets.  A method call compiles to LOAD_METHOD or to LOAD_ATTR (with
    a PUSH_NULL) as the module imported the name or not (`np.sum`), which the definition compiled alone cannot
    know: the two are taken for one."""
    instructions = []
    for instruction in dis.get_instructions(code):
        if instruction.opname in _LEFT_OUT:
            continue
        if instruction.opcode in _JUMPS:
            argument = None
        elif inspect.iscode(instruction.argval):
            argument = _code_shape(instruction.argval)
        else:
            argument = _constant_text(instruction.argval)
        instructions.append((_SAME_OPERATION.get(instruction.opname, instruction.opname), argument))
    return tuple(instructions), code.co_varnames, code.co_argcount, code.co_kwonlyargcount


def _constant_text(value):
    """`repr(value)`, but a set's elements in sorted order: a frozenset constant (``x in {"a", "b"}``) iterates in
    an order that hangs on its strings' hashes, which differ between the process that wrote a module's .pyc and
    this one, so the same definition printed its constant two ways (a StaleSourceError seen once in 2,000 tests)."""
    if isinstance(value, (frozenset, set)):
        return f"{type(value).__name__}({sorted(_constant_text(v) for v in value)})"
    if isinstance(value, tuple):
        return f"({', '.join(_constant_text(v) for v in value)},)"
    return repr(value)


_JUMPS = frozenset(dis.hasjrel + dis.hasjabs)
_SAME_OPERATION = {"LOAD_METHOD": "LOAD_ATTR"}
_LEFT_OUT = frozenset({"PUSH_NULL", "NOP", "CACHE", "EXTENDED_ARG"})  # (EXTENDED_ARG: a longer jump)


IMPORTED = "import "  # how a path starts (`Frame.global_path`) at what an import inside the function binds


def imported(dotted):
    """What `import a.b` / `from a import b` binds, by its dotted path: a module, or an attribute of one
    (`scipy.special.expit`); ImportError as Python's import statement raises it."""
    try:
        return importlib.import_module(dotted)
    except ImportError:
        module, _, attribute = dotted.rpartition(".")
        if not module:
            raise
        found = importlib.import_module(module)
        if not hasattr(found, attribute):
            raise ImportError(f"cannot import name {attribute!r} from {module!r}") from None
        return getattr(found, attribute)


def import_bindings(statement):
    """`(name, dotted path)` of each name an `import` statement binds (`("np", "numpy")` for `import numpy as
    np`, `("expit", "scipy.special.expit")` for `from scipy.special import expit`); none for a relative or `*`
    import."""
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            top = alias.name.split(".")[0]
            yield (alias.asname, alias.name) if alias.asname else (top, top)
    elif isinstance(statement, ast.ImportFrom) and not statement.level:
        for alias in statement.names:
            if alias.name != "*":
                yield alias.asname or alias.name, f"{statement.module}.{alias.name}"


_INSTALLED = tuple({os.path.join(sysconfig.get_paths()[key], "") for key in ("stdlib", "platstdlib", "purelib",
                                                                             "platlib")})


def installed(function):
    """Whether `function` is installed code (the standard library, site-packages): its own imports are not
    followed, which would import what a library imports lazily (SciPy's helpers import JAX where it is there)
    and walk into it; the user's code, editable installs included, lies elsewhere."""
    return function.__code__.co_filename.startswith(_INSTALLED)


def _local_imports(source):
    """What the `import` statements inside a function's source bind: name -> dotted path."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return {}
    return dict(binding for node in ast.walk(tree) for binding in import_bindings(node))


def _own_parts(function, label):
    """What one function contributes to the fingerprint; the functions it reads are named by `label`."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = None
    if source is not None:
        check_source(function, source)
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
    local = {} if installed(function) else _local_imports(source or "")

    def outside(name):
        if name in cells:
            try:
                return cells[name].cell_contents
            except ValueError:
                return _MISSING
        if name in local:  # (`from cfg import SCALE` inside the function: the value it reads at each call)
            try:
                return imported(local[name])
            except ImportError:
                return _MISSING
        return function.__globals__.get(name, _MISSING)  # missing: an attribute name or a builtin

    defaults = (function.__defaults__ or ()) + tuple((function.__kwdefaults__ or {}).values())
    parts = [label(function), source or function.__code__.co_code.hex(), f"line {function.__code__.co_firstlineno}"]
    parts += [_describe(d, label) for d in defaults]
    for name in sorted(_referenced_names(function.__code__)):
        value = outside(name)
        if value is not _MISSING:
            parts.append(f"{name}={_describe(value, label)}")
    for chain in sorted(_attribute_chains(source or "")):
        value = outside(chain[0])
        for attribute in chain[1:]:
            if not isinstance(value, types.ModuleType):
                break
            value = getattr(value, attribute, _MISSING)
        else:
            if value is not _MISSING:
                parts.append(f"{'.'.join(chain)}={_describe(value, label)}")
    return parts


def _package_fingerprint():
    """symgrad's own source: a change to any stage (or to the runtime the kernels call) derives anew."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def derivation_key(function, wrt, gradient_as_tuple, options=()):
    """The name of the kernels for (function and all it reads, wrt, result shape, options, symgrad's source)."""
    fingerprint = _function_fingerprint(function)
    text = f"{VERSION}|{_package_fingerprint()}|{fingerprint}|{tuple(wrt)}|{gradient_as_tuple}|{options!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# --- the directory ---------------------------------------------------------------------------------------
class CacheWarning(UserWarning):
    """The derivation cache could not be used as found: an entry failed its check (and is recomputed), or the
    directory is unwritable or not private to this user (kernels then go to a private temporary directory)."""


class KernelCompileError(RuntimeError):
    """symgrad wrote a kernel that Numba does not compile: a bug in symgrad, never in the user's code.  The message
    names the function and the kernel and keeps Numba's first line; `.numba_error` holds Numba's exception."""

    def __init__(self, function, kernel, numba_error):
        first_line = str(numba_error).strip().splitlines()[0] if str(numba_error).strip() else ""
        super().__init__(f"symgrad could not compile the {kernel} kernel it generated for {function}() "
                         f"({type(numba_error).__name__}: {first_line[:200]}). This is a bug in symgrad: please "
                         "report it with the function's source; `.source()` shows the generated module.")
        self.numba_error = numba_error


_lock = threading.RLock()
_refusals = {}  # configured directory -> why it is not used (None: it is used); each refusal is warned once
_unwritable = set()  # directories a write failed in (warned once each)
_private = []  # the process's private temporary directory, made on first need


def _warn(message):
    warnings.warn(f"symgrad: {message}", CacheWarning, stacklevel=4)


def _private_directory():
    if not _private:
        _private.append(pathlib.Path(tempfile.mkdtemp(prefix="symgrad_private_cache_")))  # created 0700
        atexit.register(shutil.rmtree, _private[0], True)
    return _private[0]


def _refusal(directory):
    """Why `directory` must not hold code this process executes (Numba's files there are pickles), or None."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = directory.stat()
    except OSError as error:
        return f"it cannot be created ({error.strerror})"
    if not hasattr(os, "getuid"):
        return None
    if status.st_uid != os.getuid():
        return "it is owned by another user"
    if status.st_mode & 0o022:
        return "users other than its owner can write to it"
    return None


def active_directory():
    """The configured cache directory when it is private to this user, else a private temporary one."""
    configured = cache_directory()
    with _lock:
        if configured not in _refusals:
            _refusals[configured] = _refusal(configured)
            if _refusals[configured]:
                _warn(f"not using the cache directory {configured}: {_refusals[configured]}; kernels go to a "
                      "private temporary directory for this process")
        return _private_directory() if _refusals[configured] else configured


# --- entries: sealed with their own hash, written once, verified before use -----------------------------------
_SEAL = "# symgrad sha256 "


def _sealed(text):
    """The file content: a first line with the SHA-256 of the text, then the text."""
    return f"{_SEAL}{hashlib.sha256(text.encode()).hexdigest()}\n{text}"


def _read_verified(path):
    """The text of the entry at `path` when its hash matches; a mismatch deletes it with a warning. None if absent."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    seal, _, body = data.partition(b"\n")
    if seal == f"{_SEAL}{hashlib.sha256(body).hexdigest()}".encode():
        return body.decode()
    _remove(path)
    _warn(f"discarded the corrupt cache entry {path.name} (its content does not match its hash); recomputing it")
    return None


def _write_once(path, text):
    """Write `text` sealed and atomically as `path` (mode 0600) unless a sound entry is there; the text `path`
    now holds, or None when it cannot be replaced.  A sound entry is never rewritten: Numba stamps its cache with
    the module's mtime and size."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(_sealed(text))
        for _ in range(2):  # a corrupt entry in the way is deleted by the check, then the link is tried again
            try:
                os.link(temporary, path)
                return text
            except FileExistsError:
                existing = _read_verified(path)
                if existing is not None:
                    return existing
            except OSError:  # a file system without hard links
                os.replace(temporary, path)
                return text
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _store_file(name, text):
    """Write an entry into the active directory, else (unwritable: one warning) the private one; its path and
    the text it holds (another process may have written it first).  The path is None when no disk takes it."""
    directory = active_directory()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stored = _write_once(directory / name, text)
        if stored is not None:
            return directory / name, stored
        problem = "an entry there cannot be replaced"
    except OSError as error:
        problem = f"it cannot be written ({error.strerror})"
    if directory not in _unwritable:
        _unwritable.add(directory)
        _warn(f"the cache directory {directory}: {problem}; kernels go to a private temporary directory")
    try:
        private = _private_directory()
        return private / name, _write_once(private / name, text)
    except OSError:
        return None, text


def _remove(path):
    with contextlib.suppress(OSError):
        path.unlink()


def _module_name(key):
    return f"symgrad_{key}"


def _execute(name, path, text):
    """Run verified text as the module `name` (from `path`, or only in memory when it is None); it enters
    sys.modules only once it has run."""
    spec = importlib.util.spec_from_file_location(name, path) if path else importlib.util.spec_from_loader(name, None)
    module = importlib.util.module_from_spec(spec)
    filename = str(path) if path else f"<{name}>"
    exec(compile(text, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 (verified above)
    module.SOURCE = text  # what was verified and run, whatever happens to the file later
    sys.modules[name] = module  # Numba's cache loader imports the module by name
    return module


def load(key):
    """The cached kernel module for `key`, or None; an entry that fails its check or its execution is deleted."""
    name = _module_name(key)
    with _lock:
        if name in sys.modules:
            return sys.modules[name]
        path = active_directory() / f"{name}.py"
        text = _read_verified(path)
        if text is None:
            return None
        try:
            return _execute(name, path, text)
        except Exception as error:  # noqa: BLE001 (whatever it is, the entry is recomputed)
            discard(key, f"it does not execute ({type(error).__name__}: {error})"[:300])
            return None


def store(key, text):
    """Write the module for `key` (atomically, once) and load it."""
    name = _module_name(key)
    with _lock:
        path, stored = _store_file(f"{name}.py", text)
        try:
            return _execute(name, path, stored)
        except BaseException:
            if path:
                _remove(path)
            raise


def discard(key, reason):
    """Forget the entry for `key`: its module, its file and Numba's files beside it, with one warning."""
    name = _module_name(key)
    with _lock:
        module = sys.modules.pop(name, None)
        directory = pathlib.Path(module.__file__).parent if getattr(module, "__file__", None) else active_directory()
        for path in [directory / f"{name}.py", *(directory / "__pycache__").glob(f"{name}.*")]:
            _remove(path)
    _warn(f"discarded the cache entry {name}: {reason}; recomputing it")


def load_display(key):
    """The rendered formulas of `key` (a dict) stored by an earlier process, or None."""
    with _lock:
        text = _read_verified(active_directory() / f"{_module_name(key)}.display.json")
    return None if text is None else json.loads(text)


def store_display(key, fields):
    """Keep the rendered formulas beside the module, so a later process shows them without SymPy."""
    with _lock:
        _store_file(f"{_module_name(key)}.display.json", json.dumps(fields))


KERNEL_NAMES = ("value", "grad", "value_and_grad")

MODULE_TEMPLATE = '''"""symgrad kernels of {name}().

Generated code, named by a hash of what it derives from and sealed by a hash of its text; symgrad never rewrites it.
"""
import math

import numpy as np
{imports}
NAME = {name!r}
ARGUMENTS = {arguments!r}
KINDS = {kinds!r}
WRT = {wrt!r}
PASSED = {passed!r}
FOLDED = {folded!r}


{kernels}
'''


def module_text(**fields):
    """The generated module: metadata that the cached path reads without SymPy, then the kernels."""
    return MODULE_TEMPLATE.format(**fields)
