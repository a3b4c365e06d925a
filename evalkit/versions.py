"""The installed versions of the libraries a result depends on, recorded with runs and checkpoints."""

from __future__ import annotations

from collections.abc import Iterable


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}`` for each of ``names`` that is installed (absent ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
