"""The signed-in person's own account: password, sessions, recovery codes."""
