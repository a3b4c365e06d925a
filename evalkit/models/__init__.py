"""Model references: what ``--model`` names, its fingerprint, and how to load it."""

from evalkit.models.resolve import ModelRef, resolve_model

__all__ = ["ModelRef", "resolve_model"]
