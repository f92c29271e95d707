"""The iCARE calendar: a month's first and last day, whether it is over, the month before, its due date."""

from __future__ import annotations

import re
from datetime import date, timedelta

import holidays

from ocms_data import clock
from ocms_data.errors import ValidationError

FEDERAL_HOLIDAYS = ("public", "government")  # the `holidays` categories of the federal public service


def parse_month(text: str, today: date | None = None) -> tuple[date, date]:
    """First and last day of a `YYYY-MM` month that is not in the future."""
    today = today or clock.today()
    m = re.fullmatch(r"(\d{4})-(\d{2})", (text or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError({"month": "Enter the month as YYYY-MM, e.g. 2026-10."})
    start = date(int(m.group(1)), int(m.group(2)), 1)
    if start > today:
        raise ValidationError({"month": f"{text} is in the future: only past or current months can be uploaded."})
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start, end


def not_over(month: str, today: date | None = None) -> str | None:
    """Why a final for `month` cannot be recorded yet (the month is not over), or None once it is."""
    _start, end = parse_month(month, today=date.max)
    if end < (today or clock.today()):
        return None
    return (
        f"{month} is not over yet: its final upload can be recorded from {end + timedelta(days=1):%Y-%m-%d}. "
        "Drafts can be made now."
    )


def previous_month(today: date | None = None) -> str:
    first = (today or clock.today()).replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def due_date(month: str) -> date:
    """The upload deadline: the 5th working day of the month after `month`.

    Working days are Monday to Friday except Canada's federal statutory holidays (IRCC's calendar, from
    the `holidays` package, observed dates included); provincial-only holidays do not move the deadline.
    """
    _start, end = parse_month(month, today=date.max)
    off = holidays.country_holidays("CA", years=(end + timedelta(days=1)).year, categories=FEDERAL_HOLIDAYS)
    day, worked = end, 0
    while worked < 5:
        day += timedelta(days=1)
        worked += day.weekday() < 5 and day not in off
    return day
