"""The throwaway PostgreSQL the tests use: it starts, keeps committed data across a fast
restart and a SIGKILL of the postmaster, keeps its port, and leaves nothing behind."""

from __future__ import annotations

import os

import pytest

from tests.postgres_server import PostgresServer, ensure_bin_dir

pytestmark = pytest.mark.postgres


def test_a_cluster_keeps_committed_rows_and_its_port_across_restart_and_kill() -> None:
    with PostgresServer() as server:
        port, url = server.port, server.url
        assert url == f"postgresql://postgres@127.0.0.1:{port}/postgres"
        server.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        first = server.pid

        server.restart(mode="fast")
        assert server.pid != first
        server.psql("INSERT INTO kept VALUES (2)")

        server.kill()
        assert not server.running
        server.start()  # crash recovery replays the WAL
        assert server.port == port
        assert server.psql("SELECT count(*) FROM kept").strip() == "2"
        data_dir = server.data_dir
    assert not server.running
    assert not os.path.exists(data_dir)


def test_the_server_binaries_are_found_off_the_path() -> None:
    found = ensure_bin_dir()
    assert os.access(os.path.join(found, "initdb"), os.X_OK)


def test_a_failed_start_leaves_no_directory_behind() -> None:
    server = PostgresServer(settings={"shared_buffers": "not-a-size"})
    with pytest.raises(RuntimeError, match="did not start"), server:
        pass
    assert server.log_path is None
