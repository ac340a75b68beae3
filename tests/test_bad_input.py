"""Bad input raises a clear error (type and message from the table) and modifies nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from cases import ERROR_CASES, ErrorCase


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.name for c in ERROR_CASES])
def test_bad_input_raises_and_modifies_nothing(case: ErrorCase) -> None:
    watched, call = case.build()
    before = [np.array(a, copy=True) for a in watched]
    with pytest.raises(case.error, match=case.match):
        call()
    for original, now in zip(before, watched, strict=False):
        assert np.array_equal(original, now, equal_nan=True)
        assert np.array_equal(np.signbit(original), np.signbit(now))


def test_table_messages_are_specific() -> None:
    """Every pattern names something: no catch-all patterns in the table."""
    for case in ERROR_CASES:
        assert len(case.match) >= 8, case.name
        re.compile(case.match)
