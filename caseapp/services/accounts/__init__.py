"""Account services: sign-in, accounts and grants, sign-in sessions, throttling."""
