"""The PostgreSQL driver: ``postgresql://`` and ``postgres://`` URLs (psycopg 3)."""

from __future__ import annotations

__all__: list[str] = []
