"""WSGI entry point for gunicorn (``make serve``) and ``flask`` commands."""
from app import create_app

app = create_app()
