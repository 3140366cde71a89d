"""Data-protection duties (Law 91/2025/QH15, Decree 356/2025): the breach register."""
