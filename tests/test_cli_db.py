"""``queue-core db migrate|status``: the schema's lifecycle from the command line, and a
clear usage error for a broker that keeps no schema."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.cli_kit import invoke


def fresh_schema(postgres_url: str) -> tuple[str, str]:
    schema = f"cli_{secrets.token_hex(4)}"
    return schema, f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"


@pytest.mark.postgres
def test_migrate_creates_the_schema_once_and_status_follows(postgres_url: str) -> None:
    _, url = fresh_schema(postgres_url)
    before = invoke(None, "db", "status", "--url", url, "--json")
    assert before.exit_code == 0, before.output
    state = json.loads(before.output)
    assert state["current"] == 0 and state["pending"] and state["known"] == len(state["pending"])
    assert invoke(None, "db", "status", "--url", url, "--check").exit_code == 1

    first = invoke(None, "db", "migrate", "--url", url, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["applied"] == state["pending"]
    again = invoke(None, "db", "migrate", "--url", url)
    assert again.exit_code == 0 and "nothing applied" in again.output

    after = json.loads(invoke(None, "db", "status", "--url", url, "--json").output)
    assert after == {"current": state["known"], "known": state["known"], "pending": [], "state": "up to date"}
    assert invoke(None, "db", "status", "--url", url, "--check").exit_code == 0


@pytest.mark.postgres
def test_a_schema_newer_than_this_release_is_refused_untouched(postgres_url: str) -> None:
    import psycopg

    schema, url = fresh_schema(postgres_url)
    assert invoke(None, "db", "migrate", "--url", url).exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {schema}.schema_migrations (version, name) VALUES (999, '0999_future')")
        [(before,)] = conn.execute(f"SELECT count(*) FROM {schema}.schema_migrations").fetchall()
        refused = invoke(None, "db", "migrate", "--url", url)
        assert refused.exit_code == 2
        assert "999" in refused.output and "refuses to touch it" in refused.output, refused.output
        [(after,)] = conn.execute(f"SELECT count(*) FROM {schema}.schema_migrations").fetchall()
        assert after == before
    status = invoke(None, "db", "status", "--url", url)
    assert status.exit_code == 0 and "newer than this release" in status.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("memory://", "memory:// keeps no versioned schema"),
        ("redis://127.0.0.1:1/0", "redis:// keeps no versioned schema"),
        ("nosuch://host", "no installed driver serves nosuch://"),
        ("nonsense", "invalid url"),
    ],
)
def test_a_broker_without_a_schema_is_a_usage_error_that_says_so(url: str, says: str) -> None:
    result = invoke(None, "db", "migrate", "--url", url)
    assert result.exit_code == 2
    assert says in result.output.lower() or says in result.output, result.output
    assert invoke(None, "db", "status", "--url", url).exit_code == 2


def test_the_url_is_required() -> None:
    result = invoke(None, "db", "status")
    assert result.exit_code == 2
    assert "--url" in result.output
