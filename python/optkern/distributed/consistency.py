"""Agreement between ranks: the same setup everywhere, and one verdict on every step's checks.

A collective that one rank enters and another does not (because it raised, or was set up with
another parameter shape) waits for ever. So every check whose outcome could differ between ranks
ends in one small collective that all ranks reach: each contributes its local finding, and all of
them raise the same error if any rank found one, before any data moves or anything is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def describe_groups(
    class_name: str,
    groups: Sequence[Mapping[str, Any]],
    params: Sequence[Sequence[NDArray[Any]]],
) -> list[str]:
    """One line per param group: the class, the hyperparameters and user keys (sorted, by
    ``repr``) and every parameter's shape and dtype. What must be the same on every rank."""
    lines = []
    for index, (group, group_params) in enumerate(zip(groups, params, strict=True)):
        hyper = {k: v for k, v in group.items() if k != "params"}
        arrays = [f"{tuple(p.shape)}:{np.dtype(p.dtype).name}" for p in group_params]
        lines.append(f"{class_name} group {index}: {sorted(hyper.items())!r} params {arrays}")
    return lines


def agree(comm: Any, lines: list[str], what: str) -> None:
    """Raises the same ValueError on every rank unless every rank passed the same ``lines``; the
    message names the first rank and line that differ from rank 0's."""
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    digests = comm.allgather(digest)
    if all(d == digests[0] for d in digests):
        return
    everyone = comm.allgather(lines)  # every rank knows they differ: all reach this collective
    for rank, theirs in enumerate(everyone):
        if theirs == everyone[0]:
            continue
        for position in range(max(len(theirs), len(everyone[0]))):
            mine = everyone[0][position] if position < len(everyone[0]) else "(nothing)"
            other = theirs[position] if position < len(theirs) else "(nothing)"
            if mine != other:
                raise ValueError(
                    f"{what} differs between ranks: rank 0 has {mine}, rank {rank} has {other} "
                    "(every rank must build it with the same parameter shapes, dtypes, groups "
                    "and hyperparameters)"
                )
    raise AssertionError("unreachable: digests differ but the lines do not")


def agree_on_errors(comm: Any, error: Exception | None, what: str) -> None:
    """One verdict for all ranks: each passes the error its own checks raised (or None); if any
    rank has one, every rank raises (its own error, or the first rank's as the same type), so no
    rank goes on into a collective the others never reach."""
    found = None if error is None else (type(error).__name__, str(error))
    everyone = comm.allgather(found)
    failed = [(rank, f) for rank, f in enumerate(everyone) if f is not None]
    if not failed:
        return
    if error is not None:
        raise error
    rank, (kind, message) = failed[0]
    cls = TypeError if kind == "TypeError" else ValueError
    raise cls(f"{what}: rank {rank} refused the step, so every rank does: {message}")


def state_digest(value: Any) -> str:
    """A SHA-256 of a state dict's content: its structure, keys, scalars (by ``repr``) and every
    array's dtype, shape and bytes. Equal dicts give equal digests on every rank."""
    hasher = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, np.ndarray):
            hasher.update(f"array {item.dtype.str} {item.shape}:".encode())
            hasher.update(np.ascontiguousarray(item).view(np.uint8).reshape(-1).data)
        elif isinstance(item, Mapping):
            hasher.update(f"dict {len(item)}:".encode())
            for key in sorted(item, key=repr):
                hasher.update(f"{key!r}=".encode())
                feed(item[key])
        elif isinstance(item, (list, tuple)):
            hasher.update(f"{type(item).__name__} {len(item)}:".encode())
            for element in item:
                feed(element)
        else:
            hasher.update(f"{type(item).__name__} {item!r};".encode())

    feed(value)
    return hasher.hexdigest()


def agree_on_state(comm: Any, state_dict: Any, what: str) -> None:
    """Raises the same ValueError on every rank unless every rank passed an equal
    ``state_dict`` (compared by ``state_digest``): a rank loading another checkpoint than the
    others would step on from other state, and the ranks would drift apart silently."""
    digests = comm.allgather(state_digest(state_dict))
    differing = [rank for rank, digest in enumerate(digests) if digest != digests[0]]
    if differing:
        raise ValueError(
            f"{what}: rank(s) {differing} passed a state dict that differs from rank 0's; every "
            "rank must load the same one (e.g. load it on every rank from the same file, or "
            "broadcast it: comm.bcast(state, root=0))"
        )
