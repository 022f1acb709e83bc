"""The DP optimum as files and as a service to the runner: solve, score, save and load, no pickle.

The optimal policy is a table (one optimal order per state of the DP's truncated state space); it is
saved as ``dp_table.npz`` (states and orders, loaded with ``allow_pickle=False``) and
``dp_bounds.json`` (the bounds and tolerance that rebuild the same state space), so a run folder or an
exported artefact from elsewhere can never run code when it is read.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.baselines.exact.solver import (
    DPInstance,
    DPSolution,
    OptimalPolicy,
    evaluate_policy,
    solve_optimal,
)
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError, StocklabError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.core.storage import check_format, format_stamp, read_json, write_bytes, write_json

TABLE_FILE = "dp_table.npz"
BOUNDS_FILE = "dp_bounds.json"

#: Exact evaluation follows the states a policy reaches; a policy that lets stock drift without bound
#: (a constant order equal to mean demand) reaches ever more, so the search stops at this many states
#: (or 20 times the optimum's state space, if larger) and the gap is simulated instead.
EXACT_EVAL_STATES = 5_000


def dp_instance(env: EnvConfig) -> DPInstance:
    """The DP instance of ``env``; ConfigError when the instance is out of the DP's scope."""
    return DPInstance.from_config(env)


def solve_optimum(env: EnvConfig) -> DPSolution:
    """Solve the DP of ``env``: the optimal average cost per period and an optimal policy."""
    return solve_optimal(dp_instance(env))


def exact_cost(env: EnvConfig, policy: Policy) -> float | None:
    """Exact long-run average cost per period of ``policy``, or None when the DP cannot evaluate it."""
    try:
        n = DPInstance.from_config(env).n_states
        inst = DPInstance.from_config(env, max_states=min(max(EXACT_EVAL_STATES, 20 * n), 200_000))
        return float(evaluate_policy(inst, policy))
    except StocklabError:
        return None


def save_optimal(policy: OptimalPolicy, directory: str | Path) -> None:
    """Write the policy's state table and bounds into ``directory`` (atomically, file by file)."""
    directory = Path(directory)
    table = policy.table()
    buf = io.BytesIO()
    np.savez(buf, states=np.asarray(table["states"], dtype=np.int64), orders=np.asarray(table["orders"]))
    write_bytes(directory / TABLE_FILE, buf.getvalue())
    write_json(
        directory / BOUNDS_FILE,
        {**format_stamp("stocklab-dp-policy"), **policy.bounds(), "fields": table["fields"]},
    )


def load_optimal(directory: str | Path, env: EnvConfig) -> OptimalPolicy:
    """The policy saved by :func:`save_optimal` for ``env``; PolicyError when the files do not match.

    The state space is rebuilt from the env config and the saved bounds, and must equal the saved
    one row for row: a table from another instance is refused, not silently misread.
    """
    directory = Path(directory)
    meta = read_json(directory / BOUNDS_FILE)
    check_format(meta, "stocklab-dp-policy", directory / BOUNDS_FILE, PolicyError)
    bounds: dict[str, Any] = {k: meta[k] for k in ("max_position", "max_states", "min_position") if k in meta}
    try:
        with np.load(directory / TABLE_FILE, allow_pickle=False) as data:
            states, orders = np.asarray(data["states"]), np.asarray(data["orders"])
    except (OSError, KeyError, ValueError) as exc:
        raise PolicyError(f"{directory / TABLE_FILE}: not a DP table ({exc})") from None
    instance = DPInstance.from_config(env, float(meta["tol"]), **bounds)
    if states.shape != instance.states.shape or not np.array_equal(instance.states, states):
        raise PolicyError(f"{directory}: the DP table does not match the state space of its env config")
    if orders.shape != (len(states),):
        raise PolicyError(f"{directory}: {len(orders)} orders for {len(states)} states")
    return OptimalPolicy(ObsSpec.for_config(env), ActionMap.for_config(env), instance, orders)
