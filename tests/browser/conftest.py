"""Real-browser tests: a live server on its own fresh database, driven by Debian's Chromium
through Playwright. No browser is ever downloaded.

Without /usr/bin/chromium or Playwright the tests are skipped, unless CASEAPP_REQUIRE_BROWSER=1
(CI sets it), in which case they fail. The accessibility checks (``assert_accessible``) need
axe-core from tests/browser/package-lock.json (``npm ci --prefix tests/browser``); without it
they are skipped with a warning, or fail under CASEAPP_REQUIRE_BROWSER=1."""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pytest

from caseapp import create_app, migrate
from tests.conftest import Database
from tests.factories import Person, make_unit, make_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0/2.1 A and AA, and axe's best practices (landmarks, one h1, heading order...);
# passing elements are not listed (one per rule), which keeps a long page quick.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations", "incomplete"],
}
AXE_FAILING = ("critical", "serious")
# "Needs review" results that fail all the same: a label (or ARIA reference) pointing at an id
# that two elements carry names only the first of them, and the other is left without a name.
AXE_FAILING_UNSURE = ("duplicate-id-aria",)
AXE_TARGETS_SHOWN = 3
AXE_RUN = """async ({options, unsure}) => {
  const summary = v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                         nodes: v.nodes.map(n => ({target: n.target}))});
  const results = await axe.run(document, options);
  return {violations: results.violations.map(summary),
          incomplete: results.incomplete.filter(v => unsure.includes(v.id)).map(summary)};
}"""
AXE_SECONDS: list[float] = []  # one entry per check, for the run's summary line


def _browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def _unavailable(reason: str):
    if os.environ.get("CASEAPP_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"CASEAPP_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}", pytrace=False
        )
    pytest.skip(f"browser tests skipped: {reason}")


@functools.cache
def axe_source() -> str | None:
    """axe.min.js, or None when it is not installed (read once per run)."""
    try:
        return AXE.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def axe_missing() -> str:
    return (
        f"axe-core is not installed ({AXE} is missing); with Node.js and npm, "
        "`npm ci --prefix tests/browser --no-audit --no-fund` installs it"
    )


@functools.cache
def _warn_axe_missing() -> None:
    """Once per run: every check is skipped for the same reason."""
    warnings.warn(f"accessibility checks skipped: {axe_missing()}", stacklevel=3)


def _describe(violation: dict) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
    shown = ", ".join(targets[:AXE_TARGETS_SHOWN])
    hidden = len(targets) - AXE_TARGETS_SHOWN
    more = f" (+{hidden} more)" if hidden > 0 else ""
    return (
        f"  {violation['id']} [{violation['impact']}] {violation['help']}: {shown}{more}\n"
        f"    {violation['helpUrl']}"
    )


def assert_accessible(page, name: str) -> None:
    """Run axe-core on ``page`` as it is now and fail on any serious or critical violation
    (minor and moderate ones are printed). axe is evaluated through the DevTools protocol,
    which the page's Content-Security-Policy does not govern: nothing is added to the page's
    markup and the app's CSP stays exactly as served."""
    source = axe_source()
    if source is None:
        if os.environ.get("CASEAPP_REQUIRE_BROWSER") == "1":
            pytest.fail(
                f"CASEAPP_REQUIRE_BROWSER=1 but the accessibility checks cannot run: "
                f"{axe_missing()}",
                pytrace=False,
            )
        _warn_axe_missing()
        return
    started = time.perf_counter()
    if not page.evaluate("() => typeof window.axe === 'object'"):  # once per document
        page.evaluate(f"{source}\n;undefined")  # the script's value is not to be called
    results = page.evaluate(AXE_RUN, {"options": AXE_OPTIONS, "unsure": AXE_FAILING_UNSURE})
    AXE_SECONDS.append(time.perf_counter() - started)
    failing = [v for v in results["violations"] if v["impact"] in AXE_FAILING]
    failing += [v for v in results["incomplete"] if v["id"] in AXE_FAILING_UNSURE]
    for violation in results["violations"]:
        if violation not in failing:
            print(f"accessibility of {name} ({page.url}), not failing:\n{_describe(violation)}")
    if failing:
        raise AssertionError(
            f"accessibility of {name} ({page.url}): {len(failing)} serious or critical "
            "violation(s)\n" + "\n".join(_describe(v) for v in failing)
        )


def pytest_terminal_summary(terminalreporter):
    if AXE_SECONDS:
        terminalreporter.write_line(
            f"accessibility checks: {len(AXE_SECONDS)} pages, {sum(AXE_SECONDS):.1f} s in axe-core"
        )


@dataclass
class LiveServer:
    url: str
    person: Person
    full_name: str
    # More seeded accounts by role: "district_focal" (a school of district BR-D),
    # "district_officer" (officer of BR-D), "auditor" and "admin" (of the province); unit codes
    # by name. BR-D is a district education office of before the two-tier reform of 1 July 2025
    # (open since 2020, not yet dissolved) with three schools open since 2020 ("district_school",
    # "district_school_2", "district_school_3"): what a reform moves to the communes.
    people: dict[str, Person] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    # The served app, for seeding through the services (inside app.app_context()).
    app: object = None

    def totp_code(self, person: Person) -> str:
        """A code the server accepts now for ``person``: newer than the last one they used.
        Tests sign the same people in several times within one 30-second step; when even the
        next step's code is used up, the person's last step is set back in the database, as if
        they had signed in a minute earlier, instead of waiting up to 30 s for the clock (that
        was 87 s of the browser suite). Replayed codes are refused in tests of their own
        (tests/functional/test_signin.py)."""
        from sqlalchemy import update

        from caseapp.db import get_session
        from caseapp.models import User
        from caseapp.security import totp

        with self.app.app_context():
            session = get_session()
            last = session.get(User, person.id).totp_last_counter or 0
            now = totp.current_counter()
            if last > now:
                # Core, not the ORM: the test's own shortcut, not a change the app audits.
                users = User.__table__
                session.connection().execute(
                    update(users).where(users.c.id == person.id).values(totp_last_counter=now - 1)
                )
                session.commit()
                last = now - 1
        return totp.code_at(person.totp_secret, max(now, last + 1))


def screenshot(page, name: str) -> None:
    """A full-page screenshot into $CASEAPP_SCREENSHOT_DIR, when set (for a human to look at)."""
    folder = os.environ.get("CASEAPP_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def sign_in(page, live: LiveServer, person: Person) -> None:
    """Password, then a fresh TOTP code; ends on the home page."""
    base = live.url
    page.goto(f"{base}/login")
    form = page.locator('form[action="/login"]')
    form.locator('input[name="username"]').fill(person.username)
    form.locator('input[name="password"]').fill(person.password)
    form.locator('button[type="submit"]').click()
    page.wait_for_url(f"{base}/login/2fa")
    form = page.locator('form[action="/login/2fa"]')
    form.locator('input[name="code"]').fill(live.totp_code(person))
    form.locator('button[type="submit"]').click()
    page.wait_for_url(f"{base}/")


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, launched through Playwright (never a downloaded browser)."""
    reason = _browser_missing()
    if reason:
        _unavailable(reason)
    from playwright.sync_api import Error, sync_playwright

    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
    except Error as exc:
        manager.stop()
        _unavailable(f"Chromium did not start: {exc}")
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture()
def page(chromium):
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def _seed(app) -> tuple[Person, str, dict[str, Person], dict[str, str]]:
    from caseapp.db import get_session
    from caseapp.runtime import keyring

    with app.app_context():
        s = get_session()
        province = make_unit(s, None, "BR-P", "province", "Sở Giáo dục tỉnh B")
        # Under the province's Department: an upper-secondary school.
        school = make_unit(s, province, "BR-SCH", "school", "Trường THPT Trình Duyệt")
        person = make_user(s, keyring(), "focal.browser", school, [("focal_point", school)])
        full_name = f"Person {person.username}"
        # History only: a district office may hold units dated before the reform.
        since = date(2020, 1, 1)
        district = make_unit(
            s, province, "BR-D", "district", "Phòng Giáo dục huyện Trình Duyệt", since
        )
        d_school = make_unit(s, district, "BR-DS", "school", "Trường THCS Thử Nghiệm", since)
        make_unit(s, district, "BR-DS2", "school", "Trường Tiểu học Thử Nghiệm", since)
        make_unit(s, district, "BR-DS3", "school", "Trường Mầm non Thử Nghiệm", since)
        people = {
            "district_focal": make_user(
                s, keyring(), "focal.district", d_school, [("focal_point", d_school)]
            ),
            "district_officer": make_user(
                s, keyring(), "officer.district", district, [("officer", district)]
            ),
            "auditor": make_user(
                s, keyring(), "auditor.province", province, [("auditor", province)]
            ),
            "admin": make_user(s, keyring(), "admin.province", province, [("admin", province)]),
        }
        s.commit()
    return (
        person,
        full_name,
        people,
        {
            "district": "BR-D",
            "district_school": "BR-DS",
            "district_school_2": "BR-DS2",
            "district_school_3": "BR-DS3",
        },
    )


@pytest.fixture(scope="session")
def live_server(settings, tmp_path_factory):
    """The app served over HTTP on 127.0.0.1 from a background thread, on its own database
    (created, migrated and seeded here; dropped afterwards)."""
    from werkzeug.serving import make_server

    database = Database(tmp_path_factory.mktemp("live-db"), "live")
    database.create()
    app = None
    server = thread = None
    try:
        app = create_app(replace(settings, database_url=database.url))
        migrate.upgrade(app.extensions["caseapp.engine"])
        person, full_name, people, units = _seed(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        yield LiveServer(
            f"http://127.0.0.1:{server.server_port}", person, full_name, people, units, app
        )
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        if app is not None:
            app.extensions["caseapp.engine"].dispose()
        database.drop()
