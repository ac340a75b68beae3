"""Gradient accumulation: ``optkern.accumulate`` (one fused multi-tensor ``buffer += grad * scale``
instead of a NumPy call per tensor) and ``MultiSteps``, which steps an optimizer every ``every``
calls with the mean of the gradients it was given (optax's ``MultiSteps``)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _arena, _core, _runtime, _storage, _validation
from ._validation import boolean
from .optimizer import Optimizer


def accumulate(buffers: Any, grads: Any, scale: float = 1.0) -> None:
    """``buffers[i] += grads[i] * scale`` for every i, in one call over all the arrays (parallel,
    every ISA alike; ``optkern.reference.accumulate`` is its twin). float64 buffers take float64
    gradients; any other buffer (float32, float16, bfloat16) takes float32 or 16-bit gradients and
    adds in float32. Everything is checked before anything is written: the counts, shapes and
    dtypes, writeable buffers, and no buffer sharing memory with another array."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"accumulate: scale must be a real number, got {type(scale).__name__}")
    _core.accumulate(buffers, grads, float(scale), _runtime.get_num_threads())


class MultiSteps:
    """Steps ``optimizer`` every ``every`` calls of ``step(grads)`` with the mean of the gradients
    of those calls: they are summed into float32 buffers (float64 for float64 gradients) with
    ``accumulate``, and the optimizer's step divides the sum by ``every`` inside its update
    (``grad_scale=every``: multiplied by ``1/every`` rounded to the arithmetic type). With
    ``skip_nonfinite`` (the default) a call whose gradients hold an inf or NaN is dropped: nothing
    is added and it does not count towards ``every``."""

    optimizer: Optimizer
    every: int
    skip_nonfinite: bool
    micro_step: int
    skipped: int

    def __init__(self, optimizer: Optimizer, every: int, *, skip_nonfinite: bool = True) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                "MultiSteps: optimizer must be an optkern optimizer, got "
                f"{type(optimizer).__name__}"
            )
        if isinstance(every, bool) or not isinstance(every, numbers.Integral):
            raise TypeError(f"MultiSteps: every must be an int, got {every!r}")
        if every < 1:
            raise ValueError(f"MultiSteps: every must be >= 1, got {every}")
        boolean("skip_nonfinite", skip_nonfinite, "MultiSteps")
        self.optimizer = optimizer
        self.every = int(every)
        self.skip_nonfinite = skip_nonfinite
        #: Calls added since the inner optimizer last stepped.
        self.micro_step = 0
        #: Calls dropped for non-finite gradients (since construction).
        self.skipped = 0
        self._buffers: list[NDArray[Any]] | None = None

    @property
    def buffers(self) -> list[NDArray[Any]] | None:
        """The running sums (None before the first call)."""
        return self._buffers

    def _make_buffers(self, grads: Any) -> list[NDArray[Any]]:
        if not isinstance(grads, (list, tuple)):
            raise TypeError(
                f"MultiSteps.step: grads must be a list of numpy arrays, got {type(grads).__name__}"
            )
        dtypes = []
        for index, grad in enumerate(grads):
            if not isinstance(grad, np.ndarray):
                raise TypeError(
                    f"MultiSteps.step: grads[{index}] must be a numpy.ndarray, got "
                    f"{type(grad).__name__}"
                )
            dtype = np.float64 if grad.dtype == np.float64 else np.float32
            if grad.dtype not in (np.float32, np.float64) and not _storage.is_16_bit(grad.dtype):
                raise TypeError(
                    f"MultiSteps.step: grads[{index}] must have dtype float32, float64, float16 "
                    f"or bfloat16, got {grad.dtype}"
                )
            dtypes.append(np.dtype(dtype))
        # One buffer for all, each sum at its gradient's offset in a cache line (optkern._arena).
        return _arena.arrays_like(grads, 0.0, dtypes)

    def step(self, grads: Any, **step_options: Any) -> Any:
        """Adds ``grads``; on every ``every``-th call added, steps the optimizer with the mean
        (``step_options``, e.g. ``max_grad_norm``, go to that step; a ``grad_scale`` there
        multiplies ``every``) and returns its result; otherwise returns None."""
        # The inner step's keywords are checked before anything is added: a bad one must not
        # leave this call's gradients in the sums.
        unknown = set(step_options) - {"max_grad_norm", "grad_scale", "skip_if_nonfinite", "ema"}
        if unknown:
            raise TypeError(f"MultiSteps.step: unexpected keyword {min(unknown)!r}")
        where = "MultiSteps.step"
        _validation.grad_options(
            step_options.get("max_grad_norm"),
            step_options.get("grad_scale"),
            step_options.get("skip_if_nonfinite", False),
            where,
        )
        self.optimizer._ema_option(step_options.get("ema"), where)
        threads = _runtime.get_num_threads()
        buffers = self._buffers if self._buffers is not None else self._make_buffers(grads)
        if self.skip_nonfinite:
            _, finite = _core.grad_norm(grads, 0, threads)  # checks the arrays too
            if not finite:
                self.skipped += 1
                return None
        _core.accumulate(buffers, grads, 1.0, threads)
        self._buffers = buffers
        self.micro_step += 1
        if self.micro_step < self.every:
            return None
        scale = step_options.pop("grad_scale", None)
        scale = self.every * (1.0 if scale is None else scale)
        result = self.optimizer.step(buffers, grad_scale=scale, **step_options)
        for buffer in buffers:
            buffer.fill(0)
        self.micro_step = 0
        return result

    def state_dict(self) -> dict[str, Any]:
        """The running sums and counts (the inner optimizer saves its own state)."""
        return {
            "micro_step": self.micro_step,
            "skipped": self.skipped,
            "buffers": None if self._buffers is None else [b.copy() for b in self._buffers],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        micro_step = state_dict.get("micro_step")
        if not isinstance(micro_step, int) or not 0 <= micro_step < self.every:
            raise ValueError(
                f"MultiSteps.load_state_dict: micro_step must be an int in [0, {self.every}), "
                f"got {micro_step!r}"
            )
        buffers = state_dict.get("buffers")
        if buffers is not None and not all(isinstance(b, np.ndarray) for b in buffers):
            raise TypeError("MultiSteps.load_state_dict: buffers must be numpy arrays or None")
        if buffers is None and micro_step > 0:
            raise ValueError("MultiSteps.load_state_dict: micro_step > 0 needs the buffers' sums")
        skipped = state_dict.get("skipped", 0)
        if isinstance(skipped, bool) or not isinstance(skipped, int) or skipped < 0:
            raise ValueError(
                f"MultiSteps.load_state_dict: skipped must be an int >= 0, got {skipped!r}"
            )
        self.micro_step = micro_step
        self.skipped = skipped
        self._buffers = None if buffers is None else [np.array(b) for b in buffers]
