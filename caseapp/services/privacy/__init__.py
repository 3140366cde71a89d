"""Data protection (Law 91/2025/QH15, Decree 356/2025; issue 15): the breach register, the
consent notices and the processing record."""
