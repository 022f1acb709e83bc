"""stocklab.baselines: classic policies, their tuning, the LP policy and the exact DP optimum.

The names below load on first use (PEP 562), so that reading the kind registry stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stocklab.baselines.policies.classic import (
        POLICIES,
        RQ,
        SS,
        BaseStock,
        CappedBaseStock,
        ConstantOrder,
        Newsvendor,
        build_policy,
    )
    from stocklab.baselines.policies.lp import LPPolicy
    from stocklab.baselines.tuning.search import TuneResult, tune

_CLASSIC = "stocklab.baselines.policies.classic"
#: Public name -> the module that defines it.
_LAZY = {
    **dict.fromkeys(
        (
            "POLICIES",
            "RQ",
            "SS",
            "BaseStock",
            "CappedBaseStock",
            "ConstantOrder",
            "Newsvendor",
            "build_policy",
        ),
        _CLASSIC,
    ),
    "LPPolicy": "stocklab.baselines.policies.lp",
    "TuneResult": "stocklab.baselines.tuning.search",
    "tune": "stocklab.baselines.tuning.search",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stocklab.baselines' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "POLICIES",
    "RQ",
    "SS",
    "BaseStock",
    "CappedBaseStock",
    "ConstantOrder",
    "LPPolicy",
    "Newsvendor",
    "TuneResult",
    "build_policy",
    "tune",
]
