"""Checks of SB3 hyper-parameters that do not import torch.

``stocklab validate`` must answer in well under a second, and importing stable_baselines3 imports
torch (seconds). The constructor of an SB3 algorithm is read from its source file with :mod:`ast`
instead, so the keys of a config's ``hyperparams`` are checked exactly as training checks them
(:func:`stocklab.agents.sb3.agent.algorithm_kwargs` calls :func:`check_keys` too). Where the source
cannot be read, or a value names a torch class that only torch can resolve, the caller falls back to
the importing check.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import PolicyError, did_you_mean

#: Keys of the ``hyperparams`` dict that configure stocklab's wrapping rather than the algorithm.
WRAPPER_KEYS = ("n_envs", "policy", "normalize", "vec_env", "n_timesteps", "action_prior", "warm_start")
#: Constructor arguments stocklab sets itself; a config may not set them.
RESERVED = ("env", "seed", "tensorboard_log", "verbose", "device", "_init_setup_model")
#: torch.nn activation classes by the names configs use.
ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU", "gelu": "GELU"}


def accepted_keys(parameters: Iterable[str]) -> set[str]:
    """The constructor parameters a config may set: all but ``self``, ``policy`` and the reserved ones."""
    return set(parameters) - {"self", "policy", *RESERVED}


def check_keys(algo_name: str, accepted: set[str], hyperparams: dict[str, Any]) -> None:
    """Raise :class:`PolicyError` naming the first key that is neither a wrapper key nor accepted."""
    for key in hyperparams:
        if key not in WRAPPER_KEYS and key not in accepted:
            allowed = ", ".join(sorted(accepted | set(WRAPPER_KEYS)))
            raise PolicyError(
                f"hyperparams.{key}: not a parameter of {algo_name}.{did_you_mean(key, accepted)} "
                f"Allowed: {allowed}"
            )


def check_schedule(key: str, value: Any) -> float | None:
    """The start value of a ``lin_<x>`` schedule (None if ``value`` is not a schedule string)."""
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            return float(value[4:])
        except ValueError:
            raise PolicyError(f"hyperparams.{key}: {value!r} is not lin_<number>") from None
    return None


def check_without_torch(name: str, hyperparams: dict[str, Any]) -> bool:
    """Check ``hyperparams`` of the SB3 algorithm ``name`` from its source; False if it cannot decide.

    Returns True when every key and every schedule string was checked; raises :class:`PolicyError`
    on the first bad one. False (undecided) when SB3's source is not found or a ``policy_kwargs``
    value names a torch class other than the activations of :data:`ACTIVATIONS`.
    """
    signature = _constructor_parameters(name.lower())
    if signature is None:
        return False
    class_name, parameters = signature
    check_keys(class_name, accepted_keys(parameters), hyperparams)
    for key, value in hyperparams.items():
        check_schedule(key, value)
    kwargs = hyperparams.get("policy_kwargs") or {}
    if not isinstance(kwargs, dict):
        return False
    if isinstance(kwargs.get("optimizer_class"), str):
        return False
    activation = kwargs.get("activation_fn")
    if isinstance(activation, str):
        plain = activation.removeprefix("nn.")
        return plain.lower() in ACTIVATIONS or plain in ACTIVATIONS.values()
    return True


@cache
def _constructor_parameters(module: str) -> tuple[str, tuple[str, ...]] | None:
    """The class name and ``__init__`` parameters of ``stable_baselines3/<module>/<module>.py``."""
    spec = importlib.util.find_spec("stable_baselines3")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / module / f"{module}.py"
    if not module.isidentifier() or not source.is_file():
        return None
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.lower() == module:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
                    return node.name, tuple(names)
    return None
