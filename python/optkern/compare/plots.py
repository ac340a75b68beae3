"""``loss.png`` (smoothed mini-batch loss), ``accuracy.png`` (train and test accuracy) and
``lr.png`` (the learning rate of every step, when a schedule is used).

matplotlib is optional (the ``examples`` extra) and imported only here, when plotting. Figures
are drawn on the non-interactive Agg canvas directly, without pyplot, so plotting never opens a
window and never changes the backend of a session that imported optkern.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .report import smooth, smoothing_window
from .runner import Outcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MATPLOTLIB_HINT = 'the plots need matplotlib: pip install "optkern[examples]" (or pass --no-plots)'

# Above this ratio of largest to smallest loss, the loss axis is logarithmic: a run that starts
# (or stays) far above the others would otherwise flatten every other curve.
_LOG_SCALE_RATIO = 100.0


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _new_figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(MATPLOTLIB_HINT) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _styles(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Line colour per variant colour key (tab10, or tab20 past ten keys) and dashes."""
    from matplotlib import colormaps

    keys = list(dict.fromkeys(outcome.variant.color_key for outcome in outcomes))
    cmap = colormaps["tab10" if len(keys) <= 10 else "tab20"]
    color = {key: cmap(i % cmap.N) for i, key in enumerate(keys)}
    return [
        {
            "color": color[outcome.variant.color_key],
            "linestyle": "--" if outcome.variant.dashed else "-",
            "label": outcome.variant.label,
        }
        for outcome in outcomes
    ]


def plot_loss(path: Path, outcomes: Sequence[Outcome], title: str) -> None:
    figure = _new_figure(8, 5)
    axes = figure.add_subplot()
    finite: list[NDArray[Any]] = []
    for outcome, style in zip(outcomes, _styles(outcomes), strict=True):
        losses = outcome.main.losses
        curve = smooth(losses, smoothing_window(len(losses)))
        axes.plot(np.arange(1, len(curve) + 1), curve, linewidth=1.2, **style)
        finite.append(curve[np.isfinite(curve) & (curve > 0)])
    values = np.concatenate(finite) if finite else np.empty(0)
    if values.size and values.max() / values.min() > _LOG_SCALE_RATIO:
        axes.set_yscale("log")
    window = smoothing_window(len(outcomes[0].main.losses)) if outcomes else 1
    axes.set(
        title=title,
        xlabel="iteration",
        ylabel=f"training loss (mean of the last {window} batches)",
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.savefig(path, dpi=100)


def plot_accuracy(path: Path, outcomes: Sequence[Outcome], title: str) -> None:
    figure = _new_figure(12, 5)
    train_axes, test_axes = figure.subplots(1, 2, sharey=True)
    for outcome, style in zip(outcomes, _styles(outcomes), strict=True):
        result = outcome.main
        train_axes.plot(result.eval_iterations, result.train_accuracy, marker=".", **style)
        test_axes.plot(result.eval_iterations, result.test_accuracy, marker=".", **style)
    for axes, which in ((train_axes, "train"), (test_axes, "test")):
        axes.set(xlabel="iteration", ylabel=f"{which} accuracy", ylim=(0.0, 1.02))
        axes.grid(alpha=0.3)
    train_axes.set_title(f"{title}: train accuracy")
    test_axes.set_title(f"{title}: test accuracy")
    test_axes.legend(fontsize="small", loc="lower right")
    figure.savefig(path, dpi=100)


def plot_lr(path: Path, outcomes: Sequence[Outcome], title: str) -> None:
    """The learning rate of every optimizer step (param group 0's), one line per variant."""
    figure = _new_figure(8, 4)
    axes = figure.add_subplot()
    for outcome, style in zip(outcomes, _styles(outcomes), strict=True):
        lrs = outcome.main.lrs
        axes.plot(np.arange(1, len(lrs) + 1), lrs, linewidth=1.2, **style)
    axes.set(title=f"{title}: learning rate", xlabel="iteration", ylabel="learning rate")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.savefig(path, dpi=100)
