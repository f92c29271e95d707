"""Today's date for the whole app: the machine's date, or `OCMS_TODAY` (YYYY-MM-DD) when it is set.

One source of "today" keeps a run consistent: a test run that crosses midnight sees the same date
in every module and in the servers and commands it starts.
"""

from __future__ import annotations

import os
from datetime import date


def today() -> date:
    pinned = os.environ.get("OCMS_TODAY")
    return date.fromisoformat(pinned) if pinned else date.today()
