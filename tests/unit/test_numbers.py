"""Numbers as the reader writes them: Vietnamese 1.234 and 7,5; English 1,234 and 7.5."""

from datetime import UTC, date, datetime, timedelta, timezone

from flask_babel import force_locale, format_datetime

from caseapp import create_app
from caseapp.i18n import _date, _datetime, file_size, number
from config import load_settings


def test_numbers_follow_the_language(tmp_path):
    app = create_app(load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path)}))
    with app.test_request_context():
        with force_locale("vi"):
            assert (number(1234, 0), number(7.5), number(7.0), number(None)) == (
                "1.234",
                "7,5",
                "7",
                "—",
            )
            assert file_size(1536) == "1,5 KB" and file_size(3 * 1024 * 1024) == "3 MB"
        with force_locale("en"):
            assert (number(1234, 0), number(7.5), number(66.67)) == ("1,234", "7.5", "66.7")


def test_moments_are_written_as_babel_writes_them_in_the_service_s_zone(tmp_path):
    """dd/mm/yyyy hh:mm in Asia/Ho_Chi_Minh, written without Babel's pattern engine: the same
    text as Babel's, in both languages, across midnight and the turn of a year, for moments
    naive (UTC), in UTC and in another zone."""
    app = create_app(load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path)}))
    moments = [
        datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC),
        datetime(2026, 12, 31, 17, 0, tzinfo=UTC),  # 1 January in Vietnam
        datetime(2026, 3, 1, 23, 30),  # naive: UTC
        datetime(2025, 7, 1, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1970, 6, 1, 16, 30, tzinfo=UTC),  # Saigon was UTC+8 then
    ]
    with app.test_request_context():
        for lang in ("vi", "en"):
            with force_locale(lang):
                for moment in moments:
                    assert _datetime(moment) == format_datetime(moment, "dd/MM/yyyy HH:mm")
                    assert _date(moment) == format_datetime(moment, "dd/MM/yyyy")
        assert _datetime(moments[1]) == "01/01/2027 00:00"
        assert _date(date(2026, 1, 2)) == "02/01/2026" and _datetime(None) == ""
