"""The ratios issue 15's targets name, one row per 16-bit case: optkern's 16-bit step (float32
state) against optkern's float32 step, DeepSpeed and torch fused on the same dtype, optkern's
bfloat16 state against torch fused, and each storage's share of its own same-traffic ceiling.

Each ratio is the other's median over the first's, from the same interleaved rounds (> 1: the
first is faster). torch keeps its state in the parameter's dtype, so it moves fewer bytes than
optkern's float32-state step: the byte ratio stands next to that time ratio.
"""

from __future__ import annotations

from .peers import CEILING
from .peers16 import FLOAT32, MASTER, STATE16
from .report import Case, micros

HEADER = (
    "| algorithm | case | dtype | threads | scenario | optkern µs | % of ceiling | "
    "float32 / optkern | DeepSpeed / optkern | torch fused / optkern (bytes) | "
    "state bfloat16 µs | % of ceiling | torch fused / state bfloat16 | master weights µs | "
    "% of ceiling | flags |\n"
    "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)
TORCH = "torch fused"


def _ratio(case: Case, other: str, first: str) -> str:
    if other not in case.times or first not in case.times:
        return "—"
    return f"{case.median(other) / case.median(first):.2f}x"


def _share(case: Case, contender: str) -> str:
    if contender not in case.times:
        return "—"
    share = case.share_of_ceiling(contender)
    return "n/a" if share is None else f"{share * 100:.0f} %"


def _median(case: Case, contender: str) -> str:
    return micros(case.median(contender)) if contender in case.times else "—"


def ratio_table(cases: list[Case]) -> str:
    """The table, or "" if no case has 16-bit storage."""
    rows = []
    for case in cases:
        if case.dtype not in ("bfloat16", "float16"):
            continue
        byte_ratio = ""
        if TORCH in case.times:
            byte_ratio = (
                f" ({case.bytes_per_element['optkern']} : {case.bytes_per_element[TORCH]} B)"
            )
        used = ["optkern", FLOAT32, "DeepSpeed", TORCH, STATE16, MASTER, CEILING]
        flags = sorted({f for name in used if name in case.times for f in case.flags(name)})
        rows.append(
            f"| {case.algorithm} | {case.name} | {case.dtype} | {case.threads_label} | "
            f"{case.scenario} | {_median(case, 'optkern')} | {_share(case, 'optkern')} | "
            f"{_ratio(case, FLOAT32, 'optkern')} | {_ratio(case, 'DeepSpeed', 'optkern')} | "
            f"{_ratio(case, TORCH, 'optkern')}{byte_ratio} | {_median(case, STATE16)} | "
            f"{_share(case, STATE16)} | {_ratio(case, TORCH, STATE16)} | "
            f"{_median(case, MASTER)} | {_share(case, MASTER)} | {', '.join(flags)} |"
        )
    return "\n".join([HEADER, *rows]) if rows else ""
