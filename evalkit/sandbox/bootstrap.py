"""The code that runs first in every sandboxed process, before and after the program.

This file is not imported by the harness: its *text* is passed to ``python -I -c``, so it must use
the standard library only and stay valid for whichever Python 3.8+ runs the programs. The harness
starts ``python -I -c <this text> STATUS_FD CPU_S AS_BYTES FSIZE_BYTES NPROC NOFILE [TAG]``, writes
``<nonce>\\n<program source>`` to its stdin and closes it.

What it does, in order:

1. Lower its own resource limits, soft and hard (any process may lower them; nothing it runs can
   raise them again). They are set here rather than in a ``preexec_fn``, which is unsafe in the
   harness's worker threads; the interpreter start-up before this point runs no program code.
2. Read the nonce and the program from stdin, then point stdin at ``/dev/null``: the program can
   never read the nonce from stdin, and the nonce is never in a file, argv or the environment.
3. Install an audit hook (hooks cannot be removed). The nonce, a snapshot of ``builtins`` and the
   guard's state live only in the hook's closure. The hook refuses, and records as tampering, what
   could reach that closure or rewrite control flow -- tracing and profiling hooks, ``gc`` object
   walks, other threads' frames, more audit hooks, ``ctypes``, reading ``/proc/*/mem`` -- and what
   could fool step 4: forging code objects; importing, or opening the files of, modules made to
   compare equal to anything (CPython's ``test`` package with ``test.support.ALWAYS_EQ``,
   ``unittest.mock`` with ``mock.ANY``); compiling code under a library file name unless it is
   that file's own text (what the import system does). Tampering is written to the status pipe
   *at once* (``T<reason>``), so a program that exits right after it cannot hide it.
4. Compile the program with every ``assert`` instrumented: each value computed inside an assert
   must be plain data, checked right before it is used (builtins must be intact at that moment
   too). A value is not plain when a heap class in its type's MRO has comparison, truth,
   arithmetic or container behaviour it may not have: a class the program wrote or made with
   ``type()`` may have none; a library class only its own methods, whose code is *verified*
   library code (equal to code compiled from the file it names, see ``_make_provenance``, since a
   name alone can be forged) running on its module's globals. What a library object holds must be
   plain too (a ``UserString`` wrapping an object that equals everything is not). An object whose
   ``__eq__`` always returns True is not a correct answer, yet it passes the usual HumanEval
   harnesses; ``os.environ``, ``Counter``, ``Fraction``, enums and named tuples stay usable.
5. Run the program as ``__main__`` (``S`` was written on the status pipe once the program was read:
   the sandbox started, so from then on a failure is the program's).
   Only if the program *returns normally* does this code raise the ``evalkit.done`` audit event;
   the hook accepts it only from this very frame, checks that ``builtins``, the program's
   ``__builtins__`` and its functions' builtins were not replaced and no tracer is installed, and
   only then writes ``P<nonce>\\n``.

The harness passes a program only when the status pipe holds exactly ``SP<nonce>\\n`` and the exit
status is 0. ``sys.exit(0)`` or ``os._exit(0)`` before the checks, a closed stdout, a killed parent
or a printed guess therefore all fail. This raises the bar for cheating; it does not make cheating
impossible: code running in the same process can, with enough effort (a signal handler that fires
inside the hook, ``/proc/self/mem`` through an unusual path), recover the nonce, and a program that
rebinds a name inside a library module (``fractions.math = ...``) changes what that module's genuine
code computes. The sandbox's hard guarantees are about the host, not about the score of a
determined adversary.
"""

import sys

_PROGRAM_NAME = "<program>"
_CHECKER_NAME = "__evalkit_plain__"
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: the class was created at run time (class statement or type())
_TRACEBACK_FRAMES = 50  # innermost frames shown: formatting a million-deep recursion outlasts any timeout

# Dunders that cannot change what a comparison, a truth test or arithmetic in an assert computes.
_BENIGN_DUNDERS = frozenset({
    "__module__", "__qualname__", "__doc__", "__slots__", "__dict__", "__weakref__", "__annotations__",
    "__init__", "__new__", "__init_subclass__", "__class_getitem__", "__subclasshook__", "__set_name__",
    "__match_args__", "__repr__", "__str__", "__format__", "__dir__", "__sizeof__", "__hash__",
    "__getnewargs__", "__getnewargs_ex__", "__getstate__", "__setstate__", "__reduce__", "__reduce_ex__",
    "__copy__", "__deepcopy__", "__del__", "__enter__", "__exit__", "__firstlineno__",
    "__static_attributes__", "__orig_bases__", "__parameters__", "__type_params__", "__abstractmethods__",
    "__dataclass_fields__", "__dataclass_params__", "__post_init__", "__classcell__",
})

# Modules whose purpose is to compare equal (or unequal, or larger) to anything: CPython's own
# test-support package (``test.support.ALWAYS_EQ``, ``NEVER_EQ``, ``LARGEST``...), ``unittest.mock.ANY``
# and its third-party twins. Refused by import name and by file: a library file under one of the
# package parts below, or one of the named modules, can be neither imported, opened nor trusted.
_REFUSED_MODULES = frozenset({"test", "unittest.mock", "mock", "dirty_equals"})
_REFUSED_PACKAGE_PARTS = frozenset({"test", "tests", "idle_test"})
_REFUSED_FILES = frozenset({"unittest/mock.py", "mock.py", "mock/__init__.py", "dirty_equals/__init__.py"})
# functools.total_ordering fills a library class's missing comparisons with these: each only calls
# the class's own comparisons, so it is as trustworthy as they are.
_DERIVED_COMPARISONS = frozenset(f"_{a}_from_{b}" for a in ("lt", "le", "gt", "ge") for b in ("lt", "le", "gt", "ge"))

# Audit events that give access to other frames or arbitrary objects, or rewrite control flow.
_REFUSED_EVENTS = frozenset({
    "sys.settrace", "sys.setprofile", "sys._current_frames", "sys.addaudithook",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
})


def _set_limits(argv):
    import resource

    names = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE")
    for name, text in zip(names, argv):
        value = int(text)
        if value < 0:  # the harness asked for no limit of this kind
            continue
        which = getattr(resource, name)
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core file into the work dir


def _read_stdin(os):
    buf = bytearray()
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        buf += chunk
    end = buf.find(b"\n")
    if end < 0:
        raise SystemExit("evalkit bootstrap: no nonce on stdin")
    nonce, source = bytes(buf[:end]), bytes(buf[end + 1:])
    buf[:] = bytes(len(buf))  # do not leave the nonce lying in a buffer the program could find
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return nonce, source


def _library_dirs():
    """Where the interpreter's own modules live (``sys.path`` before the program runs; ``-I`` keeps
    the working directory out of it). Code from these files is not the program's."""
    return tuple(p.rstrip("/") + "/" for p in sys.path if p.startswith("/"))


def _make_provenance(library, os, io, imp):
    """Functions that decide where code really comes from, by content rather than by name.

    A code object's ``co_filename`` is whatever its compiler was told: ``compile(src, "/usr/lib/...")``,
    ``marshal`` or an importlib loader fed a string can all claim a library file. So code counts as
    library code only when it *is* code of that file: equal (same bytecode, constants, names, line
    table; CPython's code equality ignores the file name) to a code object compiled from the file's
    real bytes, or from the frozen module's own code for ``<frozen NAME>``. Library directories are
    read-only in the sandbox, so the program cannot change those bytes.

    Returns ``(genuine, refused_file, refused_module, source_matches)``.
    """
    type_, str_, bytes_, len_, id_ = type, str, bytes, len, id
    code_type = type(_make_provenance.__code__)
    startswith, endswith, split, join = str.startswith, str.endswith, str.split, str.join
    open_code, compile_, get_frozen, getcwd = io.open_code, compile, imp.get_frozen_object, os.getcwd
    refused_modules, refused_parts, refused_files = _REFUSED_MODULES, _REFUSED_PACKAGE_PARTS, _REFUSED_FILES
    Exception_ = Exception
    file_bytes, file_codes, verdicts, keep = {}, {}, {}, []

    def absolute(path):
        # Resolved by hand: posixpath's helpers read module globals that the program can rebind.
        if not startswith(path, "/"):
            path = getcwd() + "/" + path
        parts = []
        for part in split(path, "/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + join("/", parts)

    def library_relative(path):
        """The path relative to its library directory, or None outside them."""
        if type_(path) is bytes_:
            path = path.decode("utf-8", "surrogateescape")
        if type_(path) is not str_:
            return None
        path = absolute(path)
        for root in library:
            if startswith(path, root):
                return path[len_(root):]
        return None

    def refused_file(path):
        rel = library_relative(path)
        if rel is None:
            return False
        parts = split(rel, "/")
        if rel in refused_files or (len_(parts) > 1 and parts[-2] == "__pycache__"
                                    and join("/", parts[:-2] + [split(parts[-1], ".")[0] + ".py"]) in refused_files):
            return True
        for part in parts[:-1]:
            if part in refused_parts:
                return True
        return False

    def refused_module(name):
        if type_(name) is not str_:
            return False
        parts = split(name, ".")
        if name in refused_modules or parts[0] in refused_modules:
            return True
        for part in parts:
            if part in refused_parts:
                return True
        return False

    def read(filename):
        if filename not in file_bytes:
            try:
                handle = open_code(filename)
                try:
                    file_bytes[filename] = handle.read()
                finally:
                    handle.close()
            except Exception_:  # unreadable: not library code
                file_bytes[filename] = None
        return file_bytes[filename]

    def source_matches(source, filename):
        """True when ``source`` (what a ``compile`` call got) is the file's own text."""
        data = read(filename)
        if data is None:
            return False
        if type_(source) is str_:
            try:
                return source == data.decode("utf-8")
            except Exception_:  # not UTF-8: not the file's text
                return False
        return type_(source) is bytes_ and source == data

    def walk(code, into):
        into.add(code)
        for const in code.co_consts:
            if type_(const) is code_type:
                walk(const, into)
        return into

    def codes_of(filename):
        if filename not in file_codes:
            found = None
            try:
                if startswith(filename, "<frozen ") and endswith(filename, ">"):
                    found = walk(get_frozen(filename[8:-1]), set())
                elif library_relative(filename) is not None and not refused_file(filename):
                    data = read(filename)
                    if data is not None:
                        found = walk(compile_(data, filename, "exec", 0, True), set())
            except Exception_:  # no such frozen module, a syntax error: not library code
                found = None
            file_codes[filename] = found
        return file_codes[filename]

    def genuine(code):
        """True when ``code`` is code of the library file (or frozen module) it names."""
        key = id_(code)
        if key not in verdicts:
            filename = code.co_filename
            codes = codes_of(filename) if type_(filename) is str_ else None
            verdicts[key] = codes is not None and code in codes
            keep.append(code)  # ids stay unique while the verdict is cached
        return verdicts[key]

    return genuine, refused_file, refused_module, source_matches


def _existing_classes(modules):
    """The classes created at run time before the program starts (all of them library code) and the
    module globals then present: ``({id: (qualname, None, class)}, {id of a module's globals})``.

    A class's ``__module__`` may name a re-exporting module (``collections.abc`` for the classes of
    ``_collections_abc``), so its methods' globals are matched against every module of the time.
    """
    heaptype, subclasses = _HEAPTYPE, type.__subclasses__
    flags_of, name_of = type.__dict__["__flags__"].__get__, type.__dict__["__qualname__"].__get__
    found, stack = {}, [object]
    while stack:
        for cls in subclasses(stack.pop()):
            if id(cls) not in found:
                found[id(cls)] = cls
                stack.append(cls)
    existing = {key: (name_of(cls), None, cls) for key, cls in found.items() if flags_of(cls) & heaptype}
    module_globals = {id(vars(m)) for m in list(modules.values()) if type(getattr(m, "__dict__", None)) is dict}
    return existing, module_globals


def _track_classes(builtins, library):
    """Wrap ``__build_class__`` to sort every ``class`` statement by where its body's code says it is.

    Done before the builtins snapshot, so the wrapper is the reference the guard checks against.
    Returns ``(program, claimed)``: the ids of classes written by the program, and for classes whose
    body claims a library file, ``{id: (body code, qualname, module globals, class)}``; the checker
    verifies that claim by content. Classes are kept alive, so an id is never reused.
    """
    original = builtins.__build_class__
    program, claimed, keep = set(), {}, []
    type_, str_, id_, any_, getattr_, startswith = type, str, id, any, getattr, str.startswith

    def __build_class__(func, name, *bases, **kwargs):
        cls = original(func, name, *bases, **kwargs)
        code = getattr_(func, "__code__", None)
        filename = getattr_(code, "co_filename", None)
        if type_(filename) is str_ and (startswith(filename, "<frozen ")
                                        or any_(startswith(filename, d) for d in library)):
            claimed[id_(cls)] = (code, getattr_(code, "co_qualname", name), getattr_(func, "__globals__", None), cls)
        else:
            program.add(id_(cls))
            keep.append(cls)
        return cls

    builtins.__build_class__ = __build_class__
    return program, claimed


def _make_checker(audit, program_classes, claimed, existing, module_globals, genuine, builtins_intact):
    """Return the function every value in an assert passes through (see module docstring, step 4).

    A value is plain unless some heap class in its type's MRO (a class created at run time, not a C
    type) has a behaviour dunder it may not have. A class the program wrote may have none; nor may
    a class made by calling ``type()`` or a metaclass directly. A library class (one that existed
    before the program, or whose ``class`` statement is verified library code) may have C slots and
    its own methods: functions whose code is verified library code, defined in that class's body
    (by the code's qualified name), running on that module's globals -- or the comparisons
    ``functools.total_ordering`` derives. So ``os.environ``, ``Counter`` or ``Fraction`` stay usable
    in asserts, while library functions borrowed from elsewhere do not make a class trustworthy.
    Instances of library classes are plain only if what they hold is (a ``UserString`` wrapping an
    object that equals everything is not).
    """
    # Everything used after the program starts is bound here: the program can reach this module's
    # globals (through frames) and rebind builtins, but not the closure.
    heaptype, benign, derived = _HEAPTYPE, _BENIGN_DUNDERS, _DERIVED_COMPARISONS
    type_, str_, id_, issubclass_, getattr_ = type, str, id, issubclass, getattr
    function_, property_ = type(_library_dirs), property
    bound_method = type(_Probe().probe)
    staticmethod_, classmethod_ = staticmethod, classmethod
    member_descriptor = type(_Probe.__dict__["slot"])
    c_slots = (type(int.__eq__), type(str.join), type(None))  # slot wrappers of C types, and "= None"
    startswith, endswith = str.startswith, str.endswith
    flags_of = type.__dict__["__flags__"].__get__  # read through the real descriptors: a metaclass
    mro_of = type.__dict__["__mro__"].__get__  # of the program's cannot lie about them
    dict_of = type.__dict__["__dict__"].__get__
    name_of = type.__dict__["__qualname__"].__get__
    instance_dict = object.__getattribute__
    sequences = ((list, list.__iter__), (tuple, tuple.__iter__), (set, set.__iter__),
                 (frozenset, frozenset.__iter__))
    dict_items, dict_values = dict.items, dict.values
    proxy_items, proxy_values = type(type.__dict__).items, type(type.__dict__).values  # a class's __dict__
    AssertionError_, Exception_ = AssertionError, Exception
    genuine_globals = set(module_globals)  # grows with each verified library class statement's module

    def owner_of(klass):
        """``(qualname, globals)`` of a library class; None for any other heap class."""
        key = id_(klass)
        if key in program_classes:
            return None
        if key in existing:
            return existing[key][:2]
        if key in claimed:
            code, qualname, module_globals, _ = claimed[key]
            if type_(qualname) is str_ and module_globals is not None and genuine(code):
                genuine_globals.add(id_(module_globals))
                return qualname, module_globals
        return None

    def library_method(value, owner):
        kind = type_(value)
        if kind is staticmethod_ or kind is classmethod_:
            value = value.__func__
        elif kind is property_:
            value = value.fget
        if type_(value) is not function_:
            return type_(value) in c_slots
        code = value.__code__
        if not genuine(code):
            return False
        qualname = getattr_(code, "co_qualname", None)  # Python 3.11+: part of the code, not forgeable
        if type_(qualname) is not str_:
            qualname = value.__qualname__
        run_on = value.__globals__
        known_globals = run_on is owner[1] if owner[1] is not None else id_(run_on) in genuine_globals
        if startswith(qualname, owner[0] + ".") and known_globals:
            return True
        return qualname in derived and endswith(code.co_filename, "functools.py") and id_(run_on) in genuine_globals

    def risky(cls):
        for klass in mro_of(cls):
            if not flags_of(klass) & heaptype:
                continue
            owner = owner_of(klass)
            for name, value in proxy_items(dict_of(klass)):
                if (type_(name) is str_ and name[:2] == "__" and name[-2:] == "__" and name not in benign
                        and (owner is None or not library_method(value, owner))):
                    return f"{name_of(klass)}.{name}"
        return None

    def violation(reason):
        audit("evalkit.violation", reason)
        raise AssertionError_(reason)

    def plain(value):
        problem = builtins_intact()
        if problem is not None:
            violation(f"an assert ran after {problem}")
        stack, walked, held_seen, budget = [(value, False)], set(), set(), 100000
        while stack and budget > 0:
            budget -= 1
            item, held = stack.pop()
            cls = type_(item)
            if held and (cls is function_ or cls is bound_method):
                func = item.__func__ if cls is bound_method else item
                if type_(func) is function_ and not genuine(func.__code__):
                    violation(f"an assert used a library object holding a function the program wrote "
                              f"({func.__qualname__}); answers must be plain data")
                continue
            if flags_of(cls) & heaptype:
                where = risky(cls)
                if where is not None:
                    violation(f"an assert used a value of type {name_of(cls)} whose behaviour the program "
                              f"defines ({where}); answers must be plain data")
                if id_(item) not in held_seen:  # what a library object holds decides what its methods compute
                    held_seen.add(id_(item))
                    try:
                        attributes = instance_dict(item, "__dict__")
                    except Exception_:  # no instance dict (slots only)
                        attributes = None
                    if type_(attributes) is dict:
                        for val in dict_values(attributes):
                            stack.append((val, True))
                    for klass in mro_of(cls):
                        for slot in proxy_values(dict_of(klass)):
                            if type_(slot) is member_descriptor:
                                try:
                                    stack.append((slot.__get__(item, cls), True))
                                except Exception_:  # an unset slot
                                    pass
            if issubclass_(cls, dict):
                if id_(item) not in walked:
                    walked.add(id_(item))
                    for key, val in dict_items(item):
                        stack.append((key, held))
                        stack.append((val, held))
                continue
            for base, iterate in sequences:
                if issubclass_(cls, base):
                    if id_(item) not in walked:
                        walked.add(id_(item))
                        stack.extend((element, held) for element in iterate(item))
                    break
        return value

    return plain


class _Probe:
    """Gives the checker the types of a bound method and a slot descriptor without importing ``types``."""

    __slots__ = ("slot",)

    def probe(self):
        return None


def _instrument(tree):
    """Wrap every value computed inside each ``assert`` test in a call to the checker."""
    import ast

    wrapped = (ast.Call, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript,
               ast.Attribute, ast.Name, ast.NamedExpr, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp,
               ast.SetComp, ast.DictComp, ast.GeneratorExp)

    class Values(ast.NodeTransformer):
        def visit(self, node):
            self.generic_visit(node)
            if not isinstance(node, wrapped):
                return node
            if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
                return node  # assignment targets (walrus, comprehension variables) are not values
            if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
                return node  # x[1:2, 3]: a slice is only valid directly inside the brackets
            call = ast.Call(func=ast.Name(id=_CHECKER_NAME, ctx=ast.Load()), args=[node], keywords=[])
            return ast.copy_location(call, node)

    class Asserts(ast.NodeTransformer):
        def visit_Assert(self, node):
            node.test = Values().visit(node.test)
            return node

    return ast.fix_missing_locations(Asserts().visit(tree))


def _make_builtins_check(builtins):
    """Return a function that says how ``builtins`` differs from now (None: it does not).

    Called by the assert guard before each value it checks, and once more before a pass is reported:
    library code (``Fraction.__eq__``'s ``isinstance``) must not run on replaced builtins either.
    """
    snapshot = dict(builtins.__dict__)
    live = builtins.__dict__
    modules = sys.modules
    type_, str_, len_, missing = type, str, len, object()
    snapshot_items = snapshot.items

    def str_keys(mapping):
        # Looking up a key in a dict may call __eq__ of a colliding key; only exact str keys are safe.
        for key in mapping:
            if type_(key) is not str_:
                return False
        return True

    def builtins_intact():
        if len_(live) != len_(snapshot) or not str_keys(live):
            return "names were added to or removed from builtins"
        for name, value in snapshot_items():
            if live.get(name, missing) is not value:
                return f"builtins.{name} was replaced"
        if not str_keys(modules) or modules.get("builtins") is not builtins:
            return "sys.modules['builtins'] was replaced"
        return None

    return builtins_intact


def _install_guard(os, builtins, nonce, status_fd, namespace, checker, builtins_intact, provenance, library):
    """Install the audit hook that holds the nonce (see module docstring, step 3)."""
    frame = sys._getframe(1)  # the frame of _main: the only place completion may be reported from
    live = builtins.__dict__
    getframe, gettrace, getprofile, write = sys._getframe, sys.gettrace, sys.getprofile, os.write
    # As in _make_checker: nothing the hook uses may be looked up at run time, where the program could
    # have replaced it (and a replaced builtin would run the program's code with this frame on the stack).
    refused, checker_name = _REFUSED_EVENTS, _CHECKER_NAME
    type_, str_, len_, getattr_, function, any_ = type, str, len, getattr, type(_install_guard), any
    startswith = str.startswith
    endswith = str.endswith
    PermissionError_ = PermissionError
    _, refused_file, refused_module, source_matches = provenance
    state = {"done": False, "tainted": False}

    def taint(reason):
        state["tainted"] = True
        try:
            write(status_fd, b"T" + reason.encode("utf-8", "replace")[:300] + b"\n")
        except OSError:  # the program closed the status pipe: the pass marker cannot be written either
            pass

    def str_keys(mapping):
        for key in mapping:
            if type_(key) is not str_:
                return False
        return True

    def claims_library(filename):
        return type_(filename) is str_ and (startswith(filename, "<frozen ")
                                            or any_(startswith(filename, d) for d in library))

    def integrity():
        problem = builtins_intact()
        if problem is not None:
            return problem
        if not str_keys(namespace):
            return "the program's globals hold a non-str name"
        if namespace.get("__builtins__") is not builtins:
            return "the program replaced its __builtins__"
        if namespace.get(checker_name) is not checker:
            return "the program replaced the assert guard"
        for value in namespace.values():
            if type_(value) is function and getattr_(value, "__builtins__", live) is not live:
                return f"function {value.__qualname__} runs with replaced builtins"
        if gettrace() is not None or getprofile() is not None:
            return "a trace or profile function is installed"
        return None

    def hook(event, args):
        if type_(event) is not str_:
            taint("an audit event with a non-str name")
            raise PermissionError_("refused by the evalkit sandbox")
        if event in refused or startswith(event, "ctypes."):
            taint("the program called " + event)
            raise PermissionError_(event + " is refused by the evalkit sandbox")
        if event == "open" and args and type_(args[0]) is str_ and startswith(args[0], "/proc/") and (
                endswith(args[0], "/mem")):
            taint("the program opened " + args[0])
            raise PermissionError_("reading process memory is refused by the evalkit sandbox")
        if event == "code.__new__" or (event == "object.__setattr__" and len_(args) > 1
                                       and type_(args[1]) is str_ and args[1] == "__code__"):
            taint("the program forged a code object")  # e.g. to pass for library code in the assert guard
            raise PermissionError_("creating or swapping code objects is refused by the evalkit sandbox")
        if event == "import" and args and refused_module(args[0]):
            taint("the program imported " + args[0])  # e.g. mock.ANY, test.support.ALWAYS_EQ equal everything
            raise PermissionError_(args[0] + " is refused by the evalkit sandbox")
        if event == "open" and args and refused_file(args[0]):
            taint(f"the program opened {args[0]!r}, a module refused by the evalkit sandbox")
            raise PermissionError_("this module is refused by the evalkit sandbox")
        if event == "compile" and len_(args) > 1 and claims_library(args[1]) and (
                startswith(args[1], "<frozen ") or refused_file(args[1]) or not source_matches(args[0], args[1])):
            # The import system compiles a library file from its own bytes; anything else under a
            # library file name is code dressed up as library code (see _make_provenance).
            taint(f"the program compiled code under the library file name {args[1]!r}")
            raise PermissionError_("compiling under a library file name is refused by the evalkit sandbox")
        if event == "evalkit.violation":
            taint(args[0] if args and type_(args[0]) is str_ else "an assert guard violation")
        elif event == "evalkit.done":
            if state["done"] or getframe(1) is not frame:
                taint("completion was reported from inside the program")
                raise PermissionError_("refused by the evalkit sandbox")
            state["done"] = True
            problem = integrity()
            if problem is not None:
                taint(problem)
            if not state["tainted"]:
                write(status_fd, b"P" + nonce + b"\n")

    sys.addaudithook(hook)


def _report_failure(exc, source, write, type_):
    import linecache
    import traceback

    # Let tracebacks show the program's lines, as they would for a file.
    text = source.decode("utf-8", "replace")
    linecache.cache[_PROGRAM_NAME] = (len(text), None, text.splitlines(True), _PROGRAM_NAME)
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # drop this file's frame
    try:
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - the program may have closed or replaced stderr
        pass
    try:
        # Straight to fd 2: the program may have replaced print() or sys.stderr.
        lines = traceback.format_exception(type_(exc), exc, tb, limit=-_TRACEBACK_FRAMES)
        write(2, "".join(lines).encode("utf-8", "replace"))
    except BaseException:  # noqa: BLE001 - the program's exception may break formatting; the exit status says enough
        pass


def _main():
    import builtins
    import os
    import types

    # Bound before the program runs: it may replace builtins, sys.audit or os.write afterwards.
    SystemExit_, BaseException_, exec_, compile_, type_ = SystemExit, BaseException, exec, compile, type
    audit, write = sys.audit, os.write
    argv = sys.argv[1:]
    status_fd = int(argv[0])
    _set_limits(argv[1:6])
    nonce, source = _read_stdin(os)
    write(status_fd, b"S")  # from here on, whatever goes wrong is the program's doing

    import ast

    try:
        tree = _instrument(ast.parse(source, _PROGRAM_NAME))
        code = compile_(tree, _PROGRAM_NAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source (Python < 3.12)
        import traceback

        sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
        raise SystemExit(1) from None

    import _imp
    import io

    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    library = _library_dirs()
    provenance = _make_provenance(library, os, io, _imp)
    existing, module_globals = _existing_classes(sys.modules)
    program_classes, claimed = _track_classes(builtins, library)
    builtins_intact = _make_builtins_check(builtins)  # after __build_class__ is wrapped: the wrapper is the reference
    checker = _make_checker(audit, program_classes, claimed, existing, module_globals, provenance[0],
                            builtins_intact)
    namespace[_CHECKER_NAME] = checker
    _install_guard(os, builtins, nonce, status_fd, namespace, checker, builtins_intact, provenance, library)
    del nonce
    sys.modules["__main__"] = module
    sys.argv = [_PROGRAM_NAME]
    try:
        exec_(code, namespace)
    except SystemExit_:
        raise  # the program chose its exit status; it did not reach its end, so no pass marker
    except BaseException_ as exc:
        _report_failure(exc, source, write, type_)
        raise SystemExit_(1) from None
    audit("evalkit.done")


if __name__ == "__main__":
    _main()
