"""The process engine: the only package of the app that imports SpiffWorkflow.

Pure core (no Flask): xml, parser, expressions, validation, serialization, runtime,
operations.  Persistence and services (Flask-SQLAlchemy): models, services.
See README.md in this folder for the public functions and measured numbers.
"""
