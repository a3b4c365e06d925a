"""A sandbox for untrusted, model-written Python programs (HumanEval and the like).

Usage::

    from evalkit.sandbox import choose_isolation, run_programs

    isolation = choose_isolation("auto")           # bwrap if it works here, else UnavailableError naming the fix
    results = run_programs(programs, isolation=isolation, timeout_s=3.0)
    score = sum(r.passed for r in results) / len(results)

Each program runs in its own process tree, which is killed entirely when the program ends or its
wall-clock timeout passes. A program passes only if it runs to its end (its own ``check(...)``
calls included) with exit status 0 and a per-run secret marker, written by the harness's code after
the program returned, comes back intact: exiting early, ``os._exit(0)``, closing stdout, killing
the parent or printing a guessed marker all count as failures. See :mod:`.bootstrap`.

Isolation levels
----------------
``bwrap`` (see :mod:`.bwrap`): user, pid, network, ipc, uts and cgroup namespaces; an allow-listed,
read-only file system (``/usr``, a few ``/etc`` files, the interpreter's prefix) with private tmpfs
for the work directory and ``/tmp``; no ``$HOME``, project or results store; a cleared environment.
On top, resource limits: CPU seconds, address space (``memory_mb``), file size (16 MiB), tasks
(32), open files (256), no core files.

``rlimits`` (only when asked for by name; ``auto`` never falls back to it): the same resource
limits, a new session, a temporary work directory (deleted afterwards), a four-variable
environment, ``python -I``. No file-system namespace: the program sees the host's files (as far as
its uid may). When the harness is root, each program runs under its own throw-away uid (see
:mod:`.identity`): it cannot touch root's files, signal or inspect the harness, and every process
it starts -- daemons included -- is killed by uid; whatever it left in ``/tmp``-like directories is
removed. As root it also starts in an empty network namespace (``unshare --net``) where the kernel
allows it; otherwise the network is open.

``none``: a plain child process (new session, temporary directory, cleared environment, timeout)
without limits; :func:`choose_isolation` refuses it unless explicitly allowed.

Residual risks, honestly
------------------------
* Without root there is no second uid: under rlimits a program runs as the harness's user and can
  read its files, ``/proc/<pid>/environ`` of its processes, signal them, and a ``setsid`` daemon
  escapes the process-group kill. Use bwrap (which needs no root) or run the harness as root.
* Under rlimits without root (or where ``unshare`` fails) the network is open, and a program may
  fill the disk 16 MiB per file until its timeout. bwrap has neither problem (an empty network
  namespace; tmpfs capped at 64 MiB).
* If the harness itself is killed, bwrap sandboxes die with it (``--die-with-parent``); under
  rlimits a busy program stops at its CPU limit, a sleeping one lingers.
* No seccomp filter: the kernel's whole syscall surface is reachable from inside the namespaces.
* Cheating detection is in-process: it stops the listed tricks (early exits, patched builtins,
  objects whose ``__eq__`` always agrees, code that only claims a library file name, modules made
  to equal anything) but a determined program can in principle recover the marker from its own
  memory, or rebind a name inside a library module so that genuine library code computes something
  else. Only ``assert`` statements are guarded. The guarantees that hold are about the host.
"""

from evalkit.sandbox.executor import run_program, run_programs
from evalkit.sandbox.isolation import bwrap_status, choose_isolation
from evalkit.sandbox.types import ExecResult, Isolation, Verdict

__all__ = ["ExecResult", "Isolation", "Verdict", "bwrap_status", "choose_isolation", "run_program",
           "run_programs"]
