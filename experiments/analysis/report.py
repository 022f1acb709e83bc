"""The report of a run, rebuilt from its saved files alone (``stocklab report DIR``).

Reads ``episodes.csv``, the policy and optimum records, traces, learning curves, ``config.yaml`` /
``config.resolved.yaml`` and ``manifest.json``; writes ``summary.json``, ``summary.csv``,
``plots/*.png`` (with ``plots/cost.csv``, the data behind the cost plot), ``report.md`` and a
self-contained ``report.html`` (inline CSS, plots embedded as base64 PNG, no network access).

The report leads with the answer (which policy is cheapest, its gap to the DP optimum, the paired
difference to the runner-up with its CI and significance), then what was compared, the tables, the
plots, and ends with the run's provenance and its config. Each section is one function returning
blocks (:mod:`stocklab.experiments.analysis.render`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from stocklab.envs.core.errors import DataError
from stocklab.experiments.analysis import plots
from stocklab.experiments.analysis.render import Block, fmt, pm, to_html, to_markdown
from stocklab.experiments.analysis.run_info import plural, run_blocks, setup_blocks
from stocklab.experiments.analysis.stats import difference_frame, headline, summarize_policies
from stocklab.experiments.store import read_json, write_csv, write_json, write_text

__all__ = ["rebuild", "summarize_run", "to_html", "to_markdown"]


# ----------------------------------------------------------------------------------------- summary
def summarize_run(root: Path) -> dict[str, Any]:
    """``summary.json`` content from a run's saved results.

    Per policy (cheapest first) every KPI with its 95% CI, paired differences to the best policy and
    the optimum, and the gap %; ``headline`` is :func:`~stocklab.experiments.analysis.stats.headline`.
    """
    path = root / "episodes.csv"
    if not path.exists():
        raise DataError(f"{root}: no episodes.csv; is this a finished `stocklab run` folder?")
    episodes = pd.read_csv(path)
    records = {
        n: read_json(root / "policies" / n / "record.json") or {} for n in dict.fromkeys(episodes["policy"])
    }
    kinds = dict(zip(episodes["policy"], episodes["kind"]))
    opt = read_json(root / "optimum" / "record.json")
    optimum = opt["cost"] if opt else None
    if optimum is None:  # the optimal policy solved the DP itself (evaluation.exact: false)
        optimum = next(
            (r["info"].get("optimal_cost") for r in records.values() if r.get("kind") == "optimal"), None
        )
    exact = {n: r.get("exact_cost") for n, r in records.items()}
    table = summarize_policies(episodes, kinds, optimum, exact)
    for n, row in table.items():
        row["params"] = records[n].get("params")
        row["method"] = (records[n].get("info") or {}).get("method")
    return {
        "optimum": {"cost": optimum, "states": opt.get("states") if opt else None},
        "best": next(iter(table)),
        "episodes": int(episodes["episode"].nunique()),
        "periods": int(episodes["periods"].iloc[0]),
        "headline": headline(table),
        "policies": table,
    }


def _summary_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, row in summary["policies"].items():
        flat = {"policy": name, **{k: v for k, v in row.items() if k != "params"}}
        flat["params"] = " ".join(f"{k}={v}" for k, v in (row.get("params") or {}).items())
        rows.append(flat)
    return pd.DataFrame(rows)


def _read_config(root: Path) -> dict[str, Any]:
    """The resolved config of the run (defaults filled in), else the config as given, else {}."""
    for name in ("config.resolved.yaml", "config.yaml"):
        path = root / name
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
    return {}


# ---------------------------------------------------------------------------------------- headline
def _half(r: dict[str, Any], half: float | None) -> float | None:
    """A CI half-width to show: none from a single episode (the summary stores 0 there)."""
    return half if r["episodes"] >= 2 else None


def _diff_cell(r: dict[str, Any], diff: float, half: float | None) -> str:
    return f"{diff:+.3f}" if _half(r, half) is None else f"{diff:+.3f} ± {half:.3f}"


def _gap_text(gap: float | None, method: str | None) -> str:
    if gap is None:
        return "the DP optimum is not available for this instance"
    how = "exact: the DP evaluated this policy" if method == "exact" else "simulated"
    return f"{gap:.2f} % above the DP optimum ({how})"


def _p_text(p: float | None) -> str:
    return "–" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def _runner_up_text(h: dict[str, Any]) -> str:
    if h["runner_up"] is None:
        return "It is the only policy evaluated."
    n, ru = h["episodes"], f"**{h['runner_up']}**"
    if h["runner_up_gap_pct"] is not None:
        ru += f" ({h['runner_up_gap_pct']:.2f} % above the optimum, {h['runner_up_gap_method']})"
    if h["identical"]:
        return (
            f"The runner-up, {ru}, had exactly the same cost on all {n} episodes: the two order alike here."
        )
    if h["significant"] is None:
        return (f"The runner-up, {ru}, costs {h['diff']:.3f} more per period on the single evaluation episode, "
                "which gives no confidence interval: significance unknown.")  # fmt: skip
    p = h["p_value"]
    p_text = ", p < 0.001" if p < 0.001 else f", p = {p:.3f}"
    text = (f"The runner-up, {ru}, costs {h['diff']:.3f} more per period (paired 95% CI {h['diff_low']:.3f} "
            f"to {h['diff_high']:.3f}{p_text}, over {n} common-seed episodes)")  # fmt: skip
    if h["significant"]:
        text += ": the difference is **significant** at the 5 % level."
    else:
        text += ": **not significant** at the 5 % level; these episodes cannot tell the two apart."
    if h["exact_diff"] is not None:
        text += f" The DP's exact costs differ by {h['exact_diff']:+.4f} per period"
        text += "; they rank the runner-up first." if h["exact_diff"] < 0 else "."
    return text


def headline_blocks(summary: dict[str, Any]) -> list[Block]:
    """The answer first: one sentence and a two-row table (best policy and runner-up)."""
    h = summary["headline"]
    pol = summary["policies"]
    kind = "the DP's optimal policy" if h["best_kind"] == "optimal" else h["best_kind"]
    kind = "" if kind == h["best"] else f" ({kind})"
    best = pol[h["best"]]
    lead = (f"**{h['best']}**{kind} has the lowest average cost: {pm(h['best_cost'], _half(best, h['best_ci95']))} "
            f"per period, {_gap_text(h['best_gap_pct'], h['best_gap_method'])}. {_runner_up_text(h)}")  # fmt: skip
    head = ["", "policy", "kind", "avg cost ± 95% CI", "gap % to DP optimum", "Δ to best ± paired 95% CI",
            "p-value", "significant"]  # fmt: skip
    rows = [["best", h["best"], h["best_kind"], pm(h["best_cost"], _half(best, h["best_ci95"])), _gap_cell(best),
             "–", "–", "–"]]  # fmt: skip
    if h["runner_up"] is not None:
        r = pol[h["runner_up"]]
        sig = {None: "–", True: "yes", False: "no"}[h["significant"]]
        rows.append(["runner-up", h["runner_up"], h["runner_up_kind"], pm(r["avg_cost"], _half(r, r["ci95"])),
                     _gap_cell(r), _diff_cell(r, h["diff"], h["diff_ci95"]), _p_text(h["p_value"]), sig])  # fmt: skip
    return [("lead", lead), ("table", (head, rows))]


# ------------------------------------------------------------------------------------------ tables
def _gap_cell(r: dict[str, Any]) -> str:
    if r["gap_pct"] is None:
        return "–"
    if r["gap_method"] == "exact":
        return f"{r['gap_pct']:.2f} (exact)"
    return f"{pm(r['gap_pct'], _half(r, r.get('gap_ci95_pct')), 2)} (simulated)"


def _significance(r: dict[str, Any], best: str, name: str) -> str:
    d, h = r["diff_to_best"], r["diff_to_best_ci95"]
    if name == best or r["episodes"] < 2:
        return "–"
    if d == 0.0 and h == 0.0:
        return "same"
    return "yes" if d - h > 0.0 or d + h < 0.0 else "no"


def cost_blocks(summary: dict[str, Any], root: Path) -> list[Block]:
    """The cost table: mean cost, paired difference to the best with significance, gap to the optimum."""
    opt = {
        **summary["optimum"],
        "seconds": (read_json(root / "optimum" / "record.json") or {}).get("seconds"),
    }
    best = summary["best"]
    head = ["policy", "kind", "avg cost ± 95% CI", "Δ to best ± paired 95% CI", "differs from best",
            "gap % to optimum", "exact cost (DP)"]  # fmt: skip
    rows = [[name, r["kind"], pm(r["avg_cost"], _half(r, r["ci95"])), _diff_cell(r, r["diff_to_best"], r["diff_to_best_ci95"]),
             _significance(r, best, name), _gap_cell(r), fmt(r.get("exact_cost"), 4)]
            for name, r in summary["policies"].items()]  # fmt: skip
    note = (f"Costs are money per period. Δ are paired differences to {best} over the common evaluation seeds "
            "(paired-t 95% CI); \"differs from best\" says whether that CI excludes 0. ")  # fmt: skip
    if opt.get("cost") is not None:
        note += f"DP optimum: {opt['cost']:.4f} per period" + (
            f" ({opt['states']} states, solved in {fmt(opt.get('seconds'), 2)} s)."
            if opt.get("states")
            else "."
        )
        note += (" Gap % = 100 (cost − optimum) / optimum: *exact* where the DP evaluated the policy, "
                 "*simulated* otherwise (paired with the simulated optimal policy when there is one).")  # fmt: skip
    else:
        note += "Optimum unknown (instance outside the exact DP's scope): gaps are not available."
    title = f"Cost ({plural(summary['episodes'], 'episode')} × {plural(summary['periods'], 'period')}, cheapest first)"
    return [("h2", title), ("table", (head, rows)), ("p", note)]


def service_blocks(summary: dict[str, Any]) -> list[Block]:
    """Service and stock KPIs per policy (means over the evaluation episodes)."""
    head = ["policy", "fill rate", "cycle service level", "on hand", "backlog", "order frequency",
            "order size", "bullwhip"]  # fmt: skip
    rows = [[name, fmt(r["fill_rate"], 4), fmt(r["cycle_service_level"], 4), fmt(r["avg_on_hand"], 2),
             fmt(r["avg_backlog"], 2), fmt(r["order_frequency"], 3), fmt(r["mean_order_size"], 2),
             fmt(r["bullwhip"], 3)] for name, r in summary["policies"].items()]  # fmt: skip
    note = ("Fill rate: share of demand served from stock; cycle service level: share of periods without a "
            "stock-out; on hand and backlog in units at the end of a period; order frequency: share of "
            "periods with an order; order size in units; bullwhip: variance of orders / variance of demand.")  # fmt: skip
    return [("h2", "Service and stock"), ("table", (head, rows)), ("p", note)]


def _policy_blocks(summary: dict[str, Any], root: Path) -> list[Block]:
    rows = []
    for name, r in summary["policies"].items():
        record = read_json(root / "policies" / name / "record.json") or {}
        params = ", ".join(f"{k}={fmt(v)}" for k, v in (r.get("params") or {}).items()) or "–"
        exact = fmt(r.get("exact_cost"), 4)
        rows.append([name, r.get("method") or "–", params, exact, fmt(record.get("build_seconds"), 1)])
    return [
        ("h2", "Policies"),
        ("table", (["policy", "obtained", "parameters", "exact cost (DP)", "build s"], rows)),
    ]


def _forecast_blocks(summary: dict[str, Any]) -> list[Block]:
    pol = summary["policies"]
    if all(r.get("forecast_mae") is None for r in pol.values()):
        return []
    first = next(r for r in pol.values() if r.get("forecast_mae") is not None)
    rows = [[k.removeprefix("forecast_").upper(), pm(first[k], _half(first, first[f"ci95_{k}"]))]
            for k in ("forecast_mae", "forecast_rmse", "forecast_bias", "forecast_mape")]  # fmt: skip
    return [("h2", "Forecast accuracy"),
            ("p", "The env's demand forecasts against realised demand over the evaluation episodes "
                  "(the same for every policy; MAPE in %, over periods with demand):"),
            ("table", (["metric", "mean ± 95% CI"], rows))]  # fmt: skip


def forecast_value_blocks(root: Path, summary: dict[str, Any], manifest: dict[str, Any]) -> list[Block]:
    """The section on a forecast-fed run's forecaster ([] for other runs).

    Its hold-out accuracy and the value of information: the newsvendor's cost with information
    none / forecast / oracle_mean (:func:`~stocklab.experiments.analysis.forecasting.forecast_value`).
    """
    from stocklab.experiments.analysis.forecasting import forecast_value

    path = root / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    env = (config or {}).get("env") or {}
    seeds = ((manifest.get("seeds") or {}).get("evaluation") or [])[:8] or None
    value = forecast_value(env, base_dir=str(root), seeds=seeds, periods=min(summary["periods"], 240))
    if value is None:
        return []
    acc = [[k.upper(), fmt(value[k], 4)] for k in ("mae", "rmse", "smape", "mase")]
    none = value["costs"]["none"]
    costs = [[info, fmt(c, 3), fmt(none - c, 3), fmt(100 * (none - c) / none if none else None, 1)]
             for info, c in value["costs"].items()]  # fmt: skip
    guard = "; ".join(value["guard"]) or "none"
    return [
        ("h2", "Forecaster: hold-out accuracy and value of information"),
        ("p", f"Demand of `{value['sku']}` is forecast-fed by `{value['model']}` ({value['chosen']}). "
              f"Rolling-origin backtest on the history it was fitted on: origins {value['origins']}, "
              f"horizon {value['horizon']} periods (MASE scaled by the in-sample seasonal naive error; "
              f"guard: {guard})."),
        ("table", (["measure", "value"], acc)),
        ("p", f"Value of information: average cost per period of the newsvendor policy on the same demand "
              f"({value['episodes']} episodes × {value['periods']} periods, common seeds) when it observes "
              "nothing, the forecast, or the true mean demand."),
        ("table", (["information", "cost / period", "saving vs none", "saving %"], costs)),
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------- plots
def _curve_panels(root: Path, summary: dict[str, Any], config: dict[str, Any]) -> list[plots.CurvePanel]:
    """Learning curves of the trained agents, each labelled with the size of its training-seed estimate."""
    from stocklab.agents.registry import EVAL_EPISODES, EVAL_PERIODS

    specs = {p.get("name"): p for p in config.get("policies") or [] if isinstance(p, dict)}
    panels = []
    for name, r in summary["policies"].items():
        path = root / "policies" / name / "learning_curve.csv"
        if not path.exists():
            continue
        train = (specs.get(name) or {}).get("train") or {}
        episodes, periods = train.get("episodes") or EVAL_EPISODES, train.get("periods") or EVAL_PERIODS
        estimate = f"{episodes} training-seed episode{'s' * (episodes != 1)} × {periods} periods"
        panels.append(plots.CurvePanel(name, pd.read_csv(path), estimate, r.get("exact_cost"), r["avg_cost"],
                                       r["ci95"]))  # fmt: skip
    return panels


def _curve_notes(panels: list[plots.CurvePanel], optimum: float | None) -> list[Block]:
    note = ("Learning curves show *training-seed estimates*: each point is the greedy policy's average cost on "
            "the agent's own training-evaluation seeds (never the run's evaluation seeds), and the kept policy "
            "is the point with the lowest estimate, so its estimate is biased low. The green line is the kept "
            "policy's exact cost from the DP (or its cost on the evaluation seeds where the DP cannot evaluate "
            "it); the dashed red line is the DP optimum.")  # fmt: skip
    blocks: list[Block] = [("p", note)]
    for p in panels:
        if not p.below(optimum):
            continue
        low = p.frame.loc[p.frame["value"].idxmin()]
        exact = "" if p.exact_cost is None else f" The kept policy's exact cost is {p.exact_cost:.3f}."
        blocks.append(("warn", f"The learning curve of **{p.name}** goes below the DP optimum ({low['value']:.3f} "
                               f"at step {int(low['step'])}, optimum {optimum:.3f}), which no policy can beat: its "
                               f"points are estimates from only {p.estimate}, and selecting the lowest of noisy "
                               f"estimates favours lucky ones.{exact}"))  # fmt: skip
    return blocks


def _plot_blocks(root: Path, summary: dict[str, Any], config: dict[str, Any]) -> list[Block]:
    pdir = root / "plots"
    pol = summary["policies"]
    diffs = difference_frame(pol)
    write_csv(pdir / "cost.csv", diffs)
    blocks: list[Block] = [
        ("h2", "Plots"),
        ("img", (plots.cost_differences(diffs, summary["best"], summary["episodes"], pdir / "cost.png"),
                 "paired cost difference of each policy to the best")),
        ("p", "Error bars are the paired-t 95% CIs of the table's Δ to best (data in `plots/cost.csv`): "
              "common random numbers remove the demand noise every policy shares, so these bars are far "
              "shorter than the CIs of the means."),
        ("img", (plots.cost_breakdown(pol, pdir / "cost_breakdown.png"), "cost breakdown")),
    ]  # fmt: skip
    traces = {
        n: pd.read_csv(root / "traces" / f"{n}.csv") for n in pol if (root / "traces" / f"{n}.csv").exists()
    }
    if traces:
        blocks.append(("img", (plots.trajectories(traces, pdir / "trajectories.png"), "trajectories")))
    panels = _curve_panels(root, summary, config)
    if panels:
        optimum = summary["optimum"]["cost"]
        path = plots.learning_curves(panels, optimum, pdir / "learning_curves.png")
        blocks += [
            ("h2", "Learning curves"),
            ("img", (path, "learning curves")),
            *_curve_notes(panels, optimum),
        ]
    return blocks


# ------------------------------------------------------------------------------------------ rebuild
def rebuild(root: Path) -> Path:
    """Recompute the summary and rewrite plots, ``report.md`` and ``report.html`` of a run folder."""
    root = Path(root)
    summary = summarize_run(root)
    manifest = read_json(root / "manifest.json") or {}
    config = _read_config(root)
    config_path = root / "config.yaml"
    config_text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    name = root.name
    write_json(
        root / "summary.json", {"experiment": name, "config_hash": manifest.get("config_hash"), **summary}
    )
    write_csv(root / "summary.csv", _summary_frame(summary))
    blocks = (headline_blocks(summary) + setup_blocks(root, summary, config) + cost_blocks(summary, root)
              + service_blocks(summary) + _plot_blocks(root, summary, config) + _forecast_blocks(summary)
              + forecast_value_blocks(root, summary, manifest)
              + _policy_blocks(summary, root) + run_blocks(manifest)
              + [("h2", "Config as run"), ("p", "`config.yaml` (overrides applied; loadable with `stocklab run`):"),
                 ("code", config_text)])  # fmt: skip
    title = f"stocklab report: {name}"
    write_text(root / "report.md", to_markdown(title, blocks, root))
    write_text(root / "report.html", to_html(title, blocks))
    return root / "report.html"
