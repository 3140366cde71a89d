"""Data protection (issue 15): requests, breaches, retention, notices, processing record."""
