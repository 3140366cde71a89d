"""DATABASE_REPLICA_URL: optional, checked like DATABASE_URL and against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings

PRIMARY = "postgresql+psycopg://app@primary/caseapp"


def _env(tmp_path: Path, env: str = "development", **values: str) -> dict[str, str]:
    base = {
        "CASEAPP_ENV": env,
        "CASEAPP_INSTANCE": str(tmp_path / "instance"),
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": PRIMARY,
        "CASEAPP_KEYRING": str(tmp_path / "keyring.json"),
        "CASEAPP_ATTACHMENTS": str(tmp_path / "files"),
    }
    return {**base, **values}


def test_unset_means_everything_reads_the_primary(tmp_path):
    settings = load_settings(environ=_env(tmp_path))
    assert settings.database_replica_url == ""
    assert settings.replica_lag_warn_seconds == 300


@pytest.mark.parametrize("env", ["development", "production"])
def test_a_standby_url_is_taken_in_the_driver_spelling(tmp_path, env):
    settings = load_settings(
        environ=_env(tmp_path, env, DATABASE_REPLICA_URL="postgresql://app@standby/caseapp")
    )
    assert settings.database_replica_url == "postgresql+psycopg://app@standby/caseapp"


@pytest.mark.parametrize(
    ("env", "values", "expected"),
    [
        (
            "development",
            {"DATABASE_REPLICA_URL": "postgres://app@standby/caseapp"},
            "DATABASE_REPLICA_URL starts with postgres://",
        ),
        (
            "development",
            {"DATABASE_REPLICA_URL": "mysql://app@standby/caseapp"},
            "DATABASE_REPLICA_URL scheme 'mysql' is not supported",
        ),
        (
            "development",
            {"DATABASE_REPLICA_URL": "sqlite:///copy.sqlite3"},
            "same database system as DATABASE_URL",
        ),
        (
            "development",
            {"DATABASE_URL": "sqlite:///main.sqlite3", "DATABASE_REPLICA_URL": PRIMARY},
            "same database system as DATABASE_URL",
        ),
        (
            "production",
            {
                "DATABASE_URL": "sqlite:///main.sqlite3",
                "DATABASE_REPLICA_URL": "sqlite:///copy.sqlite3",
            },
            "PostgreSQL streaming standby in production",
        ),
        (
            "production",
            {"DATABASE_REPLICA_URL": "postgresql://app@primary/caseapp"},
            "DATABASE_REPLICA_URL is DATABASE_URL itself",
        ),
        (
            "development",
            {"DATABASE_REPLICA_URL": "postgresql://s/x", "CASEAPP_REPLICA_LAG_WARN_SECONDS": "-1"},
            "CASEAPP_REPLICA_LAG_WARN_SECONDS must be a whole number",
        ),
    ],
)
def test_a_replica_url_that_cannot_serve_is_refused(tmp_path, env, values, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings(environ=_env(tmp_path, env, **values))


def test_sqlite_copies_serve_development_and_the_warning_is_set(tmp_path):
    settings = load_settings(
        environ=_env(
            tmp_path,
            DATABASE_URL="sqlite:///main.sqlite3",
            DATABASE_REPLICA_URL="sqlite:///copy.sqlite3",
            CASEAPP_REPLICA_LAG_WARN_SECONDS="60",
        )
    )
    assert settings.database_replica_url == "sqlite:///copy.sqlite3"
    assert settings.replica_lag_warn_seconds == 60


def test_the_prepared_statements_kept_per_connection(tmp_path):
    """CASEAPP_PREPARED_STATEMENTS (caseapp/prepared_statements.py): psycopg's 100 unless set."""
    assert load_settings(environ=_env(tmp_path)).prepared_statements == 100
    settings = load_settings(environ=_env(tmp_path, CASEAPP_PREPARED_STATEMENTS="2000"))
    assert settings.prepared_statements == 2000
    for wrong in ("many", "-1", "1.5"):
        with pytest.raises(ConfigError, match="CASEAPP_PREPARED_STATEMENTS must be a whole"):
            load_settings(environ=_env(tmp_path, CASEAPP_PREPARED_STATEMENTS=wrong))
    with pytest.raises(ConfigError, match="CASEAPP_PREPARED_STATEMENTS must be 1 or more"):
        load_settings(environ=_env(tmp_path, CASEAPP_PREPARED_STATEMENTS="0"))


def test_the_most_events_one_audit_export_carries(tmp_path):
    """CASEAPP_AUDIT_EXPORT_MAX (caseapp/audit/views.export_csv): 100,000 unless set."""
    assert load_settings(environ=_env(tmp_path)).audit_export_max_events == 100_000
    settings = load_settings(environ=_env(tmp_path, "production", CASEAPP_AUDIT_EXPORT_MAX="5000"))
    assert settings.audit_export_max_events == 5000
    for wrong in ("all", "-1", "1e6"):
        with pytest.raises(ConfigError, match="CASEAPP_AUDIT_EXPORT_MAX must be a whole"):
            load_settings(environ=_env(tmp_path, CASEAPP_AUDIT_EXPORT_MAX=wrong))
    with pytest.raises(ConfigError, match="CASEAPP_AUDIT_EXPORT_MAX must be 1 or more"):
        load_settings(environ=_env(tmp_path, CASEAPP_AUDIT_EXPORT_MAX="0"))
