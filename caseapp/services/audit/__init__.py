"""Audit services: the trail (record), its integrity (verify, checkpoints), the queries."""
