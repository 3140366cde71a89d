"""Auditor screens: the audit trail within the auditor's units, chain status, CSV export."""
