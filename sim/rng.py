"""Seed streams.

Randomness is always an argument: every random function takes a :class:`numpy.random.Generator`.
A scenario's seed spawns one independent stream per model family, so changing the payload model does
not change the arrival times. Run ``i`` of a study gets ``SeedSequence(root_seed, spawn_key=(i,))``.
"""

from __future__ import annotations

import numpy as np

STREAMS = (
    "arrivals",
    "payload",
    "connections",
    "backend",
    "extra",
    "cache",
    "cloudfront",
    "start",
)  # fmt: skip  (append only: a stream's index is its seed)


def run_seed_sequence(root_seed: int, run_index: int | None = None) -> np.random.SeedSequence:
    """The seed sequence of one simulation run (``run_index`` is the run of a study)."""
    if run_index is None:
        return np.random.SeedSequence(root_seed)
    return np.random.SeedSequence(root_seed, spawn_key=(run_index,))


def streams(seq: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """One generator per model family, each from its own child of ``seq``."""
    # Children are built from the spawn key, not with ``seq.spawn`` (which mutates ``seq``), so the
    # same ``seq`` always gives the same streams.
    return {
        name: np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, k)))
        )
        for k, name in enumerate(STREAMS)
    }
