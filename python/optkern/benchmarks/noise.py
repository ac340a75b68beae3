"""Flags for benchmark rows whose samples say the machine was busy while they ran.

Two signs, both read from the samples alone:

- **spread**: (max - min) / median of a row's rounds above ``SPREAD_LIMIT``. On a quiet machine
  the rounds of one contender agree closely; another process taking the core for part of the
  case, a clock change or page faults in some rounds widen them (bench/README.md gives the
  measurements behind the limit).
- **> ceiling**: a median faster than ``CEILING_LIMIT`` times its same-traffic ceiling's median.
  The ceiling moves the same bytes with no math, so no contender can truly beat it by much; a
  larger share means the ceiling's own rounds were slowed by something else.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

#: (max - min) / median above this flags a row (see bench/README.md for the data behind it).
SPREAD_LIMIT = 0.5
#: A contender faster than this share of its ceiling flags the row: the ceiling was disturbed.
CEILING_LIMIT = 1.05

SPREAD = "spread"
OVER_CEILING = "> ceiling"


def spread(samples: Sequence[float]) -> float:
    """(max - min) / median of the samples: 0 for identical samples."""
    if not samples:
        raise ValueError("spread: no samples")
    median = statistics.median(samples)
    if median <= 0:
        raise ValueError(f"spread: the median must be > 0, got {median}")
    return (max(samples) - min(samples)) / median


def flags(samples: Sequence[float], share_of_ceiling: float | None) -> list[str]:
    """The flags of one row: its samples (seconds per call) and its median's share of its
    ceiling (the ceiling's median over the row's; None where the row has no ceiling)."""
    out = []
    if spread(samples) > SPREAD_LIMIT:
        out.append(SPREAD)
    if share_of_ceiling is not None and share_of_ceiling > CEILING_LIMIT:
        out.append(OVER_CEILING)
    return out


def legend() -> str:
    """The line under a table that says what the flags mean and where their thresholds lie."""
    return (
        f"flags: {SPREAD} = the row's (max - min) / median is over {SPREAD_LIMIT:.0%}; "
        f"{OVER_CEILING} = its median is faster than {CEILING_LIMIT:.0%} of its same-traffic "
        "ceiling's, which moves the same bytes with no math, so the ceiling's rounds were slowed "
        "by something else. Either says the machine was busy during the case: rerun it before "
        "quoting the row."
    )
