"""``stocklab bench catalogue``: catalogue evaluation throughput (SKU-periods/s) and one-call decisions.

A synthetic stationary catalogue of ``skus`` SKUs (Poisson demand with means spread log-uniformly
over 1 .. 50 units per period, lead times 1 .. 3, lost sales, h = 1, p = 9) sharing a warehouse sized
at 80% of what the SKUs' base-stock levels would hold (so the pro-rata rule works every period) is
evaluated through the same loop ``stocklab run`` uses
(:func:`~stocklab.experiments.run.catalogue.evaluate.run_episode`: observation, policy, shared
limits, per-SKU accounting), under

* per-SKU base-stock (levels: the newsvendor quantile of the lead-time demand);
* the exported shared network: a shared policy of the default architecture (two tanh layers of 64,
  weights drawn at random: the speed does not depend on their values), written as a catalogue
  artefact and loaded back as a deployment loads it.

With ``decide``, ``stocklab serve`` serves that artefact and one ``POST /decide`` carries the states
of all ``skus`` SKUs: the time inside the service (``Server-Timing``: body received to answer ready)
and the round trip on loopback. Figures are medians over ``repeats`` runs (``decide_requests``
requests for the service).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def synthetic_catalogue(skus: int, seed: int = 0, capacity_share: float = 0.8) -> Any:
    """The benchmark's catalogue (module docstring)."""
    from stocklab.envs.catalogue.build import build_catalogue

    rng = np.random.default_rng(seed)
    means = np.exp(rng.uniform(0.0, np.log(50.0), skus))
    leads = rng.integers(1, 4, skus)
    entries = [
        {"sku": f"S{i:05d}", "demand": {"dist": "poisson", "mean": float(round(m, 3))}, "lead_time": int(L)}
        for i, (m, L) in enumerate(zip(means, leads))
    ]
    held = float(np.sum(means * 1.5 + 2.0 * np.sqrt(means)))  # about the base-stock stock after arrivals
    section = {"skus": entries, "shared": {"capacity": {"limit": capacity_share * held, "rule": "pro_rata"}}}
    env = {"unmet_demand": "lost", "costs": {"holding": 1.0, "shortage": 9.0}, "max_order": 1000}
    return build_catalogue(section, env)


def random_network(catalogue: Any, seed: int = 0) -> Any:
    """A shared network of the default architecture for ``catalogue``, with random weights."""
    from stocklab.agents.catalogue.network import SharedNetwork
    from stocklab.agents.catalogue.shared_ppo import DEFAULT_HYPERPARAMS, shared_levels
    from stocklab.envs.catalogue_env import scale_free_names
    from stocklab.envs.engines.params import batch_layout

    layout = [(f.name, f.size) for f in batch_layout(list(catalogue.configs)).fields]
    names = scale_free_names(layout)
    levels = shared_levels(catalogue)
    sizes = [len(names), *DEFAULT_HYPERPARAMS["policy_kwargs"]["net_arch"], len(levels)]
    rng = np.random.default_rng(seed)
    weights = [
        (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32) for i, o in zip(sizes, sizes[1:])
    ]
    biases = [np.zeros(o, dtype=np.float32) for o in sizes[1:]]
    d = len(names)
    return SharedNetwork(weights, biases, "tanh", np.zeros(d), np.ones(d), 10.0, 1e-8, levels, names, layout)


def _rate(catalogue: Any, policy: Any, periods: int, repeats: int) -> tuple[list[float], float]:
    """SKU-periods/s of ``repeats`` evaluation runs, and the units refused per period in the last."""
    from stocklab.experiments.run.catalogue.evaluate import run_episode

    rates, refused = [], 0.0
    for r in range(repeats):
        t = time.perf_counter()
        ep = run_episode(catalogue, policy, seed=r + 1, periods=periods, warmup=0)
        rates.append(catalogue.size * ep.periods / (time.perf_counter() - t))
        refused = float(ep.totals["refused"].mean())
    return rates, refused


def bench_catalogue(
    skus: int = 1000, periods: int = 500, repeats: int = 3, decide: bool = True, decide_requests: int = 20
) -> dict[str, Any]:
    """Throughput under per-SKU base-stock and the exported shared network, and one-call decisions (docstring)."""
    import tempfile
    from pathlib import Path

    from stocklab.agents.catalogue.shared_ppo import SharedPPOPolicy
    from stocklab.experiments.deploy.catalogue_export import write_catalogue_artefact
    from stocklab.experiments.deploy.catalogue_runtime import load_catalogue
    from stocklab.experiments.run.catalogue.policies import newsvendor

    t0 = time.perf_counter()
    catalogue = synthetic_catalogue(skus)
    policy = newsvendor(catalogue, "base_stock")
    build = time.perf_counter() - t0
    rates, refused = _rate(catalogue, policy, periods, repeats)
    out: dict[str, Any] = {
        "skus": skus, "periods": periods, "repeats": repeats, "policy": "per-SKU base-stock",
        "shared": "capacity, pro_rata", "sku_periods_per_s": statistics.median(rates),
        "runs": rates, "build_seconds": build, "refused_per_period": refused,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stocklab-bench-catalogue-") as tmp:
        artefact = Path(tmp) / "shared_network"
        shared = SharedPPOPolicy(random_network(catalogue), catalogue)
        t0 = time.perf_counter()
        write_catalogue_artefact(catalogue, shared, "shared_ppo", artefact)
        written = time.perf_counter() - t0
        t0 = time.perf_counter()
        deployed = load_catalogue(artefact)
        loaded = time.perf_counter() - t0
        net_rates, _ = _rate(catalogue, deployed.policy, periods, repeats)
        out["shared_network"] = {
            "sku_periods_per_s": statistics.median(net_rates), "runs": net_rates,
            "export_seconds": written, "load_seconds": loaded,
        }  # fmt: skip
        if decide:
            out["decide"] = _decide(artefact, catalogue, Path(tmp), decide_requests)
    return out


def _decide(artefact: Any, catalogue: Any, workdir: Any, requests: int) -> dict[str, Any]:
    """One ``POST /decide`` with every SKU's state, ``requests`` times, against ``stocklab serve``."""
    from stocklab.experiments.bench.service import _batch, running_service

    rng = np.random.default_rng(3)
    leads = [c.pipeline_length for c in catalogue.configs]
    width = max(leads)
    states = [
        {"sku": sku, "on_hand": int(rng.integers(0, 60)),
         "pipeline": [int(rng.integers(0, 30)) if k < m else 0 for k in range(width)]}
        for sku, m in zip(catalogue.skus, leads)
    ]  # fmt: skip
    with running_service(artefact, workdir) as (port, _):
        return _batch(port, states, requests)
