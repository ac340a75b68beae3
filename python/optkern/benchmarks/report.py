"""The benchmark's output: a Markdown table of every case and contender, and a PNG of GB/s against
size with the same-traffic ceiling as a dashed line."""

from __future__ import annotations

import statistics
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .peers import CEILING


@dataclass
class Case:
    """One case's timings: seconds per step of each contender over the rounds."""

    algorithm: str
    name: str  # "1e6", "resnet50", "2000x512"
    dtype: str
    threads: int
    elements: int
    traffic_bytes: int  # the algorithm's bytes per step (the ceiling moves exactly these)
    times: dict[str, list[float]]

    def median(self, contender: str) -> float:
        return statistics.median(self.times[contender])


HEADER = (
    "| algorithm | case | dtype | threads | contender | min µs | median µs | max µs | "
    "ns/element | GB/s | % of ceiling | median vs optkern |\n"
    "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


def _micros(seconds: float) -> str:
    """Microseconds with four significant digits, and no exponent for long steps."""
    micros = seconds * 1e6
    return f"{micros:.0f}" if micros >= 1000 else f"{micros:.4g}"


def table(cases: list[Case]) -> str:
    """Markdown rows: min / median / max make the noise visible; "% of ceiling" is the ceiling's
    median time over the contender's; "vs optkern" is the contender's median over optkern's
    (> 1: optkern is faster)."""
    rows = [HEADER]
    for case in cases:
        ours, ceiling = case.median("optkern"), case.median(CEILING)
        for name, ts in case.times.items():
            med = statistics.median(ts)
            rows.append(
                f"| {case.algorithm} | {case.name} | {case.dtype} | {case.threads} | {name} | "
                f"{_micros(min(ts))} | {_micros(med)} | {_micros(max(ts))} | "
                f"{med / case.elements * 1e9:.3f} | {case.traffic_bytes / med / 1e9:.1f} | "
                f"{ceiling / med * 100:.0f} % | {med / ours:.2f}x |"
            )
    return "\n".join(rows)


def plot(cases: list[Case], path: Path, title: str) -> None:
    """GB/s of the algorithm's traffic against elements (log axis) for the single-tensor cases,
    one panel per (algorithm, dtype, threads); the ceiling is the dashed black line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit('the plot needs matplotlib: pip install "optkern[examples]"') from error
    single = [c for c in cases if c.name.replace("e", "").replace(".", "").isdigit()]
    panels = sorted({(c.algorithm, c.dtype, c.threads) for c in single})
    if not panels:
        return
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows), squeeze=False)
    for axis, (algorithm, dtype, threads) in zip(axes.flat, panels, strict=False):
        mine = sorted(
            (c for c in single if (c.algorithm, c.dtype, c.threads) == (algorithm, dtype, threads)),
            key=lambda c: c.elements,
        )
        for contender in mine[0].times:
            points = [(c.elements, c.traffic_bytes / c.median(contender) / 1e9) for c in mine]
            style = (
                {"color": "black", "linestyle": "--"} if contender == CEILING else {"marker": "o"}
            )
            axis.plot(*zip(*points, strict=True), label=contender, **style)
        axis.set_xscale("log")
        axis.set_xlabel("elements (one tensor)")
        axis.set_ylabel(f"GB/s of {algorithm}'s traffic")
        axis.set_title(f"{algorithm}, {dtype}, {threads} thread{'s' if threads > 1 else ''}")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(textwrap.fill(title, 60 * columns), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
