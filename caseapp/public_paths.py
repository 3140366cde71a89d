"""Which request paths are the public self-report pages (/r, /r/...), whatever route (or none)
answers them: a 404 or 405 under /r must keep the same promises as the pages themselves (no
cookie, no request id, no path in a log line, no referrer).

Imports nothing from the app: gunicorn's hooks use it too."""

from __future__ import annotations

PREFIX = "/r"


def normalised(path: str) -> str:
    """The path with repeated leading slashes folded into one ("//r/x" is "/r/x")."""
    path = path or ""
    return "/" + path.lstrip("/") if path.startswith("/") else path


def is_public_path(path: str) -> bool:
    """Whether a request path is one of the public self-report pages, routed or not."""
    path = normalised(path)
    return path == PREFIX or path.startswith(PREFIX + "/")


# How a log line names any path under /r (the school code and the rest never appear).
LOGGED = "/r/…"


def logged_path(path: str) -> str:
    """The path as a log line may show it: "/r/…" for the public pages, else as it is."""
    return LOGGED if is_public_path(path) else path[:500]
