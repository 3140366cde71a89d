"""Administration: units, accounts and grants, the referral directory."""
