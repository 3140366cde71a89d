"""Settings: one frozen object read from the environment, with presets per environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"
DEV_SECRET_MARKER = "dev-"  # noqa: S105 - development secrets start with this; production refuses them


class ConfigError(RuntimeError):
    """Raised when the environment cannot produce a safe configuration."""


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    database_url: str
    instance_dir: Path
    keyring_path: Path
    # A streaming replica that reports and monitoring read from ($DATABASE_REPLICA_URL; empty:
    # everything reads the primary), and the lag from which its pages warn, in seconds.
    database_replica_url: str = ""
    replica_lag_warn_seconds: int = 5 * 60
    # Statements PostgreSQL keeps parsed and planned per connection ($CASEAPP_PREPARED_STATEMENTS;
    # caseapp/prepared_statements.py says what it buys and what it costs). 100: psycopg's own.
    prepared_statements: int = 100
    debug: bool = False
    testing: bool = False
    # Sessions (ASVS V7): idle and absolute timeouts, in seconds.
    session_idle_seconds: int = 15 * 60
    session_absolute_seconds: int = 10 * 60 * 60
    session_touch_seconds: int = 60
    secure_cookies: bool = True
    # Passwords (ASVS V6): argon2id parameters and policy.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 2
    password_min_length: int = 12
    password_max_length: int = 128
    # Throttling of sign-in: failures allowed per window, then a lock of lock_seconds.
    throttle_window_seconds: int = 15 * 60
    throttle_account_failures: int = 5
    throttle_address_failures: int = 30
    throttle_lock_seconds: int = 15 * 60
    # TOTP: a 30-second step, six digits, one step of drift either way.
    totp_issuer: str = "An toan truong hoc"
    recovery_code_count: int = 10
    default_locale: str = "vi"
    locales: tuple[str, ...] = ("vi", "en")
    timezone: str = "Asia/Ho_Chi_Minh"
    unit_kinds: tuple[str, ...] = ("ministry", "province", "district", "commune", "school")
    # The two-tier local government (Resolution 202/2025/QH15 and the laws of June 2025): from
    # this day district education offices no longer exist; nothing new is placed under one.
    two_tier_from: date = date(2025, 7, 1)
    page_size: int = 50
    # The most events one CSV export of the audit trail carries ($CASEAPP_AUDIT_EXPORT_MAX):
    # a download must end within gunicorn's worker timeout (60 s), written and sent. Measured
    # (README, Capacity): some 300 bytes an event, 100,000 written in a few seconds.
    audit_export_max_events: int = 100_000
    # Clocks (DESIGN.md section 5): intervention for immediate danger or a child at serious risk,
    # verification finished, support plan (working days), follow-up interval while monitoring.
    intervention_hours: int = 12
    verification_days: int = 10
    support_plan_working_days: int = 5
    follow_up_days: int = 30
    # Report periods: (key, first month-day, last month-day, due month-day); a period's first
    # day falls in the year before its last day when the month-day is later in the year.
    report_periods: tuple[tuple[str, str, str, str], ...] = (
        ("six_month", "11-01", "04-30", "05-15"),
        ("annual", "11-01", "10-31", "11-15"),
    )
    small_cell_threshold: int = 5
    # The auditor's attention view (issue 11): the days it looks back by default; confidential
    # reads by one person in a day above the ceiling (high), or above factor x their own
    # 90-day norm and at least the minimum (medium); the same requester/approver pair approving
    # this many grants or resets in 90 days; the newest signed checkpoint older than this.
    attention_window_days: int = 30
    attention_read_ceiling: int = 30
    attention_norm_factor: int = 3
    attention_norm_minimum: int = 10
    attention_pair_repeats: int = 3
    attention_checkpoint_hours: int = 25
    # Outgoing e-mail for notifications (off when smtp_host is empty).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "khong-tra-loi@truonghocantoan.local"
    base_url: str = "http://127.0.0.1:5000"
    # Attachments: size limit and the types a focal point may upload.
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = (
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/msword",
        "text/plain",
    )
    hsts: bool = True
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (0: none).
    trusted_proxies: int = 0
    # Where the sealed attachments live ($CASEAPP_ATTACHMENTS; production must name it, it is
    # part of every backup). None: <instance>/attachments.
    attachments_path: Path | None = None
    # Operators: bearer token for /metrics (empty: /metrics answers 404); logs as JSON lines.
    metrics_token: str = ""
    log_json: bool = False
    # Self-reports from the public page (issue 14): the least time between showing the form
    # and sending it (a person reads and types; a script does not), how long a form stays
    # valid, how long the reply form of the follow page stays valid, and the throttles (per
    # address, and all addresses together for receipt-code guesses).
    selfreport_min_fill_seconds: int = 3
    selfreport_form_max_age_seconds: int = 2 * 60 * 60
    selfreport_reply_max_age_seconds: int = 60 * 60
    selfreport_guess_window_seconds: int = 15 * 60
    selfreport_guesses_per_address: int = 10
    selfreport_guesses_total: int = 1000
    selfreport_report_window_seconds: int = 60 * 60
    selfreport_reports_per_address: int = 5
    # The reporter's messages on the follow page: per report and day (and the photos in
    # them), and per address in the window.
    selfreport_messages_per_report_day: int = 10
    selfreport_message_photos_per_report_day: int = 6
    selfreport_message_window_seconds: int = 60 * 60
    selfreport_messages_per_address: int = 30
    extra: dict = field(default_factory=dict)

    @property
    def attachment_dir(self) -> Path:
        return self.attachments_path or self.instance_dir / "attachments"

    def flask_config(self) -> dict:
        return {
            "SECRET_KEY": self.secret_key,
            "TESTING": self.testing,
            "DEBUG": self.debug,
            "SESSION_COOKIE_NAME": "caseapp_session",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Strict",
            "SESSION_COOKIE_SECURE": self.secure_cookies,
            "PERMANENT_SESSION_LIFETIME": self.session_absolute_seconds,
            "REMEMBER_COOKIE_DURATION": 0,
            "WTF_CSRF_TIME_LIMIT": self.session_absolute_seconds,
            "WTF_CSRF_SSL_STRICT": self.secure_cookies,
            "MAX_CONTENT_LENGTH": self.attachment_max_bytes + 256 * 1024,
            "BABEL_DEFAULT_LOCALE": self.default_locale,
            "BABEL_DEFAULT_TIMEZONE": self.timezone,
            "JSON_SORT_KEYS": False,
        }


def _read_secret_file(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def _dev_secret(instance_dir: Path) -> str:
    """A development secret kept in instance/secret_key (mode 0600), made on first use."""
    path = instance_dir / "secret_key"
    # The instance directory holds the database, keyring and uploads: private to the owner.
    instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if instance_dir.stat().st_mode & 0o077 and instance_dir.stat().st_uid == os.getuid():
        instance_dir.chmod(0o700)  # made earlier by something with a wider umask
    if path.exists():
        return _read_secret_file(path)
    value = DEV_SECRET_MARKER + secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def _count(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{name} must be a whole number (it is {value!r})")
    return number


def _database_url(url: str, name: str = "DATABASE_URL") -> str:
    """The URL as SQLAlchemy needs it; a spelling it cannot use is refused with the fix."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "postgres":
        raise ConfigError(
            f"{name} starts with postgres://, which SQLAlchemy does not "
            "accept: write postgresql+psycopg://" + url.split("://", 1)[-1]
        )
    if scheme == "postgresql":
        return "postgresql+psycopg:" + url.split(":", 1)[1]  # psycopg 3 is the driver we ship
    if scheme not in ("postgresql+psycopg", "sqlite"):
        raise ConfigError(
            f"{name} scheme {scheme!r} is not supported: use "
            "postgresql+psycopg://USER@HOST/DATABASE or sqlite:///PATH"
        )
    return url


def _replica_url(url: str, primary: str, env: str) -> str:
    """DATABASE_REPLICA_URL checked like DATABASE_URL, and against it: the same database
    system (the replica is a copy of the primary); in production a PostgreSQL standby other
    than the primary itself."""
    url = _database_url(url, "DATABASE_REPLICA_URL")
    family = url.split(":", 1)[0].split("+", 1)[0]
    if family != primary.split(":", 1)[0].split("+", 1)[0]:
        raise ConfigError(
            "DATABASE_REPLICA_URL must name the same database system as DATABASE_URL "
            f"(a {family} replica of a {primary.split(':', 1)[0].split('+', 1)[0]} database)"
        )
    if env == "production":
        if family != "postgresql":
            raise ConfigError(
                "DATABASE_REPLICA_URL must name a PostgreSQL streaming standby in production "
                "(postgresql+psycopg://USER@HOST/DATABASE)"
            )
        if url == primary:
            raise ConfigError(
                "DATABASE_REPLICA_URL is DATABASE_URL itself: name the standby, or leave "
                "DATABASE_REPLICA_URL unset to read everything from the primary"
            )
    return url


def load_settings(
    env: str | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build the settings for ``env`` (default: $CASEAPP_ENV or development)."""
    if environ is None:
        environ = os.environ
    env = env or environ.get("CASEAPP_ENV", "development")
    instance_dir = Path(environ.get("CASEAPP_INSTANCE", DEFAULT_INSTANCE))
    if env == "development":
        settings = Settings(
            env=env,
            secret_key=environ.get("SECRET_KEY") or _dev_secret(instance_dir),
            database_url=environ.get("DATABASE_URL")
            or f"sqlite:///{instance_dir / 'caseapp.sqlite3'}",
            instance_dir=instance_dir,
            keyring_path=Path(environ.get("CASEAPP_KEYRING") or instance_dir / "keyring.json"),
            debug=False,
            secure_cookies=False,
            hsts=False,
        )
    elif env == "testing":
        settings = Settings(
            env=env,
            secret_key="testing-secret-key-" + secrets.token_hex(8),
            database_url=environ.get("CASEAPP_TEST_DB") or "sqlite://",
            instance_dir=instance_dir,
            keyring_path=Path(environ.get("CASEAPP_KEYRING") or instance_dir / "keyring.json"),
            testing=True,
            secure_cookies=False,
            hsts=False,
            # Cheap hashing keeps the suite fast; the production parameters are tested separately.
            argon2_time_cost=1,
            argon2_memory_kib=8,
            argon2_parallelism=1,
            # Tests post the public form at once; the fill-time test sets its own.
            selfreport_min_fill_seconds=0,
        )
    elif env == "production":
        secret = environ.get("SECRET_KEY", "")
        if not secret or secret.startswith(DEV_SECRET_MARKER) or len(secret) < 32:
            raise ConfigError(
                "SECRET_KEY must be a random value of 32 characters or more in production "
                "(make one: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        database_url = environ.get("DATABASE_URL")
        if not database_url:
            raise ConfigError(
                "DATABASE_URL must be set in production (postgresql+psycopg://USER@HOST/DATABASE)"
            )
        keyring = environ.get("CASEAPP_KEYRING")
        if not keyring:
            raise ConfigError(
                "CASEAPP_KEYRING must name the keyring file in production "
                "(for example /etc/caseapp/keyring.json, mode 0600)"
            )
        attachments = environ.get("CASEAPP_ATTACHMENTS")
        if not attachments:
            raise ConfigError(
                "CASEAPP_ATTACHMENTS must name the folder of sealed attachments "
                "in production (for example /var/lib/caseapp/attachments)"
            )
        settings = Settings(
            env=env,
            secret_key=secret,
            database_url=database_url,
            instance_dir=instance_dir,
            keyring_path=Path(keyring),
            attachments_path=Path(attachments),
            log_json=True,
        )
    else:
        raise ConfigError(f"CASEAPP_ENV is {env!r}: use development, testing or production")
    settings = replace(settings, database_url=_database_url(settings.database_url))
    if environ.get("DATABASE_REPLICA_URL"):
        settings = replace(
            settings,
            database_replica_url=_replica_url(
                environ["DATABASE_REPLICA_URL"], settings.database_url, env
            ),
        )
    if environ.get("CASEAPP_ATTACHMENTS") and settings.attachments_path is None:
        settings = replace(settings, attachments_path=Path(environ["CASEAPP_ATTACHMENTS"]))
    proxies = environ.get("CASEAPP_TRUSTED_PROXIES")
    if proxies:
        settings = replace(settings, trusted_proxies=_count("CASEAPP_TRUSTED_PROXIES", proxies))
    if environ.get("CASEAPP_METRICS_TOKEN"):
        token = environ["CASEAPP_METRICS_TOKEN"]
        if len(token) < 32:
            raise ConfigError(
                "CASEAPP_METRICS_TOKEN must be 32 characters or more (make one: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        settings = replace(settings, metrics_token=token)
    if environ.get("CASEAPP_REPLICA_LAG_WARN_SECONDS"):
        settings = replace(
            settings,
            replica_lag_warn_seconds=_count(
                "CASEAPP_REPLICA_LAG_WARN_SECONDS", environ["CASEAPP_REPLICA_LAG_WARN_SECONDS"]
            ),
        )
    if environ.get("CASEAPP_PREPARED_STATEMENTS"):
        kept = _count("CASEAPP_PREPARED_STATEMENTS", environ["CASEAPP_PREPARED_STATEMENTS"])
        if kept < 1:
            # psycopg would prepare each statement and deallocate it at once: two round trips
            # more for nothing.
            raise ConfigError("CASEAPP_PREPARED_STATEMENTS must be 1 or more (default 100)")
        settings = replace(settings, prepared_statements=kept)
    if environ.get("CASEAPP_AUDIT_EXPORT_MAX"):
        most = _count("CASEAPP_AUDIT_EXPORT_MAX", environ["CASEAPP_AUDIT_EXPORT_MAX"])
        if most < 1:
            raise ConfigError("CASEAPP_AUDIT_EXPORT_MAX must be 1 or more (default 100000)")
        settings = replace(settings, audit_export_max_events=most)
    if environ.get("CASEAPP_ATTENTION_CEILING"):
        settings = replace(
            settings,
            attention_read_ceiling=_count(
                "CASEAPP_ATTENTION_CEILING", environ["CASEAPP_ATTENTION_CEILING"]
            ),
        )
    if environ.get("CASEAPP_LOG_JSON") in ("0", "1"):
        settings = replace(settings, log_json=environ["CASEAPP_LOG_JSON"] == "1")
    mail: dict[str, Any] = {
        "smtp_host": environ.get("CASEAPP_SMTP_HOST"),
        "smtp_port": _count("CASEAPP_SMTP_PORT", environ["CASEAPP_SMTP_PORT"])
        if environ.get("CASEAPP_SMTP_PORT")
        else None,
        "smtp_starttls": environ.get("CASEAPP_SMTP_STARTTLS") == "1" or None,
        "smtp_username": environ.get("CASEAPP_SMTP_USERNAME"),
        "smtp_password": environ.get("CASEAPP_SMTP_PASSWORD"),
        "smtp_from": environ.get("CASEAPP_SMTP_FROM"),
        "base_url": environ.get("CASEAPP_BASE_URL"),
    }
    mail = {k: v for k, v in mail.items() if v is not None}
    if mail:
        settings = replace(settings, **mail)
    return replace(settings, **overrides) if overrides else settings
