"""CLI commands: `stocklab export`, `stocklab act` and `stocklab bench latency`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from stocklab.experiments.cli.common import fail, print_json
from stocklab.experiments.cli.common import out as console


def read_states_csv(path: Path, fields: list[tuple[str, int]]) -> tuple[Any, list[dict[str, Any]]]:
    """States from a CSV with one column per scalar field (``on_hand``, ``backlog``).

    Vector fields have either one column per entry (``pipeline[0]``, ``pipeline[1]``) or one JSON list
    (``pipeline``).
    """
    from stocklab.envs.core.errors import DataError
    from stocklab.envs.demand.history import read_csv_file

    frame = read_csv_file(path, "states")
    states = []
    for row_no, row in enumerate(frame.to_dict("records"), start=2):
        state: dict[str, Any] = {}
        for field, size in fields:
            try:
                if size == 1:
                    if field in row:
                        state[field] = float(row[field])
                elif field in row:
                    state[field] = [float(v) for v in json.loads(row[field])]
                elif f"{field}[0]" in row:
                    state[field] = [float(row[f"{field}[{i}]"]) for i in range(size)]
            except (KeyError, TypeError, ValueError, json.JSONDecodeError):
                raise DataError(
                    f"{path}: row {row_no}, column '{field}': cannot read {row.get(field)!r}"
                ) from None
        states.append(state)
    return frame, states


def bench_latency(
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs per case; the median is reported.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decisions per second of exported policies (ONNX PPO, tabular) at batch 1 and batch 1024."""
    from rich.table import Table

    from stocklab.experiments.bench.latency import latency

    result = latency(repeats)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"exported-policy decisions per second (median of {repeats})")
    for col in ("policy", "batch 1", "batch 1024"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    for name, r in result.items():
        table.add_row(
            name, f"{r['batch_1']['decisions_per_s']:,.0f}", f"{r['batch_1024']['decisions_per_s']:,.0f}"
        )
    console.print(table)


def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Folder of a `stocklab run` (runs/<name>).")],
    policy: Annotated[str, typer.Option(help="Name of the policy in the run's config.")],
    out: Annotated[Path, typer.Option(help="Directory to write the artefact to.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export a trained or tuned policy of a run as a deployable, checksummed artefact."""
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.deploy.artefact import sha256_file
    from stocklab.experiments.deploy.export import export_policy
    from stocklab.experiments.run.runner import load_run_policy

    try:
        built, env_config, kind = load_run_policy(run_dir, policy)
        run_manifest = run_dir / "manifest.json"
        digest = sha256_file(run_manifest) if run_manifest.is_file() else None
        manifest = export_policy(
            built, env_config, out, name=policy, training_manifest_sha256=digest, kind=kind
        )
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(manifest)
    else:
        files = ", ".join(sorted(manifest["files"]))
        console.print(f"exported {policy} ({manifest['artefact']}: {files}) to {out}")


def act(
    policy_dir: Annotated[Path, typer.Argument(help="Exported policy directory.")],
    state: Annotated[
        str | None, typer.Option(help='One state as JSON, e.g. \'{"on_hand": 7, "pipeline": [5, 3]}\'.')
    ] = None,
    states: Annotated[Path | None, typer.Option(help="CSV of states, one row per SKU.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where --states writes its CSV with an 'order' column.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide the order for one state (--state) or for many SKUs (--states FILE.csv)."""
    from stocklab.envs.core.errors import ConfigError, DataError, StocklabError
    from stocklab.experiments.deploy.runtime import load_policy

    try:
        if (state is None) == (states is None):
            raise ConfigError("act: give exactly one of --state JSON or --states FILE.csv")
        policy = load_policy(policy_dir)
        if state is not None:
            try:
                parsed = json.loads(state)
            except json.JSONDecodeError as exc:
                raise DataError(f"--state: not valid JSON ({exc.msg})") from None
            if not isinstance(parsed, dict):
                raise DataError("--state: expected a JSON object of named fields")
            order = policy.decide(parsed)
            if as_json:
                print_json({"order": order, "state": parsed})
            else:
                console.print(order)
            return
        fields = [(f.name, f.size) for f in policy.obs_spec.fields]
        frame, rows = read_states_csv(states, fields)  # type: ignore[arg-type]
        frame["order"] = policy.decide_batch(rows)
        target = out or states.with_name(states.stem + "_orders.csv")  # type: ignore[union-attr]
        frame.to_csv(target, index=False)
        if as_json:
            print_json({"orders": frame["order"].tolist(), "out": str(target)})
        else:
            console.print(f"{len(frame)} orders written to {target}")
    except StocklabError as exc:
        fail(exc)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    bench_app.command("latency")(bench_latency)
    app.command("export")(export_cmd)
    app.command()(act)
