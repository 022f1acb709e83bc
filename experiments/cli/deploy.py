"""CLI commands of a deployed policy: `stocklab serve`, `stocklab monitor`, `stocklab bench service`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stocklab.experiments.cli.common import err, fail, print_json
from stocklab.experiments.cli.common import out as console


def serve(
    policy_dir: Annotated[Path, typer.Argument(help="Exported policy directory.")],
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port).")] = 8000,
    log: Annotated[Path | None, typer.Option(help="Decision log (JSONL).")] = None,
) -> None:
    """HTTP JSON decision service: POST /decide, GET /health, GET /policy."""
    from stocklab.envs.core.errors import StocklabError
    from stocklab.experiments.deploy.runtime import load_policy
    from stocklab.experiments.deploy.service import make_server

    try:
        policy = load_policy(policy_dir)
    except StocklabError as exc:
        fail(exc)
    log_path = log or policy_dir / "decisions.jsonl"
    try:
        server = make_server(policy, host, port, log_path)
    except OSError as exc:
        err.print(f"error: cannot listen on {host}:{port} ({exc.strerror})")
        raise typer.Exit(2) from None
    bound = server.server_address
    err.print(
        f"serving {policy.name} on http://{bound[0]}:{bound[1]} (decision log: {log_path}); Ctrl-C stops"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


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


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this module's commands to the ``stocklab`` app (and its ``bench`` group)."""
    app.command()(serve)
    bench_app.command("service")(bench_service)
