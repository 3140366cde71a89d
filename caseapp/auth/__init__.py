"""Sign-in, second factor, enrolment and sign-out."""
