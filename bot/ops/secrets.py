"""Secrets by default: no development value is accepted outside development mode, and no known default is
ever used — what is not configured is generated on first start and kept in `DATA_DIR/secrets/` (mode 0600).

- `DEV_MODE=true` (`make run` sets it): the agent and admin API accept `dev-agent-token` / `dev-admin-token`
  when no token is configured, and the launcher prints a warning banner.
- otherwise those values (and the old documented default session secret) are refused at start with what to do;
  an empty agent/admin token means no bearer access at all (the console's login still works).
- `SESSION_SECRET` and `RASA_AUTH_TOKEN` left empty are generated once and reused, so sessions and visitor tokens
  survive restarts and several hub processes on one data folder agree.
"""

from __future__ import annotations

import logging
import os
import secrets as random
from pathlib import Path

from core.settings import HubSettings, SettingsError

log = logging.getLogger(__name__)

DEV_AGENT_TOKEN = "dev-agent-token"
DEV_ADMIN_TOKEN = "dev-admin-token"
KNOWN_VALUES = frozenset({DEV_AGENT_TOKEN, DEV_ADMIN_TOKEN, "change-me-in-production"})
GENERATED = ("session_secret", "rasa_auth_token")
CHECKED = ("agent_api_token", "admin_api_token", "session_secret", "rasa_auth_token", "metrics_token",
           "webhook_secret")


def stored_secret(path: Path) -> str:
    """The secret kept at `path`, created (random, 0600) if there is none yet; safe when processes race."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = random.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)
    log.info("generated %s (kept for the next starts)", path)
    return value


def resolve(settings: HubSettings) -> HubSettings:
    """The settings with their secrets settled (see the module docstring); `SettingsError` for a development
    value outside development mode."""
    changes: dict[str, str] = {}
    if settings.dev_mode:
        if not settings.agent_api_token.get_secret_value():
            changes["agent_api_token"] = DEV_AGENT_TOKEN
        if not settings.admin_api_token.get_secret_value():
            changes["admin_api_token"] = DEV_ADMIN_TOKEN
    else:
        bad = [name.upper() for name in CHECKED if getattr(settings, name).get_secret_value() in KNOWN_VALUES]
        if bad:
            raise SettingsError(
                f"{', '.join(bad)} {'is a development value' if len(bad) == 1 else 'are development values'} and "
                "refused outside development mode: set real secrets in .env (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`), or leave SESSION_SECRET empty to have one generated; for local "
                "development only, set DEV_MODE=true")
    for name in GENERATED:
        if not getattr(settings, name).get_secret_value():
            changes[name] = stored_secret(settings.data_dir / "secrets" / name)
    return settings.replace(**changes) if changes else settings
