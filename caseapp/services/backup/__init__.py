"""Backup services: taking a backup, its manifest, restoring it."""
