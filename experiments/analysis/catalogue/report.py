"""The catalogue report: the answer first (best policy, its gap to the bound), KPI tables, plots.

:func:`rebuild` reads a catalogue run folder (``catalogue_episodes.csv``, ``catalogue_periods.csv``,
``catalogue_trace.csv``, ``catalogue_run.json``) and writes ``catalogue_summary.json``, the figures
under ``plots/`` and ``report.md`` / ``report.html`` (self-contained, tables within 1,280 px).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.envs.core.errors import DataError
from stocklab.envs.core.storage import read_json, write_json, write_text
from stocklab.experiments.analysis.catalogue import kpis as K
from stocklab.experiments.analysis.catalogue import plots as P
from stocklab.experiments.analysis.render import Block, fmt, pm, to_html, to_markdown


def _pct(x: Any, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def summarise(root: Path) -> dict[str, Any]:
    """KPIs of a catalogue run folder (also written as ``catalogue_summary.json``)."""
    meta = read_json(root / "catalogue_run.json")
    if not meta:
        raise DataError(f"{root}: no catalogue_run.json; give the folder of a catalogue `stocklab run`")
    episodes = pd.read_csv(root / "catalogue_episodes.csv", keep_default_na=False, na_values=[""])
    periods = pd.read_csv(root / "catalogue_periods.csv")
    bound = meta.get("bound") or {}
    value = bound.get("value") if bound.get("applies") else None
    kp = K.policy_kpis(episodes, periods, meta.get("capacity"), meta.get("budget"), value)
    best = K.best_policy(kp)
    diffs = {n: K.paired_difference(episodes, n, best) for n in kp if n != best}
    seg = K.segment_kpis(episodes.assign(segment=episodes["segment"].astype(str)))
    clusters = K.segment_kpis(episodes, "cluster") if episodes["cluster"].nunique() > 1 else pd.DataFrame()
    costs = K.sku_costs(episodes).reset_index()
    costs["sku"] = costs["sku"].astype(str)
    return {
        **meta, "best": best, "policies": kp, "paired_vs_best": diffs, "segments": seg.to_dict("records"),
        "clusters": clusters.to_dict("records"),
        "sku_costs": costs.to_dict("records"),
    }  # fmt: skip


def _tables(s: dict[str, Any]) -> list[Block]:
    kp = s["policies"]
    head = ["policy", "cost / period", "gap % to bound", "fill rate %", "SKUs with stock-out %",
            "inventory value", "turns / period", "periods within capacity %"]  # fmt: skip
    rows = [[n, pm(k["cost"], k["ci95"], 2), fmt(k["gap_pct"], 2), _pct(k["fill_rate"], 2),
             _pct(k["stockout_sku_share"]), fmt(k["inventory_value"], 1), fmt(k["turns"], 3),
             _pct(k.get("within_capacity"), 2)] for n, k in kp.items()]  # fmt: skip
    head2 = ["policy", "holding", "shortage", "fixed + unit", "overflow", "capacity use %", "peak use %",
             "budget use %"]  # fmt: skip
    rows2 = [[n, fmt(k["holding_cost"], 2), fmt(k["shortage_cost"], 2),
              fmt(k["fixed_cost"] + k["unit_cost"], 2), fmt(k["overflow_cost"], 2),
              _pct(k.get("capacity_util")), _pct(k.get("capacity_peak")), _pct(k.get("budget_util"))]
             for n, k in kp.items()]  # fmt: skip
    blocks: list[Block] = [("h2", "Policies (catalogue totals, money per period)"), ("table", (head, rows))]
    blocks += [("h2", "Cost components and shared limits"), ("table", (head2, rows2))]
    if s["paired_vs_best"]:
        rows3 = [[n, pm(d["mean"], d["ci95"], 2), fmt(d["pct"], 2)] for n, d in s["paired_vs_best"].items()]
        blocks += [("h2", f"Paired differences to {s['best']} (same SKUs, same demand)"),
                   ("table", (["policy", "cost difference / period", "% of best's cost"], rows3))]  # fmt: skip
    for key, col, title in (("segments", "segment", "Per Syntetos-Boylan segment"),
                            ("clusters", "cluster", "Per K-means cluster (by increasing mean demand)")):  # fmt: skip
        seg = pd.DataFrame(s.get(key) or [])
        if len(seg) and seg[col].nunique() > 1:
            rows4 = [[r["policy"], r[col], r["skus"], fmt(r["cost"], 2), _pct(r["cost_share"]),
                      _pct(r["fill_rate"], 2), _pct(r["stockout_sku_share"])] for r in s[key]]  # fmt: skip
            blocks += [("h2", title), ("table", (["policy", col, "SKUs", "cost", "% of cost", "fill rate %",
                                                  "SKUs with stock-out %"], rows4))]  # fmt: skip
    return blocks + _heldout(s)


def _heldout(s: dict[str, Any]) -> list[Block]:
    """Learned policies on the SKUs they trained on vs those held out, beside the best policy (paired)."""
    rows = []
    for name, trained in (s.get("train_skus") or {}).items():
        skus = pd.DataFrame(s["sku_costs"])
        inside = skus["sku"].astype(str).isin([str(x) for x in trained])
        for label, mask in (("trained on", inside), ("held out", ~inside)):
            if mask.any():
                own, ref = skus.loc[mask, name].sum(), skus.loc[mask, s["best"]].sum()
                gap = 100 * (own - ref) / ref if ref else None
                rows.append([name, label, int(mask.sum()), fmt(own, 2), fmt(ref, 2), fmt(gap, 2)])
    if not rows:
        return []
    head = ["policy", "SKUs", "count", "cost / period", f"{s['best']} on the same SKUs", "difference %"]
    return [("h2", "Learned policies on SKUs they did not train on"), ("table", (head, rows))]


def _lead(s: dict[str, Any]) -> list[Block]:
    best, k, b = s["best"], s["policies"][s["best"]], s.get("bound") or {}
    text = f"**Best policy: {best}**, {fmt(k['cost'], 2)} per period for {k['skus']} SKUs"
    if k.get("within_capacity") is not None:
        text += f", within capacity in {_pct(k['within_capacity'], 2)}% of periods"
    if b.get("applies"):
        text += f"; **{fmt(k['gap_pct'], 2)}% above the Lagrangian lower bound** ({fmt(b['value'], 2)})."
    else:
        text += f". No lower bound: {b.get('why_not') or 'not computed'}."
    out: list[Block] = [("lead", text)]
    if b.get("applies"):
        out.append(("p", "The Lagrangian bound holds for every policy whose arrivals the capacity never refuses; "
                         "a policy with refusals uses a free disposal no single SKU has and may come out below it "
                         "(a negative gap)."))  # fmt: skip
    return out


def _figures(root: Path, s: dict[str, Any]) -> list[Block]:
    episodes = pd.read_csv(root / "catalogue_episodes.csv", keep_default_na=False, na_values=[""])
    costs = K.sku_costs(episodes)
    plots = root / "plots"
    best = s["best"]
    out: list[Block] = [("h2", "Figures")]
    out.append(
        ("img", (P.save(P.cost_distribution_figure(costs), plots / "cost_by_sku.png"), "cost across SKUs"))
    )
    out.append(
        ("img", (P.save(P.pareto_figure(costs[best], best), plots / "pareto.png"), "Pareto of cost by SKU"))
    )
    trace_path = root / "catalogue_trace.csv"
    if trace_path.is_file():
        trace = pd.read_csv(trace_path, keep_default_na=False, na_values=[""], dtype={"sku": str})
        trace = trace[trace["policy"] == best]
        worst = [str(x) for x in costs[best].sort_values(ascending=False).index[: s.get("worst", 10)]]
        worst = [w for w in worst if (trace["sku"] == w).any()]
        if worst:
            fig = P.worst_skus_figure(trace, worst, best)
            out.append(("img", (P.save(fig, plots / "worst_skus.png"), "worst SKUs' trajectories")))
    if s.get("capacity"):
        periods = pd.read_csv(root / "catalogue_periods.csv")
        fig = P.capacity_figure(periods, float(s["capacity"]))
        out.append(("img", (P.save(fig, plots / "capacity.png"), "capacity utilisation over time")))
    return out


def rebuild(root: Path) -> Path:
    """Write ``catalogue_summary.json``, the plots and the report of a catalogue run; return report.html."""
    root = Path(root)
    s = summarise(root)
    write_json(root / "catalogue_summary.json", s)
    cat = s.get("catalogue", {})
    notes = [f"{cat.get('skus')} SKUs from {cat.get('source')}; {s.get('episodes')} episodes x "
             f"{s.get('periods')} periods (after {s.get('warmup')} warm-up), paired across policies. "
             f"Tuned on: {s.get('tuned_on')}."]  # fmt: skip
    blocks = _lead(s) + [("p", n) for n in notes] + _tables(s) + _figures(root, s)
    blocks += [("h2", "Catalogue"), ("code", _yaml(cat))]
    title = f"Catalogue report: {s.get('experiment')}"
    write_text(root / "report.md", to_markdown(title, blocks, root))
    write_text(root / "report.html", to_html(title, blocks))
    return root / "report.html"


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
