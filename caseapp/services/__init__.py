"""Services: the only code that changes data. Each checks permission, changes, and audits."""
