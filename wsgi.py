"""WSGI entry point: gunicorn 'wsgi:app' or flask --app wsgi. Nothing imports this module.
A wrong setting, keyring or database stops it with one line (exit 4) before anything runs."""

from caseapp.startup import build_app

app = build_app()
