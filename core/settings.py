"""Settings per process, read by pydantic-settings: the environment, then `.env` in the project root, then
the defaults below. `.env.example` documents every one of them; keep the two in step.

One class per process, each a superset of what that process reads:

- `KBSettings`: the knowledge-base tools (`python -m kb_index`) and anything that searches the index;
- `ActionSettings`: the action server (KB + the order system);
- `ChannelSettings`: the channel connectors (`connectors/`);
- `HubSettings`: the hub and the launcher, which hands every value on to its children (`to_env()`).

Build with `X.from_env(**overrides)`; derive a changed copy with `settings.replace(**changes)` (validated).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.contracts import FIXED_KB_THRESHOLDS, SHIPPED_ENCODER

PROJECT_ROOT = Path(__file__).resolve().parent.parent



def _split_commas(value: Any) -> Any:
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the environment variable."""


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]  # "a, b" → ("a", "b")
UserPath = Annotated[Path, AfterValidator(lambda p: p.expanduser())]


def env_file() -> Path | None:
    """The `.env` file to read (`SUPPORTBOT_ENV_FILE` names another one; tests point it at nothing)."""
    path = Path(os.environ.get("SUPPORTBOT_ENV_FILE", PROJECT_ROOT / ".env"))
    return path if path.exists() else None


class CommonSettings(BaseSettings):
    """What every process of the stack reads."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True, case_sensitive=False,
                                      validate_default=True)

    host: str = "127.0.0.1"
    hub_port: int = Field(8000, ge=1, le=65535)
    rasa_port: int = Field(5005, ge=1, le=65535)
    action_port: int = Field(5055, ge=1, le=65535)
    data_dir: UserPath = PROJECT_ROOT / "var"
    default_language: str = "en"
    supported_languages: CommaList = ("en", "it", "zh", "ro")  # detected per message (bot/conversations/language.py)
    redact_pii: bool = True
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Path | None = None, **overrides: Any) -> Self:
        """Settings from the environment and `.env` (or the file `env`); `overrides` win over both."""
        try:
            return cls(_env_file=env if env is not None else env_file(), **overrides)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    def replace(self, **changes: Any) -> Self:
        """A validated copy with some values changed."""
        try:
            return type(self).model_validate({**dict(self), **changes})
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for child processes (Rasa, actions, hub)."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif value is None:  # unset (e.g. KB thresholds from the content): empty is read back as the default
                value = ""
            env[name.upper()] = str(value)
        return env

    @property
    def hub_url(self) -> str:
        return f"http://{self.host}:{self.hub_port}"


class KBSettings(CommonSettings):
    """The knowledge base: its content, its index and its decision thresholds."""

    kb_content_dir: UserPath = PROJECT_ROOT / "kb_index" / "content"
    kb_index_dir: UserPath = PROJECT_ROOT / "kb_index" / "build"
    # Unset: the thresholds the content itself calls for, computed when the index is built
    # (kb_index/self_calibration.py), or the profile's measured pair (core.contracts.FIXED_KB_THRESHOLDS: the
    # shipped `classic` profile answers at 0.43); set them to fix them (make calibrate-kb picks them from
    # labelled questions).
    kb_answer_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    kb_suggest_threshold: float | None = Field(None, ge=-1.0, le=1.0)  # cosine scores: -1 offers choices always
    # The KB's sentence encoder (encoders/): a profile (classic, shipped; accurate, fast: opt-in), a
    # sentence-transformers name or path, use-multilingual-v3, multilingual-e5-small, or several joined with "+".
    embedding_model: str = SHIPPED_ENCODER

    @model_validator(mode="before")
    @classmethod
    def _profile_thresholds(cls, data: Any) -> Any:
        """Unset thresholds of a profile with a measured fixed pair (`FIXED_KB_THRESHOLDS`) take that pair."""
        if not isinstance(data, dict):
            return data
        model = str(data.get("embedding_model") or SHIPPED_ENCODER).strip().lower()
        fixed = FIXED_KB_THRESHOLDS.get(model)
        if fixed is None:
            return data
        data = dict(data)
        for key, value in zip(("kb_answer_threshold", "kb_suggest_threshold"), fixed):
            if data.get(key) in (None, ""):
                data[key] = value
        return data


class ActionSettings(KBSettings):
    """The action server: the knowledge base and the order system."""

    order_api_url: str = ""  # default: the demo shop served by the hub
    order_api_timeout_s: float = Field(5.0, gt=0)

    @property
    def order_api(self) -> str:
        return (self.order_api_url or f"{self.hub_url}/demo-shop/api").rstrip("/")


class ChannelSettings(CommonSettings):
    """The channel connectors (docs/channels.md). The web chat is always on; list the others to switch them on."""

    public_url: str = ""  # the URL customers and channel providers reach the hub at (webhook signatures)
    # Signs web chat visitor tokens and console sessions. Empty: a random one is generated on first start and
    # kept in DATA_DIR/secrets/ (bot/ops/secrets.py).
    session_secret: SecretStr = SecretStr("")
    visitor_token_max_age_s: int = Field(30 * 24 * 3600, gt=0)  # a web chat visitor token expires after this
    web_allowed_origins: CommaList = ()  # origins allowed to open the web chat socket; empty: any
    max_ws_frame_bytes: int = Field(64 * 1024, gt=0)
    enabled_channels: CommaList = ("web",)  # e.g. web,telegram,whatsapp,sms
    max_media_bytes: int = Field(5 * 1024 * 1024, gt=0)  # larger customer media is refused, with a message
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_webhook_secret: SecretStr = SecretStr("")  # default: derived from the token
    telegram_mode: str = "webhook"  # webhook (needs PUBLIC_URL) | polling (local use, no public URL)
    telegram_api_base_url: str = ""  # default https://api.telegram.org/bot; tests point it at a local fake
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_whatsapp_from: str = ""  # e.g. whatsapp:+14155238886
    twilio_sms_from: str = ""  # e.g. +15005550006
    twilio_api_base_url: str = ""  # default https://api.twilio.com; tests point it at a local fake
    whatsapp_template_sid: str = ""  # approved Content template (HX…) sent outside the 24-hour window
    sms_max_segments: int = Field(4, ge=1, le=10)  # a longer SMS answer goes out as several messages
    # Meta: Facebook Messenger and the WhatsApp Cloud API (one Meta app serves both; docs/channels.md)
    meta_app_secret: SecretStr = SecretStr("")  # checks X-Hub-Signature-256 on every webhook
    meta_verify_token: SecretStr = SecretStr("")  # echoed by Meta's GET verification handshake
    meta_graph_base_url: str = ""  # default https://graph.facebook.com; tests point it at a local fake
    meta_graph_version: str = "v21.0"
    messenger_page_token: SecretStr = SecretStr("")  # the Facebook page's access token
    whatsapp_cloud_token: SecretStr = SecretStr("")  # a system user's access token
    whatsapp_cloud_phone_number_id: str = ""  # the business phone number's id (not the number)
    whatsapp_cloud_template: str = ""  # approved template name sent outside the 24-hour window
    whatsapp_cloud_template_language: str = "en"
    # E-mail (docs/channels.md): SMTP out, an inbound-parse webhook (and optionally IMAP) in
    email_from: str = ""  # e.g. support@example.com; replies come back to this address
    email_from_name: str = "Support"
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: str = "starttls"  # starttls | tls (implicit, port 465) | none (a local relay)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    email_inbound_secret: SecretStr = SecretStr("")  # the inbound-parse provider's webhook signing key
    imap_host: str = ""  # optional: poll this mailbox instead of (or besides) the inbound webhook
    imap_port: int = Field(993, ge=1, le=65535)
    imap_username: str = ""
    imap_password: SecretStr = SecretStr("")
    imap_folder: str = "INBOX"
    imap_security: str = "tls"  # tls (IMAPS) | none (a mailbox on this machine)
    imap_poll_s: float = Field(60.0, gt=0)
    max_outbound_email_bytes: int = Field(20 * 1024 * 1024, gt=0)

    @property
    def public_base_url(self) -> str:
        return (self.public_url or self.hub_url).rstrip("/")


class HubSettings(ActionSettings, ChannelSettings):
    """The hub (and the launcher, which starts every process of the stack with these values)."""

    database_url: str = ""  # default: sqlite under data_dir
    rasa_tracker_store_url: str = ""  # default: sqlite under data_dir
    rasa_lock_store_url: str = ""  # e.g. redis://127.0.0.1:6379/1 for several Rasa replicas
    rasa_url: str = ""  # default: http://host:rasa_port
    rasa_urls: CommaList = ()  # several Rasa replicas (comma separated); overrides rasa_url
    action_url: str = ""  # default: http://host:action_port/webhook
    rasa_timeout_s: float = Field(10.0, gt=0)
    rasa_retries: int = Field(2, ge=0)
    rasa_model_dir: UserPath = PROJECT_ROOT / "models"
    rasa_config: UserPath = PROJECT_ROOT / "config.yml"
    rasa_domain: UserPath = PROJECT_ROOT / "domain.yml"
    rasa_data_dir: UserPath = PROJECT_ROOT / "nlu_data"  # NLU examples, rules and stories
    rasa_model_load_timeout_s: float = Field(120.0, gt=0)  # a publish waits this long for each Rasa to load a model

    # Development mode (`make run` sets it): the development tokens below are accepted, with a warning banner.
    dev_mode: bool = False
    agent_api_token: SecretStr = SecretStr("")  # bearer token of the agent API; empty: no bearer access
    admin_api_token: SecretStr = SecretStr("")  # bearer token of the admin API; empty: no bearer access
    rasa_auth_token: SecretStr = SecretStr("")  # Rasa's HTTP API token; empty: generated, kept in DATA_DIR/secrets/
    metrics_token: SecretStr = SecretStr("")  # bearer token for /metrics and the detailed /health (else loopback)
    redis_url: str = ""  # e.g. redis://127.0.0.1:6379/0: state shared by several hub processes (login throttle …)
    forwarded_allow_ips: CommaList = ()  # proxies whose X-Forwarded-For is believed (e.g. 127.0.0.1 behind nginx)
    outbox_max_rounds: int = Field(6, ge=1)  # rounds of delivery attempts before a message becomes a dead letter
    outbox_base_delay_s: float = Field(30.0, ge=0)  # wait before the second round; doubles each round (≤ 1 h)
    outbox_poll_s: float = Field(1.0, gt=0)
    max_message_chars: int = Field(4096, gt=0)
    language_detector_model: str = "full"  # langidentify model: full (most accurate, ~150 MB) | lite (~40 MB)
    demo_shop: bool = True

    # Human handoff and the agent console (docs/console.md).
    admin_email: str = ""  # with ADMIN_PASSWORD: the first admin, created at start if missing
    admin_password: SecretStr = SecretStr("")
    admin_display_name: str = "Admin"
    handoff_config: UserPath = PROJECT_ROOT / "handoff.yml"  # teams, hours, routing (missing file: one queue)
    session_max_age_s: int = Field(12 * 3600, gt=0)  # console logins last this long
    csat_enabled: bool = True  # ask customers for a 1-5 rating after resolution
    queue_tick_s: float = Field(30.0, gt=0)  # how often queued customers get wait updates and auto-assignment runs
    webhook_urls: CommaList = ()  # outgoing webhooks (comma separated)
    webhook_secret: SecretStr = SecretStr("")  # HMAC-SHA256 key for their signatures
    webhook_max_attempts: int = Field(6, ge=1)

    # Personal data (docs/privacy.md): conversations inactive this many days are deleted, Rasa trackers included
    retention_days: int = Field(0, ge=0, le=36500)  # 0: keep everything
    retention_sweep_s: float = Field(3600.0, gt=0)  # how often the hub deletes what is past retention
    # The studio (/studio, docs/studio.md): editing content, publishing releases, the evaluation gate.
    nlu_heldout_dir: UserPath = PROJECT_ROOT / "benchmarks" / "data" / "starter_heldout"  # never trained on
    studio_git: bool = True  # commit every save when the content is in a git work tree (else: revision table)
    studio_keep_releases: int = Field(5, ge=1)  # published models kept for rollback
    studio_gate_margin: float = Field(0.01, ge=0.0, le=1.0)  # refuse a model whose accuracy drops more (0.01: 1 point)
    studio_cv_folds: int = Field(5, ge=2, le=20)
    # Proactive notifications (docs/notifications.md)
    notify_rate_limits: CommaList = ("web=50/1", "telegram=25/1", "whatsapp=20/1", "sms=1/1", "messenger=20/1",
                                     "whatsapp_cloud=20/1", "email=5/1")  # channel=messages/seconds
    notify_max_recipients: int = Field(5000, ge=1)  # one bulk send names at most this many customers
    notify_poll_s: float = Field(1.0, gt=0)
    # Learning from conversations (docs/metrics.md): feedback, the review inbox and its content changes.
    kb_feedback_enabled: bool = True  # ask "Was this helpful?" after each knowledge-base answer
    review_confidence_threshold: float = Field(0.6, ge=0.0, le=1.0)  # intents below this go to the review inbox

    # Derived values: computed, never stored twice.
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.db'}"

    @property
    def releases_dir(self) -> Path:
        """Where the studio keeps published models (the last `studio_keep_releases`) and the live pointer."""
        return self.rasa_model_dir / "releases"

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
        """Where Rasa calls the action server (`…/webhook`)."""
        return self.action_url or f"http://{self.host}:{self.action_port}/webhook"

    @property
    def action_server_url(self) -> str:
        """The action server's base URL (its `/health` and `/kb/search` hang off it)."""
        return self.action_endpoint.rstrip("/").removesuffix("/webhook")


def _explain(exc: ValidationError) -> str:
    """One line per bad setting, named as the environment variable people set."""
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err.get("loc", ())).upper() or "?"
        lines.append(f"{name}: {err.get('msg')} (got {err.get('input')!r})")
    return "bad settings: " + "; ".join(lines)
