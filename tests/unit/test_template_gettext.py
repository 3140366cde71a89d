"""caseapp.i18n: a template's _() and gettext() in one call (template_gettext) give what Jinja's
newstyle gettext gives with Flask-Babel's callable (installed the documented way in a second
environment), for every text and variables, escaped or not, in each language and under
force_locale; the translations kept per locale (KeptDomain) are Flask-Babel's own, and the views'
gettext and the forms' lazy labels follow the language as before."""

from __future__ import annotations

import pytest
from flask_babel import Domain, force_locale, get_translations, gettext, lazy_gettext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment

from caseapp.extensions import babel
from caseapp.i18n import KeptDomain, template_gettext

SOURCES = {
    "escaped": "{{ _(text, **variables) }}|{{ gettext(text, **variables) }}",
    "not escaped": "{% autoescape false %}{{ _(text, **variables) }}{% endautoescape %}",
}
TEXTS = st.one_of(
    st.sampled_from(
        ["Cases", "%(n)d cases.", "More than %(n)s cases.", "100%% sure", "<b>Cases</b>", "50%"]
    ),
    st.text(alphabet=st.sampled_from("ab <>&%()sd'\"\u1ec7"), max_size=12),
)
VARIABLES = st.dictionaries(
    # "string" and "context": the names of the function's own first two parameters.
    st.sampled_from(["n", "ref", "num", "string", "context"]),
    st.one_of(st.integers(0, 10**6), st.text(alphabet="a<>&'\" ", max_size=6)),
    max_size=2,
)


def _stock(app) -> Environment:
    """Jinja's newstyle gettext over Flask-Babel's own Domain (not the app's KeptDomain), as
    Flask-Babel installs it."""
    plain = Domain(domain="messages")
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s: plain.get_translations().ugettext(s),
        lambda s, p, n: plain.get_translations().ungettext(s, p, n),
        newstyle=True,
    )
    return env


def _outcome(template, **context):
    try:
        return "ok", template.render(**context)
    except Exception as exc:  # the same error from both: a text's "%" without its variable
        return "error", type(exc).__name__


@pytest.mark.parametrize("language", ["vi", "en"])
@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, variables=VARIABLES)
def test_a_template_gives_what_jinja_newstyle_gettext_gives(app, language, text, variables):
    assert app.jinja_env.globals["_"] is app.jinja_env.globals["gettext"] is template_gettext
    stock = _stock(app)
    with app.test_request_context("/"), force_locale(language):
        for source in SOURCES.values():
            ours = app.jinja_env.from_string(source)
            theirs = stock.from_string(source)
            assert _outcome(ours, text=text, variables=variables) == _outcome(
                theirs, text=text, variables=variables
            )


def test_the_page_language_and_a_forced_one_each_get_their_own_words(app):
    template = app.jinja_env.from_string('{{ _("Cases") }}')
    with app.test_request_context("/"):
        with force_locale("vi"):
            vietnamese = template.render()
            with force_locale("en"):
                assert template.render() == "Cases"
            assert template.render() == vietnamese
        assert vietnamese != "Cases"


def test_a_translated_page_is_escaped_and_formatted_as_before(app):
    template = app.jinja_env.from_string('{{ _("More than %(n)s cases.", n="<1>") }}')
    with app.test_request_context("/"), force_locale("en"):
        assert template.render() == "More than &lt;1&gt; cases."


def test_the_views_gettext_and_the_forms_lazy_labels_follow_the_language(app):
    label = lazy_gettext("Cases")
    with app.test_request_context("/"), force_locale("vi"):
        vietnamese = gettext("Cases")
        assert str(label) == vietnamese != "Cases"
        with force_locale("en"):
            assert gettext("Cases") == str(label) == "Cases"
        assert str(label) == vietnamese
        assert gettext("%(n)d cases.", n=3) == Domain().gettext("%(n)d cases.", n=3)


def _catalogue_messages(app) -> list[str]:
    with app.test_request_context("/"), force_locale("vi"):
        catalogue = Domain().get_translations()._catalog  # type: ignore[attr-defined]
    return [m for m in list(catalogue)[:300] if isinstance(m, str) and m]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_the_kept_domain_finds_what_flask_babels_own_domain_finds(app, language):
    messages = _catalogue_messages(app)
    assert messages
    with app.test_request_context("/"), force_locale(language):
        kept, plain = get_translations(), Domain().get_translations()
        assert isinstance(babel.domain_instance, KeptDomain)
        assert kept is get_translations()  # kept for the request's locale
        assert [kept.ugettext(m) for m in messages] == [plain.ugettext(m) for m in messages]


def test_an_undefined_name_fails_as_in_jinja_when_nothing_is_escaped(app):
    source = "{% autoescape false %}{{ _(nothing) }}{% endautoescape %}"
    with app.test_request_context("/"), force_locale("en"):
        assert _outcome(app.jinja_env.from_string(source)) == _outcome(
            _stock(app).from_string(source)
        )
