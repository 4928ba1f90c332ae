"""The HTTP API: Fluxbase's secrets contract under ``/api/v1/secrets``, token-scoped.

``create_app(sm)`` returns an ASGI application (FastAPI); ``strongroom serve`` runs
it under uvicorn. Every route needs ``Authorization: Bearer <token>`` except ``/``,
the health checks and the OpenAPI document. Responses never carry a value except
the ``/value`` extension (scope ``secrets:reveal``); error bodies are
``{"error": ..., "code": ...}`` and never name a value or show a traceback.

A secret's name is one path segment: write its ``/`` as ``%2F``
(``/by-name/db%2Fpassword/versions``). Input rules are the library's own
(``domain/validation``), binding rules the token's (``domain/tokens``), and error
answers the one table's (``strongroom/errors``).

Modules: ``app`` (the application), ``auth`` (tokens and scopes), ``collection``
and ``secret`` (the secrets routes), ``keys`` (the key API), ``schemas`` and
``params`` (bodies and parameters), ``views`` (result mapping and answers),
``errors``, ``middleware``, and ``serving`` (workers, TLS, a graceful stop). The
hot routes (metadata, value, create, batch, list page) check their token in the
thread that does their work: one hop to the threadpool per request.
"""

from __future__ import annotations

from strongroom.http.app import create_app
from strongroom.http.errors import access_log

__all__ = ["access_log", "create_app"]
