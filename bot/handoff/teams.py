"""Handoff routing: teams, skills, business hours and holidays, and the intent / KB-tag → team mapping.

Read from a YAML file (`HANDOFF_CONFIG`, default `handoff.yml` in the project root):

    default_team: support
    auto_assign: false            # true: queued conversations go to the least-busy online agent of the team
    priorities: {complaint: 10}   # handoff reason → priority (higher first); merged over the built-in ones
    teams:
      support:
        name: Customer support
        skills: [general, orders]
        timezone: Europe/Rome
        hours: {mon-fri: "09:00-18:00", sat: "10:00-14:00"}   # days missing are closed
        holidays: ["2025-12-25", "2026-01-01"]
        auto_assign: true         # per team, overrides the global switch
    routing:
      reasons: {complaint: care}            # handoff reason → team
      intents: {order_status: orders}       # last customer intent → team
      kb_tags: {billing: billing}           # a KB candidate's team/tag → team
      skills: {orders: orders}              # a skill named by the bot (`details.skill`) → first team having it

A team with no `hours` is always open. Routing order: a team named by the bot's handoff → reason →
skill → last intents (newest first) → KB candidates → `default_team`.
"""

from __future__ import annotations

import logging
import time as clock

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Handoff reasons that jump the queue (higher first).
DEFAULT_PRIORITIES = {"complaint": 10, "bot_unavailable": 5, "action_failed": 5, "repeated_fallback": 2}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Team:
    key: str
    name: str
    skills: tuple[str, ...] = ()
    timezone: str = "UTC"
    hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)  # weekday → open intervals
    holidays: frozenset[date] = frozenset()
    auto_assign: bool | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, now: datetime | None = None) -> bool:
        if not self.hours:
            return True
        local = (now or datetime.now(timezone.utc)).astimezone(self.tz)
        if local.date() in self.holidays:
            return False
        return any(start <= local.time() < end for start, end in self.hours.get(local.weekday(), ()))

    def next_open(self, now: datetime | None = None) -> datetime | None:
        """When the team is next open (now, if it is open); None if it never opens in the next 60 days."""
        now = now or datetime.now(timezone.utc)
        if self.is_open(now):
            return now
        local = now.astimezone(self.tz)
        for offset in range(0, 61):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _end in sorted(self.hours.get(day.weekday(), ())):
                candidate = datetime.combine(day, start, tzinfo=self.tz)
                if candidate > local:
                    return candidate
        return None

    def view(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "skills": list(self.skills), "timezone": self.timezone,
                "always_open": not self.hours, "open_now": self.is_open()}


@dataclass(frozen=True)
class HandoffConfig:
    teams: dict[str, Team] = field(default_factory=dict)
    default_team: str | None = None
    auto_assign: bool = False
    priorities: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    by_reason: dict[str, str] = field(default_factory=dict)
    by_intent: dict[str, str] = field(default_factory=dict)
    by_kb_tag: dict[str, str] = field(default_factory=dict)
    by_skill: dict[str, str] = field(default_factory=dict)
    canned: dict[str, tuple[dict[str, str], ...]] = field(default_factory=dict)  # language → [{title, text}]

    @classmethod
    def load(cls, path: Path | None) -> "HandoffConfig":
        if path is None or not Path(path).exists():
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "handoff config") -> "HandoffConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
        teams: dict[str, Team] = {}
        for key, raw in (data.get("teams") or {}).items():
            raw = raw or {}
            tz = str(raw.get("timezone") or "UTC")
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"{source}: team {key}: unknown time zone {tz!r}") from None
            teams[str(key)] = Team(
                key=str(key),
                name=str(raw.get("name") or key),
                skills=tuple(str(s) for s in raw.get("skills") or ()),
                timezone=tz,
                hours=_parse_hours(raw.get("hours") or {}, f"{source}: team {key}"),
                holidays=frozenset(_parse_date(d, f"{source}: team {key}") for d in raw.get("holidays") or ()),
                auto_assign=raw.get("auto_assign"),
            )
        routing = data.get("routing") or {}
        default_team = data.get("default_team")
        cfg = cls(
            teams=teams,
            default_team=str(default_team) if default_team else None,
            auto_assign=bool(data.get("auto_assign", False)),
            priorities={**DEFAULT_PRIORITIES, **{str(k): int(v) for k, v in (data.get("priorities") or {}).items()}},
            by_reason={str(k): str(v) for k, v in (routing.get("reasons") or {}).items()},
            by_intent={str(k): str(v) for k, v in (routing.get("intents") or {}).items()},
            by_kb_tag={str(k): str(v) for k, v in (routing.get("kb_tags") or {}).items()},
            by_skill={str(k): str(v) for k, v in (routing.get("skills") or {}).items()},
            canned=_parse_canned(data.get("canned") or {}, source),
        )
        for where, mapping in (("reasons", cfg.by_reason), ("intents", cfg.by_intent), ("kb_tags", cfg.by_kb_tag),
                               ("skills", cfg.by_skill)):
            for k, team in mapping.items():
                if teams and team not in teams:
                    raise ConfigError(f"{source}: routing.{where}.{k} names unknown team {team!r}")
        if cfg.default_team and teams and cfg.default_team not in teams:
            raise ConfigError(f"{source}: default_team {cfg.default_team!r} is not a team")
        return cfg

    def priority(self, reason: str) -> int:
        return self.priorities.get(reason, 0)

    def team_for(self, *, reason: str, details: dict[str, Any] | None = None, named: str | None = None) -> str | None:
        """The team a handoff goes to (see the module docstring for the order)."""
        details = details or {}
        if named and (not self.teams or named in self.teams):
            return named
        if reason in self.by_reason:
            return self.by_reason[reason]
        skill = details.get("skill")
        if isinstance(skill, str):
            if skill in self.by_skill:
                return self.by_skill[skill]
            for team in self.teams.values():
                if skill in team.skills:
                    return team.key
        intents = details.get("intents") if isinstance(details.get("intents"), list) else []
        for item in reversed(intents):
            name = item.get("intent") if isinstance(item, dict) else item
            if isinstance(name, str) and name in self.by_intent:
                return self.by_intent[name]
        candidates = details.get("kb_candidates") if isinstance(details.get("kb_candidates"), list) else []
        for cand in candidates:
            if not isinstance(cand, dict):
                continue
            tags = [cand.get("team"), *(cand.get("tags") or [])]
            for tag in tags:
                if isinstance(tag, str) and tag in self.by_kb_tag:
                    return self.by_kb_tag[tag]
        return self.default_team

    def canned_for(self, language: str | None) -> list[dict[str, str]]:
        """Canned responses in `language`, falling back to English."""
        lang = (language or "en").split("-")[0].lower()
        return list(self.canned.get(lang) or self.canned.get("en") or ())

    def team(self, key: str | None) -> Team | None:
        return self.teams.get(key) if key else None

    def auto_assign_for(self, key: str | None) -> bool:
        team = self.team(key)
        if team is not None and team.auto_assign is not None:
            return bool(team.auto_assign)
        return self.auto_assign


def _parse_canned(raw: Any, source: str) -> dict[str, tuple[dict[str, str], ...]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: canned must map languages to lists of {{title, text}}")
    out: dict[str, tuple[dict[str, str], ...]] = {}
    for lang, items in raw.items():
        parsed = []
        for item in items or []:
            if not isinstance(item, dict) or not item.get("text"):
                raise ConfigError(f"{source}: canned.{lang}: each entry needs a text")
            parsed.append({"title": str(item.get("title") or str(item["text"])[:40]), "text": str(item["text"])})
        out[str(lang)] = tuple(parsed)
    return out


def _parse_time(value: str, where: str) -> time:
    try:
        if value in ("24:00", "24:00:00"):
            return time(23, 59, 59, 999999)
        return time.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{where}: bad time {value!r} (use HH:MM)") from None


def _parse_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: bad holiday {value!r} (use YYYY-MM-DD)") from None


def _parse_hours(raw: dict[str, Any], where: str) -> dict[int, tuple[tuple[time, time], ...]]:
    """{"mon-fri": "09:00-12:30, 13:30-18:00", "sat": "10:00-14:00"} → weekday → intervals."""
    hours: dict[int, list[tuple[time, time]]] = {}
    for days, spans in raw.items():
        days = str(days).lower()
        if "-" in days:
            first, last = days.split("-", 1)
            if first not in DAYS or last not in DAYS:
                raise ConfigError(f"{where}: bad day range {days!r}")
            i, j = DAYS.index(first), DAYS.index(last)
            indexes = list(range(i, j + 1)) if i <= j else list(range(i, 7)) + list(range(0, j + 1))
        elif days in DAYS:
            indexes = [DAYS.index(days)]
        else:
            raise ConfigError(f"{where}: bad day {days!r} (mon … sun, or a range like mon-fri)")
        for span in str(spans).split(","):
            span = span.strip()
            if not span or span.lower() == "closed":
                continue
            start_s, sep, end_s = span.partition("-")
            if not sep:
                raise ConfigError(f"{where}: bad hours {span!r} (use HH:MM-HH:MM)")
            start, end = _parse_time(start_s.strip(), where), _parse_time(end_s.strip(), where)
            if end <= start:
                raise ConfigError(f"{where}: hours {span!r} end before they start")
            for d in indexes:
                hours.setdefault(d, []).append((start, end))
    return {d: tuple(sorted(v)) for d, v in hours.items()}
