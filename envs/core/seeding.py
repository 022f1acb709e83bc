"""Seeding helpers: one episode seed fans out into one generator per source of randomness.

Each source (demand totals, customer arrival instants, lead times) draws from its own
``numpy.random.Generator`` spawned from one ``SeedSequence``, so a policy's actions can never shift
the demand stream: two policies run under one seed see identical demand (common random numbers).
"""

from __future__ import annotations

import numpy as np

#: The named streams, in spawn order. Appending a name keeps earlier streams unchanged.
STREAMS = ("demand", "arrival_instants", "lead_time", "extra")


def spawn_generators(seed: int | np.random.SeedSequence | None) -> dict[str, np.random.Generator]:
    """Return ``{stream name: Generator}``, each independent, all determined by ``seed``."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = seq.spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(STREAMS, children)}


def episode_seeds(base_seed: int, episodes: int) -> list[int]:
    """Return ``episodes`` distinct 32-bit episode seeds derived from ``base_seed`` (stable across runs)."""
    seq = np.random.SeedSequence(base_seed)
    return [int(s.generate_state(1)[0]) for s in seq.spawn(episodes)]
