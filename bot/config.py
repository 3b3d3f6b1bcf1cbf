"""Settings for the hub, the action endpoint and the launcher.

Every value comes from the environment, then from a `.env` file in the project root, then from the
default below. `.env.example` documents each of them; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from encoders import SHIPPED_MODEL
from starlette.config import Config
from starlette.datastructures import Secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _config(env_file: Path | None = None) -> Config:
    path = env_file if env_file is not None else Path(os.environ.get("SUPPORTBOT_ENV_FILE", PROJECT_ROOT / ".env"))
    return Config(str(path) if path.exists() else None)


@dataclass(frozen=True)
class Settings:
    """Runtime settings. Build with `Settings.from_env()`; override fields in tests with `replace()`."""

    host: str = "127.0.0.1"
    hub_port: int = 8000
    rasa_port: int = 5005
    action_port: int = 5055
    public_url: str = ""  # the URL customers and channel providers reach the hub at (webhook signatures)

    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""  # default: sqlite under data_dir
    rasa_tracker_store_url: str = ""  # default: sqlite under data_dir
    rasa_lock_store_url: str = ""  # e.g. redis://127.0.0.1:6379/1 for several Rasa replicas
    rasa_url: str = ""  # default: http://host:rasa_port
    rasa_urls: tuple[str, ...] = ()  # several Rasa replicas (comma separated); overrides rasa_url
    action_url: str = ""  # default: http://host:action_port/webhook
    rasa_timeout_s: float = 10.0
    rasa_retries: int = 2
    rasa_model_dir: Path = PROJECT_ROOT / "models"
    rasa_config: Path = PROJECT_ROOT / "config.yml"

    kb_content_dir: Path = PROJECT_ROOT / "kb_index" / "content"
    kb_index_dir: Path = PROJECT_ROOT / "kb_index" / "build"
    kb_answer_threshold: float = 0.43  # calibrated for the shipped encoder and FAQ: make calibrate-kb
    kb_suggest_threshold: float = 0.43
    # The knowledge base's sentence encoder (encoders/): a sentence-transformers name or path,
    # use-multilingual-v3, or several joined with "+" (vectors concatenated). The default pairs the English
    # all-MiniLM-L6-v2 with the multilingual USE: measured best in every language (benchmarks/README.md).
    embedding_model: str = SHIPPED_MODEL

    order_api_url: str = ""  # default: the demo shop served by the hub
    order_api_timeout_s: float = 5.0

    agent_api_token: Secret = field(default_factory=lambda: Secret("dev-agent-token"))
    admin_api_token: Secret = field(default_factory=lambda: Secret("dev-admin-token"))
    session_secret: Secret = field(default_factory=lambda: Secret("change-me-in-production"))
    web_allowed_origins: tuple[str, ...] = ()  # origins allowed to open the web chat socket; empty: any
    outbox_max_rounds: int = 6  # rounds of delivery attempts before a message becomes a dead letter
    outbox_base_delay_s: float = 30.0  # wait before the second round; doubles each round (at most an hour)
    outbox_poll_s: float = 1.0
    max_message_chars: int = 4096
    max_ws_frame_bytes: int = 64 * 1024
    redact_pii: bool = True
    default_language: str = "en"
    supported_languages: tuple[str, ...] = ("en", "it", "zh", "ro")  # detected per message (bot/language.py)
    language_detector_model: str = "full"  # langidentify model: full (most accurate, ~150 MB) | lite (~40 MB)
    demo_shop: bool = True
    log_level: str = "INFO"

    # Human handoff and the agent console (docs/console.md).
    admin_email: str = ""  # with ADMIN_PASSWORD: the first admin, created at start if missing
    admin_password: Secret = field(default_factory=lambda: Secret(""))
    admin_display_name: str = "Admin"
    handoff_config: Path = PROJECT_ROOT / "handoff.yml"  # teams, hours, routing (missing file: one queue)
    session_max_age_s: int = 12 * 3600  # console logins last this long
    csat_enabled: bool = True  # ask customers for a 1-5 rating after resolution
    queue_tick_s: float = 30.0  # how often queued customers get wait updates and auto-assignment runs
    webhook_urls: tuple[str, ...] = ()  # outgoing webhooks (comma separated)
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))  # HMAC-SHA256 key for their signatures
    webhook_max_attempts: int = 6

    # Channels (docs/channels.md). The web chat is always on; list the others to switch them on.
    enabled_channels: tuple[str, ...] = ("web",)  # e.g. web,telegram,whatsapp,sms
    max_media_bytes: int = 5 * 1024 * 1024  # larger customer media is refused with a message to the customer
    telegram_bot_token: Secret = field(default_factory=lambda: Secret(""))
    telegram_webhook_secret: Secret = field(default_factory=lambda: Secret(""))  # default: derived from the token
    telegram_mode: str = "webhook"  # webhook (needs PUBLIC_URL) | polling (local use, no public URL)
    telegram_api_base_url: str = ""  # default https://api.telegram.org/bot; tests point it at a local fake
    twilio_account_sid: str = ""
    twilio_auth_token: Secret = field(default_factory=lambda: Secret(""))
    twilio_whatsapp_from: str = ""  # e.g. whatsapp:+14155238886
    twilio_sms_from: str = ""  # e.g. +15005550006
    twilio_api_base_url: str = ""  # default https://api.twilio.com; tests point it at a local fake
    whatsapp_template_sid: str = ""  # approved Content template (HX…) sent outside the 24-hour window

    @classmethod
    def from_env(cls, env_file: Path | None = None, **overrides: object) -> "Settings":
        cfg = _config(env_file)
        values: dict[str, object] = {}
        for f in fields(cls):
            default = f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]
            raw = cfg(f.name.upper(), default=None)
            if raw is None:
                values[f.name] = default
                continue
            values[f.name] = _coerce(f.name, raw, default)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for child processes (Rasa, actions, hub)."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            env[f.name.upper()] = str(value)
        return env

    # Derived values: computed, never stored twice.
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.db'}"

    @property
    def tracker_store_url(self) -> str:
        return self.rasa_tracker_store_url or f"sqlite:///{self.data_dir / 'rasa_tracker.db'}"

    @property
    def rasa_endpoints(self) -> tuple[str, ...]:
        if self.rasa_urls:
            return self.rasa_urls
        return (self.rasa_url or f"http://{self.host}:{self.rasa_port}",)

    @property
    def action_endpoint(self) -> str:
        return self.action_url or f"http://{self.host}:{self.action_port}/webhook"

    @property
    def hub_url(self) -> str:
        return f"http://{self.host}:{self.hub_port}"

    @property
    def public_base_url(self) -> str:
        return (self.public_url or self.hub_url).rstrip("/")

    @property
    def order_api(self) -> str:
        return (self.order_api_url or f"{self.hub_url}/demo-shop/api").rstrip("/")


def _coerce(name: str, raw: str, default: object) -> object:
    if isinstance(default, Secret):
        return Secret(raw)
    if isinstance(default, bool):
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"{name.upper()} must be true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name.upper()} must be a whole number, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name.upper()} must be a number, got {raw!r}") from None
    if isinstance(default, Path):
        return Path(raw).expanduser()
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
