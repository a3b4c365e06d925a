"""Suites: YAML files declaring which evaluators run on which data, validated once at load time."""

from evalkit.suites.loader import ResolvedTask, Suite, load_suite

__all__ = ["ResolvedTask", "Suite", "load_suite"]
