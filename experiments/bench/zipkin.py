"""Zipkin's (2008) 16 lost-sales instances and the best classic policies on them, scored exactly.

Poisson(5) demand per period, holding h = 1 per unit and period, lost-sales penalty p in {4, 9, 19, 39}
per unit, lead time L in {1, 2, 3, 4} periods (Zipkin 2008, "Old and new methods for lost-sales
inventory systems", Operations Research 56(5), Table 1; the shipped ``configs/zipkin/lost_p{p}_L{L}.yaml``).
An instance is named ``p{p}L{L}`` (``p9L2``); ``L1`` and ``L2``, the names of the first version of
this benchmark, mean ``p9L1`` and ``p9L2``.

The classic comparators are tuned here exactly: the best base-stock level by the DP's own search
(:func:`~stocklab.baselines.exact.solver.best_base_stock`), and the best capped base-stock policy
(order min(cap, S - IP); Xin 2021, "Understanding the performance of capped base-stock policies in
lost-sales inventory models", Operations Research 69(1)) by a local search over (S, cap) in which
every candidate is scored by exact policy evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stocklab.baselines.exact.solver import DPInstance, best_base_stock, evaluate_policy
from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import ConfigError, parse_env_config
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import did_you_mean

#: Shortage costs p and lead times L of the 16 instances.
PENALTIES = (4, 9, 19, 39)
LEAD_TIMES = (1, 2, 3, 4)
#: Every instance name, in table order (p, then L).
ALL = tuple(f"p{p}L{lt}" for p in PENALTIES for lt in LEAD_TIMES)
#: Old names of the benchmark's first two instances.
ALIASES = {"L1": "p9L1", "L2": "p9L2"}
#: The env section shared by the instances (as configs/zipkin/*.yaml).
BASE_ENV: dict[str, Any] = {
    "unmet_demand": "lost",
    "demand": {"dist": "poisson", "mean": 5},
    "max_order": 20,
    "initial": {"on_hand": 10},
    "periods": 1000,
}


def parse_instances(text: str) -> list[str]:
    """Instance names from ``all`` or a comma-separated list (``p9L2,p39L3``, old ``L1``/``L2``).

    ConfigError naming the bad entry and the allowed names.
    """
    if text.strip().lower() == "all":
        return list(ALL)
    names: list[str] = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        name = ALIASES.get(raw, raw)
        if name not in ALL:
            raise ConfigError(
                f"bench optimality: unknown instance '{raw}'.{did_you_mean(raw, [*ALL, *ALIASES])} "
                f"Allowed: all, {', '.join(ALL)} (or L1, L2 for p9L1, p9L2)"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError("bench optimality: --instances is empty; give 'all' or names like p9L2")
    return names


def penalty_and_lead(name: str) -> tuple[int, int]:
    """(p, L) of an instance name ``p{p}L{L}``."""
    p, lead = name[1:].split("L")
    return int(p), int(lead)


def instance_env(name: str, action: dict[str, Any] | None = None) -> EnvConfig:
    """The env config of instance ``name`` with the ``action`` section of an agent (default: quantity)."""
    p, lead = penalty_and_lead(ALIASES.get(name, name))
    raw = {**BASE_ENV, "lead_time": lead, "costs": {"holding": 1.0, "shortage": float(p)}}
    if action:
        raw["action"] = action
    return parse_env_config(raw)


@dataclass(frozen=True)
class ClassicResult:
    """A tuned classic policy: its parameters and exact long-run cost (money per period)."""

    kind: str
    params: dict[str, int]
    cost: float
    evaluations: int


def best_capped_base_stock(inst: DPInstance, start_level: int) -> ClassicResult:
    """The best capped base-stock policy by local search; every candidate scored exactly.

    For each cap from max_order down, the level is moved one unit at a time from the previous cap's
    best level while the cost falls; the caps stop two steps after the cost stopped falling (the cost
    is unimodal in the cap on these instances).
    """
    config = inst.config
    seen: dict[tuple[int, int], float] = {}

    def cost(level: int, cap: int) -> float:
        if (level, cap) not in seen:
            policy = build_policy("capped_base_stock", config, {"level": level, "cap": cap})
            seen[level, cap] = float(evaluate_policy(inst, policy))
        return seen[level, cap]

    best: tuple[float, int, int] | None = None
    level, worse = start_level, 0
    for cap in range(config.max_order, 0, -1):
        level = _descend(lambda s, c=cap: cost(s, c), level)
        here = cost(level, cap)
        if best is None or here < best[0]:
            best, worse = (here, level, cap), 0
        elif here > best[0] + 1e-9:  # caps above every order placed tie: keep going
            worse += 1
            if worse >= 2:
                break
    assert best is not None
    return ClassicResult("capped_base_stock", {"level": best[1], "cap": best[2]}, best[0], len(seen))


def _descend(f: Any, x: int) -> int:
    """A local minimum of the integer function ``f`` reached from ``x`` by unit steps."""
    while x > 0 and f(x - 1) < f(x):
        x -= 1
    while f(x + 1) < f(x):
        x += 1
    return x


def classic_results(inst: DPInstance) -> list[ClassicResult]:
    """The exactly tuned base-stock and capped base-stock policies of ``inst``."""
    level, cost = best_base_stock(inst)
    base = ClassicResult("base_stock", {"level": int(level)}, float(cost), 0)
    return [base, best_capped_base_stock(inst, int(level))]
