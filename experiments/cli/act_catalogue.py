"""``stocklab act CATALOGUE_POLICY --states FILE``: one period's orders for every SKU of a catalogue.

The states file is the single-SKU one (:mod:`stocklab.experiments.deploy.states`) with a required
``sku`` column and one row per SKU of the catalogue. ``--memory FILE`` carries a stateful policy's
memory from one period to the next: read when the file exists, replaced (atomically) by the memory of
this decision.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import DataError
from stocklab.experiments.cli.common import out as console


def read_memory(path: Path | None) -> Any:
    """The memory stored in ``path`` (None when there is none yet); DataError for a file that is not one."""
    from stocklab.experiments.deploy.artefact import read_bounded

    if path is None or not (path.exists() or path.is_symlink()):
        return None
    data = read_bounded(path, 16 << 20, "the memory file", follow=True)
    try:
        memory = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DataError(f"--memory {str(path)!r}: not a JSON memory file written by stocklab act") from None
    return memory


def check_catalogue_options(
    policy: Any,
    catalogue: bool,
    state: str | None,
    states: Path | None,
    memory: Path | None,
    policy_dir: Path,
) -> Path | None:
    """ConfigError for options a catalogue (or single-SKU) policy cannot take; the checked --memory path."""
    from stocklab.envs.core.errors import ConfigError
    from stocklab.experiments.deploy.paths import check_output_file

    if memory is not None and not catalogue:
        raise ConfigError("act: --memory is for catalogue policies; this policy keeps no memory")
    if catalogue and state is not None:
        raise ConfigError(
            f"act: {policy.name} is a catalogue policy of {policy.size} SKUs; it decides for all of them "
            "at once: give --states FILE.csv with one row per SKU (--template prints the columns)"
        )
    if memory is None:
        return None
    return check_output_file(memory, force=True, inputs=[states], protect=[policy_dir], what="--memory")


def act_catalogue(
    policy: Any, states: Path, target: Path | None, memory_path: Path | None, as_json: bool
) -> None:
    """Decide for the states file and print or write the orders (module docstring)."""
    from stocklab.envs.core.storage import to_json, write_text
    from stocklab.experiments.deploy.states import SKU, orders_csv, read_states_csv

    header, rows, parsed = read_states_csv(states, policy.obs_spec)
    names = [h.strip() for h in header]
    if SKU not in names:
        raise DataError(f"{states}: no sku column; a catalogue policy needs the sku of every row")
    col = names.index(SKU)
    for row, state in zip(rows, parsed):
        state[SKU] = row[col].strip()
    memory = read_memory(memory_path)
    decision = policy.decide(parsed, memory, label=f"{states}: rows")
    text = orders_csv(header, rows, decision.orders)
    if target is not None:
        write_text(target, text)
    if memory_path is not None and decision.memory is not None:
        write_text(memory_path, to_json(decision.memory) + "\n")
    elif memory_path is not None:
        sys.stderr.write(
            f"note: {policy.name} keeps no memory between periods; --memory {memory_path} left as it was\n"
        )
    summary = decision.summary()
    if as_json:
        result = {"policy": policy.name, "sku": decision.skus, "orders": decision.orders,
                  "out": str(target) if target else None, **summary}  # fmt: skip
        sys.stdout.write(to_json(result) + "\n")
    elif target is None:
        sys.stdout.write(text)
    else:
        budget = (
            ""
            if summary["budget"] is None
            else f"; spent {summary['spent']:,.2f} of budget {summary['budget']:,.2f}"
        )
        console.print(f"{len(rows)} orders written to {target}{budget}", highlight=False)
