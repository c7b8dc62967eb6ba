"""Calendar months as 'YYYY-MM' strings: the unit data windows move in."""

from __future__ import annotations

import re
from datetime import date

FORMAT = "YYYY-MM"


def index(month: str) -> int:
    """Months since year 0 for a 'YYYY-MM' string, or raise ValueError."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", month):
        raise ValueError(month)
    year, mon = month.split("-")
    if not 1 <= int(mon) <= 12:
        raise ValueError(month)
    return int(year) * 12 + int(mon) - 1


def name(position: int) -> str:
    """Inverse of `index`."""
    return f"{position // 12:04d}-{position % 12 + 1:02d}"


def last(month: str, count: int) -> list[str]:
    """The `count` months ending with `month`, oldest first."""
    end = index(month)
    return [name(i) for i in range(end - count + 1, end + 1)]


def previous(today: date | None = None) -> str:
    """The last complete month before today: the newest a monthly warehouse load holds."""
    today = today or date.today()
    return name(today.year * 12 + today.month - 2)
