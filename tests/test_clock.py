"""The app's one "today": the machine's date unless `OCMS_TODAY` pins it."""

from __future__ import annotations

from datetime import date

from ocms_data import clock


def test_today_is_the_pinned_date_when_set(monkeypatch):
    monkeypatch.setenv("OCMS_TODAY", "2024-02-29")
    assert clock.today() == date(2024, 2, 29)


def test_today_is_the_machine_date_otherwise(monkeypatch):
    monkeypatch.delenv("OCMS_TODAY", raising=False)
    assert clock.today() == date.today()
