"""Standard 5-field cron expressions (minute hour day-of-month month day-of-week) and the next
time one fires in a time zone. Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`,
lists `a,b`, month and weekday names (`jan`, `mon`); Sunday is 0 or 7. As in Vixie cron, when
both day fields are restricted a day matching either fires.

Times are wall-clock times in the schedule's zone: a time skipped by a DST change fires at the
same offset it would have had before the change; a repeated one fires once (the first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronSchedule", "InvalidSchedule", "parse_schedule", "zone"]

_MONTHS = {name: i for i, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DAYS = {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}
# (name, lowest, highest, names)
_FIELDS = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
]
# Far enough for any expression that can fire (Feb 29 on a given weekday repeats within 28 years).
_SEARCH_DAYS = 366 * 29


class InvalidSchedule(ValueError):
    """The expression or the time zone is not one Steward can run (the message says why)."""


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # the day-of-month field is `*`
    any_weekday: bool  # the day-of-week field is `*`

    def _fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        if not self.any_day and not self.any_weekday:
            return by_day or by_weekday
        return by_day and by_weekday

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        """The first firing strictly after `after` (aware), in UTC; None if it never fires."""
        start = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for offset in range(_SEARCH_DAYS):
            day = start.date() + timedelta(days=offset)
            if not self._fires_on(day):
                continue
            for hour in hours:
                for minute in minutes:
                    local = datetime.combine(day, time(hour, minute))
                    if local < start:
                        continue
                    when = local.replace(tzinfo=tz).astimezone(UTC)
                    if when > after:
                        return when
        return None


def _number(text: str, names: dict[str, int], field: str) -> int:
    value = names.get(text.lower())
    if value is not None:
        return value
    if not text.isdigit():
        raise InvalidSchedule(f"{field}: {text!r} is not a number")
    return int(text)


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidSchedule(f"{field}: the step {step_text!r} must be a whole number above 0")
            step = int(step_text)
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            a, _, b = spec.partition("-")
            first, last = _number(a, names, field), _number(b, names, field)
        else:
            first = _number(spec, names, field)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise InvalidSchedule(f"{field}: {part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_schedule(expression: str) -> CronSchedule:
    """The schedule of a 5-field expression.

    Raises:
        InvalidSchedule: not 5 fields, a value out of range, or a date that never comes."""
    parts = expression.split()
    if len(parts) != 5:
        raise InvalidSchedule(f"a schedule has 5 fields (minute hour day-of-month month day-of-week), not {len(parts)}: {expression!r}")
    sets = [_field(text, name, low, high, names) for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    schedule = CronSchedule(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")
    if schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC), ZoneInfo("UTC")) is None:
        raise InvalidSchedule(f"{expression!r} never fires (no such date)")
    return schedule


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone (UTC when none is given).

    Raises:
        InvalidSchedule: an unknown zone."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'") from None
