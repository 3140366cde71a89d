"""Numbers as the reader writes them: Vietnamese 1.234 and 7,5; English 1,234 and 7.5."""

from flask_babel import force_locale

from caseapp import create_app
from caseapp.i18n import file_size, number
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
