"""WSGI entry point: gunicorn 'wsgi:app' or flask --app wsgi. Nothing imports this module."""

from caseapp import create_app

app = create_app()
