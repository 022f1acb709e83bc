"""The ``shared_ppo`` catalogue policy kind: what a runner calls to check, train, save and reload it.

A config declares it like any policy::

    - name: shared_ppo
      kind: shared_ppo
      params: {holdout: 0.25}            # or train_skus: [..]; levels: [..] (periods of demand);
                                         #   episode_periods: 52
      train: {steps: 200000, seed: 1}    # SKU-periods of experience
      hyperparams: {n_steps: 32, learning_rate: 3.0e-4}   # PPO's, over DEFAULT_HYPERPARAMS

:data:`SHARED_PPO` (a :class:`SharedPPOKind`, ``scope = "catalogue"``) checks the spec
(:meth:`~SharedPPOKind.check`), trains on a catalogue (:meth:`~SharedPPOKind.build_for`), saves the
policy as JSON (``policy/shared_ppo.json``: the network, its statistics, the level grid and the SKUs
trained on; no pickle) and reloads it for any catalogue (:meth:`~SharedPPOKind.load_for`).
:func:`~stocklab.agents.catalogue.evaluate.generalization` gives the train vs held-out report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt

from stocklab.envs.catalogue.catalogue import Catalogue
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.kinds import PolicyKind, PolicySpec
from stocklab.envs.core.schema import StrictModel, validate_section
from stocklab.envs.core.storage import check_format, format_stamp, read_json, write_json

#: The saved policy's file inside a policy folder.
POLICY_FILE = "shared_ppo.json"
#: Its on-disk format name.
FORMAT = "stocklab-shared-ppo"


class SharedPPOParams(StrictModel):
    """``params`` of a ``shared_ppo`` spec."""

    #: Share of the SKUs held out of training (ignored with ``train_skus``).
    holdout: float = Field(0.25, gt=0.0, lt=1.0)
    #: The SKUs to train on (default: a random 1 - holdout share, from the training seed).
    train_skus: list[str] | None = None
    #: The action grid: order-up-to levels in periods of mean demand (default 0, 0.25, .., 4 (L_max + 1)).
    levels: list[float] | None = None
    #: Periods per training episode (default: the catalogue's).
    episode_periods: PositiveInt | None = None


class SharedPPOKind(PolicyKind):
    """One PPO network shared by every SKU of a catalogue (see :mod:`stocklab.agents.catalogue.shared_ppo`)."""

    name = "shared_ppo"
    summary = "one PPO policy for all SKUs of a catalogue (trained on some, evaluated on held-out SKUs)"
    family = "agent"
    trainable = True
    export = "catalogue_params"
    build_priority = 0
    #: A catalogue policy kind: it decides for a whole catalogue, not one stocking point.
    scope = "catalogue"

    def params_of(self, spec: PolicySpec) -> SharedPPOParams:
        """The validated ``params`` of ``spec`` (ConfigError naming the key)."""
        return validate_section(SharedPPOParams, spec.params, prefix=f"policies.{spec.name}.params")

    def check(self, env: Any, spec: PolicySpec, deep: bool = False) -> None:
        """``train.steps`` is required, ``params`` are known keys, PPO's hyper-parameters (without torch where SB3's source can be read, else only with ``deep``)."""
        if spec.train.steps is None:
            raise ConfigError(
                f"policies.{spec.name}: shared_ppo needs train.steps (SKU-periods), e.g. 200000"
            )
        p = self.params_of(spec)
        if p.levels is not None and (not p.levels or min(p.levels) < 0):
            raise ConfigError(
                f"policies.{spec.name}.params.levels: {p.levels}; a non-empty list of levels >= 0"
            )
        from stocklab.agents.sb3.hyperparams import check_without_torch

        hp = {k: v for k, v in spec.hyperparams.items() if k != "normalize"}
        if not check_without_torch("ppo", hp) and deep:
            from stable_baselines3 import PPO

            from stocklab.agents.sb3.agent import algorithm_kwargs

            algorithm_kwargs(PPO, hp)

    def build_for(
        self, catalogue: Catalogue, spec: PolicySpec, seed: int, workdir: str | Path, progress: Any = None
    ) -> tuple[Any, dict[str, Any]]:
        """Train on ``catalogue``, save under ``workdir/policy``; returns (policy, info for the run's record)."""
        from stocklab.agents.catalogue.shared_ppo import train_shared_ppo

        p = self.params_of(spec)
        if p.train_skus is not None:
            for sku in p.train_skus:
                catalogue.index(sku)  # ConfigError naming an unknown SKU
        result = train_shared_ppo(
            catalogue, int(spec.train.steps or 0), seed=int(spec.train.seed if spec.train.seed is not None else seed),
            holdout=p.holdout, train_skus=p.train_skus, hyperparams=spec.hyperparams,
            episode_periods=p.episode_periods, levels=p.levels, progress=progress,
        )  # fmt: skip
        save_policy(result.policy, Path(workdir) / "policy")
        info = {
            "method": "trained", "steps": result.steps, "train_seconds": round(result.seconds, 3),
            "train_skus": result.train_skus, "heldout_skus": result.heldout_skus,
        }  # fmt: skip
        return result.policy, info

    def load_for(self, catalogue: Catalogue, workdir: str | Path) -> Any:
        """The policy :meth:`build_for` saved, bound to ``catalogue``."""
        return load_policy(Path(workdir) / "policy", catalogue)


def save_policy(policy: Any, folder: str | Path) -> Path:
    """Write ``policy.params()`` atomically to ``folder/shared_ppo.json``; returns the file."""
    path = Path(folder) / POLICY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {**format_stamp(FORMAT), **policy.params()})
    return path


def load_policy(folder: str | Path, catalogue: Catalogue) -> Any:
    """The shared policy saved in ``folder`` (or the file itself), bound to ``catalogue``; PolicyError if bad."""
    from stocklab.agents.catalogue.shared_ppo import SharedPPOPolicy

    path = Path(folder)
    path = path / POLICY_FILE if path.is_dir() else path
    if not path.is_file():
        raise PolicyError(f"{path}: no saved shared_ppo policy")
    data = read_json(path)
    check_format(data, FORMAT, path, PolicyError)
    return SharedPPOPolicy.from_params(data, catalogue)


def train_skus_of(policy: Any) -> Sequence[str]:
    """The SKUs a shared policy trained on (for :func:`~stocklab.agents.catalogue.evaluate.generalization`)."""
    return list(policy.train_skus)


#: The kind's declaration, for the runner's registry of catalogue kinds.
SHARED_PPO = SharedPPOKind()
