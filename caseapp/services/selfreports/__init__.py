"""Self-reports: the public channel for pupils, parents and witnesses, and the school side."""
