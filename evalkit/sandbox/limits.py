"""The resource limits one program runs under, and how they travel to the bootstrap."""

from __future__ import annotations

import math
from dataclasses import dataclass

# A HumanEval program needs no processes of its own; a few dozen tasks (threads count too) leave room
# for an honest multiprocessing pool while a fork bomb stops almost at once.
MAX_TASKS = 32
MAX_OPEN_FILES = 256
MAX_FILE_BYTES = 16 << 20  # per file: a disk filler dies of SIGXFSZ at 16 MiB
TMPFS_BYTES = 64 << 20  # per tmpfs (work dir, /tmp) under bwrap: bounds many 16 MiB files too


@dataclass(frozen=True)
class Limits:
    """Values for ``setrlimit`` (soft = hard); ``-1`` leaves that limit as inherited."""

    cpu_s: int
    address_space_bytes: int
    file_bytes: int
    tasks: int
    open_files: int

    @classmethod
    def for_run(cls, *, timeout_s: float, memory_mb: int, extra_tasks: int = 0) -> Limits:
        """Limits for one run. CPU time is only a backstop behind the wall-clock timeout (a program
        that outlives a dead harness still stops); ``extra_tasks`` accounts for tasks that already
        count against the same uid (without root, the harness's own)."""
        return cls(cpu_s=math.ceil(timeout_s) + 1, address_space_bytes=memory_mb << 20,
                   file_bytes=MAX_FILE_BYTES, tasks=MAX_TASKS + extra_tasks, open_files=MAX_OPEN_FILES)

    @classmethod
    def unlimited(cls) -> Limits:
        """No limits at all (isolation ``none``)."""
        return cls(-1, -1, -1, -1, -1)

    def argv(self) -> list[str]:
        """The five arguments the bootstrap expects, in its order."""
        values = (self.cpu_s, self.address_space_bytes, self.file_bytes, self.tasks, self.open_files)
        return [str(v) for v in values]
