"""One registry of policy kinds: a kind declared in this test alone goes through validate, run, report
and export (refused or accepted as it declares), with no other file touched.

The toy policy orders a fixed quantity q every period. With demand replayed as 5 every period, lead
time 1, 5 units on hand at the start, h = 1 and no other cost, ordering q = 6 gives (by hand):
  t0: 5 on hand, order 6, demand 5 -> 0 left;  t1: 0 + 6 -> 1 left;  t2: 1 + 6 -> 2 left; ...
so the stock left at the end of period t is t, and the holding cost of 10 periods is
0 + 1 + 2 + ... + 9 = 45, i.e. 4.5 per period in every episode.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.kinds import BuildContext, Built, PolicyKind, PolicySpec
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.experiments.config import parse_config
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.runtime import load_policy as load_artefact
from stocklab.experiments.kinds import REGISTRY
from stocklab.experiments.run.runner import RunOptions, load_run_policy, run_experiment


class FixedOrder(Policy):
    """Orders ``quantity`` units every period."""

    name = "toy"

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, quantity: int) -> None:
        super().__init__(obs_spec, action_map)
        self.quantity = quantity

    def act(self, observation: np.ndarray) -> int:
        return self.action_map.action(self.quantity, self.inventory_position(observation))

    def params(self) -> dict[str, Any]:
        return {"quantity": self.quantity}


class ToyKind(PolicyKind):
    name = "toy"
    summary = "a fixed order every period (declared by a test)"
    export = "params"

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        q = spec.params.get("quantity")
        if not isinstance(q, int) or q < 0:
            raise ConfigError(f"toy: quantity (={q!r}) must be an integer >= 0")

    def build(self, ctx: BuildContext) -> Built:
        q = ctx.spec.params["quantity"]
        return Built(self.rebuild(ctx.env, {"quantity": q}), {"quantity": q}, {"method": "given"})

    def rebuild(self, env: EnvConfig, params: dict[str, Any]) -> Policy:
        return FixedOrder(ObsSpec.for_config(env), ActionMap.for_config(env), int(params["quantity"]))


class ToyNoExport(ToyKind):
    name = "toy_private"
    export = None


ENV = {
    "unmet_demand": "lost",
    "lead_time": 1,
    "demand": {"dist": "replay", "values": [5] * 10},
    "costs": {"holding": 1.0, "shortage": 9.0},
    "initial": {"on_hand": 5},
}


def config(**extra: Any) -> dict[str, Any]:
    return {
        "name": "toy_run",
        "env": ENV,
        "policies": [
            {"name": "fixed", "kind": "toy", "params": {"quantity": 6}},
            {"name": "hidden", "kind": "toy_private", "params": {"quantity": 6}},
        ],
        "evaluation": {"episodes": 3, "periods": 10, "exact": False, "trace_periods": 5},
        **extra,
    }


@pytest.fixture()
def toy_kinds():
    kinds = [REGISTRY.register(ToyKind()), REGISTRY.register(ToyNoExport())]
    yield kinds
    for kind in kinds:
        REGISTRY.unregister(kind.name)


def test_validation_reads_the_registry(toy_kinds):
    cfg = parse_config(config())
    assert [p.kind for p in cfg.policies] == ["toy", "toy_private"]
    bad = config()
    bad["policies"][0]["params"]["quantity"] = -2
    with pytest.raises(ConfigError, match=r"policies\[0\] \(fixed\)\.params: toy: quantity \(=-2\)"):
        parse_config(bad)
    typo = config()
    typo["policies"][0]["kind"] = "toi"
    with pytest.raises(ConfigError, match="Did you mean 'toy'"):
        parse_config(typo)


def test_unregistered_kind_is_unknown():
    with pytest.raises(ConfigError, match="unknown policy kind 'toy'"):
        parse_config(config())


def test_run_report_and_export_as_declared(toy_kinds, tmp_path):
    root = run_experiment(parse_config(config()), RunOptions(out=tmp_path, progress=False))
    summary = json.loads((root / "summary.json").read_text())
    for name in ("fixed", "hidden"):
        assert summary["policies"][name]["avg_cost"] == pytest.approx(4.5)  # worked out by hand above
    assert "fixed" in (root / "report.md").read_text()

    policy, env, kind = load_run_policy(root, "fixed")
    export_policy(policy, env, tmp_path / "artefact", name="fixed", kind=kind)
    deployed = load_artefact(tmp_path / "artefact")
    # quantity mode: the action is the order, whatever the state
    assert deployed.decide({"on_hand": 3}) == 6

    policy, env, kind = load_run_policy(root, "hidden")
    with pytest.raises(PolicyError, match="kind 'toy_private' declares no export format"):
        export_policy(policy, env, tmp_path / "nope", name="hidden", kind=kind)
    assert not (tmp_path / "nope").exists()
