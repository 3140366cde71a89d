"""Period reports, submissions and activities."""
