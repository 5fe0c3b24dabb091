"""Data transfer out to the internet: unit conversion and tiered charge.

Sources: https://aws.amazon.com/ec2/pricing/on-demand/ (data transfer section; API Gateway bills
data out at the EC2 rate, https://aws.amazon.com/api-gateway/pricing/). AWS's examples disagree on
what a GB is: the API Gateway examples convert KB to GB with 1,048,576 KB per GB (binary), the ELB
examples use 10^9 bytes (decimal). Every caller states its convention.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from sim.pricing._numeric import AnyArray, FloatArray, as_quantities, scalar_or_array
from sim.pricing.book import TieredPrice
from sim.pricing.tiers import priced_cost_usd

__all__ = [
    "BYTES_PER_GB_BINARY",
    "BYTES_PER_GB_DECIMAL",
    "GbConvention",
    "bytes_to_gb",
    "data_transfer_out_cost_usd",
]

GbConvention = Literal["decimal", "binary"]

BYTES_PER_GB_DECIMAL = 1e9
"""Decimal GB, as in AWS's ELB examples."""
BYTES_PER_GB_BINARY = float(2**30)
"""Binary GB (GiB), as in AWS's API Gateway examples (15,000,000 KB = 14.3 GB)."""


@overload
def bytes_to_gb(bytes_: float, convention: GbConvention) -> float: ...
@overload
def bytes_to_gb(bytes_: AnyArray, convention: GbConvention) -> FloatArray: ...
def bytes_to_gb(bytes_: float | AnyArray, convention: GbConvention) -> float | FloatArray:
    """Convert bytes to GB under an explicit convention.

    Source of the two conventions: https://aws.amazon.com/api-gateway/pricing/ (examples divide KB
    by 1,048,576) and https://aws.amazon.com/elasticloadbalancing/pricing/ (examples use 10^9).

    Parameters
    ----------
    bytes_ : float or ndarray
        Bytes, >= 0.
    convention : {"decimal", "binary"}
        ``"decimal"``: 10^9 bytes per GB (ELB examples); ``"binary"``: 2^30 bytes per GB (API
        Gateway examples: 3 KB x 5 million = 15,000,000 KB = 14.3 GB).

    Returns
    -------
    float or ndarray
    """
    if convention == "decimal":
        per_gb = BYTES_PER_GB_DECIMAL
    elif convention == "binary":
        per_gb = BYTES_PER_GB_BINARY
    else:
        raise ValueError(f"convention must be 'decimal' or 'binary', got {convention!r}")
    return scalar_or_array(np.divide(as_quantities("bytes_", bytes_), per_gb))


def data_transfer_out_cost_usd(
    gb: float, prices: TieredPrice, prior_gb: float = 0.0, free_gb: float = 0.0
) -> float:
    """USD for ``gb`` GB out to the internet after ``prior_gb`` GB this month.

    us-east-1: $0.09/GB for the first 10 TB, then $0.085 (next 40 TB), $0.07 (next 100 TB), $0.05,
    with 1 TB = 1,024 GB as in the AWS Price List. The 100 GB monthly free allowance is aggregated
    across services and regions; here it is taken from the month's first GB with the tier
    boundaries unchanged (the Price List words tier 1 as "first 10 TB ... beyond the global free
    tier", which would shift boundaries by 100 GB: at most 100 GB x the tier price gap). Source:
    https://aws.amazon.com/ec2/pricing/on-demand/

    Parameters
    ----------
    gb : float
        GB out, >= 0 (convert with :func:`bytes_to_gb`, stating the convention).
    prices : TieredPrice
        ``RegionPrices.data_transfer_out``.
    prior_gb : float
        GB out earlier in the month.
    free_gb : float
        ``RegionPrices.free_data_transfer_gb``, or 0 (AWS's worked examples use 0).
    """
    return priced_cost_usd(gb, prices, prior_gb, free_gb)
