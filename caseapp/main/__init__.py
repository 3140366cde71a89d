"""Home page, health check and language choice."""
