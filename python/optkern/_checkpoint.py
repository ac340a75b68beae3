"""Checkpoints: validating a state dict before anything is loaded, and the ``.npz`` file format.

Kept apart from the optimizer's hot code: nothing here runs during a step.

A state dict is torch's layout (``state`` keyed by parameter index, ``param_groups`` holding the
indices) plus ``optimizer`` (the class that wrote it, checked on load) and, for the textbook style,
``keys``. ``check`` reads everything, raises a ``TypeError``/``ValueError`` that names the key, and
returns what to load; the optimizer then commits it in one go, so a failed load changes nothing.

A ``.npz`` file holds the arrays as ``state.<index>.<name>`` and everything else as one JSON
string, ``__optkern__``. ``write_npz`` writes it to a temporary file in the same folder, flushes it
to disk and renames it over the target, so a failed or interrupted save leaves the previous file
as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import numbers
import os
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import _storage

if TYPE_CHECKING:
    from .optimizer import Optimizer, StateDict

MAX_STEP = 2**53  # step counts are used in float64 (beta ** t)
FORMAT_VERSION = 1
_META = "__optkern__"
_TOP_LEVEL = ("state", "param_groups", "optimizer", "keys")


@dataclass
class Loaded:
    """A checked state dict, per param group: hyperparameters and user keys (no ``params``), the
    step count, the scalar state and, per parameter, the saved arrays (not yet copied)."""

    groups: list[dict[str, Any]]
    steps: list[int]
    scalars: list[dict[str, float]]
    arrays: list[list[dict[str, NDArray[Any]]]]


def check(
    optimizer: Optimizer,
    state_dict: Any,
    group_sizes: list[int],
    params: list[list[NDArray[Any]]] | None,
    where: str = "load_state_dict",
) -> Loaded:
    """Checks ``state_dict`` against groups of ``group_sizes`` parameters; against the parameters
    themselves (shapes, dtypes) when ``params`` is given, which a textbook-style optimizer without
    parameters yet cannot do."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
    extra = [k for k in state_dict if k not in _TOP_LEVEL]
    missing = [k for k in ("state", "param_groups") if k not in state_dict]
    if extra or missing:
        raise ValueError(
            f"{where}: expected keys 'state', 'param_groups' (and 'optimizer', 'keys'); "
            f"missing {missing}, unknown {sorted(map(str, extra))}"
        )
    saved_class = state_dict.get("optimizer")
    if saved_class is not None and saved_class not in optimizer._checkpoint_names():
        raise ValueError(
            f"{where}: this checkpoint was written by {saved_class!s}, not by "
            f"{optimizer._checkpoint_names()[0]}; a checkpoint loads only into the class that "
            "wrote it (its state means something else elsewhere)"
        )
    groups = state_dict["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(group_sizes):
        raise ValueError(
            f"{where}: expected {len(group_sizes)} param groups, got "
            f"{len(groups) if isinstance(groups, list) else type(groups).__name__}"
        )
    saved_state = state_dict["state"]
    if not isinstance(saved_state, Mapping):
        raise TypeError(f"{where}: 'state' must be a dict keyed by parameter index")
    count = sum(group_sizes)
    bad = [k for k in saved_state if not _is_index(k) or not 0 <= int(k) < count]
    if bad:
        raise ValueError(f"{where}: state keys {bad} are not parameter indices 0..{count - 1}")
    if len({int(k) for k in saved_state}) != len(saved_state):  # 0 and "0", or "00"
        raise ValueError(
            f"{where}: state has two keys for one parameter index: {list(saved_state)}"
        )
    loaded = Loaded([], [], [], [])
    first = 0
    for index, (saved, size) in enumerate(zip(groups, group_sizes, strict=True)):
        gw = f"{where}: param_groups[{index}]"
        if not isinstance(saved, Mapping):
            raise TypeError(f"{gw} must be a dict")
        indices = list(range(first, first + size))
        first += size
        saved_params = saved.get("params")
        if not isinstance(saved_params, (list, tuple)) or list(saved_params) != indices:
            raise ValueError(f"{gw}['params'] must be {indices}, got {saved_params!r}")
        hyper = {k: v for k, v in saved.items() if k != "params"}
        if isinstance(hyper.get("betas"), list):
            hyper["betas"] = tuple(hyper["betas"])
        # Checkpoints from before the storage options (optkern 0.x without them) load with
        # their defaults: their state arrays have the dtypes those defaults give.
        for key, default in _storage.OPTIONS.items():
            if key in optimizer.defaults:
                hyper.setdefault(key, default)
        optimizer._check_group_keys(hyper, gw)
        optimizer._check_hyperparameters(hyper, gw)
        steps, names, scalar_values = set(), set(), set()
        group_arrays = []
        for position, i in enumerate(indices):
            entry = saved_state.get(i, saved_state.get(str(i), {}))
            param = params[index][position] if params is not None else None
            arrays, step, scalars = _checked_entry(optimizer, entry, param, hyper, gw, i)
            steps.add(step)
            names.add(tuple(sorted(arrays)))
            scalar_values.add(tuple(sorted(scalars.items())))
            group_arrays.append(arrays)
        if len(steps) > 1 or len(names) > 1 or len(scalar_values) > 1:
            raise ValueError(
                f"{gw}: its parameters have different steps, state arrays or "
                f"{'/'.join(optimizer._scalar_state) or 'scalars'}"
            )
        step = steps.pop() if steps else 0
        scalars = dict(scalar_values.pop()) if scalar_values else {}
        for name, initial in optimizer._scalar_state.items():
            scalars.setdefault(name, initial)
        optimizer._check_scalars(step, scalars, hyper, gw)
        loaded.groups.append(hyper)
        loaded.steps.append(step)
        loaded.scalars.append(scalars)
        loaded.arrays.append(group_arrays)
    return loaded


def _checked_entry(
    optimizer: Optimizer,
    entry: Any,
    param: NDArray[Any] | None,
    group: Mapping[str, Any],
    where: str,
    index: int,
) -> tuple[dict[str, NDArray[Any]], int, dict[str, float]]:
    if not isinstance(entry, Mapping):
        raise TypeError(f"{where}: state[{index}] must be a dict")
    step = _item(entry.get("step", 0))
    if (
        isinstance(step, bool)
        or not isinstance(step, numbers.Integral)
        or not 0 <= int(step) <= MAX_STEP
    ):
        raise ValueError(
            f"{where}: state[{index}]['step'] must be an int in [0, 2**53], got {step!r}"
        )
    scalars = {}
    for name in optimizer._scalar_state:
        if name not in entry:
            if step:
                raise ValueError(
                    f"{where}: state[{index}] has step {step} but no {name!r}, which "
                    f"{type(optimizer).__name__} needs to resume"
                )
            continue
        value = _item(entry[name])
        number = _finite_float(value)
        if number is None:
            raise ValueError(
                f"{where}: state[{index}][{name!r}] must be a finite float, got {value!r}"
            )
        scalars[name] = number
    arrays = {}
    masters = bool(group.get("master_weights", False))
    for name, value in entry.items():
        if name == "step" or name in optimizer._scalar_state:
            continue
        if name == _storage.MASTER and not masters:
            raise ValueError(
                f"{where}: state[{index}] has a {name!r} array, but the group's master_weights "
                "is False"
            )
        if name not in optimizer._roles[2:] and name != _storage.MASTER:
            raise ValueError(
                f"{where}: state[{index}] has unknown array {name!r}; "
                f"{type(optimizer).__name__} keeps {list(optimizer._roles[2:])}"
            )
        if not isinstance(value, np.ndarray) or isinstance(value, (np.ma.MaskedArray, np.matrix)):
            raise TypeError(
                f"{where}: state[{index}][{name!r}] must be a numpy array (not a masked array or "
                f"matrix), got {type(value).__name__}"
            )
        label = f"{where}: state[{index}][{name!r}]"
        if param is not None:
            expected = (
                np.dtype(np.float32)
                if name == _storage.MASTER
                else _storage.state_dtype(param.dtype, group.get("state_dtype"), label)
            ) or param.dtype  # (None: a parameter no kernel takes, refused when bound)
            if value.shape != param.shape or value.dtype != expected:
                raise ValueError(
                    f"{label} is {_storage.dtype_name(value.dtype)}{value.shape}, expected "
                    f"{_storage.dtype_name(expected)}{param.shape} (its parameter is "
                    f"{_storage.dtype_name(param.dtype)}, state_dtype="
                    f"{group.get('state_dtype')!r})"
                )
        elif not (value.dtype in (np.float32, np.float64) or _storage.is_bfloat16(value.dtype)):
            raise ValueError(
                f"{label} is {value.dtype}; state arrays are float32, float64 or bfloat16"
            )
        arrays[name] = value  # copied by the caller once everything is checked
    return arrays, int(step), scalars


def _finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None if it is no real number or not finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _item(value: Any) -> Any:
    """A 0-d array as its Python scalar (np.load gives those)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _is_index(key: Any) -> bool:
    return (not isinstance(key, bool) and isinstance(key, numbers.Integral)) or (
        isinstance(key, str) and key.isascii() and key.isdigit()  # "²".isdigit() is True
    )


# ------------------------------------------------------------------------------------- .npz files


def write_npz(path: str | os.PathLike[str], state_dict: StateDict, scalar_names: Any) -> None:
    """Writes ``state_dict`` to ``path`` atomically: everything is serialised first, then
    written to a temporary file beside ``path``, flushed to disk and renamed over it."""
    meta = {
        "format": FORMAT_VERSION,
        "optimizer": state_dict.get("optimizer"),
        "param_groups": [
            {k: _json_ready(v, f"param_groups[{i}][{k!r}]") for k, v in g.items()}
            for i, g in enumerate(state_dict["param_groups"])
        ],
        "steps": {str(i): s["step"] for i, s in state_dict["state"].items()},
        "scalars": {
            str(i): {k: s[k] for k in scalar_names if k in s}
            for i, s in state_dict["state"].items()
        },
        "keys": state_dict.get("keys"),
    }
    arrays = {
        f"state.{i}.{name}": a
        for i, s in state_dict["state"].items()
        for name, a in s.items()
        if name != "step" and name not in scalar_names
    }
    # A .npy header cannot name ml_dtypes' bfloat16: its arrays are saved as their bits (uint16)
    # and listed here, to be viewed as bfloat16 again on reading.
    as_bits = sorted(k for k, a in arrays.items() if _storage.is_bfloat16(a.dtype))
    meta["bfloat16"] = as_bits
    arrays = {k: a.view(np.uint16) if k in as_bits else a for k, a in arrays.items()}
    text = json.dumps(meta)  # before the file is touched: _json_ready caught what would fail
    target = os.fspath(path)
    # Through a symlink, the file it points to is replaced (the link stays a link).
    real = os.path.realpath(target)
    if os.path.isdir(real):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", target)
    folder = os.path.dirname(real)
    temporary = os.path.join(
        folder, f".{os.path.basename(real)}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    )
    try:  # 0o666 through the umask, as open() would create the file
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:  # named by the user's path, not the temporary one
        raise type(error)(error.errno, f"cannot write {target!r}: {error.strerror}") from error
    try:
        with contextlib.suppress(FileNotFoundError):  # a file replaced keeps its permissions
            os.chmod(temporary, stat.S_IMODE(os.stat(real).st_mode))
        with os.fdopen(descriptor, "wb") as file:  # np.savez would append ".npz" to a name
            np.savez(file, **{_META: np.array(text), **arrays})
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself reaches the disk (not on every OS)
        folder_descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_descriptor)
        finally:
            os.close(folder_descriptor)


def _json_ready(value: Any, where: str) -> Any:
    """``value`` as JSON can hold it: tuples as lists, NumPy and other numbers as Python ints or
    floats; anything else JSON cannot hold is a TypeError naming ``where``."""
    if isinstance(value, (tuple, list)):
        return [_json_ready(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _json_ready(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(
        f"save_state: {where} is a {type(value).__name__}, which the .npz file's JSON cannot "
        "hold; use state_dict() (and pickle it yourself) for such values"
    )


def read_npz(path: str | os.PathLike[str]) -> StateDict:
    """The state dict in a file written by ``write_npz``; a malformed file is a ValueError
    naming it (``load_state_dict`` then checks the content)."""
    name = os.fspath(path)

    def malformed(what: str) -> ValueError:
        return ValueError(f"{name}: not a valid optkern state file: {what}")

    try:
        data = np.load(name, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise malformed(f"{type(error).__name__}: {error}") from error
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise malformed(
            f"it holds a single {type(data).__name__} (a .npy file?); save_state writes a .npz "
            "archive"
        )
    with data:
        if _META not in data.files:
            raise ValueError(f"{name}: not an optkern state file (no {_META!r} entry)")
        try:
            meta = json.loads(str(data[_META]))
        except (ValueError, TypeError, OSError, zipfile.BadZipFile, EOFError) as error:
            raise malformed(f"its {_META!r} entry is not JSON ({error})") from error
        if not isinstance(meta, dict):
            raise malformed(f"its {_META!r} entry is a {type(meta).__name__}, not an object")
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{name}: unsupported state format {meta.get('format')!r}")
        steps = meta.get("steps")
        scalars = meta.get("scalars", {})
        groups = meta.get("param_groups")
        keys = meta.get("keys")
        if not isinstance(steps, dict) or not all(_is_index(i) for i in steps):
            raise malformed("'steps' must map parameter indices to step counts")
        if not isinstance(scalars, dict) or not all(isinstance(s, dict) for s in scalars.values()):
            raise malformed("'scalars' must map parameter indices to dicts")
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise malformed("'param_groups' must be a list of objects")
        if keys is not None and not isinstance(keys, list):
            raise malformed("'keys' must be a list")
        bfloat16_entries = meta.get("bfloat16", [])
        if not isinstance(bfloat16_entries, list) or not all(
            isinstance(e, str) for e in bfloat16_entries
        ):
            raise malformed("'bfloat16' must be a list of entry names")
        state: dict[int, dict[str, Any]] = {
            int(i): {"step": step, **scalars.get(i, {})} for i, step in steps.items()
        }
        for entry in data.files:
            if entry == _META:
                continue
            parts = entry.split(".", 2)
            if len(parts) != 3 or parts[0] != "state" or not _is_index(parts[1]):
                raise malformed(f"unexpected entry {entry!r} (expected state.<index>.<name>)")
            try:
                array = data[entry]
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
                raise malformed(f"entry {entry!r}: {error}") from error
            if entry in bfloat16_entries:
                if array.dtype != np.uint16:
                    raise malformed(f"entry {entry!r} is listed as bfloat16 but is {array.dtype}")
                array = array.view(_storage.bfloat16())
            state.setdefault(int(parts[1]), {"step": 0})[parts[2]] = array
    sd: StateDict = {"state": state, "param_groups": groups}
    if meta.get("optimizer") is not None:
        sd["optimizer"] = meta["optimizer"]
    if keys is not None:
        sd["keys"] = keys
    return sd
