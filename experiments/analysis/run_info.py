"""Report sections about the run rather than its results: its setup and its provenance.

The setup is what a reader needs to judge the answer (instance, simulation engine, evaluation design,
where demand came from and how it was cleaned); the provenance (hashes, seeds, versions, machine,
command) closes the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stocklab.experiments.analysis.render import Block, fmt
from stocklab.experiments.store import read_json

#: Where a run records the repairs cleaning made to its sales history (the runner's
#: ``write_data_repairs``: ``{"source", "sku", "counts", "changes": [{sku, date, kind, before, after,
#: note}, ...]}``). Read when present.
CLEANING_FILE = "data_cleaning.json"
#: Repairs listed one by one in the report (the rest are counted).
REPAIRS_SHOWN = 20
#: Demand models that replay or resample a sales history (their demand passed through cleaning).
HISTORY_DISTS = ("history", "forecast_fed")


# --------------------------------------------------------------------------------------------- setup
def engine_name(config: Mapping[str, Any]) -> str:
    """The simulation engine of a resolved config: ``env.engine`` (``auto`` resolved when possible).

    Configs from before engines were selectable ran on the SimPy engine, so a missing key is "simpy".
    """
    env = config.get("env") or {}
    engine = env.get("engine")
    if engine is None:
        return "simpy"
    if engine != "auto":
        return str(engine)
    try:
        from stocklab.envs.config import EnvConfig

        picked = getattr(EnvConfig.model_validate(env), "resolved_engine", None)
        picked = picked() if callable(picked) else picked
        return f"auto → {picked}" if isinstance(picked, str) else "auto"
    except Exception:  # a report never fails on a cosmetic detail
        return "auto"


def _compact(value: Any) -> str:
    """A config value in one short line: ``{dist: poisson, mean: 5.0}`` -> ``poisson, mean 5.0``."""
    if not isinstance(value, Mapping):
        return str(value)
    parts = [str(value["dist"])] if "dist" in value else []
    # nested sections (a history's cleaning options, say) have their own lines in the report
    parts += [f"{k} {v}" for k, v in value.items() if k != "dist" and not isinstance(v, (Mapping, list))
              and v is not None]  # fmt: skip
    return ", ".join(parts)


def plural(n: Any, word: str) -> str:
    """``n word`` with an English plural s unless n is 1: ``plural(1, "episode")`` -> ``1 episode``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _instance(env: Mapping[str, Any]) -> str:
    lead = env.get("lead_time")
    if isinstance(lead, Mapping) and lead.get("dist") == "fixed":
        lead = lead.get("value")
    costs = env.get("costs") or {}
    cost = ", ".join(f"{k} {v}" for k, v in costs.items())
    lead_text = plural(lead, "period") if isinstance(lead, (int, float)) else _compact(lead)
    return (f"{env.get('unmet_demand', '–')} sales; lead time {lead_text}; demand "
            f"{_compact(env.get('demand'))}; costs per unit and period: {cost}")  # fmt: skip


def setup_blocks(root: Path, summary: dict[str, Any], config: Mapping[str, Any]) -> list[Block]:
    """What was compared: the instance, engine, evaluation design and optimum, then the demand data."""
    env = config.get("env") or {}
    ev = config.get("evaluation") or {}
    opt = summary["optimum"]
    rows = [
        ["instance", _instance(env)],
        ["simulation engine", engine_name(config)],
        ["evaluation", f"{plural(summary['episodes'], 'episode')} × {plural(summary['periods'], 'period')} "
                       f"after a warm-up of {plural(ev.get('warmup', '–'), 'period')}, every policy on the same "
                       "demand seeds (common random numbers)"],
        ["DP optimum", "not available for this instance" if opt["cost"] is None
         else f"{opt['cost']:.4f} per period" + (f" ({opt['states']} states)" if opt.get("states") else "")],
    ]  # fmt: skip
    blocks: list[Block] = [("h2", "What was compared"), ("table", (["", ""], rows))]
    demand = env.get("demand") or {}
    if isinstance(demand, Mapping) and demand.get("dist") in HISTORY_DISTS:
        recorded = read_json(root / CLEANING_FILE)
        blocks += data_cleaning_blocks(
            recorded.get("changes") if isinstance(recorded, dict) else None,
            source=str(demand.get("path")),
            sku=demand.get("sku"),
            options=demand.get("cleaning"),
        )
    return blocks


def data_cleaning_blocks(
    repairs: Sequence[Mapping[str, Any]] | None,
    source: str,
    sku: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[Block]:
    """The report's lines on how the run's sales history was cleaned (the hook for recorded repairs).

    ``repairs``: the changes cleaning made, one mapping each with the keys of
    :meth:`CleaningReport.to_frame <stocklab.envs.sales.clean.CleaningReport.to_frame>` (sku, date,
    kind, before, after, note); None when the run did not record them (then the report says so).
    Only the run's ``sku`` is shown when one is given. Counts by kind, then the first
    :data:`REPAIRS_SHOWN` repairs in a table.
    """
    opts = ", ".join(f"{k}: {v}" for k, v in (options or {}).items()) or "defaults"
    where = f"`{source}`" + (f", SKU {sku}" if sku else "")
    lead = f"Demand comes from the sales history {where}, cleaned with {opts}."
    if repairs is None:
        return [("h2", "Data cleaning"),
                ("p", f"{lead} The repairs cleaning made are not recorded in this run folder "
                      f"(no `{CLEANING_FILE}`).")]  # fmt: skip
    mine = [r for r in repairs if sku is None or str(r.get("sku")) == str(sku)]
    if not mine:
        return [("h2", "Data cleaning"), ("p", f"{lead} Cleaning changed nothing.")]
    counts = ", ".join(f"{kind}: {n}" for kind, n in Counter(str(r.get("kind")) for r in mine).items())
    blocks: list[Block] = [("h2", "Data cleaning"), ("p", f"{lead} {len(mine)} repairs ({counts}):")]
    rows = [[r.get("sku"), str(r.get("date"))[:10], r.get("kind"), _qty(r.get("before")), _qty(r.get("after")),
             r.get("note") or ""] for r in mine[:REPAIRS_SHOWN]]  # fmt: skip
    blocks.append(("table", (["sku", "date", "repair", "before", "after", "note"], rows)))
    if len(mine) > REPAIRS_SHOWN:
        blocks.append(("p", f"... and {len(mine) - REPAIRS_SHOWN} more (all in `{CLEANING_FILE}`)."))
    return blocks


def _qty(x: Any) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "missing"
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


# ---------------------------------------------------------------------------------------- provenance
def run_blocks(manifest: dict[str, Any]) -> list[Block]:
    """The run's provenance: config hash, seeds, versions, git commit, machine, times and command."""
    v = manifest.get("versions") or {}
    seeds = manifest.get("seeds") or {}
    ev = seeds.get("evaluation") or []
    shown = ", ".join(map(str, ev[:5])) + (f", ... ({len(ev)} seeds)" if len(ev) > 5 else "")
    m = manifest.get("machine") or {}
    rows = [
        ["config hash", manifest.get("config_hash")],
        ["evaluation seeds", f"base seed {seeds.get('evaluation_seed')}: {shown}"],
        ["training seeds", ", ".join(f"{k}: {s}" for k, s in (seeds.get("training") or {}).items())],
        ["versions", ", ".join(f"{k} {val}" for k, val in v.items() if val)],
        ["git commit", manifest.get("git_commit") or "–"],
        ["machine", f"{m.get('hostname')} · {m.get('system')} · {m.get('machine')} · {m.get('cpus')} CPUs"],
        ["started / finished (UTC)", f"{manifest.get('started')} / {manifest.get('finished') or '–'}"],
        [
            "wall time (last attempt)",
            f"{fmt(manifest.get('wall_seconds'), 1)} s, {manifest.get('attempts', 1)} attempt(s), "
            f"{manifest.get('jobs')} job(s)",
        ],
        ["command", " ".join(manifest.get("command") or []) or "–"],
    ]
    return [("h2", "What was run"), ("table", (["", ""], rows))]
