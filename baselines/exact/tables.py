"""The DP optimum as files and as a service to the runner: check, solve, score, save and load.

The runner and the registry pass the DP's limits through: the ``params`` of a config's ``optimal``
entry (``max_states``, ``max_memory_gib``, ``time_limit``), checked before any work.

The optimal policy is a table (one optimal order per state of the DP's truncated state space); it is
saved as ``dp_table.npz`` (states and orders, loaded with ``allow_pickle=False``) and
``dp_bounds.json`` (the bounds and tolerance that rebuild the same state space), so a run folder or an
exported artefact from elsewhere can never run code when it is read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stocklab.baselines.exact.limits import Deadline, DPLimits
from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.optimal_policy import OptimalPolicy
from stocklab.baselines.exact.space import DPSize
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError, StocklabError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.core.storage import check_format, format_stamp, read_json, write_bytes, write_json

if TYPE_CHECKING:  # the solver imports scipy (seconds): checks and `validate` must not wait for it
    from stocklab.baselines.exact.solver import DPSolution, Progress

TABLE_FILE = "dp_table.npz"
BOUNDS_FILE = "dp_bounds.json"

#: Exact evaluation follows the states a policy reaches; a policy that lets stock drift without bound
#: (a constant order equal to mean demand) reaches ever more, so :func:`exact_cost` stops at this many
#: states (or 20 times the optimum's state space, up to :data:`EXACT_EVAL_MAX_STATES`) and the gap
#: is simulated instead.
EXACT_EVAL_STATES = 5_000
EXACT_EVAL_MAX_STATES = 200_000
#: Seconds :func:`exact_cost` may take before it gives up (the gap is then simulated).
EXACT_EVAL_SECONDS = 120.0


def limits_of(params: dict[str, Any] | None) -> DPLimits:
    """The DP limits of a config's ``optimal`` entry ``params`` (defaults when None or empty).

    The keys are ``max_states``, ``max_memory_gib`` and ``time_limit`` (seconds); ConfigError names
    a bad one.
    """
    return DPLimits.from_params(params or {})


def optimum_params(policies: Iterable[Any]) -> dict[str, Any]:
    """The ``params`` of the first ``kind: optimal`` entry of a config's policies (the DP's limits)."""
    return next((dict(p.params) for p in policies if p.kind == "optimal"), {})


def dp_instance(env: EnvConfig, params: dict[str, Any] | None = None) -> DPSize:
    """Check the DP of ``env`` without building it: its size, within the limits in ``params``.

    Raises ConfigError naming the field when ``env`` is outside the DP's scope, and
    ResourceLimitError (a ConfigError) with the states and bytes needed when it exceeds the limits.
    """
    limits = limits_of(params)
    return DPInstance.measure(env, max_states=limits.max_states, max_bytes=limits.max_bytes)


def solve_optimum(
    env: EnvConfig, params: dict[str, Any] | None = None, progress: Progress | None = None
) -> DPSolution:
    """Solve the DP of ``env`` within the limits in ``params``: the optimal cost and policy.

    States and memory are checked before anything is built, ``time_limit`` at every value iteration;
    ``progress(done, total)`` follows value iteration (see :func:`solve_optimal`).
    """
    limits = limits_of(params)
    from stocklab.baselines.exact.solver import solve_optimal

    inst = DPInstance.from_config(env, max_states=limits.max_states, max_bytes=limits.max_bytes)
    return solve_optimal(inst, deadline=limits.deadline(), progress=progress)


def exact_cost(env: EnvConfig, policy: Policy, seconds: float = EXACT_EVAL_SECONDS) -> float | None:
    """Exact long-run average cost per period of ``policy`` (money per period), or None.

    None when the DP cannot evaluate it: out of the DP's scope, too many states, a backlog without
    bound, or more than ``seconds`` seconds.
    """
    from stocklab.baselines.exact.chain import evaluate_policy

    try:
        n = dp_instance(env).states
        cap = min(max(EXACT_EVAL_STATES, 20 * n), EXACT_EVAL_MAX_STATES)
        inst = DPInstance.from_config(env, max_states=cap)
        return float(evaluate_policy(inst, policy, deadline=Deadline.after(seconds)))
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
