"""CLI commands of a deployed policy: `stocklab serve`, `stocklab monitor`, `stocklab bench service`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import err, fail, print_json
from stocklab.experiments.cli.common import out as console
from stocklab.experiments.cli.export import KeyFileOpt


def serve(
    policy_dir: Annotated[Path, typer.Argument(help="Exported policy directory.")],
    host: Annotated[
        str, typer.Option(help="Interface to bind; anything but loopback exposes the service.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port).")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (one policy copy each).")] = 1,
    log: Annotated[Path, typer.Option(help="Decision log (JSONL; rotated files get .1, .2, ...).")] = Path(
        "decisions.jsonl"
    ),
    log_max_mb: Annotated[
        float, typer.Option(min=0.001, help="Rotate the decision log at this size (MiB).")
    ] = 64,
    log_backups: Annotated[int, typer.Option(min=1, help="Rotated decision-log files to keep.")] = 10,
    header_timeout: Annotated[float, typer.Option(min=0.01, help="Seconds to receive a request head.")] = 5.0,
    body_timeout: Annotated[float, typer.Option(min=0.01, help="Seconds to receive a request body.")] = 5.0,
    keep_alive_timeout: Annotated[int, typer.Option(min=1, help="Seconds an idle connection is kept.")] = 5,
    max_body: Annotated[int, typer.Option(min=1, help="Largest request body (bytes).")] = 4 << 20,
    max_states: Annotated[int, typer.Option(min=1, help="Most states in one request.")] = 10_000,
    max_connections: Annotated[int, typer.Option(min=1, help="Open connections before 503.")] = 1000,
    access_log: Annotated[bool, typer.Option(help="One JSON line per request on stderr.")] = True,
    key_file: KeyFileOpt = None,
    require_signature: Annotated[
        bool, typer.Option("--require-signature", help="Refuse an artefact that is not signed with the key.")
    ] = False,
) -> None:
    """HTTP decision service: POST /decide, GET /health, /policy, /metrics, /docs (OpenAPI)."""
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.deploy.server import serve as run
    from stocklab.experiments.deploy.settings import ServeSettings

    def announce(policy, url: str) -> None:  # noqa: ANN001 - a DeployedPolicy
        err.print(
            f"serving {policy.name} on {url} with {workers} worker(s); docs {url}/docs; decision log {log}",
            highlight=False, soft_wrap=True, markup=False,
        )  # fmt: skip

    try:
        settings = ServeSettings(
            policy_dir=str(policy_dir), log=str(log), log_max_bytes=int(log_max_mb * (1 << 20)),
            log_backups=log_backups, host=host, port=port, workers=workers, header_timeout=header_timeout,
            body_timeout=body_timeout, keep_alive_timeout=keep_alive_timeout, max_body=max_body,
            max_states=max_states, max_connections=max_connections, access_log=access_log,
            key_file=None if key_file is None else str(key_file), require_signature=require_signature,
        )  # fmt: skip
        if not settings.loopback:
            err.print(
                f"[bold yellow]warning:[/] listening on {host}: the service is reachable from other "
                "machines and has no authentication or TLS; put it behind a proxy that has them",
                soft_wrap=True,
            )
        run(settings, announce)
    except StocklabError as exc:
        fail(exc)


def bench_service(
    seconds: Annotated[float, typer.Option(min=0.5, max=60, help="Length of one timed load run (s).")] = 5.0,
    repeats: Annotated[int, typer.Option(min=1, max=10, help="Timed load runs; medians are reported.")] = 3,
    clients: Annotated[int, typer.Option(min=1, max=256, help="Concurrent keep-alive clients.")] = 16,
    stalled: Annotated[int, typer.Option(min=0, max=1000, help="Clients holding half-sent requests.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load figures of `stocklab serve` on loopback: decisions/s, latency percentiles, stalls, bursts."""
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.bench.service import bench_service as run

    try:
        result = run(seconds=seconds, repeats=repeats, clients=clients, stalled=stalled)
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    for name in ("base_stock", "onnx_ppo"):
        m = result[name]["single"]["median"]
        console.print(
            f"{name}: {m.get('decisions_per_s', 0):,.0f} decisions/s, p50 {m.get('p50_ms', 0):.2f} ms, "
            f"p99 {m.get('p99_ms', 0):.2f} ms, errors {result[name]['single']['errors']}; 1000-state batch "
            f"{result[name]['batch_1000']['in_service_ms']['median']} ms in service"
        )
    console.print(f"targets: {result['targets']}")


def monitor(
    decisions: Annotated[
        Path, typer.Option(help="Decision log of `stocklab serve` (rotated files are read too).")
    ],
    actuals: Annotated[Path, typer.Option(help="CSV of what happened: sku, period, demand[, receipts].")],
    policy: Annotated[
        Path | None, typer.Option(help="The served artefact: costs, lead time, predictions.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write monitor.json, report.md/.html and plots here.")
    ] = None,
    reference: Annotated[
        int, typer.Option(min=2, help="Periods whose demand is the baseline without --policy.")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Join decisions with realised demand and receipts: cost, fill rate, forecast bias, drift, SKUs to re-tune."""
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.deploy.monitor import monitor as run
    from stocklab.experiments.deploy.monitor_report import write_report

    try:
        report, series = run(decisions, actuals, policy, reference)
        html = write_report(report, series, out) if out is not None else None
    except StocklabError as exc:
        fail(exc)
    if as_json:
        print_json(report)
        return
    o = report["overall"]
    console.print(f"{o['skus']} SKUs, {o['periods']} periods; fill rate {o['fill_rate']:.3f}"
                  + (f", cost {o['cost_per_period']:.3f} per period" if o["cost_per_period"] is not None else ""))  # fmt: skip
    for sku in report["retune"]:
        console.print(f"re-tune {sku}: " + "; ".join(report["skus"][sku]["reasons"]), highlight=False)
    if not report["retune"]:
        console.print("no SKU needs re-tuning")
    if html is not None:
        console.print(f"report: {html}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(serve)
    app.command()(monitor)
    bench_app.command("service")(bench_service)
