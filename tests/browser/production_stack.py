"""The production set-up of deploy/ on loopback, for tests: gunicorn started with
deploy/gunicorn.conf.py and the production settings, behind nginx running the shipped site
(deploy/nginx/caseapp.conf rendered onto free ports, with a self-signed certificate)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "caseapp.conf"
# The ${NAMES} of the shipped site, filled in at installation (see the file's header).
SITE_PLACEHOLDERS = (
    "SERVER_NAME",
    "HTTP_LISTEN",
    "HTTPS_LISTEN",
    "UPSTREAM",
    "LOG_DIR",
    "TLS_CERTIFICATE",
    "TLS_CERTIFICATE_KEY",
)
HOST = "127.0.0.1"
START_SECONDS = 60


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_missing() -> str | None:
    """Why nginx cannot run here, or None."""
    if nginx_binary() is None:
        return "nginx is missing (apt-get install -y nginx)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (IP address in the SAN); key mode 0600."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def render_site(values: dict[str, str]) -> str:
    """The shipped nginx site with its placeholders filled (nginx's own $variables kept)."""
    missing = set(SITE_PLACEHOLDERS) - set(values)
    assert not missing, f"no value for {sorted(missing)}"
    text = string.Template(NGINX_SITE.read_text(encoding="utf-8")).safe_substitute(values)
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    left = [name for name in SITE_PLACEHOLDERS if "${" + name + "}" in body]
    assert not left, f"placeholders left in the rendered site: {left}"
    return text


@dataclass
class Nginx:
    """nginx with everything (pid, logs, temp files) under ``prefix``."""

    prefix: Path
    https_port: int
    http_port: int
    upstream: str
    cert: Path
    key: Path
    conf: Path = field(init=False)

    def __post_init__(self) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "logs").mkdir(exist_ok=True)
        site = self.prefix / "caseapp.conf"
        site.write_text(
            render_site(
                {
                    "SERVER_NAME": HOST,
                    "HTTP_LISTEN": f"{HOST}:{self.http_port}",
                    "HTTPS_LISTEN": f"{HOST}:{self.https_port}",
                    "UPSTREAM": self.upstream,
                    "LOG_DIR": str(self.prefix / "logs"),
                    "TLS_CERTIFICATE": str(self.cert),
                    "TLS_CERTIFICATE_KEY": str(self.key),
                }
            ),
            encoding="utf-8",
        )
        p = self.prefix
        # As root, workers would switch to nobody, who cannot read the key in a private tmp.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = p / "nginx.conf"
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log notice;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {p}/access.log;\n"
            f"    client_body_temp_path {p}/client_body;\n"
            f"    proxy_temp_path {p}/proxy;\n"
            f"    fastcgi_temp_path {p}/fastcgi;\n"
            f"    uwsgi_temp_path {p}/uwsgi;\n"
            f"    scgi_temp_path {p}/scgi;\n"
            f"    include {site};\n"
            "}\n",
            encoding="utf-8",
        )

    def command(self, *extra: str) -> list[str]:
        return [
            nginx_binary() or "nginx",
            "-p",
            str(self.prefix),
            "-e",
            str(self.prefix / "error.log"),
            "-c",
            str(self.conf),
            *extra,
        ]

    def check(self) -> subprocess.CompletedProcess:
        """``nginx -t`` on the rendered configuration."""
        return subprocess.run(
            self.command("-t"), capture_output=True, text=True, timeout=30, check=False
        )

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """End a process we started, waiting for it; kill it if it does not go."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def production_environ(**values: str) -> dict[str, str]:
    """The test process's environment without any app setting of its own, plus ``values``."""
    dropped = (
        "CASEAPP_",
        "DATABASE_URL",
        "SECRET_KEY",
        "PROMETHEUS_MULTIPROC_DIR",
        "TEST_DATABASE_URL",
        "WEB_CONCURRENCY",
        "FORWARDED_ALLOW_IPS",
        "GUNICORN_",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(values, PYTHONUNBUFFERED="1")
    return env


@dataclass
class Stack:
    """Everything the production tests need to reach and inspect the running service."""

    base: str  # https://127.0.0.1:PORT, through nginx
    http_base: str  # the plain-HTTP side of nginx (redirects only)
    cert: Path
    attachments: Path
    database_url: str
    metrics_token: str
    gunicorn_log: Path
    nginx: Nginx
    processes: list[subprocess.Popen] = field(default_factory=list)
    person: object = None  # the seeded focal point (tests.factories.Person)
    engine: object = None  # on the service's database, for checks behind the app's back

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the test certificate, as a client should."""
        return ssl.create_default_context(cafile=str(self.cert))

    def get(self, path: str, headers: dict | None = None):
        """GET through nginx; returns (status, headers, body text)."""
        request = urllib.request.Request(  # noqa: S310 - https only
            self.base + path,
            headers=headers or {},
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - https only
                request,
                context=self.tls_context(),
                timeout=10,
            ) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode(errors="replace")

    def logs(self) -> str:
        return (
            f"--- gunicorn\n{tail(self.gunicorn_log)}\n--- nginx\n"
            f"{tail(self.nginx.prefix / 'error.log')}"
        )


def start_gunicorn(env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - the child keeps writing to it
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    finally:
        handle.close()


def wait_until_healthy(stack: Stack) -> None:
    deadline = time.monotonic() + START_SECONDS
    last = None
    while time.monotonic() < deadline:
        for process in stack.processes:
            if process.poll() is not None:
                raise AssertionError(
                    f"{process.args[0]} exited with {process.returncode} "
                    f"before the service was up\n{stack.logs()}"
                )
        try:
            status, _, body = stack.get("/healthz")
            last = f"{status} {body[:200]}"
            if status == 200:
                return
        except OSError as exc:  # nginx not listening yet
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(
        f"/healthz through nginx did not answer 200 within {START_SECONDS} s "
        f"(last: {last})\n{stack.logs()}"
    )


def new_secret(length: int = 48) -> str:
    return secrets.token_urlsafe(length)
