"""Errors that reach the user as one line and exit code 2 (never a traceback)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a suite, a flag, a file, a model that cannot be resolved.

    The CLI prints ``str(error)`` alone on stderr and exits with :attr:`exit_code`.
    Raise it *before* anything is written, so that bad input leaves nothing half-done.
    """

    exit_code = 2


class ConfigError(UserError):
    """A problem in a configuration file, located as ``file:line:column: field: message``."""

    def __init__(self, path: str, line: int | None, column: int | None, field: str, message: str):
        self.path, self.line, self.column, self.field, self.message = path, line, column, field, message
        where = path if line is None else f"{path}:{line}:{column or 1}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class UnavailableError(UserError):
    """This machine lacks something a task needs (a system package such as bubblewrap).

    The message is one line that names the fix. ``evalkit run`` skips such a task with that line
    and runs the others; anywhere else it is an ordinary :class:`UserError`.
    """
