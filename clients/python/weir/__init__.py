"""A small client of Weir's admin REST API (Python standard library only).

models.py is generated from the spec by quicktype (scripts/clients.mjs); client.py is the
HTTP layer.
"""
from .client import ApiError, Client
from .models import Server, ServerState

__all__ = ["ApiError", "Client", "Server", "ServerState"]
