"""The table of optimizer configurations that the self-check and the test suite run.

Every option of every algorithm appears on and off. The rows are the ``configs`` of the classes'
records (``optkern.records``): adding an algorithm adds rows in its class module, not here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import textbook
from .optimizer import Optimizer, ParamsArg
from .records import records


class Config(NamedTuple):
    name: str
    cls: type[Optimizer]
    kwargs: dict[str, Any]

    def build(self, params: ParamsArg, **overrides: Any) -> Optimizer:
        """The optimizer over ``params`` with this row's options (and ``overrides``). The
        textbook classes take hyperparameters first and ``params`` by keyword."""
        kwargs = {**self.kwargs, **overrides}
        if issubclass(self.cls, textbook._Textbook):
            return self.cls(params=params, **kwargs)
        return self.cls(params, **kwargs)


CONFIGS: list[Config] = [
    Config(name, entry.cls, dict(kwargs))
    for entry in records()
    for name, kwargs in entry.configs.items()
]
