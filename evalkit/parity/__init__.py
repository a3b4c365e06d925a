"""lm-evaluation-harness as the reference, run offline on the same data as evalkit.

Shared by the parity tests (``tests/evaluators``) and the comparisons in ``bench/``. These modules
need the ``parity`` extra (``lm-eval``); they import it only when a function is called, through
:func:`require_lm_eval`, so its absence is one line naming the install command.
"""

from __future__ import annotations

from types import ModuleType


def require_lm_eval() -> ModuleType:
    """The ``lm_eval`` package, or a one-line :class:`~evalkit.errors.UserError` saying how to install it."""
    try:
        import lm_eval
    except ImportError:
        from evalkit.errors import UserError

        raise UserError("lm-evaluation-harness is not installed; the parity checks need it: "
                        "pip install 'evalkit[parity]'") from None
    return lm_eval
