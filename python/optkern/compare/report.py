"""Results as a terminal table, ``results.csv`` and ``results.json``.

All three come from the same summary rows (:func:`summary_rows`), so they always agree; the
table rounds, the files keep full precision, and the JSON adds the full curves and the config.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .runner import ONE_PROCESS, Outcome
from .training import Training

#: The smoothed loss is the mean of the last ``window`` mini-batch losses (fewer at the start).
MAX_SMOOTHING_WINDOW = 50


def smoothing_window(iterations: int) -> int:
    """About a tenth of the run, at most MAX_SMOOTHING_WINDOW, at least 1."""
    return max(1, min(MAX_SMOOTHING_WINDOW, iterations // 10))


def smooth(losses: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Trailing moving average: out[i] = mean(losses[max(0, i − window + 1) : i + 1]).

    Trailing (not centred) so that the last value describes the end of training only.
    """
    sums = np.cumsum(losses, dtype=np.float64)
    out: NDArray[np.float64] = sums.copy()
    out[window:] -= sums[:-window]
    counts = np.minimum(np.arange(1, len(losses) + 1), window)
    means: NDArray[np.float64] = out / counts
    return means


def summary_rows(
    outcomes: Sequence[Outcome], experiment: str, training: Training | None = None
) -> list[dict[str, Any]]:
    """One flat dict per variant: the columns of the CSV (and of the table, rounded).

    ``training``: the run's training options (its schedule is that of the variants without
    their own; with clipping the rows get the pre-clip gradient norms and how often they were
    clipped)."""
    training = training or Training()
    rows = []
    for outcome in outcomes:
        result = outcome.main
        window = smoothing_window(len(result.losses))
        final_loss = float(smooth(result.losses, window)[-1]) if len(result.losses) else math.nan
        row: dict[str, Any] = {
            "experiment": experiment,
            "variant": outcome.variant.label,
            "optimizer": outcome.variant.optimizer.label,
            "implementation": outcome.variant.describe(),
            "schedule": (outcome.variant.schedule or training.schedule).label,
            "backend": result.backend,
            "final_loss": final_loss,
            "train_accuracy": result.train_accuracy[-1],
            "test_accuracy": result.test_accuracy[-1],
            "time_s": result.time_s,
            "update_s": result.update_s,
            "eval_s": result.eval_s,
        }
        norms = result.grad_norms
        if training.clip is not None and norms is not None and len(norms):
            row["grad_norm_mean"] = float(np.mean(norms))
            row["grad_norm_last"] = float(norms[-1])
            # Clipped when torch's coefficient c / (norm + 1e-6) is below 1.
            row["clipped_fraction"] = float(np.mean(norms + 1e-6 > training.clip))
        one_process = outcome.runs.get(ONE_PROCESS)
        if one_process is not None:  # --distributed: the run it is checked against
            row["one_process_update_s"] = one_process.update_s
            row["identical"] = outcome.identical
        elif len(outcome.runs) > 1:  # --backend both
            row["reference_update_s"] = outcome.runs["reference"].update_s
            row["speedup"] = outcome.speedup
            row["identical"] = outcome.identical
        rows.append(row)
    return rows


# (heading, row key, format) of the table's columns.
_COLUMNS = [
    ("variant", "variant", "{}"),
    ("final loss", "final_loss", "{:.4f}"),
    ("train acc", "train_accuracy", "{:.4f}"),
    ("test acc", "test_accuracy", "{:.4f}"),
    ("time s", "time_s", "{:.2f}"),
    ("update s", "update_s", "{:.3f}"),
]
_CLIP_COLUMNS = [("clipped", "clipped_fraction", "{:.0%}")]
_BOTH_COLUMNS = [
    ("ref update s", "reference_update_s", "{:.3f}"),
    ("speed-up", "speedup", "{:.1f}x"),
    ("identical", "identical", "{}"),
]

_DISTRIBUTED_COLUMNS = [
    ("1-process update s", "one_process_update_s", "{:.3f}"),
    ("identical", "identical", "{}"),
]


def _cell(fmt: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan / inf: format specs would print them anyway, but unaligned
    return fmt.format(value)


def format_table(rows: Sequence[dict[str, Any]], title: str) -> str:
    """A plain-text table: ``title``, a header, one line per row; numbers right-aligned."""
    columns = list(_COLUMNS)
    if rows and "clipped_fraction" in rows[0]:
        columns += _CLIP_COLUMNS
    if rows and "speedup" in rows[0]:
        columns += _BOTH_COLUMNS
    if rows and "one_process_update_s" in rows[0]:
        columns += _DISTRIBUTED_COLUMNS
    cells = [[_cell(fmt, row.get(key)) for _, key, fmt in columns] for row in rows]
    widths = [
        max([len(heading)] + [len(line[i]) for line in cells])
        for i, (heading, _, _) in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (value.rjust(width) for value, width in zip(values[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    header = line([heading for heading, _, _ in columns])
    out = [title, header, "-" * len(header)]
    out += [line(values) for values in cells]
    return "\n".join(out)


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """The summary rows with full precision (repr of floats), one header line."""
    fields = list(rows[0]) if rows else []
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity (a diverged run has them): those become null."""
    return value if math.isfinite(value) else None


def _curve(values: Any) -> list[float | None]:
    return [_finite(float(v)) for v in values]


def results_document(
    outcomes: Sequence[Outcome], rows: Sequence[dict[str, Any]], config: dict[str, Any]
) -> dict[str, Any]:
    """The content of results.json: the config, and per variant its summary row, its network,
    every backend's timings and the full curves (of the reported backend)."""
    results = []
    for outcome, row in zip(outcomes, rows, strict=True):
        result = outcome.main
        window = smoothing_window(len(result.losses))
        entry = {key: _finite(v) if isinstance(v, float) else v for key, v in row.items()}
        entry["network"] = dataclasses.asdict(outcome.variant.network)
        storage = dataclasses.asdict(outcome.variant.storage)
        storage["dtype"] = outcome.variant.storage.param_dtype(config["dtype"])
        entry["storage"] = storage
        entry["runs"] = {
            backend: {"time_s": run.time_s, "update_s": run.update_s, "eval_s": run.eval_s}
            for backend, run in outcome.runs.items()
        }
        curves: dict[str, Any] = {
            "loss": _curve(result.losses),
            "smoothing_window": window,
            "smoothed_loss": _curve(smooth(result.losses, window)),
            "eval_iterations": list(result.eval_iterations),
            "train_accuracy": list(result.train_accuracy),
            "test_accuracy": list(result.test_accuracy),
            "lr": [float(lr) for lr in result.lrs],
        }
        if result.grad_norms is not None:
            curves["grad_norm"] = _curve(result.grad_norms)
        entry["curves"] = curves
        entry["optimizer_steps"] = result.optimizer_steps
        results.append(entry)
    return {"config": config, "results": results}


def write_json(path: Path, document: dict[str, Any]) -> None:
    # allow_nan=False: fail loudly rather than write a file strict JSON readers reject.
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
