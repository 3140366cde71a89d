"""Daily screens: my work, monitoring, notifications."""
