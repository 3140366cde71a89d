"""Data protection (Law 91/2025/QH15, Decree 356/2025; issue 15): breaches, notices, the
processing record; requests and retention to come."""
