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
   could fool step 4: forging code objects, importing ``unittest.mock`` (``mock.ANY`` equals
   everything). Tampering is written to the status pipe *at once* (``T<reason>``), so a program
   that exits right after it cannot hide it.
4. Compile the program with every ``assert`` instrumented: each value computed inside an assert
   must be plain data. A value is not plain when a class the program wrote (a ``class`` statement
   outside the interpreter's library directories, tracked through ``__build_class__``) defines
   comparison, truth, arithmetic or container behaviour, or when any run-time class carries such
   a method that is not library code. An object whose ``__eq__`` always returns True is not a
   correct answer, yet it passes the usual HumanEval harnesses; ``os.environ``, ``Counter``,
   ``Fraction``, enums and named tuples stay usable in asserts.
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
inside the hook, ``/proc/self/mem`` through an unusual path), recover the nonce. The sandbox's hard
guarantees are about the host, not about the score of a determined adversary.
"""

import sys

_PROGRAM_NAME = "<program>"
_CHECKER_NAME = "__evalkit_plain__"
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: the class was created at run time (by a class statement)
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


def _track_program_classes(builtins, library):
    """Wrap ``__build_class__`` to remember every class whose ``class`` statement is not library code.

    Done before the builtins snapshot, so the wrapper is the reference the guard checks against.
    Returns the set of ids of those classes (they are kept alive, so an id is never reused).
    """
    original = builtins.__build_class__
    ids, keep = set(), []
    type_, str_, id_, any_, getattr_, startswith = type, str, id, any, getattr, str.startswith

    def __build_class__(func, name, *bases, **kwargs):
        cls = original(func, name, *bases, **kwargs)
        filename = getattr_(getattr_(func, "__code__", None), "co_filename", None)
        if not (type_(filename) is str_ and (startswith(filename, "<frozen ")
                                             or any_(startswith(filename, d) for d in library))):
            ids.add(id_(cls))
            keep.append(cls)
        return cls

    builtins.__build_class__ = __build_class__
    return ids


def _make_checker(audit, library, program_classes):
    """Return the function every value in an assert passes through (see module docstring, step 4).

    A value is plain unless some heap class in its type's MRO (a class created at run time, not a C
    type) defines a behaviour dunder that the program could have written: any such dunder when the
    ``class`` statement is the program's; otherwise one that is not a function from a library file
    (so ``os.environ``, ``Counter`` or ``Fraction`` stay usable in asserts).
    """
    # Everything used after the program starts is bound here: the program can reach this module's
    # globals (through frames) and rebind builtins, but not the closure.
    heaptype, benign = _HEAPTYPE, _BENIGN_DUNDERS
    type_, str_, any_, id_, issubclass_ = type, str, any, id, issubclass
    function_, property_ = type(_library_dirs), property
    staticmethod_, classmethod_ = staticmethod, classmethod
    c_slots = (type(int.__eq__), type(str.join), type(None))  # slot wrappers of C types, and "= None"
    startswith = str.startswith
    flags_of = type.__dict__["__flags__"].__get__  # read through the real descriptors: a metaclass
    mro_of = type.__dict__["__mro__"].__get__  # of the program's cannot lie about them
    dict_of = type.__dict__["__dict__"].__get__
    name_of = type.__dict__["__qualname__"].__get__
    sequences = ((list, list.__iter__), (tuple, tuple.__iter__), (set, set.__iter__),
                 (frozenset, frozenset.__iter__))
    dict_items = dict.items
    AssertionError_ = AssertionError

    def library_code(value):
        kind = type_(value)
        if kind is staticmethod_ or kind is classmethod_:
            value = value.__func__
        elif kind is property_:
            value = value.fget
        if type_(value) is not function_:
            return type_(value) in c_slots
        filename = value.__code__.co_filename
        return type_(filename) is str_ and (startswith(filename, "<frozen ")
                                            or any_(startswith(filename, d) for d in library))

    def risky(cls):
        for klass in mro_of(cls):
            if not flags_of(klass) & heaptype:
                continue
            programs = id_(klass) in program_classes
            for name, value in dict_of(klass).items():
                if (type_(name) is str_ and name[:2] == "__" and name[-2:] == "__" and name not in benign
                        and (programs or not library_code(value))):
                    return f"{name_of(klass)}.{name}"
        return None

    def plain(value):
        stack, seen, budget = [value], set(), 100000
        while stack and budget > 0:
            budget -= 1
            item = stack.pop()
            cls = type_(item)
            if flags_of(cls) & heaptype:
                where = risky(cls)
                if where is not None:
                    reason = (f"an assert used a value of type {name_of(cls)} whose behaviour the program "
                              f"defines ({where}); answers must be plain data")
                    audit("evalkit.violation", reason)
                    raise AssertionError_(reason)
            if issubclass_(cls, dict):
                if id_(item) not in seen:
                    seen.add(id_(item))
                    for key, val in dict_items(item):
                        stack.append(key)
                        stack.append(val)
                continue
            for base, iterate in sequences:
                if issubclass_(cls, base):
                    if id_(item) not in seen:
                        seen.add(id_(item))
                        stack.extend(iterate(item))
                    break
        return value

    return plain


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


def _install_guard(os, builtins, nonce, status_fd, namespace, checker):
    """Install the audit hook that holds the nonce (see module docstring, step 3)."""
    frame = sys._getframe(1)  # the frame of _main: the only place completion may be reported from
    snapshot = dict(builtins.__dict__)
    live = builtins.__dict__
    modules = sys.modules
    getframe, gettrace, getprofile, write = sys._getframe, sys.gettrace, sys.getprofile, os.write
    # As in _make_checker: nothing the hook uses may be looked up at run time, where the program could
    # have replaced it (and a replaced builtin would run the program's code with this frame on the stack).
    refused, checker_name = _REFUSED_EVENTS, _CHECKER_NAME
    type_, str_, len_, getattr_, function = type, str, len, getattr, type(_install_guard)
    startswith = str.startswith
    endswith = str.endswith
    PermissionError_ = PermissionError
    state = {"done": False, "tainted": False}

    def taint(reason):
        state["tainted"] = True
        try:
            write(status_fd, b"T" + reason.encode("utf-8", "replace")[:300] + b"\n")
        except OSError:  # the program closed the status pipe: the pass marker cannot be written either
            pass

    def str_keys(mapping):
        # Looking up a key in a dict may call __eq__ of a colliding key; only exact str keys are safe.
        for key in mapping:
            if type_(key) is not str_:
                return False
        return True

    def integrity():
        if len_(live) != len_(snapshot) or not str_keys(live):
            return "names were added to or removed from builtins"
        for name, value in snapshot.items():
            if live.get(name, checker) is not value:
                return f"builtins.{name} was replaced"
        if not str_keys(modules) or modules.get("builtins") is not builtins:
            return "sys.modules['builtins'] was replaced"
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
        if event == "import" and args and type_(args[0]) is str_ and args[0] == "unittest.mock":
            taint("the program imported unittest.mock")  # mock.ANY compares equal to everything
            raise PermissionError_("unittest.mock is refused by the evalkit sandbox")
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

    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    library = _library_dirs()
    checker = _make_checker(audit, library, _track_program_classes(builtins, library))
    namespace[_CHECKER_NAME] = checker
    _install_guard(os, builtins, nonce, status_fd, namespace, checker)
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
