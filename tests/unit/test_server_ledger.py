"""The server's credit ledger: negative adjustments within the balance, never below zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgcut_stream.server.db import Database
from bgcut_stream.server.exceptions import BadRequest
from bgcut_stream.server.ledger import Ledger


def test_removing_credits_within_the_balance_works(tmp_path: Path) -> None:
    ledger = Ledger(Database(tmp_path / "ledger.db"))
    assert ledger.add("k", 10) == 10
    assert ledger.add("k", -5) == 5


def test_going_below_zero_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    ledger = Ledger(Database(tmp_path / "ledger.db"))
    ledger.add("k", 2)
    with pytest.raises(BadRequest):
        ledger.add("k", -3)
    with pytest.raises(BadRequest):
        ledger.add("new", -1)  # a new account cannot start negative
    assert ledger.add("k", 0) == 2
