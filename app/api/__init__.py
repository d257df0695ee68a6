"""The REST API frame (shared/API.md): error format, bearer tokens, pagination.

Each product module has its own ``APIBlueprint`` mounted under ``/api/v1``; the frame here
applies to all of them through ``init_app``.
"""
