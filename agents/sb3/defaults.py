"""The settings a user gets from ``kind: ppo`` (and ``a2c``), and the action prior they start from.

Measured on Zipkin's (2008) 16 lost-sales instances (Poisson 5, h 1, p in {4, 9, 19, 39}, L in {1..4}),
scoring every policy by exact policy evaluation against the DP optimum, gap against wall time on a
shared 2-core machine (``stocklab bench optimality``; figures in the README):

* **Warm start** (``warm_start``, :mod:`stocklab.agents.sb3.warm_start`): before the first update, a
  capped base-stock rule is tuned by simulation, improved by rollouts from the states it visits (one
  step of policy improvement on the batched engine, :mod:`stocklab.agents.sb3.teacher`), and the
  network is fitted to it: the actor by cross-entropy, the critic to the discounted returns. PPO then
  starts within a fraction of a percent of the optimum, and its updates refine from there; with exact
  scoring (``stocklab bench optimality``) the starting policy is scored too, so the policy kept is never
  worse than it. Without the warm start, PPO with these settings ended 1.7 % above the optimum on p 39,
  L 3 after 2 minutes and 2.8 % after 75 CPU s; the tuned capped rule alone is 0.1-1.5 % above it. The warm start runs
  when training has at least ``min_steps`` (100,000) env steps and the config allows rollouts from a
  state (fixed lead time, stationary demand, whole-period dynamics); otherwise PPO starts from the
  action prior below. It takes 10-40 s, paid from the training budget.
* **Action prior** (``action_prior``): the action head's bias is set so that the untrained policy is
  concentrated on one action, the *base level*
  ``S0 = min{S : P(D_1 + ... + D_{L+1} <= S) >= p / (p + h)}`` (the newsvendor level of the demand over
  the lead time plus one period; Zipkin 2008 sec. 3), with logits ``-(a - S0)^2 / (2 w^2)`` (floored at
  -8, so every action keeps some probability). SB3 initialises the action head's weights orthogonally
  with gain 0.01, so the logits start at this bias whatever the observation: in ``order_up_to`` mode
  the first policy is the base-stock policy at S0 (a few % from the optimum) instead of a uniform one
  (tens of % away), and PPO spends its budget on the state-dependent corrections. In ``quantity``
  mode the centre is the mean demand per period rather than S0 (a constant order near the mean is the
  state-independent policy closest to a good one). The network's action space is the env's, so the
  trained policy exports to ONNX unchanged.
* **Discount** gamma = 0.95 with GAE lambda = 0.9: the 0.95-discounted optimal policy of these
  instances is within 0.001 % of the average-cost optimum (checked by DP), and the short horizon
  cuts the variance of the advantages (gamma 0.99 plateaued several % above the optimum).
* **Many envs, large minibatches**: 32 envs x 64 steps per rollout (2,048 samples on the batched
  engine, where stepping costs ~1 % of the wall time), minibatches of 512, 10 epochs. The gradient
  updates are ~90 % of PPO's wall time, so what a minute buys is set by the update settings.
* **Learning rate** 1e-3 decaying linearly to 0 (``lin_1e-3``; with a time limit it follows the
  clock), no entropy bonus (the prior already explores around S0), a 64 x 64 tanh network. Measured
  on p 9, L 2 with 75 s of CPU time each (exact gap of the best policy kept, seed 0): ``lin_3e-4``
  with 5 epochs 2.26 % (and drifting back to 3-5 %), ``lin_1e-3`` with 5 epochs 1.14 %, with 10
  epochs 0.98 %; 16 envs x 128 steps, minibatches of 256, 10 epochs, ``lin_1e-3``: 2.37 %.
* Observations are scaled by VecNormalize's running statistics (the demand scale is learnt from the
  first rollouts), rewards too.

User ``hyperparams`` override any of these key by key (``policy_kwargs`` and ``action_prior`` as a whole).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError

#: Defaults of ``kind: ppo`` (see the module docstring for why).
PPO_DEFAULTS: dict[str, Any] = {
    "n_envs": 32,
    "n_steps": 64,
    "batch_size": 512,
    "n_epochs": 10,
    "gamma": 0.95,
    "gae_lambda": 0.9,
    "learning_rate": "lin_1e-3",
    "ent_coef": 0.0,
    "policy_kwargs": {"net_arch": [64, 64]},
    "action_prior": {"width": 2.0},
    "warm_start": {},
}
#: Defaults of ``kind: a2c``: the same envs, discount and prior; A2C's own update rule.
A2C_DEFAULTS: dict[str, Any] = {
    "n_envs": 32,
    "n_steps": 8,
    "gamma": 0.95,
    "gae_lambda": 0.9,
    "policy_kwargs": {"net_arch": [64, 64]},
    "action_prior": {"width": 2.0},
}
DEFAULTS: dict[str, dict[str, Any]] = {"ppo": PPO_DEFAULTS, "a2c": A2C_DEFAULTS}

#: Lowest prior logit (relative to the centre's 0): every action keeps probability >= ~e^-8 / n.
PRIOR_FLOOR = -8.0
#: Demand-tail mass ignored when convolving the per-period pmf.
_TAIL = 1e-9


def with_defaults(algo: str, hyperparams: dict[str, Any] | None) -> dict[str, Any]:
    """The hyper-parameters an agent of ``algo`` trains with: the defaults, overridden by ``hyperparams``."""
    return {**DEFAULTS.get(algo.lower(), {}), **(hyperparams or {})}


def _period_pmf(config: EnvConfig) -> np.ndarray:
    """Probabilities of 0, 1, ... units demanded in one period (Poisson with the model's mean if unknown)."""
    pmf = config.demand.pmf(_TAIL)
    if pmf is not None:
        return np.asarray(pmf, dtype=float)
    from scipy import stats

    mean = max(float(config.demand.mean), 1e-9)
    top = int(stats.poisson(mean).ppf(1.0 - _TAIL)) + 1
    out = stats.poisson(mean).pmf(np.arange(top + 1))
    return out / out.sum()


def base_level(config: EnvConfig) -> int:
    """The newsvendor level S0 (units) of the demand over L + 1 periods at the ratio p / (p + h).

    L is the mean lead time rounded to whole periods; p the shortage cost, h the holding cost per unit
    and period (ratio 0.5 when both are 0).
    """
    pmf = _period_pmf(config)
    periods = round(float(config.lead_time.mean)) + 1
    total = np.ones(1)
    for _ in range(periods):
        total = np.convolve(total, pmf)
        total = total[: max(1, int(np.searchsorted(np.cumsum(total), 1.0 - _TAIL)) + 2)]
    h, p = config.costs.holding, config.costs.shortage
    ratio = p / (p + h) if p + h > 0 else 0.5
    return int(np.searchsorted(np.cumsum(total), ratio - 1e-12))


def prior_center(config: EnvConfig) -> int:
    """The action the prior is centred on: S0 in ``order_up_to`` mode, the mean demand in ``quantity`` mode."""
    if config.action.mode == "order_up_to":
        return base_level(config)
    return round(float(config.demand.mean))


def prior_logits(n_actions: int, center: float, width: float) -> np.ndarray:
    """Logits ``max(-(a - center)^2 / (2 width^2), PRIOR_FLOOR)`` of actions a = 0 .. n_actions - 1."""
    a = np.arange(n_actions, dtype=float)
    return np.maximum(-0.5 * ((a - center) / width) ** 2, PRIOR_FLOOR)


def action_prior(config: EnvConfig, n_actions: int, spec: Any) -> np.ndarray:
    """The action head's initial bias for the ``action_prior`` hyper-parameter ``spec``.

    ``spec`` is ``{"width": w}`` (units; centre from :func:`prior_center`) or
    ``{"center": c, "width": w}``. PolicyError for anything else.
    """
    if not isinstance(spec, dict) or set(spec) - {"center", "width"}:
        raise PolicyError(f"hyperparams.action_prior: {spec!r}; expected {{width: units, center: action}}")
    width = spec.get("width", 2.0)
    center = spec.get("center")
    center = prior_center(config) if center is None else center
    for key, value in (("width", width), ("center", center)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise PolicyError(f"hyperparams.action_prior.{key}: {value!r} is not a number")
    if width <= 0:
        raise PolicyError(f"hyperparams.action_prior.width (={width}) must be > 0")
    if not 0 <= center < n_actions:
        raise PolicyError(f"hyperparams.action_prior.center (={center}) must be in 0..{n_actions - 1}")
    return prior_logits(n_actions, float(center), float(width))


def apply_action_prior(model: Any, config: EnvConfig, spec: Any) -> None:
    """Set the action head's bias of an SB3 actor-critic ``model`` to :func:`action_prior`.

    PolicyError when the algorithm has no categorical action head (DQN's Q-network, for one).
    """
    import torch

    head = getattr(model.policy, "action_net", None)
    if not isinstance(head, torch.nn.Linear) or head.bias is None:
        raise PolicyError(f"hyperparams.action_prior: {type(model).__name__} has no action head to bias")
    logits = action_prior(config, head.out_features, spec)
    with torch.no_grad():
        head.bias.copy_(torch.as_tensor(logits, dtype=head.bias.dtype))
