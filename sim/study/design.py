"""Designs: which points of the unit cube a study runs, one row per run.

A design produces *unit scores* (runs × inputs, in [0, 1]); each input's distribution maps its column
to values through its quantile function (:mod:`sim.study.distributions`). Designs are a registry
(:data:`DESIGNS`: name -> implementation with one signature):

* ``monte_carlo``: independent uniform scores;
* ``latin_hypercube``: each input's range cut into ``runs`` equally likely strata, each stratum
  sampled exactly once (SALib's ``latin`` sampler);
* ``sobol``: Saltelli's scheme on a scrambled Sobol' sequence, for Sobol' first and total indices
  (SALib's ``sobol`` sampler); ``runs = N (D + 2)``, or ``N (2D + 2)`` with second-order indices,
  ``N`` a power of two;
* ``morris``: Morris trajectories on a ``levels``-level grid for screening; ``runs = r (D + 1)``.

Rank correlations between inputs (Iman & Conover, 1982) reorder the scores of a Monte Carlo or Latin
hypercube design without changing any column's values, so each input keeps its distribution (and a
Latin hypercube its strata). Every random choice is seeded from the study's root seed alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]

#: First spawn-key word of the study's own streams (design, analysis). Runs use one-word keys
#: ``(i,)``; these use two words, so they can never coincide with a run's stream.
STUDY_STREAM = 0x5354_5544  # "STUD"
DESIGN_STREAM = 1
ANALYSIS_STREAM = 2


def derived_seed(root_seed: int, purpose: int) -> int:
    """A nonzero integer seed for one purpose of a study, from its root seed alone.

    Nonzero on purpose: some SALib functions treat a seed of 0 as "no seed" and fall back to
    numpy's global state.
    """
    seq = np.random.SeedSequence(root_seed, spawn_key=(STUDY_STREAM, purpose))
    return int(seq.generate_state(1, np.uint32)[0]) or 1


@dataclass(frozen=True)
class DesignSettings:
    """The design's parameters (from the study file's ``[design]`` table)."""

    method: str
    second_order: bool = False
    levels: int = 4


class Design(Protocol):
    """One way of choosing the runs of a study."""

    #: Whether inputs may carry rank correlations (the design's rows are exchangeable samples).
    supports_correlation: bool

    def runs_problem(self, runs: int, k: int, settings: DesignSettings) -> str | None:
        """Why ``runs`` does not fit this design with ``k`` inputs, or ``None`` if it does."""
        ...

    def unit(self, runs: int, k: int, settings: DesignSettings, seed: int) -> FloatArray:
        """Unit scores, ``runs × k``, in [0, 1]."""
        ...

    def quantiles(self, unit: FloatArray, settings: DesignSettings) -> FloatArray:
        """The probabilities at which each input's quantile function is evaluated."""
        ...

    def rounds_problem(self, rounds: Sequence[int], k: int, settings: DesignSettings) -> str | None:
        """Why the design cannot grow through the prefixes ``rounds`` (run counts, increasing, the
        last the design's size), each a design of its own, or ``None`` if it can."""
        ...

    def unit_in_rounds(
        self, rounds: Sequence[int], k: int, settings: DesignSettings, seed: int
    ) -> FloatArray:
        """Unit scores of a design of ``rounds[-1]`` runs whose first ``rounds[i]`` runs are a
        design of their own, for every ``i``."""
        ...


def _problem(k: int) -> dict[str, object]:
    return {
        "num_vars": k,
        "names": [f"x{j}" for j in range(k)],
        "bounds": [[0.0, 1.0]] * k,
    }


class MonteCarlo:
    """Independent uniform scores."""

    supports_correlation = True

    def runs_problem(self, runs: int, k: int, settings: DesignSettings) -> str | None:
        return None

    def unit(self, runs: int, k: int, settings: DesignSettings, seed: int) -> FloatArray:
        return np.random.default_rng(seed).random((runs, k))

    def quantiles(self, unit: FloatArray, settings: DesignSettings) -> FloatArray:
        return unit

    def rounds_problem(self, rounds: Sequence[int], k: int, settings: DesignSettings) -> str | None:
        return None

    def unit_in_rounds(
        self, rounds: Sequence[int], k: int, settings: DesignSettings, seed: int
    ) -> FloatArray:
        """Independent rows: every prefix is a Monte Carlo design (the rows are those of
        :meth:`unit`, drawn row by row)."""
        return self.unit(rounds[-1], k, settings, seed)


class LatinHypercube(MonteCarlo):
    """Each input's range in ``runs`` equally likely strata, each sampled once (SALib ``latin``).

    In rounds, each round doubles the design and keeps it a Latin hypercube: see
    :func:`extend_latin_hypercube`.
    """

    def unit(self, runs: int, k: int, settings: DesignSettings, seed: int) -> FloatArray:
        from SALib.sample import latin

        out = latin.sample(_problem(k), runs, seed=seed)
        return np.asarray(out, dtype=np.float64).reshape(runs, k)

    def rounds_problem(self, rounds: Sequence[int], k: int, settings: DesignSettings) -> str | None:
        first = rounds[0]
        if all(b == first * 2**r for r, b in enumerate(rounds)):
            return None
        return (
            f"a Latin hypercube grows by doubling: runs must be the first round's runs × a power "
            f"of two (got {rounds[-1]} runs, first round {first})"
        )

    def unit_in_rounds(
        self, rounds: Sequence[int], k: int, settings: DesignSettings, seed: int
    ) -> FloatArray:
        """A Latin hypercube of ``rounds[0]`` runs (SALib ``latin``), doubled round after round by
        :func:`extend_latin_hypercube` (each round's new runs drawn from their own seed), so each
        round's prefix is a Latin hypercube of its size."""
        unit = self.unit(rounds[0], k, settings, seed)
        for r in range(1, len(rounds)):
            rng = np.random.default_rng([seed, r])
            unit = np.vstack([unit, extend_latin_hypercube(unit, rng)])
        return unit


def extend_latin_hypercube(unit: FloatArray, rng: np.random.Generator) -> FloatArray:
    """``n`` new rows that, with the ``n`` rows of the Latin hypercube ``unit``, make a Latin
    hypercube of ``2n`` rows.

    Sallaberry, Helton & Hora (2008), "Extension of Latin hypercube samples with correlated
    variables", Reliability Engineering & System Safety 93(7), 1047-1059: each input's ``n``
    strata are halved; the old value of stratum ``s`` (its ``s``-th smallest) lies in one half,
    the new value is drawn uniformly in the other; the new values are paired across inputs by an
    independent random permutation per input. Every one of the ``2n`` strata then holds exactly
    one value, and the new rows alone are a random sample with uniform margins.
    """
    n, k = unit.shape
    out = np.empty_like(unit)
    for j in range(k):
        column = unit[:, j]
        strata = np.empty(n, dtype=np.int64)
        strata[np.argsort(column, kind="stable")] = np.arange(n)  # stratum s: the s-th smallest
        upper = column * (2 * n) >= 2 * strata + 1  # the old value is in the stratum's upper half
        new = (2 * strata + (~upper).astype(np.int64) + rng.random(n)) / (2 * n)
        out[:, j] = new[rng.permutation(n)]
    return out


class Saltelli:
    """Saltelli's scheme on a scrambled Sobol' sequence (SALib ``sobol`` sampler)."""

    supports_correlation = False

    @staticmethod
    def block(k: int, settings: DesignSettings) -> int:
        """Runs per base sample: ``D + 2``, or ``2D + 2`` with second-order indices."""
        return 2 * k + 2 if settings.second_order else k + 2

    def runs_problem(self, runs: int, k: int, settings: DesignSettings) -> str | None:
        block = self.block(k, settings)
        n = runs // block
        if runs % block == 0 and n >= 2 and n & (n - 1) == 0:
            return None
        lower = 1 << max(1, (max(runs // block, 2)).bit_length() - 1)
        upper = lower * 2
        shape = "2D + 2" if settings.second_order else "D + 2"
        return (
            f"a Sobol' design with {k} inputs needs runs = N × ({shape}) = N × {block} with N a "
            f"power of two (≥ 2); got {runs}: try {lower * block} (N = {lower}) or "
            f"{upper * block} (N = {upper})"
        )

    def unit(self, runs: int, k: int, settings: DesignSettings, seed: int) -> FloatArray:
        from SALib.sample import sobol

        n = runs // self.block(k, settings)
        out = sobol.sample(
            _problem(k), n, calc_second_order=settings.second_order, scramble=True, seed=seed
        )
        return np.asarray(out, dtype=np.float64)

    def quantiles(self, unit: FloatArray, settings: DesignSettings) -> FloatArray:
        return unit

    def rounds_problem(self, rounds: Sequence[int], k: int, settings: DesignSettings) -> str | None:
        for runs in rounds:
            problem = self.runs_problem(runs, k, settings)
            if problem is not None:
                return f"each round is a Sobol' design: {problem}"
        return None

    def unit_in_rounds(
        self, rounds: Sequence[int], k: int, settings: DesignSettings, seed: int
    ) -> FloatArray:
        """The design of ``rounds[-1]`` runs: its base points are the scrambled Sobol' sequence's
        first ``N`` points, so its first ``N' × block`` rows are the design of ``N'`` base points
        (the same sequence's first ``N'``; a power of two, so a balanced net too)."""
        return self.unit(rounds[-1], k, settings, seed)


class Morris:
    """Morris trajectories on a ``levels``-level grid (SALib ``morris`` sampler)."""

    supports_correlation = False

    def runs_problem(self, runs: int, k: int, settings: DesignSettings) -> str | None:
        r = runs // (k + 1)
        if runs % (k + 1) == 0 and r >= 2:
            return None
        lower = max(2, r)
        return (
            f"a Morris design with {k} inputs needs runs = r × (D + 1) = r × {k + 1} with r ≥ 2 "
            f"trajectories; got {runs}: try {lower * (k + 1)} or {(lower + 1) * (k + 1)}"
        )

    def unit(self, runs: int, k: int, settings: DesignSettings, seed: int) -> FloatArray:
        from SALib.sample import morris

        out = morris.sample(_problem(k), runs // (k + 1), num_levels=settings.levels, seed=seed)
        return np.asarray(out, dtype=np.float64)

    def rounds_problem(self, rounds: Sequence[int], k: int, settings: DesignSettings) -> str | None:
        return (
            "a Morris screening runs a fixed number of trajectories (its μ* is in the outcome's "
            "units, and SALib's trajectories do not extend by prefixes): give runs without "
            "stop_at_ci_width"
        )

    def unit_in_rounds(
        self, rounds: Sequence[int], k: int, settings: DesignSettings, seed: int
    ) -> FloatArray:
        raise NotImplementedError("a Morris design has no rounds")

    def quantiles(self, unit: FloatArray, settings: DesignSettings) -> FloatArray:
        # The grid {0, 1/(p-1), ..., 1} -> the middle of p equally likely strata, so unbounded
        # distributions stay finite and each level is equally likely.
        p = settings.levels
        return (np.rint(unit * (p - 1)) + 0.5) / p


#: Design name -> implementation.
DESIGNS: dict[str, Design] = {
    "monte_carlo": MonteCarlo(),
    "latin_hypercube": LatinHypercube(),
    "sobol": Saltelli(),
    "morris": Morris(),
}


def spearman_to_pearson(rank: FloatArray) -> FloatArray:
    """Pearson correlation of a bivariate normal whose Spearman rank correlation is ``rank``."""
    return np.asarray(2 * np.sin(np.pi * rank / 6), dtype=np.float64)


def rank_correlate(unit: FloatArray, target_rank: FloatArray) -> FloatArray:
    """Reorder each column of ``unit`` so that the columns have about the target rank correlations.

    Iman, R. L. & Conover, W. J. (1982), "A distribution-free approach to inducing rank correlation
    among input variables", Communications in Statistics B 11(3), 311-334. Each column keeps its
    values (so its distribution, and a Latin hypercube's strata); only their order changes.
    Deterministic given ``unit``.

    Parameters
    ----------
    unit
        Scores, ``n × k``.
    target_rank
        Target Spearman rank correlation matrix, ``k × k``, positive definite.
    """
    n, k = unit.shape
    if k < 2 or n < 3:
        return unit.copy()
    # van der Waerden scores in the current order of each column
    ranks = np.argsort(np.argsort(unit, axis=0, kind="stable"), axis=0, kind="stable")
    scores = stats.norm.ppf((ranks + 1) / (n + 1))
    current = np.corrcoef(scores, rowvar=False)
    target = spearman_to_pearson(target_rank)
    np.fill_diagonal(target, 1.0)
    f = np.linalg.cholesky(current)
    p = np.linalg.cholesky(target)
    induced = scores @ np.linalg.inv(f).T @ p.T
    out = np.empty_like(unit)
    for j in range(k):
        order = np.argsort(np.argsort(induced[:, j], kind="stable"), kind="stable")
        out[:, j] = np.sort(unit[:, j])[order]
    return out


def correlation_matrix(
    labels: Sequence[str], pairs: Sequence[tuple[str, str, float]]
) -> FloatArray:
    """The ``k × k`` rank correlation matrix from ``(a, b, rank)`` pairs (others 0)."""
    index = {label: j for j, label in enumerate(labels)}
    m = np.eye(len(labels))
    for a, b, rho in pairs:
        m[index[a], index[b]] = m[index[b], index[a]] = rho
    return m


def is_positive_definite(m: FloatArray) -> bool:
    """Whether ``m`` (symmetric) is positive definite."""
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return False
    return True
