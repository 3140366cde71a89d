"""Organisation services: the unit tree and the referral directory."""
