"""stocklab.baselines: classic policies, their tuning, the LP policy and the exact DP optimum."""

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
