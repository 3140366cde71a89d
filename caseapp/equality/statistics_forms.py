"""Forms of the statistics screen. The figures themselves are one input per figure key, read
from the request and checked by the service (the rows depend on the unit's level)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField
from wtforms.validators import AnyOf, Optional

from caseapp.forms import VersionedForm


class StatisticsForm(VersionedForm):
    # "import" when the figures came from a file and are being confirmed.
    source = HiddenField(validators=[Optional(), AnyOf(("form", "import"))])


class StatisticsImportForm(VersionedForm):
    file = FileField(
        _l("File (XLSX or CSV)"), validators=[FileRequired(_l("Choose the file to import."))]
    )
