"""Uncertain inputs: one scenario field and the distribution its values are drawn from.

An input is a table of ``[[inputs]]`` in a study file, tagged by its ``distribution`` key; adding a
distribution means adding one class to :data:`InputConfig`, never an if/elif chain. Every
distribution maps *uniform scores* ``u`` in (0, 1) (the design's columns) to values through its
quantile function (``ppf``), so a Latin hypercube or a Sobol' sequence in the unit cube becomes a
stratified or low-discrepancy sample of the inputs. Continuous distributions may be truncated:
values are then drawn through the truncated distribution's quantile function,
``ppf(F(low) + u (F(high) − F(low)))``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator
from scipy import stats

from sim._model import StrictModel

FloatArray = NDArray[np.float64]
Scalar = bool | int | float | str

#: Uniform scores are kept this far inside (0, 1), so unbounded quantile functions stay finite.
U_EPS = 1e-12


class _Model(StrictModel):
    """Strict, frozen, closed (see :mod:`sim._model`)."""


class Truncation(_Model):
    """Bounds of a truncated distribution (either may be left out)."""

    low: float | None = Field(default=None, description="Smallest value drawn.")
    high: float | None = Field(default=None, description="Largest value drawn.")

    @model_validator(mode="after")
    def _ordered(self) -> Truncation:
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low must be below high (got low={self.low:g}, high={self.high:g})")
        return self


class _Input(_Model):
    """What every uncertain input has: a name, the scenario field it sets, optional truncation."""

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=60,
        description="Short label used in outputs and plots [default: the field path].",
    )
    field: str = Field(description="Dotted scenario field, e.g. traffic.requests_per_day.")
    relative_to: str | None = Field(
        default=None,
        description="Set field = sample × this quantity (a scenario field or a derived quantity "
        "such as traffic.mean_requests_per_s), evaluated after the other inputs are applied.",
    )
    truncate: Truncation | None = Field(default=None, description="Truncate to [low, high].")

    @property
    def label(self) -> str:
        """The name used in outputs: ``name`` or, failing that, the field path."""
        return self.name if self.name is not None else self.field

    @property
    def categorical(self) -> bool:
        """Whether values are drawn from a list (no ordering is assumed)."""
        return False

    def frozen(self) -> Any:
        """The scipy.stats frozen distribution (continuous inputs)."""
        raise NotImplementedError

    def ppf(self, u: FloatArray) -> NDArray[Any]:
        """Values at uniform scores ``u`` (the truncated distribution's if ``truncate``)."""
        u = np.clip(np.asarray(u, dtype=np.float64), U_EPS, 1 - U_EPS)
        dist = self.frozen()
        lo, hi = self._cdf_bounds(dist)
        values = np.asarray(dist.ppf(lo + u * (hi - lo)), dtype=np.float64)
        t = self.truncate
        if t is not None:  # guard the bounds against rounding in cdf/ppf
            values = np.clip(values, t.low, t.high)
        return values

    def _cdf_bounds(self, dist: Any) -> tuple[float, float]:
        t = self.truncate
        lo = float(dist.cdf(t.low)) if t is not None and t.low is not None else 0.0
        hi = float(dist.cdf(t.high)) if t is not None and t.high is not None else 1.0
        return lo, hi

    def _bounds(self) -> tuple[float, float] | None:
        """``(low, high)`` parameters that must be ordered, if the distribution has them."""
        return None

    def _check(self) -> None:
        """Raise ``ValueError`` for parameters that are impossible together (a hook)."""

    @model_validator(mode="after")
    def _valid(self) -> _Input:
        bounds = self._bounds()
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"low must be below high (got low={bounds[0]:g}, high={bounds[1]:g})")
        self._check()
        if self.truncate is not None and not self.categorical:
            lo, hi = self._cdf_bounds(self.frozen())
            if not hi - lo > 1e-12:
                raise ValueError(
                    "truncate: the interval holds no probability under this distribution"
                )
        return self


class UniformInput(_Input):
    """Uniform on ``[low, high]``."""

    distribution: Literal["uniform"]
    low: float
    high: float

    def _bounds(self) -> tuple[float, float] | None:
        return self.low, self.high

    def frozen(self) -> Any:
        return stats.uniform(loc=self.low, scale=self.high - self.low)


class LogUniformInput(_Input):
    """Log-uniform (reciprocal) on ``[low, high]``, ``0 < low < high``."""

    distribution: Literal["loguniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    def _bounds(self) -> tuple[float, float] | None:
        return self.low, self.high

    def frozen(self) -> Any:
        return stats.loguniform(self.low, self.high)


class NormalInput(_Input):
    """Normal with ``mean`` and standard deviation ``sd`` (> 0)."""

    distribution: Literal["normal"]
    mean: float
    sd: float = Field(gt=0, description="Standard deviation (> 0).")

    def frozen(self) -> Any:
        return stats.norm(loc=self.mean, scale=self.sd)


class LognormalInput(_Input):
    """Lognormal: ``ln X`` is normal with standard deviation ``sigma``; give ``median`` or ``mean``."""

    distribution: Literal["lognormal"]
    median: float | None = Field(default=None, gt=0, description="exp(mean of ln X).")
    mean: float | None = Field(default=None, gt=0, description="E[X] = median × exp(σ²/2).")
    sigma: float = Field(gt=0, le=10, description="Standard deviation of ln X (> 0).")

    def _check(self) -> None:
        if (self.median is None) == (self.mean is None):
            raise ValueError("give exactly one of median or mean")

    @property
    def median_value(self) -> float:
        """The median, from ``median`` or ``mean``."""
        if self.median is not None:
            return self.median
        assert self.mean is not None
        return self.mean * math.exp(-(self.sigma**2) / 2)

    def frozen(self) -> Any:
        return stats.lognorm(s=self.sigma, scale=self.median_value)


class TriangularInput(_Input):
    """Triangular on ``[low, high]`` with its mode at ``mode``."""

    distribution: Literal["triangular"]
    low: float
    mode: float
    high: float

    def _bounds(self) -> tuple[float, float] | None:
        return self.low, self.high

    def _check(self) -> None:
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"mode must lie in [low, high] (got low={self.low:g}, mode={self.mode:g}, "
                f"high={self.high:g})"
            )

    def frozen(self) -> Any:
        width = self.high - self.low
        return stats.triang(c=(self.mode - self.low) / width, loc=self.low, scale=width)


class BetaInput(_Input):
    """Beta(``alpha``, ``beta``) stretched onto ``[low, high]`` (default [0, 1])."""

    distribution: Literal["beta"]
    alpha: float = Field(gt=0, description="First shape parameter (> 0).")
    beta: float = Field(gt=0, description="Second shape parameter (> 0).")
    low: float = 0.0
    high: float = 1.0

    def _bounds(self) -> tuple[float, float] | None:
        return self.low, self.high

    def frozen(self) -> Any:
        return stats.beta(self.alpha, self.beta, loc=self.low, scale=self.high - self.low)


class ChoiceInput(_Input):
    """One of ``values`` (numbers, strings or booleans), with optional ``weights``."""

    distribution: Literal["choice"]
    values: tuple[Scalar, ...] = Field(min_length=1, description="The possible values.")
    weights: tuple[float, ...] | None = Field(
        default=None, description="Relative weights (≥ 0, not all 0) [default: equal]."
    )

    def _check(self) -> None:
        if self.truncate is not None:
            raise ValueError("truncate applies to continuous distributions, not to a choice")
        kinds = {"number" if _is_number(v) else type(v).__name__ for v in self.values}
        if len(kinds) > 1:
            raise ValueError("values must all be numbers, all strings or all booleans")
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights has {len(self.weights)} entries for {len(self.values)} values"
                )
            if any(w < 0 or not math.isfinite(w) for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be finite, ≥ 0 and not all 0")

    @property
    def categorical(self) -> bool:
        return True

    def probabilities(self) -> FloatArray:
        """Probability of each value."""
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, float)
        return np.asarray(w / w.sum(), dtype=np.float64)

    def codes(self, u: FloatArray) -> NDArray[np.int64]:
        """Index of the value drawn at each uniform score."""
        cumulative = np.cumsum(self.probabilities())
        idx = np.searchsorted(cumulative, np.asarray(u, dtype=np.float64), side="right")
        return np.minimum(idx, len(self.values) - 1).astype(np.int64)

    def ppf(self, u: FloatArray) -> NDArray[Any]:
        values = np.asarray(self.values, dtype=object)
        picked = values[self.codes(u)]
        if all(_is_number(v) for v in self.values):
            as_int = all(isinstance(v, int) for v in self.values)
            return np.asarray(picked, dtype=np.int64 if as_int else np.float64)
        return picked


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


InputConfig = Annotated[
    UniformInput
    | LogUniformInput
    | NormalInput
    | LognormalInput
    | TriangularInput
    | BetaInput
    | ChoiceInput,
    Field(discriminator="distribution"),
]

#: Distribution name -> input class: the registry of distributions.
DISTRIBUTIONS: dict[str, type[_Input]] = {
    cls.model_fields["distribution"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (
        UniformInput,
        LogUniformInput,
        NormalInput,
        LognormalInput,
        TriangularInput,
        BetaInput,
        ChoiceInput,
    )
}

AnyInput = (
    UniformInput
    | LogUniformInput
    | NormalInput
    | LognormalInput
    | TriangularInput
    | BetaInput
    | ChoiceInput
)
