"""Addresses the lists that show many build (the case list, my work, monitoring): each route
is built once per request and each row adds its own part to it, instead of one build of the
route per row (fifty a page of the case list, three a school on the monitoring page). The
addresses are url_for's own (tests/functional/test_case_links.py compares them)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import request, url_for

from caseapp.cases import bp

_MARKER = "0" * 36  # a public id's length: the route's own part is what precedes it


# Encoded as werkzeug's url_for encodes them: a path segment (BaseConverter.to_url), query
# values (urls._urlencode).
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"


def _built(name: str, endpoint: str, **values) -> str:
    """``url_for(endpoint, **values)``, built once per request (kept with the request itself:
    an application context, and ``g`` with it, may outlive one)."""
    built = request.environ.setdefault("caseapp.routes_built", {})
    link = built.get(name)
    if link is None:
        link = built[name] = url_for(endpoint, **values)
    return link


@bp.app_template_filter("case_href")
def case_href(public_id: str) -> str:
    """``url_for("cases.show", public_id=public_id)``, the same address."""
    link = _built("case_href_route", "cases.show", public_id=_MARKER)
    if not link.endswith(_MARKER):
        raise RuntimeError(f"the case route no longer ends with its public id: {link}")
    return link[: -len(_MARKER)] + quote(str(public_id), safe=_PATH_SAFE)


@bp.app_template_global("case_list_href")
def case_list_href(**args: str | None) -> str:
    """``url_for("cases.index", **args)``: the case list filtered by ``args`` (None: left out)."""
    query = urlencode([(k, v) for k, v in args.items() if v is not None], safe=_QUERY_SAFE)
    return _built("case_list_route", "cases.index") + ("?" + query if query else "")
