"""The CLI's commands, one module each: ``evalkit NAME`` runs ``evalkit/commands/NAME.py``.

A command module defines ``HELP`` (one line for ``evalkit --help``), ``configure(parser)`` (its flags)
and ``run(args, env) -> int``; :mod:`evalkit.cli` adds every public module of this package as a
subcommand, so a new command is one new module and nothing else is edited. Modules import only
the standard library at module level, so that ``evalkit --help`` stays instant; each ``run``
imports what it needs.
"""
