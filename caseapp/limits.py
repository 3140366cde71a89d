"""Length limits of what people type, written once: the forms validate with them, the services
check them again and the templates give them to the browser (``maxlength``, ``minlength``; the
``limits`` template global is this module)."""

from __future__ import annotations

# A stated reason: to open a case's content, to change its status, to exclude or re-admit a
# person, to revoke a role. Long enough to mean something, short enough for the trail.
REASON_MIN = 5
REASON_MAX = 500
# Why a child is referred without consent (serious danger): a sentence, not a word.
OVERRIDE_REASON_MIN = 10
# A case note and the confidential details of a step.
NOTE_MAX = 20000
STEP_DETAILS_MAX = 5000
