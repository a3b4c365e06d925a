"""Bounded capture of a child's output: keep the first bytes, count (and drop) the rest."""

from __future__ import annotations


class CappedBuffer:
    """Accumulates at most ``cap`` bytes; anything beyond is counted and discarded.

    A program that writes a gigabyte to stdout must not be able to exhaust the harness's memory, so
    the reader feeds every chunk here as it arrives instead of collecting the stream and cutting it
    afterwards.
    """

    def __init__(self, cap: int) -> None:
        if cap < 0:
            raise ValueError(f"cap must be >= 0, got {cap}")
        self.cap = cap
        self.total = 0  # every byte seen, kept or not
        self._data = bytearray()

    def feed(self, chunk: bytes) -> None:
        """Record ``chunk``: keep what still fits under the cap, count all of it."""
        self.total += len(chunk)
        room = self.cap - len(self._data)
        if room > 0:
            self._data += chunk[:room]

    @property
    def full(self) -> bool:
        """True once the cap is reached (the reader may then use bigger reads: it only discards)."""
        return len(self._data) >= self.cap

    @property
    def truncated(self) -> bool:
        """True when bytes were discarded."""
        return self.total > len(self._data)

    def getvalue(self) -> bytes:
        """The kept bytes (at most ``cap``)."""
        return bytes(self._data)

    def text(self) -> str:
        """The kept bytes as UTF-8, with undecodable bytes (a cut multi-byte character too) replaced."""
        return self._data.decode("utf-8", errors="replace")
