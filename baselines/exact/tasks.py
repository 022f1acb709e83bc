"""The exact computations a run or a command asks for, by env config and within limits.

Check that the DP of a config fits (:func:`check_dp`, before any work), solve it (:func:`solve`) and
score a built policy exactly (:func:`policy_cost`). Callers pass the limits through: a config's
``optimal`` entry ``params`` (:meth:`DPLimits.from_params`) or a command's options.
"""

from __future__ import annotations

from typing import Any

from stocklab.baselines.exact.chain import evaluate_policy
from stocklab.baselines.exact.limits import Deadline, DPLimits
from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.solver import DPSolution, Progress, solve_optimal
from stocklab.baselines.exact.space import DPSize
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import StocklabError
from stocklab.envs.core.policy import Policy

#: Exact evaluation follows the states a policy reaches; a policy that lets stock drift without bound
#: (a constant order equal to mean demand) reaches ever more, so :func:`policy_cost` stops at this
#: many states (or 20 times the optimum's state space, up to :data:`EXACT_EVAL_MAX_STATES`).
EXACT_EVAL_STATES = 5_000
EXACT_EVAL_MAX_STATES = 200_000
#: Seconds :func:`policy_cost` may take before it gives up (the gap is then simulated).
EXACT_EVAL_SECONDS = 120.0


def limits_of(params: dict[str, Any] | None) -> DPLimits:
    """The DP limits of a config's ``optimal`` entry ``params`` (defaults when None or empty)."""
    return DPLimits.from_params(params or {})


def check_dp(env: EnvConfig, limits: DPLimits | None = None) -> DPSize:
    """Size of the DP of ``env``, checked without building it.

    Raises ConfigError naming the field when ``env`` is outside the DP's scope, and ResourceLimitError
    with the states and bytes needed when it exceeds ``limits``.
    """
    limits = limits or DPLimits()
    return DPInstance.measure(env, max_states=limits.max_states, max_bytes=limits.max_bytes)


def solve(env: EnvConfig, limits: DPLimits | None = None, progress: Progress | None = None) -> DPSolution:
    """The DP optimum of ``env`` within ``limits``.

    States and memory are checked before building, ``time_limit`` at every value iteration.
    """
    limits = limits or DPLimits()
    inst = DPInstance.from_config(env, max_states=limits.max_states, max_bytes=limits.max_bytes)
    return solve_optimal(inst, deadline=limits.deadline(), progress=progress)


def policy_cost(env: EnvConfig, policy: Policy, seconds: float = EXACT_EVAL_SECONDS) -> float | None:
    """Exact long-run average cost per period of ``policy`` (money per period), or None.

    None when the DP cannot evaluate it: out of the DP's scope, too many states, or more than
    ``seconds`` seconds.
    """
    try:
        n = check_dp(env).states
        cap = min(max(EXACT_EVAL_STATES, 20 * n), EXACT_EVAL_MAX_STATES)
        inst = DPInstance.from_config(env, max_states=cap)
        return float(evaluate_policy(inst, policy, deadline=Deadline.after(seconds)))
    except StocklabError:
        return None
