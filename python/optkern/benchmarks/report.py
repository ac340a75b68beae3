"""The benchmark's output: a Markdown table of every case and contender, and a PNG of GB/s against
size with the same-traffic ceiling as a dashed line."""

from __future__ import annotations

import statistics
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from . import noise
from .peers import CEILING, ONE_THREAD


@dataclass
class Case:
    """One case's timings: seconds per step of each contender over the rounds, the bytes each
    moves per element, and the ceiling each is judged against (a contender's name: its own for
    a ceiling; None for none; a name not timed: that ceiling is n/a, and `notes` say why)."""

    algorithm: str
    name: str  # "1e6", "resnet50", "2000x512"
    dtype: str
    threads: int
    elements: int
    times: dict[str, list[float]]
    bytes_per_element: dict[str, int]
    ceilings: dict[str, str | None]
    scenario: str = "quiet"
    default_threads: bool = False  # optkern ran with its default thread count (= threads)
    notes: list[str] = field(default_factory=list)
    others_cpus: float | None = None  # CPUs other processes kept busy during the case
    floors: dict[str, str | None] = field(default_factory=dict)  # like ceilings

    def median(self, contender: str) -> float:
        return statistics.median(self.times[contender])

    def gigabytes_per_second(self, contender: str) -> float:
        return self.bytes_per_element[contender] * self.elements / self.median(contender) / 1e9

    def share_of_ceiling(self, contender: str) -> float | None:
        """The ceiling's median over the contender's; None if it has no ceiling or it is n/a."""
        ceiling = self.ceilings.get(contender)
        if ceiling is None or ceiling not in self.times:
            return None
        return self.median(ceiling) / self.median(contender)

    def limit(self, contender: str) -> tuple[float, str] | None:
        """The larger of the median times of the contender's ceiling and arithmetic floor, and
        which it is ("memory" or "arithmetic"); None if neither was timed."""
        bounds = [
            (self.median(name), kind)
            for name, kind in (
                (self.ceilings.get(contender), "memory"),
                (self.floors.get(contender), "arithmetic"),
            )
            if name is not None and name in self.times
        ]
        return max(bounds) if bounds else None

    def share_of_limit(self, contender: str) -> tuple[float, str] | None:
        """The limit's median over the contender's, and which limit; None without one."""
        limit = self.limit(contender)
        return None if limit is None else (limit[0] / self.median(contender), limit[1])

    def flags(self, contender: str) -> list[str]:
        return noise.flags(self.times[contender], self.share_of_ceiling(contender))

    @property
    def others_label(self) -> str:
        return "n/a" if self.others_cpus is None else f"{self.others_cpus:.2f}"

    @property
    def threads_label(self) -> str:
        return f"{self.threads} (default)" if self.default_threads else str(self.threads)


OTHERS_LEGEND = (
    "others' CPUs: how many CPUs, on average over the case, processes other than this benchmark "
    "kept busy (from /proc/stat, hypervisor steal included; the --busy background process and "
    "this process's threads are not counted)."
)
LIMIT_LEGEND = (
    "arithmetic floor: optkern's own kernel, through the same loop and on the same threads, going "
    "over 32 KiB of cache-resident arrays per thread as many times as the case has elements "
    "(its time scaled to the case's count): what the arithmetic alone costs. % of limit: the "
    "larger of the same-traffic ceiling (memory) and the arithmetic floor over the contender's "
    "median, and which of the two it is."
)
HEADER = (
    "| algorithm | case | dtype | threads | scenario | others' CPUs | contender | min µs | "
    "median µs | max µs | ns/element | GB/s | % of ceiling | % of limit | median vs optkern | "
    "flags |\n|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|"
)


def micros(seconds: float) -> str:
    """Microseconds with four significant digits, and no exponent for long steps."""
    micros = seconds * 1e6
    return f"{micros:.0f}" if micros >= 1000 else f"{micros:.4g}"


def _share(case: Case, contender: str) -> str:
    share = case.share_of_ceiling(contender)
    if share is not None:
        return f"{share * 100:.0f} %"
    return "—" if case.ceilings.get(contender) is None else "n/a"


def _limit(case: Case, contender: str) -> str:
    share = case.share_of_limit(contender)
    return "—" if share is None else f"{share[0] * 100:.0f} % ({share[1]})"


def table(cases: list[Case]) -> str:
    """Markdown rows: min / median / max make the noise visible; "% of ceiling" is the ceiling's
    median time over the contender's; "% of limit" the same for the larger of the ceiling and
    the arithmetic floor (optkern's kernel on cache-resident data, floor.py), naming which it
    is; "vs optkern" is the contender's median over optkern's (> 1: optkern is faster); flags
    mark rows whose samples say the machine was busy. Under the table: the flags' legend and
    why a ceiling is n/a."""
    rows = [HEADER]
    for case in cases:
        ours = case.median("optkern")
        for name, ts in case.times.items():
            med = statistics.median(ts)
            rows.append(
                f"| {case.algorithm} | {case.name} | {case.dtype} | {case.threads_label} | "
                f"{case.scenario} | {case.others_label} | {name} | "
                f"{micros(min(ts))} | {micros(med)} | {micros(max(ts))} | "
                f"{med / case.elements * 1e9:.3f} | {case.gigabytes_per_second(name):.1f} | "
                f"{_share(case, name)} | {_limit(case, name)} | {med / ours:.2f}x | "
                f"{', '.join(case.flags(name))} |"
            )
    rows += ["", noise.legend(), "", OTHERS_LEGEND, "", LIMIT_LEGEND]
    notes = sorted({note for case in cases for note in case.notes})
    if notes:
        rows += ["", "notes (a ceiling marked n/a, a peer left out):"]
        rows += [f"- {note}" for note in notes]
    return "\n".join(rows)


THREADS_HEADER = (
    "| algorithm | case | dtype | scenario | others' CPUs | threads | optkern 1 thread µs | "
    "optkern µs | threads / 1 thread | flags |\n|---|---|---|---|---:|---:|---:|---:|---:|---|"
)


def threads_table(cases: list[Case]) -> str:
    """optkern's median on the case's threads over its median on one thread, both from the same
    interleaved rounds (above 1: the threads made the step slower); "" if no case has both."""
    rows = []
    for case in cases:
        if ONE_THREAD not in case.times:
            continue
        ours, solo = case.median("optkern"), case.median(ONE_THREAD)
        flags = sorted(set(case.flags("optkern") + case.flags(ONE_THREAD)))
        rows.append(
            f"| {case.algorithm} | {case.name} | {case.dtype} | {case.scenario} | "
            f"{case.others_label} | {case.threads_label} | {micros(solo)} | {micros(ours)} | {ours / solo:.2f} | "
            f"{', '.join(flags)} |"
        )
    return "\n".join([THREADS_HEADER, *rows]) if rows else ""


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
    panels = sorted({(c.algorithm, c.dtype, c.threads, c.scenario) for c in single})
    if not panels:
        return
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, panels, strict=False):
        algorithm, dtype, threads, scenario = panel
        mine = sorted(
            (c for c in single if (c.algorithm, c.dtype, c.threads, c.scenario) == panel),
            key=lambda c: c.elements,
        )
        for contender in mine[0].times:
            if mine[0].floors.get(contender) == contender:
                continue  # a floor moves no memory: its "GB/s" is no rate of anything
            points = [
                (c.elements, c.gigabytes_per_second(contender))
                for c in mine
                if contender in c.times
            ]
            style = (
                {"color": "black", "linestyle": "--"} if contender == CEILING else {"marker": "o"}
            )
            axis.plot(*zip(*points, strict=True), label=contender, **style)
        axis.set_xscale("log")
        axis.set_xlabel("elements (one tensor)")
        axis.set_ylabel(f"GB/s of {algorithm}'s traffic")
        where = "" if scenario == "quiet" else f", {scenario}"
        axis.set_title(f"{algorithm}, {dtype}, {threads} thread{'s' if threads > 1 else ''}{where}")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(textwrap.fill(title, 60 * columns), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
