"""CLI commands: `stocklab export`, `stocklab act` and `stocklab bench latency`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from stocklab.experiments.cli.common import fail, print_json
from stocklab.experiments.cli.common import out as console


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


def _print_strict_json(data: Any) -> None:
    """Print ``data`` as strict JSON (NaN and infinities as null), parseable by any JSON parser."""
    from stocklab.envs.core.storage import to_json

    sys.stdout.write(to_json(data) + "\n")


KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File holding the signing key (HMAC-SHA256); default: the STOCKLAB_SIGNING_KEY environment variable.",
    ),
]


def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Folder of a stocklab run (runs/NAME).")],
    policy: Annotated[str, typer.Option(help="Name of the policy in the run's config.")],
    out: Annotated[Path, typer.Option(help="New or empty folder to write the artefact to.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace OUT if it holds exactly a previous stocklab export.")
    ] = False,
    key_file: KeyFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export a trained or tuned policy of a run as a deployable, checksummed artefact.

    OUT must be a new or empty folder. With --force it may also hold a previous stocklab export, which
    is replaced; no other folder is ever replaced (a run folder, a folder with other files, the current
    folder or a parent of it are refused before any work). With a signing key (--key-file or
    STOCKLAB_SIGNING_KEY) the manifest is signed, and act --require-signature can check it.
    """
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.deploy.artefact import read_bounded
    from stocklab.experiments.deploy.export import export_policy
    from stocklab.experiments.deploy.paths import check_artefact_dir
    from stocklab.experiments.deploy.preflight import check_run
    from stocklab.experiments.deploy.signing import load_key

    try:
        key = load_key(key_file)
        target = check_artefact_dir(out, force=force, protect=[run_dir])
        from stocklab.experiments.deploy.catalogue_export import export_catalogue, is_catalogue_run

        if is_catalogue_run(run_dir):
            manifest = export_catalogue(run_dir, policy, target, force=force, key=key)
            _exported(policy, manifest, key, out, as_json)
            return
        check_run(run_dir, policy)
        from stocklab.envs.core.storage import sha256_bytes
        from stocklab.experiments.run.runner import load_run_policy

        built, env_config, kind = load_run_policy(run_dir, policy)
        run_manifest = run_dir / "manifest.json"
        digest = (
            sha256_bytes(read_bounded(run_manifest, 64 << 20, "the run manifest"))
            if run_manifest.is_file()
            else None
        )
        manifest = export_policy(
            built, env_config, target, name=policy, training_manifest_sha256=digest, kind=kind,
            force=force, key=key, protect=[run_dir],
        )  # fmt: skip
    except StocklabError as exc:
        fail(exc)
    _exported(policy, manifest, key, out, as_json)


def _exported(policy: str, manifest: dict[str, Any], key: bytes | None, out: Path, as_json: bool) -> None:
    from stocklab.experiments.deploy.signing import key_id

    if as_json:
        _print_strict_json(manifest)
    else:
        files = ", ".join(sorted(manifest["files"]))
        signed = f", signed with key {key_id(key)}" if key is not None else ""
        console.print(
            f"exported {policy} ({manifest['artefact']}: {files}{signed}) to {out}", highlight=False
        )


def _act_one(policy: Any, state: str, as_json: bool) -> None:
    from stocklab.envs.core.errors import DataError

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        parsed = json.loads(state, parse_constant=reject)
    except (ValueError, RecursionError) as exc:
        raise DataError(f"--state: not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise DataError(
            '--state: expected a JSON object of named fields, e.g. {"on_hand": 7, "pipeline": [5]}'
        )
    order = policy.decide(parsed)
    if as_json:
        _print_strict_json({"order": order, "state": parsed})
    else:
        console.print(order)


def _act_many(policy: Any, states: Path, target: Path | None, as_json: bool) -> None:
    from stocklab.envs.core.storage import write_text
    from stocklab.experiments.deploy.states import SKU, orders_csv, read_states_csv

    header, rows, parsed = read_states_csv(states, policy.obs_spec)
    where = f"{states}: row {{}}"
    obs = [policy.vector(s, where.format(i + 2)) for i, s in enumerate(parsed)]
    import numpy as np

    orders = policy.orders_from_observations(np.vstack(obs) if obs else np.empty((0, policy.obs_spec.size)))
    orders = [int(q) for q in orders]
    text = orders_csv(header, rows, orders)
    if target is not None:
        write_text(target, text)
    if as_json:
        sku = [h.strip() for h in header].index(SKU) if SKU in [h.strip() for h in header] else None
        result: dict[str, Any] = {
            "policy": policy.name,
            "orders": orders,
            "out": str(target) if target else None,
        }
        if sku is not None:
            result["sku"] = [row[sku] for row in rows]
        _print_strict_json(result)
    elif target is None:
        sys.stdout.write(text)
    else:
        console.print(f"{len(rows)} orders written to {target}", highlight=False)


def act(
    policy_dir: Annotated[Path, typer.Argument(help="Exported policy folder.")],
    state: Annotated[
        str | None, typer.Option(help='One state as JSON, e.g. {"on_hand": 7, "pipeline": [5, 3]}.')
    ] = None,
    states: Annotated[
        Path | None, typer.Option(help="CSV of states, one row per SKU (format above).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="New file for the --states result (default: print it).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --out overwrite an existing file.")] = False,
    template: Annotated[
        bool, typer.Option("--template", help="Print the CSV columns this policy reads, and exit.")
    ] = False,
    key_file: KeyFileOpt = None,
    require_signature: Annotated[
        bool, typer.Option("--require-signature", help="Refuse a policy that is not signed with the key.")
    ] = False,
    memory: Annotated[
        Path | None,
        typer.Option(
            help="Catalogue policies: file carrying the policy's memory from one period to the next."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide the order for one state (--state JSON) or for many SKUs (--states FILE.csv).

    A catalogue policy (exported from a catalogue run) decides for all its SKUs at once: --states
    with a sku column and one row per SKU of the catalogue, in any order; the orders honour the
    catalogue's budget rule. With --memory FILE a policy that remembers between periods (the
    coordinator) reads its memory from FILE when it exists and writes the new one there.

    The states CSV has one row per state and one column per value the policy observes, named like
    the fields of its manifest's obs_spec: on_hand; backlog (backorder policies; optional, 0);
    pipeline[0], pipeline[1], ... (units on order, entry k due within k + 1 periods); and, where the
    policy uses them, recent_demand[0], ..., forecast_mean[0], ..., forecast_std[0], ....
    inventory_position is optional: it is derived as on_hand + pipeline - backlog, and refused when it
    contradicts that sum. An optional sku column is passed through; any other column is refused.
    --template prints the columns; configs/states/ has examples.

    Example for the quickstart policies: a file with the lines "sku,on_hand,pipeline[0]" and
    "A-100,7,5". The result is the same table with an order column (units), printed or written to --out.
    """
    from stocklab.envs.core.errors import StocklabError

    try:
        _act(policy_dir, state, states, out, force, template, key_file, require_signature, memory, as_json)
    except StocklabError as exc:
        fail(exc)


def _act(
    policy_dir: Path, state: str | None, states: Path | None, out: Path | None, force: bool, template: bool,
    key_file: Path | None, require_signature: bool, memory: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """The work of :func:`act` (StocklabError for every refusal)."""
    from stocklab.envs.core.errors import ConfigError
    from stocklab.experiments.deploy.paths import check_output_file
    from stocklab.experiments.deploy.runtime import DeployedPolicy, load_deployed
    from stocklab.experiments.deploy.signing import load_key

    if sum(x is not None and x is not False for x in (state, states, template or None)) != 1:
        raise ConfigError("act: give exactly one of --state JSON, --states FILE.csv or --template")
    if out is not None and states is None:
        raise ConfigError("act: --out is for the result of --states")
    key = load_key(key_file)
    target = None
    if out is not None:
        target = check_output_file(out, force=force, inputs=[states], protect=[policy_dir])
    policy = load_deployed(policy_dir, key=key, require_signature=require_signature)
    catalogue = not isinstance(policy, DeployedPolicy)
    if catalogue or memory is not None:
        from stocklab.experiments.cli.act_catalogue import check_catalogue_options

        memory = check_catalogue_options(policy, catalogue, state, states, memory, policy_dir)
    if catalogue and states is not None:
        from stocklab.experiments.cli.act_catalogue import act_catalogue

        act_catalogue(policy, states, target, memory, as_json)
    elif template:
        from stocklab.experiments.deploy.states import template as columns

        sys.stdout.write(",".join(columns(policy.obs_spec)) + "\n")
    elif state is not None:
        _act_one(policy, state, as_json)
    else:
        _act_many(policy, states, target, as_json)  # type: ignore[arg-type]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    bench_app.command("latency")(bench_latency)
    app.command("export")(export_cmd)
    app.command()(act)
