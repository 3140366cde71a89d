"""Case screens: list, intake, details, confidential content, notes, attachments, consent."""
