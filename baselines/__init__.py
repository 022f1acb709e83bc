"""stocklab.baselines: classic policies, their tuning, the LP policy and the exact DP optimum."""

from stocklab.baselines.classic import BaseStock, ConstantOrder

__all__ = ["BaseStock", "ConstantOrder"]
