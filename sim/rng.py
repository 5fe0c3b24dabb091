"""Seed streams.

Randomness is always an argument: every random function takes a :class:`numpy.random.Generator`.
A scenario's seed spawns one independent stream per model family, so changing the payload model does
not change the arrival times. Run ``i`` of a study gets ``SeedSequence(root_seed, spawn_key=(i,))``.

``request`` fidelity draws each batch's per-request values from streams of that batch alone
(:func:`batch_streams`: ``spawn_key = (*run key, family, batch)``), so a batch can be drawn in any
process, in any order, and the numbers do not depend on how many worker processes drew them; the
per-second counts stay on the run's ``arrivals`` stream, drawn in time order (an arrival process
carries state from one window to the next).
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


def _child(seq: np.random.SeedSequence, *key: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, *key)))
    )


class BatchStreams:
    """The streams of batch ``index`` of a ``request``-fidelity run: one generator per model
    family, ``SeedSequence(entropy, spawn_key=(*run key, family, index))``, made on first use.

    ``arrivals`` places each second's arrivals within it (the counts come from the run's own
    ``arrivals`` stream); the others draw what their family draws for the batch's requests."""

    def __init__(self, seq: np.random.SeedSequence, index: int) -> None:
        self._seq = seq
        self.index = index
        self._made: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        rng = self._made.get(name)
        if rng is None:
            rng = self._made[name] = _child(self._seq, STREAMS.index(name), self.index)
        return rng


def batch_streams(seq: np.random.SeedSequence, index: int) -> BatchStreams:
    """The per-family streams of batch ``index`` of the run seeded by ``seq``."""
    return BatchStreams(seq, index)
