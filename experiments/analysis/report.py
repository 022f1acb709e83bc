"""The report of a run, rebuilt from its saved files alone (``stocklab report DIR``).

Reads ``episodes.csv``, the policy and optimum records, traces, learning curves, ``config.yaml`` and
``manifest.json``; writes ``summary.json``, ``summary.csv``, ``plots/*.png``, ``report.md`` and a
self-contained ``report.html`` (inline CSS, plots embedded as base64 PNG, no network access).
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from stocklab.envs.core.errors import DataError
from stocklab.experiments.analysis import plots
from stocklab.experiments.analysis.stats import summarize_policies
from stocklab.experiments.store import read_json, write_csv, write_json, write_text

Block = tuple[
    str, Any
]  # ("h2", text) | ("p", text) | ("table", (head, rows)) | ("img", (path, alt)) | ("code", text)

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1280px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}h1{border-bottom:2px solid #4C72B0;padding-bottom:.2em}
h2{margin-top:1.6em;color:#2c4a7c}table{border-collapse:collapse;margin:.8em 0;font-size:.85em}
.scroll{overflow-x:auto}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#eef2f8}
td.num,th.num{text-align:right;white-space:nowrap}tr:nth-child(even){background:#fafbfd}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}pre{background:#f5f5f5;padding:.8em;overflow:auto;font-size:.85em}
.note{color:#555;font-size:.9em}"""


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _pm(mean: Any, half: Any, digits: int = 3) -> str:
    return _f(mean, digits) if half is None else f"{_f(mean, digits)} ± {_f(half, digits)}"


# ----------------------------------------------------------------------------------------- summary
def summarize_run(root: Path) -> dict[str, Any]:
    """``summary.json`` content from a run's saved results: per policy (cheapest first) every KPI
    with its 95% CI, paired differences to the best policy and the optimum, and the gap %.
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
        "policies": table,
    }


def _summary_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, row in summary["policies"].items():
        flat = {"policy": name, **{k: v for k, v in row.items() if k != "params"}}
        flat["params"] = " ".join(f"{k}={v}" for k, v in (row.get("params") or {}).items())
        rows.append(flat)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ blocks
def _run_blocks(root: Path, manifest: dict[str, Any], config_text: str) -> list[Block]:
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
            f"{_f(manifest.get('wall_seconds'), 1)} s, {manifest.get('attempts', 1)} attempt(s), "
            f"{manifest.get('jobs')} job(s)",
        ],  # fmt: skip
        ["command", " ".join(manifest.get("command") or []) or "–"],
    ]
    return [("h2", "What was run"), ("table", (["", ""], rows))]


def _kpi_blocks(summary: dict[str, Any], root: Path) -> list[Block]:
    opt = {
        **summary["optimum"],
        "seconds": (read_json(root / "optimum" / "record.json") or {}).get("seconds"),
    }
    head = ["policy", "kind", "avg cost ± 95% CI", "gap % to optimum", "Δ to best ± CI", "fill rate",
            "cycle SL", "on hand", "backlog", "order freq.", "order size", "bullwhip"]  # fmt: skip
    rows = []
    for name, r in summary["policies"].items():
        gap = "–" if r["gap_pct"] is None else f"{r['gap_pct']:.2f} ({r['gap_method']})"
        rows.append([
            name, r["kind"], _pm(r["avg_cost"], r["ci95"]), gap, _pm(r["diff_to_best"], r["diff_to_best_ci95"]),
            _f(r["fill_rate"], 4), _f(r["cycle_service_level"], 4), _f(r["avg_on_hand"], 2), _f(r["avg_backlog"], 2),
            _f(r["order_frequency"], 3), _f(r["mean_order_size"], 2), _f(r["bullwhip"], 3),
        ])  # fmt: skip
    if opt.get("cost") is not None:
        note = f"DP optimum: {opt['cost']:.4f} per period" + (
            f" ({opt['states']} states, solved in {_f(opt.get('seconds'), 2)} s)."
            if opt.get("states")
            else "."
        )
        note += (" Gap % = 100 (cost − optimum) / optimum: *exact* where the DP evaluated the policy, "
                 "*simulated* otherwise. Δ are paired differences over the common evaluation seeds.")  # fmt: skip
    else:
        note = "Optimum unknown (instance outside the exact DP's scope): gaps are not available."
    return [("h2", f"KPIs ({summary['episodes']} episodes × {summary['periods']} periods, sorted by cost)"),
            ("table", (head, rows)), ("p", note)]  # fmt: skip


def _policy_blocks(summary: dict[str, Any], root: Path) -> list[Block]:
    rows = []
    for name, r in summary["policies"].items():
        record = read_json(root / "policies" / name / "record.json") or {}
        params = ", ".join(f"{k}={_f(v)}" for k, v in (r.get("params") or {}).items()) or "–"
        exact = _f(r.get("exact_cost"), 4)
        rows.append([name, r.get("method") or "–", params, exact, _f(record.get("build_seconds"), 1)])
    return [
        ("h2", "Policies"),
        ("table", (["policy", "obtained", "parameters", "exact cost (DP)", "build s"], rows)),
    ]


def _forecast_blocks(summary: dict[str, Any]) -> list[Block]:
    pol = summary["policies"]
    if all(r.get("forecast_mae") is None for r in pol.values()):
        return []
    first = next(r for r in pol.values() if r.get("forecast_mae") is not None)
    rows = [[k.removeprefix("forecast_").upper(), _pm(first[k], first[f"ci95_{k}"])]
            for k in ("forecast_mae", "forecast_rmse", "forecast_bias", "forecast_mape")]  # fmt: skip
    return [("h2", "Forecast accuracy"),
            ("p", "The env's demand forecasts against realised demand over the evaluation episodes "
                  "(the same for every policy; MAPE in %, over periods with demand):"),
            ("table", (["metric", "mean ± 95% CI"], rows))]  # fmt: skip


def forecast_value_blocks(root: Path, summary: dict[str, Any], manifest: dict[str, Any]) -> list[Block]:
    """The section on a forecast-fed run's forecaster: its hold-out accuracy and the value of
    information (newsvendor cost with information none / forecast / oracle_mean); [] otherwise.
    """
    import yaml

    from stocklab.experiments.analysis.forecasting import forecast_value

    path = root / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    env = (config or {}).get("env") or {}
    seeds = ((manifest.get("seeds") or {}).get("evaluation") or [])[:8] or None
    value = forecast_value(env, base_dir=str(root), seeds=seeds, periods=min(summary["periods"], 240))
    if value is None:
        return []
    acc = [[k.upper(), _f(value[k], 4)] for k in ("mae", "rmse", "smape", "mase")]
    none = value["costs"]["none"]
    costs = [[info, _f(c, 3), _f(none - c, 3), _f(100 * (none - c) / none if none else None, 1)]
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


def _plot_blocks(root: Path, summary: dict[str, Any]) -> list[Block]:
    pdir = root / "plots"
    pol = summary["policies"]
    blocks: list[Block] = [("h2", "Plots")]
    blocks.append(
        ("img", (plots.cost_with_ci(pol, summary["optimum"]["cost"], pdir / "cost.png"), "cost per policy"))
    )
    blocks.append(("img", (plots.cost_breakdown(pol, pdir / "cost_breakdown.png"), "cost breakdown")))
    traces = {
        n: pd.read_csv(root / "traces" / f"{n}.csv") for n in pol if (root / "traces" / f"{n}.csv").exists()
    }
    if traces:
        blocks.append(("img", (plots.trajectories(traces, pdir / "trajectories.png"), "trajectories")))
    curves = {}
    for n in pol:
        path = root / "policies" / n / "learning_curve.csv"
        if path.exists():
            curves[n] = pd.read_csv(path)
    if curves:
        blocks.append(
            (
                "img",
                (
                    plots.learning_curves(curves, summary["optimum"]["cost"], pdir / "learning_curves.png"),
                    "learning curves",
                ),
            )
        )
    return blocks


# ---------------------------------------------------------------------------------------- rendering
def to_markdown(title: str, blocks: list[Block], root: Path) -> str:
    """Render blocks as GitHub-flavoured Markdown (images linked relative to the run folder)."""
    out = [f"# {title}", ""]
    for kind, body in blocks:
        if kind == "h2":
            out += [f"## {body}", ""]
        elif kind == "p":
            out += [body, ""]
        elif kind == "code":
            out += ["```yaml", body.rstrip(), "```", ""]
        elif kind == "img":
            path, alt = body
            out += [f"![{alt}]({path.relative_to(root).as_posix()})", ""]
        elif kind == "table":
            head, rows = body
            cell = lambda x: str(x).replace("|", "\\|")  # noqa: E731
            out += ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
            out += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
            out += [""]
    return "\n".join(out)


def _inline_md(text: str) -> str:
    """Escape text for HTML, keeping *emphasis* and `code` of the Markdown paragraphs."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)


#: Table cells that are figures ("6.093", "1.2 ± 0.3", "35.08 (exact)", "–") are right-aligned.
_NUMERIC = re.compile(r"^(–|-?[\d.,]+( ± [\d.]+)?( \((exact|simulated)\))?)$")


def to_html(title: str, blocks: list[Block]) -> str:
    """Render blocks as one self-contained HTML page (plots inlined as base64 PNG)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]  # fmt: skip
    for kind, body in blocks:
        if kind == "h2":
            out.append(f"<h2>{html.escape(body)}</h2>")
        elif kind == "p":
            out.append(f'<p class="note">{_inline_md(body)}</p>')
        elif kind == "code":
            out.append(f"<pre>{html.escape(body)}</pre>")
        elif kind == "img":
            path, alt = body
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
        elif kind == "table":
            head, rows = body
            out.append('<div class="scroll"><table>')
            numeric = [bool(rows) and all(_NUMERIC.match(str(r[i])) for r in rows) for i in range(len(head))]
            cls = [' class="num"' if n else "" for n in numeric]
            if any(head):
                out.append(
                    "<tr>"
                    + "".join(f"<th{c}>{html.escape(str(h))}</th>" for c, h in zip(cls, head))
                    + "</tr>"
                )
            for r in rows:
                out.append(
                    "<tr>" + "".join(f"<td{c}>{html.escape(str(v))}</td>" for c, v in zip(cls, r)) + "</tr>"
                )
            out.append("</table></div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def rebuild(root: Path) -> Path:
    """Recompute the summary and rewrite plots, ``report.md`` and ``report.html`` of a run folder."""
    root = Path(root)
    summary = summarize_run(root)
    manifest = read_json(root / "manifest.json") or {}
    config_path = root / "config.yaml"
    config_text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    name = root.name
    write_json(
        root / "summary.json", {"experiment": name, "config_hash": manifest.get("config_hash"), **summary}
    )
    write_csv(root / "summary.csv", _summary_frame(summary))
    blocks = (_run_blocks(root, manifest, config_text) + _kpi_blocks(summary, root) + _policy_blocks(summary, root)
              + _plot_blocks(root, summary) + _forecast_blocks(summary)
              + forecast_value_blocks(root, summary, manifest)
              + [("h2", "Config as run"), ("p", "`config.yaml` (overrides applied; loadable with `stocklab run`):"),
                 ("code", config_text)])  # fmt: skip
    title = f"stocklab report: {name}"
    write_text(root / "report.md", to_markdown(title, blocks, root))
    write_text(root / "report.html", to_html(title, blocks))
    return root / "report.html"
