"""A step's gradients: checked on this rank, then laid out in flat buffers for the collectives.

The check is local (count, type, dtype, shape, layout) and yields an error rather than raising,
so that the caller can agree with the other ranks before anyone raises (``consistency``). Then
the gradients go into one flat buffer per *parameter* dtype, at the parameters' offsets, so that
a range of a parameter buffer and the same range of its gradient buffer hold the same elements.
Gradients handed out by ``buffers()`` already live there and are not copied; others are copied
in, one copy per tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _storage
from .layout import FlatLayout, aligned_empty


def check_grads(
    grads: Any, params: list[NDArray[Any]], where: str
) -> tuple[Exception | None, dict[np.dtype[Any], np.dtype[Any]]]:
    """(the first problem with ``grads`` or None, the gradient dtype per parameter dtype). A
    gradient has its parameter's dtype, or float32 for a 16-bit parameter; all the gradients of
    one parameter dtype have the same dtype (they share a buffer)."""
    chosen: dict[np.dtype[Any], np.dtype[Any]] = {}
    if not isinstance(grads, (list, tuple)):
        return TypeError(f"{where}: grads must be a list of arrays, got {type(grads).__name__}"), {}
    if len(grads) != len(params):
        return ValueError(f"{where}: got {len(grads)} gradients for {len(params)} parameters"), {}
    for index, (grad, param) in enumerate(zip(grads, params, strict=True)):
        label = f"{where}: grads[{index}]"
        if not isinstance(grad, np.ndarray):
            return TypeError(f"{label} must be a numpy array, got {type(grad).__name__}"), {}
        allowed = [param.dtype]
        if _storage.is_16_bit(param.dtype):
            allowed.append(np.dtype(np.float32))
        if grad.dtype not in allowed:
            wanted = " or ".join(d.name for d in allowed)
            return TypeError(f"{label} has dtype {grad.dtype}, expected {wanted}"), {}
        if grad.shape != param.shape:
            return ValueError(f"{label} has shape {grad.shape}, expected {param.shape}"), {}
        previous = chosen.setdefault(param.dtype, grad.dtype)
        if previous != grad.dtype:
            return (
                TypeError(
                    f"{label} is {grad.dtype}, but an earlier gradient of a {param.dtype} "
                    f"parameter is {previous}: all gradients of one parameter dtype share a dtype"
                ),
                {},
            )
    return None, chosen


class GradStaging:
    """The flat gradient buffers of one parameter layout, one set per choice of gradient dtypes."""

    def __init__(self, layout: FlatLayout) -> None:
        self.layout = layout
        self._sets: dict[
            tuple[tuple[str, str], ...], tuple[dict[Any, NDArray[Any]], list[Any]]
        ] = {}

    def _set(
        self, dtypes: dict[np.dtype[Any], np.dtype[Any]]
    ) -> tuple[dict[Any, NDArray[Any]], list[NDArray[Any]]]:
        key = tuple((p.str, g.str) for p, g in dtypes.items())
        held = self._sets.get(key)
        if held is None:
            buffers = {
                p: aligned_empty(size, dtypes.get(p, p)) for p, size in self.layout.sizes.items()
            }
            views = [
                buffers[s.dtype][s.offset : s.offset + s.size].reshape(s.shape)
                for s in self.layout.slots
            ]
            held = self._sets[key] = (buffers, views)
        return held

    def buffers(
        self, dtypes: dict[np.dtype[Any], np.dtype[Any]] | None = None
    ) -> list[NDArray[Any]]:
        """One view per parameter into the flat buffers (by default in the parameters' dtypes),
        for the backward pass to write the gradients into."""
        return self._set(dtypes or {p: p for p in self.layout.sizes})[1]

    def stage(
        self, grads: list[NDArray[Any]] | tuple[NDArray[Any], ...], dtypes: dict[Any, Any]
    ) -> dict[np.dtype[Any], NDArray[Any]]:
        """The flat gradient buffers holding ``grads`` (checked), keyed by parameter dtype."""
        for p in self.layout.sizes:
            dtypes.setdefault(p, p)  # a dtype whose parameters are all zero-size, say
        buffers, views = self._set(dtypes)
        for grad, view in zip(grads, views, strict=True):
            if grad is not view and grad.size:
                np.copyto(view, grad)
        return buffers
