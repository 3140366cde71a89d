"""The development database (an SQLite file under instance/) is readable by its owner only,
like the keyring and the secret key beside it: it holds every case's metadata."""

from __future__ import annotations

from caseapp import create_app, migrate
from config import load_settings


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path, monkeypatch):
    import os
    import stat

    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    path = tmp_path / "owner.sqlite3"
    app = create_app(
        load_settings(
            "testing",
            environ={"CASEAPP_TEST_DB": f"sqlite:///{path}", "CASEAPP_INSTANCE": str(tmp_path)},
        )
    )
    engine = app.extensions["caseapp.engine"]
    old = os.umask(0o022)
    try:
        migrate.upgrade(engine)
        engine.dispose()
        with engine.connect():
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    engine.dispose()


def test_a_development_instance_directory_is_made_private(tmp_path):
    """An instance directory left readable by others (made earlier with a wide umask) is
    closed when the development settings are loaded."""
    import os
    import stat

    from config import load_settings as load

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    os.chmod(instance, 0o755)  # noqa: S103 - the wide mode under test
    load("development", environ={"CASEAPP_INSTANCE": str(instance)})
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600
