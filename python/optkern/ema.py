"""``EMA``: an exponential moving average of parameters, for evaluating with averaged weights
(torch's ``AveragedModel`` with ``get_ema_multi_avg_fn``, and timm's ``ModelEmaV3`` options).

One fused multi-tensor kernel updates every average (``average = lerp(average, param, 1 -
decay)`` in torch's two-sided form, without fused multiply-adds: within rounding of torch's
``lerp``, and bit-identical to ``optkern.reference.ema_update``). The first update copies the
parameters, as torch's; ``update_after_step`` and the warm-up follow timm::

    ema = optkern.EMA([W, b], decay=0.999)
    for x, t in batches:
        opt.step(grads(x, t))
        ema.update()
    with ema.average_parameters():   # W and b hold the averages inside, their own values after
        evaluate()
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _arena, _core, _runtime
from ._validation import boolean


def _real(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"EMA: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not low <= number <= high:
        raise ValueError(f"EMA: invalid {name}={value!r}: must be in [{low}, {high}]")
    return number


class EMA:
    """Averages of ``params`` (a list of arrays, or a dict of them as the textbook's ``params``),
    kept in ``averaged`` in the same structure: float32 for float32 and 16-bit parameters (a
    16-bit average would stop moving once the updates fall below half an ulp), float64 for
    float64.

    ``decay``: the average's weight per update. The decay of update number t (1-based) is
    timm's: 0 (a copy) for t <= update_after_step + 1; then ``decay``, or with ``use_warmup``
    ``1 - (1 + (t - update_after_step - 1) / warmup_gamma) ** -warmup_power`` clamped to
    ``[min_decay, decay]``."""

    decay: float
    update_after_step: int
    use_warmup: bool
    warmup_gamma: float
    warmup_power: float
    min_decay: float
    num_updates: int

    def __init__(
        self,
        params: Sequence[NDArray[Any]] | Mapping[str, NDArray[Any]],
        decay: float = 0.999,
        *,
        update_after_step: int = 0,
        use_warmup: bool = False,
        warmup_gamma: float = 1.0,
        warmup_power: float = 2 / 3,
        min_decay: float = 0.0,
    ) -> None:
        self.decay = _real("decay", decay, 0.0, 1.0)
        if isinstance(update_after_step, bool) or not isinstance(update_after_step, int):
            raise TypeError(f"EMA: update_after_step must be an int, got {update_after_step!r}")
        if update_after_step < 0:
            raise ValueError(f"EMA: update_after_step must be >= 0, got {update_after_step}")
        self.update_after_step = update_after_step
        boolean("use_warmup", use_warmup, "EMA")
        self.use_warmup = use_warmup
        self.warmup_gamma = _real("warmup_gamma", warmup_gamma, 1e-300, float("inf"))
        self.warmup_power = _real("warmup_power", warmup_power, 0.0, float("inf"))
        self.min_decay = _real("min_decay", min_decay, 0.0, 1.0)
        arrays: list[Any]
        if isinstance(params, Mapping):
            self._keys: list[str] | None = list(params)
            arrays = [params[k] for k in params]
        else:
            self._keys = None
            arrays = list(params)
        for index, array in enumerate(arrays):
            label = f"params[{self._keys[index]!r}]" if self._keys else f"params[{index}]"
            if not isinstance(array, np.ndarray):
                raise TypeError(f"EMA: {label} must be a numpy.ndarray, got {type(array).__name__}")
        self._params: list[NDArray[Any]] = arrays
        # One buffer, each average at its parameter's offset in a cache line (optkern._arena):
        # the fused step's vector stores into it are then aligned with the parameter's.
        self._averages: list[NDArray[Any]] = _arena.arrays_like(
            arrays, None, [np.dtype(_average_dtype(a.dtype)) for a in arrays]
        )
        for average, array in zip(self._averages, arrays, strict=True):
            average[...] = array  # exact: float32 holds every 16-bit value
        # The kernel's checks (dtypes, layout, shared memory) on the arrays as bound.
        _core.check_array_pairs(self._averages, self._params)
        #: Updates done.
        self.num_updates = 0
        self._swapped: list[NDArray[Any]] | None = None

    @property
    def averaged(self) -> list[NDArray[Any]] | dict[str, NDArray[Any]]:
        """The averages, in the structure ``params`` was given in."""
        if self._keys is None:
            return list(self._averages)
        return dict(zip(self._keys, self._averages, strict=True))

    def get_decay(self, step: int | None = None) -> float:
        """The decay of update number ``step`` (default: the next update)."""
        t = self.num_updates + 1 if step is None else step
        t = max(0, t - self.update_after_step - 1)
        if t <= 0:
            return 0.0
        if not self.use_warmup:
            return self.decay
        decay = 1.0 - (1.0 + t / self.warmup_gamma) ** -self.warmup_power
        return float(max(min(decay, self.decay), self.min_decay))

    def update(self) -> None:
        """One update of every average from the parameters' current values."""
        if self._swapped is not None:
            raise RuntimeError("EMA.update: the parameters hold the averages (swap() back first)")
        weight = 1.0 - self.get_decay()
        _core.ema_update(self._averages, self._params, weight, _runtime.get_num_threads())
        self.num_updates += 1

    def swap(self) -> None:
        """Puts the averages into the parameters (rounded to their dtype), keeping the
        parameters' own values; called again, puts those back exactly."""
        for index, param in enumerate(self._params):
            if not param.flags.writeable:  # checked first: a swap is all or nothing
                raise ValueError(f"EMA.swap: params[{index}] is read-only")
        if self._swapped is None:
            saved = [p.copy() for p in self._params]
            for param, average in zip(self._params, self._averages, strict=True):
                param[...] = average.astype(param.dtype)
            self._swapped = saved
        else:
            for param, own in zip(self._params, self._swapped, strict=True):
                param[...] = own
            self._swapped = None

    @contextlib.contextmanager
    def average_parameters(self) -> Iterator[None]:
        """Inside the block the parameters hold the averages; after it, their own values."""
        self.swap()
        try:
            yield
        finally:
            self.swap()

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "update_after_step": self.update_after_step,
            "use_warmup": self.use_warmup,
            "warmup_gamma": self.warmup_gamma,
            "warmup_power": self.warmup_power,
            "min_decay": self.min_decay,
            "num_updates": self.num_updates,
            "averaged": [a.copy() for a in self._averages],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores ``state_dict()``; everything is checked before anything is set."""
        averaged = state_dict.get("averaged")
        if not isinstance(averaged, (list, tuple)) or len(averaged) != len(self._averages):
            raise ValueError(
                f"EMA.load_state_dict: 'averaged' must hold {len(self._averages)} arrays"
            )
        for index, (given, own) in enumerate(zip(averaged, self._averages, strict=True)):
            if not isinstance(given, np.ndarray) or given.shape != own.shape:
                raise ValueError(
                    f"EMA.load_state_dict: averaged[{index}] must be an array of shape {own.shape}"
                )
        num_updates = state_dict.get("num_updates")
        if isinstance(num_updates, bool) or not isinstance(num_updates, int) or num_updates < 0:
            raise ValueError("EMA.load_state_dict: num_updates must be an int >= 0")
        fresh = EMA(
            list(self._params),
            state_dict.get("decay", self.decay),
            update_after_step=state_dict.get("update_after_step", self.update_after_step),
            use_warmup=state_dict.get("use_warmup", self.use_warmup),
            warmup_gamma=state_dict.get("warmup_gamma", self.warmup_gamma),
            warmup_power=state_dict.get("warmup_power", self.warmup_power),
            min_decay=state_dict.get("min_decay", self.min_decay),
        )
        for own, given in zip(self._averages, averaged, strict=True):
            own[...] = given
        self.decay, self.update_after_step = fresh.decay, fresh.update_after_step
        self.use_warmup, self.warmup_gamma = fresh.use_warmup, fresh.warmup_gamma
        self.warmup_power, self.min_decay = fresh.warmup_power, fresh.min_decay
        self.num_updates = num_updates


def _average_dtype(dtype: np.dtype[Any]) -> type[np.floating[Any]]:
    return np.float64 if dtype == np.float64 else np.float32
