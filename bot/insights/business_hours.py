"""Durations counted in a team's business hours (`handoff.yml`: hours per weekday in the team's time zone,
holidays closed). A team without hours is always open, so its business time is the calendar time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.handoff.teams import Team


def business_seconds(team: Team | None, start: datetime, end: datetime) -> float:
    """Seconds between `start` and `end` during which `team` was open."""
    if end <= start:
        return 0.0
    if team is None or not team.hours:
        return (end - start).total_seconds()
    tz = team.tz
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        if day not in team.holidays:
            for open_at, close_at in team.hours.get(day.weekday(), ()):
                lo = max(datetime.combine(day, open_at, tzinfo=tz), local_start)
                hi = min(datetime.combine(day, close_at, tzinfo=tz), local_end)
                if hi > lo:
                    total += (hi.astimezone(timezone.utc) - lo.astimezone(timezone.utc)).total_seconds()
        day += timedelta(days=1)
    return total
