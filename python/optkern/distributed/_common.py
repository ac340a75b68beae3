"""What DataParallel and ZeroOptimizer share: their options and a step's agreement."""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _validation

#: The default bucket: the collectives move at most this many bytes per round (a deterministic
#: reduce-scatter's receive buffer holds one bucket).
DEFAULT_BUCKET_BYTES = 32 * 1024 * 1024
STEP_KEYWORDS = ("max_grad_norm", "grad_scale", "skip_if_nonfinite")


def check_options(deterministic: Any, bucket_bytes: Any, where: str) -> None:
    _validation.boolean("deterministic", deterministic, where)
    if (
        isinstance(bucket_bytes, bool)
        or not isinstance(bucket_bytes, numbers.Integral)
        or bucket_bytes < 64
    ):
        raise ValueError(f"{where}: bucket_bytes must be an int >= 64, got {bucket_bytes!r}")


def step_digest(groups: Sequence[Mapping[str, Any]], keywords: Mapping[str, Any]) -> str:
    """What must be the same on every rank at a step: the groups' hyperparameters and user keys
    (a schedule on one rank only would make the ranks drift apart) and step()'s keywords."""
    lines = [repr(sorted((k, v) for k, v in g.items() if k != "params")) for g in groups]
    lines.append(repr(sorted(keywords.items())))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def agree_step(comm: Any, error: Exception | None, digest: str, what: str) -> None:
    """One collective per step: every rank raises if any rank's gradients failed its checks, or
    if the ranks' hyperparameters or keywords differ; else every rank goes on."""
    found = None if error is None else (type(error).__name__, str(error))
    everyone = comm.allgather((found, digest))
    failed = [(rank, f) for rank, (f, _) in enumerate(everyone) if f is not None]
    if failed:
        if error is not None:
            raise error
        rank, (kind, message) = failed[0]
        cls = TypeError if kind == "TypeError" else ValueError
        raise cls(f"{what}: rank {rank} refused the step, so every rank does: {message}")
    digests = [d for _, d in everyone]
    if any(d != digests[0] for d in digests):
        ranks = [rank for rank, d in enumerate(digests) if d != digests[0]]
        raise ValueError(
            f"{what}: the hyperparameters or step() keywords of rank(s) {ranks} differ from rank "
            "0's; every rank must step with the same ones (a schedule must run on every rank)"
        )


def check_keywords(keywords: Mapping[str, Any], where: str) -> Exception | None:
    unknown = [k for k in keywords if k not in STEP_KEYWORDS]
    if unknown:
        return TypeError(
            f"{where}: unknown keyword(s) {unknown}; it takes {list(STEP_KEYWORDS)}"
            + (" (an EMA of sharded parameters is not supported)" if "ema" in unknown else "")
        )
    try:
        _validation.grad_options(
            keywords.get("max_grad_norm"),
            keywords.get("grad_scale"),
            keywords.get("skip_if_nonfinite", False),
            where,
        )
    except (TypeError, ValueError) as error:
        return error
    return None
