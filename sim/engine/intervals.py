"""Exact interval arithmetic on time bins, shared by the meters and the gateway."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def add_interval_seconds(
    acc: NDArray[np.float64],
    bin_s: float,
    start_s: NDArray[np.float64],
    end_s: NDArray[np.float64],
    first_bin: int = 0,
) -> None:
    """Add to each bin ``k`` of ``acc`` the total overlap of the intervals with
    ``[(first_bin + k)·bin, (first_bin + k + 1)·bin)`` (``acc`` covers the bins from ``first_bin``
    on; intervals before it must not be given).

    Exact and vectorised: with ``F(t) = Σ_i |[s_i, e_i) ∩ (−∞, t)|``, bin ``k`` receives
    ``F((k+1)·bin) − F(k·bin)``, and ``F(t) = Σ_{e_i ≤ t} e_i + t·(#{s_i < t} − #{e_i ≤ t}) − Σ_{s_i < t} s_i``
    is evaluated at all bin edges at once from the sorted starts and ends.
    """
    if start_s.size == 0:
        return
    ends = np.minimum(end_s, (first_bin + acc.size) * bin_s)
    keep = ends > start_s
    if not keep.all():
        start_s, ends = start_s[keep], ends[keep]
        if start_s.size == 0:
            return
    # each interval's part in its first bin, at once; only the rest (intervals that cross a bin
    # edge, few when intervals are short) goes through the general method below
    first = np.floor(start_s / bin_s)
    edge = (first + 1) * bin_s
    acc += np.bincount(
        first.astype(np.int64) - first_bin,
        weights=np.minimum(ends, edge) - start_s,
        minlength=acc.size,
    )[: acc.size]
    cross = ends > edge
    start_s, ends = edge[cross], ends[cross]
    if start_s.size == 0:
        return
    lo = int(start_s.min() // bin_s)
    hi = int(np.ceil(ends.max() / bin_s))
    base = lo * bin_s  # shift times near zero for precision
    s = np.sort(start_s - base)
    e = np.sort(ends - base)
    cs = np.concatenate(([0.0], np.cumsum(s)))
    ce = np.concatenate(([0.0], np.cumsum(e)))
    edges = np.arange(hi - lo + 1, dtype=np.float64) * bin_s
    n_started = np.searchsorted(s, edges, side="left")
    n_ended = np.searchsorted(e, edges, side="right")
    f = ce[n_ended] + edges * (n_started - n_ended) - cs[n_started]
    acc[lo - first_bin : hi - first_bin] += np.diff(f)
