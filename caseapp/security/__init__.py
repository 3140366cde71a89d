"""Security mechanisms: keyring and encryption, passwords, TOTP, permissions, audit chain."""
