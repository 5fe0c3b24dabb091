"""Units and conversions used across the package.

Names carry their unit (``_s``, ``_bytes``, ``_gb``, ``_usd``, ``_per_s``). Two GB conventions coexist in
AWS's published examples, so every conversion names its convention:

* decimal (1 GB = 10**9 bytes): the ELB examples (300 KB/s for an hour = 1.08 GB processed);
* binary (1 GB = 2**30 bytes, 1,048,576 KB): the API Gateway examples (15,000,000 KB = 14.3 GB).
"""

from __future__ import annotations

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
DAYS_PER_BILLING_MONTH = 30  # "per 30-day month" figures in summaries

BYTES_PER_KB = 1024  # payload sizes in scenario files: 1 KB = 1024 bytes
DECIMAL_GB_BYTES = 1_000_000_000
BINARY_GB_BYTES = 2**30
