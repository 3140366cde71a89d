"""The files of deploy/ as shipped: nginx accepts the site, systemd the unit, the env example
makes valid production settings, the cron jobs name real commands and run, gunicorn's config
stops on a bad setting, and the compose trial is well formed."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from caseapp.intake.forms import REQUEST_BYTES_MAX
from caseapp.models.equality import MATERIAL_BYTES_MAX
from caseapp.models.selfreports import PHOTO_BYTES_MAX
from config import load_settings
from tests.browser.conftest import _unavailable
from tests.browser.production_stack import (
    DEPLOY,
    NGINX_SITE,
    ROOT,
    SITE_PLACEHOLDERS,
    Nginx,
    free_port,
    make_certificate,
    new_secret,
    nginx_missing,
    production_environ,
)

UNIT = DEPLOY / "caseapp.service"
ENV_EXAMPLE = DEPLOY / "caseapp.env.example"
CRON = DEPLOY / "cron" / "caseapp"
WRAPPER = DEPLOY / "caseapp-flask"
INSTALL_DIR = "/opt/caseapp"  # where the unit and the cron file expect the checkout


def _size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def _directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, flags=re.M)


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(\S*)", line)
        assert match, f"not a plain NAME=value line (systemd and sh must agree): {line!r}"
        values[match[1]] = match[2]
    return values


def _testing_settings(tmp_path: Path):
    return load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path / "instance")})


# nginx ---------------------------------------------------------------------------------------


def test_nginx_accepts_the_shipped_site(tmp_path):
    reason = nginx_missing()
    if reason:
        _unavailable(reason)
    cert, key = make_certificate(tmp_path / "tls")
    nginx = Nginx(tmp_path / "nginx", free_port(), free_port(), "127.0.0.1:8000", cert, key)
    result = nginx.check()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test is successful" in output
    assert "[warn]" not in output and "[emerg]" not in output, output


def test_nginx_site_fits_the_app_and_gunicorn(tmp_path):
    site = NGINX_SITE.read_text(encoding="utf-8")
    for name in SITE_PLACEHOLDERS:
        assert "${" + name + "}" in site, f"${{{name}}} is documented but not used"
    assert set(re.findall(r"\$\{([A-Z_]+)\}", site)) <= {*SITE_PLACEHOLDERS, "UPPER_CASE"}

    # Uploads the app accepts pass nginx, and stay in memory on the way (no plaintext in
    # nginx's temp files, in either direction).
    app_limit = _testing_settings(tmp_path).flask_config()["MAX_CONTENT_LENGTH"]
    body_limit, *public_limits = _directive(site, "client_max_body_size")
    assert app_limit <= _size(body_limit) <= app_limit + 2 * 1024 * 1024
    buffer, *public_buffers = _directive(site, "client_body_buffer_size")
    assert _size(buffer) >= _size(body_limit)
    # The self-report pages take 3 photos of 8 MiB (caseapp.intake.forms.REQUEST_BYTES_MAX),
    # in both /r locations, in memory too.
    assert len(public_limits) == len(public_buffers) == 2
    for limit, kept in zip(public_limits, public_buffers, strict=True):
        assert REQUEST_BYTES_MAX <= _size(limit) <= REQUEST_BYTES_MAX + 2 * 1024 * 1024
        assert _size(kept) >= _size(limit)
    assert _directive(site, "proxy_max_temp_file_size") == ["0"]
    # Downloads the other way: nginx takes the biggest file the app serves (an attachment, a
    # self-report photo, a training material) and its headers whole, in memory, so a slow
    # phone never holds a worker (tests/browser/test_production_proxy.py tries it).
    (buffers,) = _directive(site, "proxy_buffers")
    count, size = buffers.split()
    (first,) = _directive(site, "proxy_buffer_size")
    biggest = max(
        _testing_settings(tmp_path).attachment_max_bytes, PHOTO_BYTES_MAX, MATERIAL_BYTES_MAX
    )
    assert int(count) * _size(size) >= biggest + _size(first)

    assert _directive(site, "ssl_protocols") == ["TLSv1.2 TLSv1.3"]
    assert _directive(site, "server_tokens") == ["off", "off"]
    assert _directive(site, "proxy_cache") == ["off"]
    # The app's CSRF check compares the Referer with the Host it is given: the browser's own.
    assert "proxy_set_header Host $http_host" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme" in site
    # The self-report pages (/r, /r/...): proxied, never in nginx's access log (issue 14).
    for location in (r"location = /r \{", r"location /r/ \{"):
        block = re.search(location + r"(.*?)\}", site, flags=re.S)
        assert block, location
        assert "access_log off;" in block.group(1)
        # nginx's error lines name the client's address and the full URI: none kept here.
        assert "error_log /dev/null emerg;" in block.group(1)
        assert "proxy_pass http://caseapp;" in block.group(1)
    metrics = re.search(r"location = /metrics \{(.*?)\}", site, flags=re.S)
    assert metrics and "deny all;" in metrics.group(1)

    # nginx waits longer than gunicorn's worker timeout, so that gunicorn decides.
    gunicorn_conf = (DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8")
    worker_timeout = int(re.search(r"^timeout = (\d+)$", gunicorn_conf, flags=re.M).group(1))
    (read_timeout,) = _directive(site, "proxy_read_timeout")
    assert int(read_timeout.rstrip("s")) > worker_timeout


# gunicorn ------------------------------------------------------------------------------------


def _gunicorn_config(env: dict[str, str]) -> dict[str, str]:
    """The settings gunicorn prints for the shipped config in ``env``."""
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(DEPLOY / "gunicorn.conf.py"),
            "--print-config",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", printed.stdout, flags=re.M))


def test_gunicorn_config_loads_and_stops_on_a_bad_setting(tmp_path):
    """The shipped config as systemd starts it; a short SECRET_KEY must stop the service with
    exit code 4 and one line, not a restart loop of workers or a traceback."""
    config = _gunicorn_config(production_environ(CASEAPP_WORKERS="3"))
    assert config["bind"] == "['127.0.0.1:8000']"
    assert config["workers"] == "3"
    assert config["worker_class"] == "sync"
    assert config["forwarded_allow_ips"] == "['127.0.0.1', '::1']"
    assert config["accesslog"] == "-"
    assert config.get("control_socket_disable", "True") == "True"
    assert config["access_log_format"].startswith("{")  # JSON lines
    # The logger that writes /r/... requests without address or path (test_observability.py).
    assert "JsonAccessLogger" in config["logger_class"]

    keyring = tmp_path / "keyring.json"
    from caseapp.security.keyring import Keyring

    Keyring.generate(keyring).save()
    env = production_environ(
        CASEAPP_ENV="production",
        SECRET_KEY="too-short",
        DATABASE_URL=f"sqlite:///{tmp_path}/db",
        CASEAPP_KEYRING=str(keyring),
        CASEAPP_ATTACHMENTS=str(tmp_path),
        CASEAPP_INSTANCE=str(tmp_path / "instance"),
        CASEAPP_BIND=f"127.0.0.1:{free_port()}",
        CASEAPP_WORKERS="2",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert time.monotonic() - started < 30
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if "SECRET_KEY" in line], output


def test_gunicorn_keeps_workers_beyond_the_cores_by_default():
    """Without CASEAPP_WORKERS (or WEB_CONCURRENCY) gunicorn runs 2 x cores + 1 sync workers,
    at most 8: a request that waits (a database on another host, a slow client of an answer
    bigger than nginx's buffers) must not leave every other request queued behind it."""
    config = _gunicorn_config(production_environ())
    assert config["workers"] == str(min(2 * len(os.sched_getaffinity(0)) + 1, 8))


# systemd -------------------------------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, empty_lines_in_values=False
    )
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_systemd_unit_has_what_the_service_needs():
    unit = _unit()
    service = unit["Service"]
    assert service["User"] == "caseapp"
    assert service["EnvironmentFile"] == "/etc/caseapp/caseapp.env"
    assert service["WorkingDirectory"] == INSTALL_DIR
    command = shlex.split(service["ExecStart"])
    assert command[0] == f"{INSTALL_DIR}/.venv/bin/gunicorn"
    assert command[command.index("--config") + 1] == f"{INSTALL_DIR}/deploy/gunicorn.conf.py"
    assert "--no-control-socket" in command and command[-1] == "wsgi:app"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "UMask": "0077",
        "LimitCORE": "0",  # a dump would put the keyring and case content on disk
        "Restart": "on-failure",
        "Type": "notify",
    }.items():
        assert service.get(key) == value, key
    # The attachments (and everything else the app writes) are under the writable path.
    writable = service["ReadWritePaths"].split()
    settings = _env_example()
    for name in ("CASEAPP_ATTACHMENTS", "CASEAPP_INSTANCE"):
        assert any(settings[name].startswith(path.rstrip("/") + "/") for path in writable), name
    assert settings["PROMETHEUS_MULTIPROC_DIR"] == f"/run/{service['RuntimeDirectory']}"
    # Migrations are an operator's step, never a side effect of a restart.
    assert "ExecStartPre" not in service


def test_systemd_accepts_the_unit(tmp_path):
    """systemd-analyze verify, with the checkout standing in for /opt/caseapp (it checks that
    the programs named exist)."""
    analyze = shutil.which("systemd-analyze")
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    if analyze is None or not gunicorn.exists():
        pytest.skip(
            "systemd-analyze or .venv/bin/gunicorn missing: the configparser-level "
            "check above stands in"
        )
    unit = tmp_path / "caseapp.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace(INSTALL_DIR, str(ROOT)), encoding="utf-8"
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    mentions = [
        line for line in (result.stdout + result.stderr).splitlines() if "caseapp.service" in line
    ]
    assert result.returncode == 0 and not mentions, result.stdout + result.stderr


# the settings --------------------------------------------------------------------------------


def test_env_example_makes_valid_production_settings():
    values = _env_example()
    # sh (deploy/caseapp-flask) reads the same values as systemd's EnvironmentFile.
    sourced = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; env -0', "sh", str(ENV_EXAMPLE)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    from_sh = dict(item.split("=", 1) for item in sourced.split("\0") if "=" in item)
    assert {k: from_sh.get(k) for k in values} == values
    assert values["CASEAPP_ENV"] == "production"
    assert values["SECRET_KEY"] == ""  # the operator must make one
    with pytest.raises(Exception, match="SECRET_KEY"):
        load_settings(environ=values)
    filled = dict(values, SECRET_KEY=new_secret(), CASEAPP_METRICS_TOKEN=new_secret(32))
    settings = load_settings(environ=filled)
    assert settings.env == "production"
    assert str(settings.attachment_dir) == values["CASEAPP_ATTACHMENTS"]
    assert settings.trusted_proxies == 1
    assert settings.database_url.startswith("postgresql+psycopg://")
    # Every name in the example is read by something we ship.
    readers = "".join(
        p.read_text(encoding="utf-8")
        for p in (
            ROOT / "config" / "__init__.py",
            DEPLOY / "gunicorn.conf.py",
            ROOT / "caseapp" / "observability" / "gunicorn_hooks.py",
        )
    )
    unread = [name for name in values if name not in readers]
    assert not unread, f"settings nobody reads: {unread}"


def test_readme_production_section_names_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Production", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in _env_example() if name not in section]
    assert not missing, f"README's Production section does not explain {missing}"
    for path in (
        "deploy/caseapp.service",
        "deploy/nginx/caseapp.conf",
        "deploy/cron/caseapp",
        "deploy/gunicorn.conf.py",
        "deploy/caseapp.env.example",
        "deploy/compose.yaml",
    ):
        assert path in section, path


# cron ----------------------------------------------------------------------------------------

CRON_FIELD = re.compile(r"\*(/\d+)?|\d+(-\d+)?(/\d+)?(,\d+(-\d+)?(/\d+)?)*")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron() -> tuple[dict[str, str], list[tuple[list[str], str, str]]]:
    env, jobs = {}, []
    for line in CRON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Z_]+)=(\S+)", line)
        if assignment:
            env[assignment[1]] = assignment[2]
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"not 'm h dom mon dow user command': {line!r}"
        jobs.append((fields[:5], fields[5], fields[6]))
    return env, jobs


def _as_shell(command: str) -> str:
    """What cron hands to the shell: an unescaped % would end the command there."""
    assert not re.search(r"(?<!\\)%", command), f"unescaped % in {command!r}"
    return command.replace("\\%", "%")


def _invocations(command: str) -> list[list[str]]:
    words = shlex.split(_as_shell(command))
    found = []
    for i, word in enumerate(words):
        if word.endswith("/deploy/caseapp-flask"):
            assert word == f"{INSTALL_DIR}/deploy/caseapp-flask", word
            args = []
            for arg in words[i + 1 :]:
                if arg in ("&&", "||", ";", "|") or arg.startswith(">") or arg.startswith("2>"):
                    break
                args.append(arg)
            found.append(args)
    return found


def _resolve(group: click.Group, args: list[str]) -> str:
    """The name of the command ``args`` runs in the app's CLI (its options must exist too)."""
    ctx = click.Context(group)
    command: click.Command = group
    words, path = list(args), []
    while isinstance(command, click.Group):
        assert words, f"{args}: names a group, not a command"
        path.append(words.pop(0))
        sub = command.get_command(ctx, path[-1])
        assert sub is not None, f"flask --app wsgi {' '.join(args)}: no command {path[-1]!r}"
        command = sub
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in words:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in options, f"{args}: {command.name} has no {word}"
    return " ".join(path)


def test_cron_file_is_well_formed_and_names_real_commands(tmp_path):
    from caseapp import create_app

    env, jobs = _cron()
    assert {"SHELL", "PATH", "OFFSITE"} <= set(env)
    assert jobs
    app = create_app(_testing_settings(tmp_path))
    named = set()
    for schedule, user, command in jobs:
        assert user == "caseapp"
        for field, (low, high) in zip(schedule, CRON_RANGES, strict=True):
            assert CRON_FIELD.fullmatch(field), f"bad cron field {field!r}"
            for number in re.findall(r"\d+", field.split("/")[0]):
                assert low <= int(number) <= high, f"{field!r} out of {low}-{high}"
        syntax = subprocess.run(
            ["sh", "-n", "-c", _as_shell(command)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert syntax.returncode == 0, syntax.stderr
        named.update(_resolve(app.cli, args) for args in _invocations(command))
    assert named >= {
        "notify send-due",
        "audit checkpoint",
        "audit verify",
        "audit attention",
        "backup",
    }
    assert os.access(WRAPPER, os.X_OK), "deploy/caseapp-flask must be executable"
    assert subprocess.run(["sh", "-n", str(WRAPPER)], check=False).returncode == 0


def test_cron_jobs_run_with_the_example_settings(tmp_path):
    """Each job as cron runs it, through deploy/caseapp-flask and an env file made from the
    example, on a SQLite database: checkpoint off the server, verify against the latest one,
    back up with rotation, send what is due."""
    from caseapp import create_app, migrate
    from caseapp.db import get_session, make_engine
    from caseapp.security.keyring import Keyring
    from tests.factories import make_unit

    if not (ROOT / ".venv" / "bin" / "flask").exists():
        pytest.skip("the jobs run .venv/bin/flask of the checkout, which is missing")
    keyring, db = tmp_path / "keyring.json", tmp_path / "caseapp.sqlite3"
    Keyring.generate(keyring).save()
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    seeding = create_app(
        load_settings(
            "testing",
            environ={
                "CASEAPP_INSTANCE": str(tmp_path / "seed"),
                "CASEAPP_TEST_DB": url,
                "CASEAPP_KEYRING": str(keyring),
            },
        )
    )
    with seeding.app_context():
        make_unit(get_session(), None, "CRON-P", "province", "Sở Giáo dục tỉnh Cron")
        get_session().commit()
    seeding.extensions["caseapp.engine"].dispose()

    chosen = {
        "SECRET_KEY": new_secret(),
        "DATABASE_URL": url,
        "CASEAPP_KEYRING": str(keyring),
        "CASEAPP_ATTACHMENTS": str(tmp_path / "attachments"),
        "CASEAPP_INSTANCE": str(tmp_path / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "attachments").mkdir(mode=0o700)
    values = _env_example()
    assert set(chosen) <= set(values)
    env_file = tmp_path / "caseapp.env"
    env_file.write_text(
        "".join(f"{k}={chosen.get(k, v)}\n" for k, v in values.items()), encoding="utf-8"
    )

    offsite = tmp_path / "offsite"
    for folder in ("checkpoints", "backups"):
        (offsite / folder).mkdir(parents=True)
    stale = offsite / "backups" / "20000101"
    stale.mkdir()
    old = time.time() - 40 * 86400
    os.utime(stale, (old, old))

    cron_env, jobs = _cron()
    shell_env = production_environ(
        **dict(cron_env, OFFSITE=str(offsite), CASEAPP_ENV_FILE=str(env_file))
    )
    shell_env["PATH"] = os.environ["PATH"]  # pg_dump and friends wherever this machine has them
    app = create_app(_testing_settings(tmp_path))
    by_name = {_resolve(app.cli, _invocations(command)[0]): command for _, _, command in jobs}
    # The checkpoint first, so that the nightly verify has one to hold the trail against.
    order = sorted(by_name, key=lambda name: name != "audit checkpoint")
    for name in order:
        command = _as_shell(by_name[name]).replace(INSTALL_DIR, str(ROOT))
        result = subprocess.run(
            ["sh", "-c", command],
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr

    checkpoints = list((offsite / "checkpoints").iterdir())
    assert len(checkpoints) == 1 and checkpoints[0].stat().st_size > 0
    assert checkpoints[0].stat().st_mode & 0o077 == 0
    backups = sorted(p.name for p in (offsite / "backups").iterdir())
    assert backups == [time.strftime("%Y%m%d", time.gmtime())], backups


# compose -------------------------------------------------------------------------------------


def test_compose_trial_is_well_formed():
    yaml = pytest.importorskip("yaml", reason="pyyaml (a dev dependency) is not installed")
    raw = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    # Compose interpolates ${NAME}; the only value it must be given is the secret key.
    assert set(re.findall(r"(?<!\$)\$\{([A-Za-z_]+)", raw)) == {"SECRET_KEY"}
    compose = yaml.safe_load(raw)
    services = compose["services"]
    assert set(services) == {"db", "init", "app", "nginx"}
    assert services["db"]["image"] == "postgres:15"
    app = services["app"]
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "wsgi:app"]' in dockerfile
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), f"the Dockerfile copies {name}, which is missing"
    assert app["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["init"]["depends_on"]["db"]["condition"] == "service_healthy"

    # The app's environment makes valid production settings.
    environ = {k: str(v) for k, v in app["environment"].items()}
    assert environ["SECRET_KEY"].startswith("${SECRET_KEY:?")
    environ["SECRET_KEY"] = new_secret()
    settings = load_settings(environ=environ)
    assert settings.env == "production" and settings.trusted_proxies == 1

    # nginx renders the shipped site, with values for exactly its placeholders.
    nginx = services["nginx"]
    sources = {volume.split(":")[0]: volume.split(":")[1] for volume in nginx["volumes"]}
    assert (DEPLOY / "nginx" / "caseapp.conf").resolve() == (
        DEPLOY
        / next(s for s, target in sources.items() if target.startswith("/etc/nginx/templates/"))
    ).resolve()
    env = nginx["environment"]
    assert set(SITE_PLACEHOLDERS) <= set(env)
    pattern = re.compile(env["NGINX_ENVSUBST_FILTER"].replace("$$", "$"))
    assert {name for name in env if pattern.search(name)} == set(SITE_PLACEHOLDERS)
    host, port = env["UPSTREAM"].split(":")
    assert host == "app" and environ["CASEAPP_BIND"] == f"0.0.0.0:{port}"
