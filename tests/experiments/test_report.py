"""The report: it leads with the answer (checked against plain pandas/scipy on episodes.csv), its cost
plot draws the paired CIs the table uses, learning curves are labelled as training-seed estimates, its
tables fit the page, legends cover nothing, files are group-readable, gaps match an independent DP,
the page is self-contained, and `stocklab report` rebuilds everything from the saved results."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import stat
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from typer.testing import CliRunner

from stocklab.envs.sales.clean import CleaningOptions, clean_history
from stocklab.experiments.analysis import plots
from stocklab.experiments.analysis.render import CSS, MAX_COLUMNS
from stocklab.experiments.analysis.report import _curve_panels, _read_config, rebuild
from stocklab.experiments.analysis.run_info import CLEANING_FILE, data_cleaning_blocks, engine_name
from stocklab.experiments.analysis.stats import difference_frame, headline, summarize_policies
from stocklab.experiments.cli.app import app
from stocklab.experiments.config import parse_config
from stocklab.experiments.run.runner import RunOptions, run_experiment
from tests.oracles import lost_sales_l1_optimum, lost_sales_l1_policy_cost

ENV = {"lead_time": 1, "demand": {"dist": "poisson", "mean": 4}, "costs": {"holding": 1, "shortage": 9},
       "initial": {"on_hand": 8}, "max_order": 20}  # fmt: skip
CONFIG = {
    "name": "report_case",
    "env": ENV,
    "policies": [
        {"name": "optimal", "kind": "optimal"},
        {"name": "bs", "kind": "base_stock", "params": {"level": 10}},
        {"name": "ss", "kind": "ss", "params": {"s": 6, "S": 12}},
        {"name": "q", "kind": "q_learning", "train": {"steps": 3000, "episodes": 1, "periods": 200}},
    ],
    "evaluation": {"episodes": 6, "periods": 1500, "warmup": 50, "seed": 3, "trace_periods": 30},
}
#: Orders of the fixed policies on the L = 1 state (on hand = inventory position), for the oracles.
ORDERS = {
    "bs": lambda x: min(20, max(0, 10 - x)),  # base-stock 10
    "ss": lambda x: min(20, 12 - x) if x <= 6 else 0,  # (s, S) = (6, 12)
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = parse_config(CONFIG)
    return run_experiment(cfg, RunOptions(out=tmp_path_factory.mktemp("report"), progress=False))


@pytest.fixture(scope="module")
def variant(run_dir, tmp_path_factory):
    """A copy of the run whose config names the batched engine and whose q curve dips below the optimum,
    rebuilt under umask 022."""
    root = tmp_path_factory.mktemp("variant") / "report_case"
    shutil.copytree(run_dir, root)
    resolved = yaml.safe_load((root / "config.resolved.yaml").read_text())
    resolved["env"]["engine"] = "batched"
    (root / "config.resolved.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    optimum = json.loads((root / "summary.json").read_text())["optimum"]["cost"]
    curve = pd.DataFrame({"step": [1000, 2000, 3000], "value": [optimum + 2, optimum - 0.3, optimum - 0.1],
                          "metric": "avg cost, training evaluation"})  # fmt: skip
    curve.to_csv(root / "policies" / "q" / "learning_curve.csv", index=False)
    old = os.umask(0o022)
    try:
        rebuild(root)
    finally:
        os.umask(old)
    return root


def _episodes(root) -> pd.DataFrame:
    return pd.read_csv(root / "episodes.csv")


def _paired(episodes: pd.DataFrame, a: str, b: str):
    """Per-episode costs of a and b aligned on the common seeds, and scipy's paired t-test of a - b."""
    x = episodes[episodes["policy"] == a].set_index("seed")["avg_cost"]
    y = episodes[episodes["policy"] == b].set_index("seed")["avg_cost"].reindex(x.index)
    return x.to_numpy(), y.to_numpy(), stats.ttest_rel(x.to_numpy(), y.to_numpy())


# ------------------------------------------------------------------------------------------ headline
def test_headline_against_plain_pandas_and_scipy(run_dir):
    episodes = _episodes(run_dir)
    means = episodes.groupby("policy")["avg_cost"].mean().sort_values()
    assert means.iloc[1] > means.iloc[0]  # no tie: the ranking is well defined
    best, runner = means.index[0], means.index[1]
    a, b, test = _paired(episodes, runner, best)
    ci = test.confidence_interval(0.95)
    h = json.loads((run_dir / "summary.json").read_text())["headline"]
    assert (h["best"], h["runner_up"]) == (best, runner)
    assert h["best_cost"] == pytest.approx(means.iloc[0], rel=1e-12)
    assert h["diff"] == pytest.approx(float(np.mean(a - b)), rel=1e-9)
    assert (h["diff_low"], h["diff_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert h["p_value"] == pytest.approx(test.pvalue, rel=1e-6)
    assert h["significant"] == bool(ci.low > 0 or ci.high < 0)
    # its gap to the optimum from the independent L = 1 DP oracle (the DP evaluated every policy here)
    optimum = lost_sales_l1_optimum(4.0, 1.0, 9.0, max_order=20)
    cost = optimum if best == "optimal" else lost_sales_l1_policy_cost(ORDERS[best], 4.0, 1.0, 9.0)
    assert h["best_gap_method"] == "exact"
    assert h["best_gap_pct"] == pytest.approx(100 * (cost - optimum) / optimum, abs=1e-4)
    # the report opens with it: the first paragraph names both and gives the CI; metadata comes last
    md = (run_dir / "report.md").read_text()
    lead = md.split("\n\n")[1]
    assert f"**{best}**" in lead and f"**{runner}**" in lead
    assert f"{ci.low:.3f} to {ci.high:.3f}" in lead
    assert ("**significant**" in lead) == h["significant"]
    assert ("**not significant**" in lead) == (not h["significant"])
    sections = ["## What was compared", "## Cost", "## Service and stock", "## Plots", "## Learning curves",
                "## Policies", "## What was run", "## Config as run"]  # fmt: skip
    at = [md.index(s) for s in sections]
    assert at == sorted(at) and md.index(lead) < at[0]
    assert md.index("config hash") > md.index("## What was run")


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 12),
    shifts=st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 2.0)),
    seed=st.integers(0, 2**32 - 1),
)
def test_headline_is_the_paired_t_test(n, shifts, seed):
    rng = np.random.default_rng(seed)
    base = rng.gamma(5.0, 1.0, n)  # shared demand noise (common random numbers)
    costs = {"a": base + rng.normal(0, 0.3, n), "b": base + shifts[0] + rng.normal(0, 0.3, n),
             "c": base + shifts[1] + rng.normal(0, 0.3, n)}  # fmt: skip
    rows = [{"policy": p, "kind": "x", "episode": i, "seed": 100 + i, "avg_cost": float(c[i])}
            for p, c in costs.items() for i in range(n)]  # fmt: skip
    means = sorted(costs, key=lambda p: costs[p].mean())
    assume(costs[means[1]].mean() - costs[means[0]].mean() > 1e-9)
    h = headline(summarize_policies(pd.DataFrame(rows), {p: "x" for p in costs}))
    test = stats.ttest_rel(costs[means[1]], costs[means[0]])
    ci = test.confidence_interval(0.95)
    assert (h["best"], h["runner_up"]) == (means[0], means[1])
    assert h["p_value"] == pytest.approx(test.pvalue, rel=1e-6, abs=1e-12)
    assert (h["diff_low"], h["diff_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert h["significant"] == bool(ci.low > 0 or ci.high < 0)


def test_headline_edge_cases():
    def table(costs):
        rows = [{"policy": p, "kind": "x", "episode": i, "seed": i, "avg_cost": c}
                for p, cs in costs.items() for i, c in enumerate(cs)]  # fmt: skip
        return summarize_policies(pd.DataFrame(rows), {p: "x" for p in costs})

    same = headline(table({"a": [5.0, 6.0, 7.0], "b": [5.0, 6.0, 7.0]}))
    assert same["identical"] and not same["significant"] and same["p_value"] == 1.0
    one = headline(table({"a": [5.0], "b": [6.0]}))
    assert one["runner_up"] == "b" and one["significant"] is None and one["p_value"] is None
    alone = headline(table({"a": [5.0, 6.0]}))
    assert alone["runner_up"] is None and alone["diff"] is None


# --------------------------------------------------------------------------- paired error bars (plot)
def test_cost_plot_draws_the_paired_cis(run_dir):
    episodes = _episodes(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    best = summary["best"]
    expected = {}
    for name in summary["policies"]:
        a, b, test = _paired(episodes, name, best)
        ci = (0.0, 0.0) if name == best else test.confidence_interval(0.95)
        expected[name] = (float(np.mean(a - b)), ci[0], ci[1])
    data = pd.read_csv(run_dir / "plots" / "cost.csv").set_index("policy")  # the data behind the plot
    for name, (d, low, high) in expected.items():
        assert data.loc[name, "diff"] == pytest.approx(d, abs=1e-12)
        assert (data.loc[name, "low"], data.loc[name, "high"]) == pytest.approx((low, high), abs=1e-9)
    # what is drawn: one error bar per policy, from low to high, at the row of the tick naming it
    fig = plots.cost_differences_figure(difference_frame(summary["policies"]), best, summary["episodes"])
    ax = fig.axes[0]
    bars = ax.containers[0]
    segments = bars.lines[2][0].get_segments()
    ticks = [t.get_text().split()[0] for t in ax.get_yticklabels()]
    drawn = set()
    for seg in segments:
        (x0, y0), (x1, _) = seg
        drawn.add(ticks[round(y0)])
        assert (x0, x1) == pytest.approx(expected[ticks[round(y0)]][1:], abs=1e-9)
    arrows = [round(y) for line in ax.lines if line.get_marker() == ">" for y in line.get_ydata()]
    # far worse policies: an arrow at the edge of their row instead of a bar
    assert sorted(arrows) == sorted(i for i, n in enumerate(ticks) if n not in drawn)
    for label in ax.get_yticklabels():  # every row's tick label carries the numbers of the table
        name, diff, _, half = label.get_text().split()
        d, low, high = expected[name]
        assert (float(diff), float(half)) == pytest.approx((d, (high - low) / 2), abs=6e-4)
    # exact differences (the DP evaluated every policy here) are drawn too
    exact = summary["policies"]
    diamonds = next(line for line in ax.lines if line.get_marker() == "D")
    want = sorted(exact[n]["exact_cost"] - exact[best]["exact_cost"] for n in exact)
    assert sorted(diamonds.get_xdata()) == pytest.approx(want, abs=1e-9)
    plots.plt.close(fig)


# --------------------------------------------------------------------------------- learning curves
def test_learning_curves_are_labelled_training_seed_estimates(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    q = summary["policies"]["q"]
    panels = _curve_panels(run_dir, summary, _read_config(run_dir))
    assert [p.name for p in panels] == ["q"]
    assert panels[0].estimate == "1 training-seed episode × 200 periods"  # from the config's train section
    fig = plots.learning_curves_figure(panels, summary["optimum"]["cost"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "training-seed estimate (1 training-seed episode × 200 periods)" in labels
    assert f"kept policy, exact cost (DP) {q['exact_cost']:.3f}" in labels
    assert f"DP optimum {summary['optimum']['cost']:.3f}" in labels
    curve = pd.read_csv(run_dir / "policies" / "q" / "learning_curve.csv")
    below = bool((curve["value"] < summary["optimum"]["cost"]).any())
    assert ("below the DP optimum" in fig.axes[0].get_title()) == below
    plots.plt.close(fig)
    md = (run_dir / "report.md").read_text()
    assert "*training-seed estimates*" in md
    assert ("goes below the DP optimum" in md) == below


def test_a_curve_below_the_optimum_is_flagged(variant):
    summary = json.loads((variant / "summary.json").read_text())
    optimum = summary["optimum"]["cost"]
    md = (variant / "report.md").read_text()
    warning = next(line for line in md.splitlines() if "goes below the DP optimum" in line)
    assert warning.startswith("> **Caution.**") and "**q**" in warning
    assert (
        f"{optimum - 0.3:.3f} at step 2000" in warning and "1 training-seed episode × 200 periods" in warning
    )
    panels = _curve_panels(variant, summary, _read_config(variant))
    fig = plots.learning_curves_figure(panels, optimum)
    ax = fig.axes[0]
    assert "below the DP optimum" in ax.get_title()
    assert "estimate below the DP optimum (noise)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plots.plt.close(fig)
    assert 'class="warn"' in (variant / "report.html").read_text()


# ---------------------------------------------------------------------------- layout: tables, legends
class _Tables(HTMLParser):
    """Each <table>: whether its parent is <div class="scroll">, and its column counts per row."""

    def __init__(self):
        super().__init__()
        self.stack, self.tables = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"wrapped": self.stack[-1:] == [("div", "scroll")], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append(0)
        elif tag in ("td", "th") and self.tables:
            self.tables[-1]["rows"][-1] += 1
        if tag not in ("td", "th", "tr", "img", "meta", "br"):
            self.stack.append((tag, dict(attrs).get("class")))

    def handle_endtag(self, tag):
        if tag not in ("td", "th", "tr") and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()


def test_tables_fit_the_page(run_dir):
    parser = _Tables()
    parser.feed((run_dir / "report.html").read_text())
    assert len(parser.tables) >= 6  # headline, setup, cost, service, policies, run
    for table in parser.tables:
        assert table["wrapped"], "every table sits in a horizontally scrolling wrapper"
        assert max(table["rows"]) <= MAX_COLUMNS
    assert ".scroll{overflow-x:auto" in CSS and "position:sticky;left:0" in CSS  # first column stays in view
    assert "max-width:100%" in CSS.split("img{", 1)[1]  # plots shrink to the page, never cut off


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _assert_legends_cover_nothing(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends
    for ax in fig.axes:
        if not ax.axison:
            continue
        covered = [
            ax.get_window_extent(r),
            ax.xaxis.label.get_window_extent(r),
            ax.title.get_window_extent(r),
        ]
        covered += [
            t.get_window_extent(r) for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()
        ]
        for legend in legends:
            box = legend.get_window_extent(r)
            assert not any(_overlaps(box, c) for c in covered), (ax.get_title(), legend)
    plots.plt.close(fig)


def test_legends_cover_nothing(run_dir, variant):
    summary = json.loads((run_dir / "summary.json").read_text())
    pol = summary["policies"]
    for n in (1, 2, len(pol)):  # a short plot too (its legend once sat on the axis label)
        head = {k: pol[k] for k in list(pol)[:n]}
        _assert_legends_cover_nothing(
            plots.cost_differences_figure(difference_frame(head), summary["best"], 6)
        )
    _assert_legends_cover_nothing(plots.cost_breakdown_figure(pol))
    traces = {n: pd.read_csv(run_dir / "traces" / f"{n}.csv") for n in pol}
    _assert_legends_cover_nothing(plots.trajectories_figure(traces))
    for root in (run_dir, variant):
        s = json.loads((root / "summary.json").read_text())
        panels = _curve_panels(root, s, _read_config(root))
        _assert_legends_cover_nothing(plots.learning_curves_figure(panels * 3, s["optimum"]["cost"]))


# ------------------------------------------------------------------------- files, engine, cleaning
def test_report_files_are_group_readable(variant):
    files = ["report.md", "report.html", "summary.json", "summary.csv", "plots/cost.csv"]
    files += [p.relative_to(variant).as_posix() for p in (variant / "plots").glob("*.png")]
    assert len(files) >= 9
    for name in files:
        assert stat.S_IMODE((variant / name).stat().st_mode) == 0o644, name
    assert not list((variant / "plots").glob(".*"))  # no temporary file left behind


def test_engine_is_reported(run_dir, variant):
    # the resolved config carries env.engine (default auto); a whole-period config resolves to batched
    assert "| simulation engine | auto → batched |" in (run_dir / "report.md").read_text()
    assert "| simulation engine | batched |" in (variant / "report.md").read_text()
    assert engine_name({"env": {"engine": "simpy"}}) == "simpy"
    assert engine_name({"env": {"engine": "auto"}}).startswith("auto")
    assert engine_name({}) == "simpy"


def test_data_cleaning_hook_renders_real_repairs(tmp_path):
    raw = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-05-01"]),
                        "sku": ["A", "A", "A", "A"], "quantity": [5.0, math.nan, -2.0, 4.0]})  # fmt: skip
    _, report = clean_history(raw, "MS", CleaningOptions())
    repairs = report.to_frame().to_dict("records")
    counts = report.counts()
    blocks = data_cleaning_blocks(repairs, source="sales.csv", sku="A", options={"missing": "zero"})
    text = " ".join(b for kind, b in blocks if kind == "p")
    assert f"{len(repairs)} repairs" in text
    for kind, n in counts.items():
        assert f"{kind}: {n}" in text
    head, rows = next(b for kind, b in blocks if kind == "table")
    assert head[:3] == ["sku", "date", "repair"] and len(rows) == len(repairs)
    assert [r[2] for r in rows] == [c.kind for c in report.changes]
    assert "missing" in [r[3] for r in rows]  # a filled gap shows its value as missing


def test_a_run_on_a_cleaned_history_reports_its_repairs(tmp_path):
    # A: 5, (missing), 4, -2 (a return), 6, ...: by the cleaning rules the missing cell becomes 0 and
    # the return sets its month to 0 and takes 2 units off March's sales (the latest earlier sale).
    months = pd.date_range("2020-01-01", periods=36, freq="MS")
    values = [5, "", 4, -2] + [6] * 32
    path = tmp_path / "sales.csv"
    path.write_text("date,sku,quantity\n" + "".join(f"{d.date()},A,{v}\n" for d, v in zip(months, values)))
    cfg = parse_config({
        "name": "cleaned",
        "env": {"lead_time": 1, "demand": {"dist": "history", "path": str(path), "sku": "A", "split": "all"}},
        "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 8}}],
        "evaluation": {"episodes": 1, "periods": 20, "exact": False},
    })  # fmt: skip
    root = run_experiment(cfg, RunOptions(out=tmp_path / "runs", progress=False))
    md = (root / "report.md").read_text()
    section = md.split("## Data cleaning", 1)[1].split("\n## ", 1)[0]
    assert f"`{path}`, SKU A" in section
    assert "| A | 2020-02-01 | missing_value | missing | 0 |" in section
    assert "| A | 2020-04-01 | return_netted | -2 | 0 |" in section
    assert "| A | 2020-03-01 | return_netted | 4 | 2 |" in section  # the sale the return undoes
    # without the record the report says the repairs are unknown rather than showing none
    (root / CLEANING_FILE).unlink()
    rebuild(root)
    assert "not recorded in this run folder" in (root / "report.md").read_text()


# -------------------------------------------------------------------------------- gaps, self-contained
def test_gaps_against_an_independent_dp(run_dir):
    # L = 1 lost sales: the optimum and each policy's exact cost from the small chains of tests.oracles
    optimum = lost_sales_l1_optimum(4.0, 1.0, 9.0, max_order=20)
    summary = json.loads((run_dir / "summary.json").read_text())
    pol = summary["policies"]
    assert summary["optimum"]["cost"] == pytest.approx(optimum, abs=1e-6)
    assert pol["optimal"]["gap_pct"] == pytest.approx(0.0, abs=1e-4)
    for name, order in ORDERS.items():
        exact = lost_sales_l1_policy_cost(order, 4.0, 1.0, 9.0)
        assert pol[name]["gap_method"] == "exact"
        assert pol[name]["exact_cost"] == pytest.approx(exact, abs=1e-6)
        assert pol[name]["gap_pct"] == pytest.approx(100 * (exact - optimum) / optimum, abs=1e-4)
        assert pol[name]["diff_to_optimal"] is not None
    # simulation and the DP are independent methods: the simulated optimal policy's mean cost must
    # match the DP optimum within its confidence interval (3 half-widths: a 99.9%+ check)
    sim = pol["optimal"]
    assert abs(sim["avg_cost"] - optimum) <= 3 * sim["ci95"]
    # the report lists every policy with its gap
    md = (run_dir / "report.md").read_text()
    for name in ("optimal", "bs", "ss"):
        gap = pol[name]["gap_pct"]
        assert re.search(rf"\| {name} \| .* \| {gap:.2f} \(exact\) \|", md), name


def test_html_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) >= 4  # cost, breakdown, trajectories, learning curves
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(href|src)=\"https?://", page)
    for section in ("What was compared", "Cost", "Service and stock", "Policies", "Plots", "What was run"):
        assert f"<h2>{section}" in page


def test_report_command_rebuilds_from_saved_results(run_dir):
    before = {n: (run_dir / n).read_text() for n in ("summary.json", "summary.csv", "report.md")}
    for name in ("summary.json", "summary.csv", "report.md", "report.html"):
        (run_dir / name).unlink()
    for png in (run_dir / "plots").glob("*.png"):
        png.unlink()
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    for name, text in before.items():
        assert (run_dir / name).read_text() == text, name
    assert {p.name for p in (run_dir / "plots").glob("*.png")} >= {
        "cost.png",
        "cost_breakdown.png",
        "trajectories.png",
        "learning_curves.png",
    }
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary["policy"]) == list(json.loads(before["summary.json"])["policies"])
