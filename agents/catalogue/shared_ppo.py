"""``shared_ppo``: one PPO policy for every SKU of a catalogue, trained on some SKUs, used on all.

Training (:func:`train_shared_ppo`) splits the catalogue's SKUs into a training set and a held-out
set (:func:`split_skus`), and trains Stable-Baselines3 PPO on the training SKUs as the sub-envs of one
:class:`~stocklab.envs.catalogue_env.CatalogueVectorEnv` (through the SB3 adapter
:meth:`BatchedVecEnv.wrap`): observations are scale-free (stock in periods of the SKU's mean demand,
plus its lead time, critical fractile, demand CV, volume share, the warehouse's use, ...), the reward
is the SKU's cost divided by (h + p) x its demand scale (so that every SKU weighs alike), and the
action is an order-up-to level in periods of demand. The training SKUs keep the catalogue's shared
limits scaled to their share (:func:`scaled_limits`), so that the warehouse binds them as tightly as
it binds the whole catalogue.

The result is a :class:`SharedPPOPolicy`: the network as NumPy arrays with its observation statistics
(:class:`~stocklab.agents.catalogue.network.SharedNetwork`, the exportable form), bound to a catalogue
(any SKUs: the training ones, the held-out ones, or a new catalogue). torch and stable_baselines3 are
imported only by training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.agents.catalogue.network import SharedNetwork
from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.catalogue.config import SharedLimits
from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.catalogue_env import (
    CatalogueVectorEnv,
    level_orders,
    limit_use,
    scale_free,
    static_features,
    widen,
)
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.engines.params import batch_layout

#: PPO hyper-parameters of a shared policy unless the spec overrides them (n_steps per SKU per update;
#: ``batch_size`` defaults to a quarter of a rollout, n_steps x training SKUs).
DEFAULT_HYPERPARAMS: dict[str, Any] = {
    "n_steps": 32,
    "n_epochs": 10,
    "learning_rate": 1e-3,
    "gamma": 0.95,
    "gae_lambda": 0.9,
    "ent_coef": 0.0,
    "policy_kwargs": {"net_arch": [64, 64], "activation_fn": "tanh"},
}
#: Progress callback: (environment steps done, steps in all).
Progress = Callable[[int, int], None]


class SharedPPOPolicy(CataloguePolicy):
    """A shared network deciding for every SKU of the catalogue it is bound to (module docstring).

    ``orders(obs, state)`` takes the engine's raw observations ((N, n) ObsSpec rows in units), makes
    the env's scale-free observations from them and the state's warehouse use, picks each SKU's level
    with the network and orders min(max_order, max(0, round(level x scale) - inventory position)).
    """

    name = "shared_ppo"
    exportable = "catalogue_params"

    def __init__(self, network: SharedNetwork, catalogue: Catalogue, train_skus: Sequence[str] = ()) -> None:
        network.check()
        self.network = network
        self.train_skus = list(train_skus)
        self.catalogue = catalogue
        self.scale = np.asarray(catalogue.demand_scale, dtype=float)
        self.static = static_features(catalogue)
        self.max_order = np.asarray([c.max_order for c in catalogue.configs], dtype=np.int64)
        # the network's stock fields must hold this catalogue's (a shorter pipeline is padded)
        self.spec = batch_layout(list(catalogue.configs))
        try:
            widen(np.zeros((1, self.spec.size), np.float32), self.spec, network.layout)
        except ConfigError as exc:
            raise PolicyError(f"shared_ppo cannot decide for this catalogue: {exc}") from None

    def bind(self, catalogue: Catalogue) -> SharedPPOPolicy:
        """The same network deciding for the SKUs of ``catalogue``."""
        return SharedPPOPolicy(self.network, catalogue, self.train_skus)

    def features(self, obs: np.ndarray, state: CatalogueState) -> np.ndarray:
        """(N, d) the scale-free observations (the env's table) of raw observations and the state."""
        use, inbound = limit_use(self.catalogue, state.on_hand, state.on_order)
        raw = widen(np.asarray(obs, dtype=np.float64), self.spec, self.network.layout)
        return scale_free(raw, self.scale, self.static, use, inbound)

    def actions(self, obs: np.ndarray, state: CatalogueState) -> np.ndarray:
        """(N,) indices into the level grid."""
        return self.network.actions(self.features(obs, state))

    def orders(self, obs: np.ndarray, state: CatalogueState) -> np.ndarray:
        """Orders (int64 units, (N,)) for raw observations ``obs`` (N, n) and ``state``."""
        levels = self.network.levels[self.actions(obs, state)]
        return level_orders(levels, self.scale, state.inventory_position, self.max_order)

    def params(self) -> dict[str, Any]:
        """JSON-ready: the network (weights, statistics, level grid) and the SKUs it trained on."""
        return {"kind": "shared_ppo", "train_skus": list(self.train_skus), "network": self.network.to_dict()}

    @classmethod
    def from_params(cls, params: dict[str, Any], catalogue: Catalogue) -> SharedPPOPolicy:
        """The policy of :meth:`params`' output, bound to ``catalogue``."""
        if not isinstance(params, dict) or "network" not in params:
            raise PolicyError(
                "shared_ppo params: no 'network' (expected the output of SharedPPOPolicy.params())"
            )
        return cls(SharedNetwork.from_dict(params["network"]), catalogue, params.get("train_skus", []))


# ------------------------------------------------------------------------------------ training sets
def split_skus(skus: Sequence[str], holdout: float, seed: int) -> tuple[list[str], list[str]]:
    """(training SKUs, held-out SKUs): a share ``holdout`` of the SKUs drawn at random from ``seed``.

    Both sets keep catalogue order and are non-empty (a catalogue of one SKU cannot be split).
    """
    n = len(skus)
    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"shared_ppo params.holdout (={holdout}) must be > 0 and < 1")
    if n < 2:
        raise ConfigError("shared_ppo needs at least 2 SKUs to hold some out")
    k = min(n - 1, max(1, round(holdout * n)))
    held = set(np.random.default_rng(np.random.SeedSequence([int(seed), 12])).permutation(n)[:k].tolist())
    return [s for i, s in enumerate(skus) if i not in held], [s for i, s in enumerate(skus) if i in held]


def scaled_limits(catalogue: Catalogue, index: Sequence[int] | np.ndarray) -> SharedLimits | None:
    """The catalogue's shared limits scaled to the share of SKUs ``index``.

    Capacity C x sum_(i in index) v_i s_i / sum_i v_i s_i and budget B x sum_(i in index) c_i s_i /
    sum_i c_i s_i (s: demand scale), so that a subset is as tightly bound per unit of demand as the
    whole catalogue.
    """
    sh = catalogue.shared
    if sh is None:
        return None
    idx = np.asarray(index, dtype=np.int64)
    s = catalogue.demand_scale
    update: dict[str, Any] = {}
    if sh.capacity is not None:
        w = catalogue.volume * s
        update["capacity"] = sh.capacity.model_copy(
            update={"limit": sh.capacity.limit * w[idx].sum() / w.sum()}
        )
    if sh.budget is not None:
        w = catalogue.unit_cost * s
        update["budget"] = sh.budget.model_copy(update={"limit": sh.budget.limit * w[idx].sum() / w.sum()})
    return sh.model_copy(update=update)


def subset(catalogue: Catalogue, skus: Sequence[str]) -> Catalogue:
    """The catalogue of ``skus`` with its limits scaled to their share (:func:`scaled_limits`)."""
    idx = [catalogue.index(s) for s in skus]
    return catalogue.subset(idx, shared=scaled_limits(catalogue, idx))


def shared_levels(catalogue: Catalogue) -> np.ndarray:
    """The default grid of a shared policy: 0, 0.25, ..., 2 (L_max + 1) + 2 periods of demand.

    Half the env's default (:func:`~stocklab.envs.catalogue_env.default_levels`): a base-stock level
    of a critical fractile up to 0.98 at a demand CV up to 1 lies below it, and fewer actions are
    learnt faster.
    """
    longest = max(c.lead_time.upper for c in catalogue.configs)
    return np.arange(0.0, 2.0 * (np.ceil(longest) + 1.0) + 2.0 + 0.125, 0.25)


# ----------------------------------------------------------------------------------------- training
@dataclass
class SharedPPOResult:
    """What :func:`train_shared_ppo` returns: the policy (bound to the whole catalogue) and its training."""

    policy: SharedPPOPolicy
    train_skus: list[str]
    heldout_skus: list[str]
    steps: int
    seconds: float
    model: Any = None
    vecnorm: Any = None


def train_shared_ppo(
    catalogue: Catalogue,
    steps: int,
    *,
    seed: int = 0,
    holdout: float = 0.25,
    train_skus: Sequence[str] | None = None,
    hyperparams: dict[str, Any] | None = None,
    episode_periods: int | None = None,
    levels: Sequence[float] | None = None,
    progress: Progress | None = None,
    refusal_penalty: float | None = None,
) -> SharedPPOResult:
    """Train one PPO policy on the training SKUs of ``catalogue`` for ``steps`` SKU-periods.

    ``train_skus`` (default: :func:`split_skus` with ``holdout`` and ``seed``) are the SKUs trained on;
    the others are held out. ``hyperparams`` override :data:`DEFAULT_HYPERPARAMS` (PPO's constructor
    arguments; ``normalize``: VecNormalize keyword arguments). ``episode_periods`` defaults to the
    catalogue's (its ``periods``, else the env section's). ``refusal_penalty``: money per unit the
    capacity refuses, in the training reward only (default: the SKU's shortage cost). Same inputs and
    seed, same policy.
    """
    if steps < 1:
        raise ConfigError(f"shared_ppo train.steps (={steps}) must be >= 1")
    if train_skus is None:
        train, held = split_skus(catalogue.skus, holdout, seed)
    else:
        train = [catalogue.skus[catalogue.index(s)] for s in train_skus]
        held = [s for s in catalogue.skus if s not in set(train)]
    grid = np.asarray(shared_levels(catalogue) if levels is None else levels, dtype=float)
    layout = [(f.name, f.size) for f in batch_layout(list(catalogue.configs)).fields]
    sub = subset(catalogue, train)
    # a refused unit is charged its shortage cost in training: the unit it displaced elsewhere, else a
    # SKU's own reward gains from crowding the warehouse (refused units cost nothing in the engine)
    penalty = (
        np.asarray([c.costs.shortage for c in sub.configs]) if refusal_penalty is None else refusal_penalty
    )
    env = CatalogueVectorEnv(
        sub, episode_periods, seed, levels=grid, reward="normalized", layout=layout, refusal_penalty=penalty
    )
    t0 = time.perf_counter()
    model, vecnorm = _learn(env, steps, seed, hyperparams or {}, progress)
    from stocklab.agents.catalogue.network import network_from_sb3

    network = network_from_sb3(model, vecnorm, grid, env.obs_names(), env.layout)
    policy = SharedPPOPolicy(network, catalogue, train)
    return SharedPPOResult(
        policy, train, held, int(model.num_timesteps), time.perf_counter() - t0, model, vecnorm
    )


def _learn(
    env: CatalogueVectorEnv, steps: int, seed: int, overrides: dict[str, Any], progress: Progress | None
) -> Any:
    """SB3 PPO on the env behind VecNormalize; returns (model, vecnorm)."""
    import torch
    from stable_baselines3 import PPO

    from stocklab.agents.sb3.agent import algorithm_kwargs

    hp = {**DEFAULT_HYPERPARAMS, **overrides}
    norm = hp.pop("normalize", {})
    norm = {} if norm is True else norm
    if not isinstance(norm, dict):
        raise PolicyError(
            "shared_ppo hyperparams.normalize: VecNormalize keyword arguments (a mapping) or true"
        )
    rollout = int(hp["n_steps"]) * env.num_envs
    # default: 4 equal minibatches of a rollout (n_steps x SKUs), whatever the number of SKUs
    hp["batch_size"] = min(int(overrides.get("batch_size", max(rollout // 4, 1))), rollout)
    kwargs = algorithm_kwargs(PPO, hp)
    torch.manual_seed(seed)
    # tiny matrices: one thread is faster than several contending for a shared machine's cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(env, steps, seed, kwargs, norm, progress)
    finally:
        torch.set_num_threads(threads)


def _fit(
    env: CatalogueVectorEnv,
    steps: int,
    seed: int,
    kwargs: dict[str, Any],
    norm: dict[str, Any],
    progress: Progress | None,
) -> Any:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecNormalize

    from stocklab.agents.sb3.vec_env import BatchedVecEnv

    vecnorm = VecNormalize(BatchedVecEnv.wrap(env), gamma=kwargs.get("gamma", 0.99), **norm)
    model = PPO("MlpPolicy", vecnorm, seed=seed, device="cpu", verbose=0, **kwargs)
    _prior(model, env)

    class _Report(BaseCallback):
        def _on_step(self) -> bool:
            if progress is not None:
                progress(min(self.num_timesteps, steps), steps)
            return True

    model.learn(total_timesteps=steps, callback=_Report())
    vecnorm.training = False
    return model, vecnorm


def _prior(model: Any, env: CatalogueVectorEnv) -> None:
    """Start the action head near sensible levels: logits_k = -(levels_k - c)^2 / 2 (c in periods of demand).

    SB3 starts a categorical policy almost uniform over the grid, so early on the SKUs ask for up to
    4 (L_max + 1) periods of demand and a shared warehouse is always full; centring the first policy at
    c = 1.25 x (mean lead time + 1) (about a base-stock level) lets learning start from a sensible
    warehouse. Only the head's bias changes, so the export stays the network's weights.
    """
    import torch

    lead = float(np.mean([c.lead_time.mean for c in env.catalogue.configs]))
    centre = 1.25 * (lead + 1.0)
    bias = -0.5 * (env.levels - centre) ** 2
    with torch.no_grad():
        model.policy.action_net.bias.copy_(torch.as_tensor(bias - bias.max(), dtype=torch.float32))
