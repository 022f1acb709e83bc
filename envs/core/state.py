"""The mutable state of an object tree as arrays plus JSON values, and back.

What a resumable training checkpoint stores of its environments. The envs are rebuilt from their
config on resume; what the config does not fix (stock, pipelines, clocks, random generators
mid-stream, counters) is captured here and written into the rebuilt tree, so that training goes on
exactly as if it had never stopped. :func:`capture` walks the attributes (``__dict__`` and
``__slots__``, less a class's ``__transient__`` ones) of the objects ``follow`` admits (by default
stocklab's own, configs excepted), and lists, tuples and dicts (by their string keys), recording NumPy
arrays, random generators and plain scalars under their attribute paths; immutable inputs (configs,
gymnasium spaces, functions) are skipped, since the rebuilt tree has them already. :func:`restore`
writes the values back in place, so objects that share an array or a generator keep sharing it, and
then captures again to prove that every value landed. Nothing is unpickled: arrays go to ``.npz``,
the rest to JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError

#: Whether the walk enters an object's attributes (lists, tuples and dicts are always entered).
Follow = Callable[[Any], bool]

_SCALARS = (bool, int, float, str, type(None))

#: Key of the JSON index (array paths, values) in a state file.
_INDEX = "index"


def stocklab_objects(obj: Any) -> bool:
    """Enter stocklab's own objects, but not its configs (pydantic models: inputs, not state)."""
    from pydantic import BaseModel

    return type(obj).__module__.startswith("stocklab.") and not isinstance(obj, BaseModel)


def capture(root: Any, follow: Follow = stocklab_objects) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The state of ``root``: arrays by attribute path, and JSON-ready values (scalars, generators)."""
    arrays: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    seen: set[int] = set()

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, np.ndarray):
            arrays[path] = obj.copy()
        elif isinstance(obj, np.random.Generator):
            values[path] = {"generator": _plain(obj.bit_generator.state)}
        elif isinstance(obj, np.generic):
            values[path] = {"scalar": obj.item(), "dtype": obj.dtype.str}
        elif isinstance(obj, _SCALARS):
            values[path] = obj
        elif id(obj) in seen:  # shared: restored through its first path
            return
        elif isinstance(obj, list | tuple):
            seen.add(id(obj))
            values[path] = {"length": len(obj)}
            for i, item in enumerate(obj):
                walk(item, f"{path}[{i}]")
        elif isinstance(obj, dict):
            seen.add(id(obj))
            for key, item in obj.items():
                if isinstance(key, str):
                    walk(item, f"{path}[{key!r}]")
        elif follow(obj) and _has_fields(obj):
            seen.add(id(obj))
            for name, item in _fields(obj):
                walk(item, f"{path}.{name}")

    walk(root, "")
    return arrays, values


def restore(
    root: Any, arrays: dict[str, np.ndarray], values: dict[str, Any], follow: Follow = stocklab_objects
) -> None:
    """Write a :func:`capture` into ``root``, a tree rebuilt from the same config, in place.

    PolicyError when a value cannot land (another config or another version of the code): the
    caller then starts over rather than go on from a state that is not the saved one.
    """
    _Restorer(arrays, values, follow).walk(root, "")
    _check_landed(root, arrays, values, follow)


class _Restorer:
    """One pass of :func:`restore` over a rebuilt tree, in the order :func:`capture` walked it."""

    def __init__(self, arrays: dict[str, np.ndarray], values: dict[str, Any], follow: Follow) -> None:
        self.arrays, self.values, self.follow = arrays, values, follow
        self.seen: set[int] = set()

    def value_of(self, obj: Any, path: str) -> Any:
        """The restored value at ``path``: the same object updated where it is mutable."""
        if path in self.arrays:
            array = self.arrays[path]
            fits = isinstance(obj, np.ndarray) and obj.shape == array.shape and obj.dtype == array.dtype
            if not (fits and obj.flags.writeable):
                return array.copy()  # e.g. set or resized later in the original's life
            obj[...] = array  # in place: whoever shares the array sees the restored values
            return obj
        saved: Any = self.values.get(path)
        if isinstance(saved, dict) and "generator" in saved and isinstance(obj, np.random.Generator):
            obj.bit_generator.state = saved["generator"]
            return obj
        if isinstance(saved, dict) and "scalar" in saved:
            return np.dtype(saved["dtype"]).type(saved["scalar"])
        if path in self.values and not isinstance(saved, dict):
            return saved
        return self.walk(obj, path)

    def walk(self, obj: Any, path: str) -> Any:
        """``obj`` with everything under ``path`` restored (a new tuple; anything else in place)."""
        if id(obj) in self.seen:
            return obj
        if isinstance(obj, list | tuple | dict) or (self.follow(obj) and _has_fields(obj)):
            self.seen.add(id(obj))
        else:
            return obj
        if isinstance(obj, list):
            n = self.values.get(path, {}).get("length", len(obj))
            if n != len(obj):
                raise PolicyError(
                    f"checkpoint: {path} holds {n} items in the checkpoint but {len(obj)} in the rebuilt "
                    "env: it does not fit (another config?)"
                )
            obj[:] = [self.value_of(item, f"{path}[{i}]") for i, item in enumerate(obj)]
        elif isinstance(obj, tuple):
            items = [self.value_of(item, f"{path}[{i}]") for i, item in enumerate(obj)]
            return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
        elif isinstance(obj, dict):
            for key in [k for k in obj if isinstance(k, str)]:
                obj[key] = self.value_of(obj[key], f"{path}[{key!r}]")
        else:
            for name, item in _fields(obj):
                new = self.value_of(item, f"{path}.{name}")
                if new is not item:
                    object.__setattr__(obj, name, new)  # frozen dataclasses too
        return obj


def _slots(obj: Any) -> list[str]:
    """The slot names of ``obj``'s class and its bases (``__slots__`` may be one string)."""
    names: list[str] = []
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return [n for n in dict.fromkeys(names) if n not in ("__dict__", "__weakref__")]


def _has_fields(obj: Any) -> bool:
    return hasattr(obj, "__dict__") or bool(_slots(obj))


def _fields(obj: Any) -> list[tuple[str, Any]]:
    """An object's attributes, from its ``__dict__`` and its ``__slots__`` (those that are set).

    A class lists in ``__transient__`` the attributes that are outputs rather than state (the flows
    of the last step, say): the next step sets them anew, so a checkpoint leaves them out.
    """
    skip = set(getattr(type(obj), "__transient__", ()))
    fields = list(vars(obj).items()) if hasattr(obj, "__dict__") else []
    fields += [(n, getattr(obj, n)) for n in _slots(obj) if hasattr(obj, n)]
    return [(n, v) for n, v in fields if n not in skip]


def _plain(value: Any) -> Any:
    """A generator state as JSON-ready data (MT19937 keeps its key as an array)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.tolist() if isinstance(value, np.ndarray) else value


def _check_landed(root: Any, arrays: dict[str, np.ndarray], values: dict[str, Any], follow: Follow) -> None:
    """PolicyError naming the first path whose value differs from the saved one after a restore."""
    now_arrays, now_values = capture(root, follow)
    for path in sorted(set(arrays) | set(now_arrays)):
        a, b = arrays.get(path), now_arrays.get(path)
        if a is None or b is None or a.shape != b.shape or a.dtype != b.dtype or a.tobytes() != b.tobytes():
            raise PolicyError(f"checkpoint: the state at {path or 'the root'} does not fit the rebuilt env")
    for path in sorted(set(values) | set(now_values)):
        if json.dumps(values.get(path), sort_keys=True) != json.dumps(now_values.get(path), sort_keys=True):
            raise PolicyError(f"checkpoint: the state at {path or 'the root'} does not fit the rebuilt env")


def write_state(path: Path, arrays: dict[str, np.ndarray], values: dict[str, Any]) -> None:
    """Write a capture to one ``.npz`` (atomically): the arrays, and the values as a JSON string."""
    from stocklab.envs.core.storage import atomic_path

    paths = sorted(arrays)
    payload: dict[str, Any] = {f"a{i}": arrays[p] for i, p in enumerate(paths)}
    payload[_INDEX] = np.array(json.dumps({"arrays": paths, "values": values}))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **payload)


def read_state(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read what :func:`write_state` wrote (no pickle); PolicyError for a damaged file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            index = json.loads(str(data[_INDEX]))
            arrays = {p: data[f"a{i}"] for i, p in enumerate(index["arrays"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PolicyError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    return arrays, index["values"]
