"""The fault harness on PostgreSQL: the harness's own view of a cluster, and a Scenario
that reads its verdict from the driver's tables instead of Redis keys.

- ``PgAdmin``: one autocommit psycopg connection (reconnected after a restart) that counts
  jobs by state, reads states and crash counts, checks the structure (``fsck``),
  terminates every other client backend, and reads dead tuples.
- ``PgScenario``: ``Scenario`` with those reads; the workers and the producer are the same
  processes and threads as on Redis (``prefix`` is the schema).
- ``PgBouncer``: a throwaway pgbouncer in transaction pooling mode in front of a cluster
  (Debian's ``pgbouncer``; installed first when missing and we are root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from tests.fault.scenario import QUEUE, Scenario
from tests.postgres_server import HOST, PostgresServer, free_port

STATES = ("pending", "active", "scheduled", "retry", "completed", "archived", "aggregating", "waiting")


class PgAdmin:
    """The harness's connection: never one of the connections a fault kills."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.url, autocommit=True, application_name="fault-admin")
                cursor = self._conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                self.close()  # a restart or a terminate took it: reconnect once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def counts(self, schema: str, queue: str = QUEUE) -> dict[str, int]:
        found = dict.fromkeys(STATES, 0)
        rows = self._execute(f'SELECT state, count(*) FROM "{schema}".jobs WHERE queue = %s GROUP BY state', (queue,))
        found.update({state: int(n) for state, n in rows})
        return found

    def states(self, schema: str, job_ids: Iterable[str], queue: str = QUEUE) -> dict[str, tuple[str | None, int]]:
        ids = list(job_ids)
        rows = self._execute(
            f'SELECT id, state, crashes FROM "{schema}".jobs WHERE queue = %s AND id = ANY(%s)', (queue, ids)
        )
        known = {job_id: (state, int(crashes)) for job_id, state, crashes in rows}
        return {job_id: known.get(job_id, (None, 0)) for job_id in ids}

    def fsck(self, schema: str, queue: str = QUEUE) -> list[str]:
        """Each job in one known state; an active job holds a lease with an expiry, and no
        other state does; a pending job has its place in line; a completed one its time."""
        checks = {
            "unknown state": f"state NOT IN ({', '.join(repr(s) for s in STATES)})",
            "active without a lease": "state = 'active' AND (lease IS NULL OR lease_expires_at IS NULL)",
            "a lease outside active": "state <> 'active' AND lease IS NOT NULL",
            "pending without a place in line": "state = 'pending' AND seq IS NULL",
            "completed without a time": "state = 'completed' AND completed_at IS NULL",
        }
        problems = []
        for what, condition in checks.items():
            rows = self._execute(f'SELECT id FROM "{schema}".jobs WHERE queue = %s AND {condition} LIMIT 5', (queue,))
            problems += [f"{what}: {job_id}" for (job_id,) in rows]
        return problems

    def terminate_clients(self) -> int:
        """``pg_terminate_backend`` on every client backend but this one; how many."""
        rows = self._execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()"
        )
        return int(rows[0][0])

    def dead_tuples(self, schema: str) -> tuple[int, int]:
        """(live, dead) rows of the jobs table, as the statistics collector last saw them."""
        self._execute("SELECT pg_stat_clear_snapshot()")
        rows = self._execute(
            "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = %s AND relname = 'jobs'",
            (schema,),
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a connection the server already dropped
                conn.close()


class PgScenario(Scenario):
    """A Scenario on a PostgreSQL URL; ``prefix`` names the schema."""

    admin: PgAdmin  # type: ignore[assignment]

    def counts(self) -> dict[str, int]:
        return self.admin.counts(self.prefix)

    def states(self, job_ids: Iterable[str]) -> dict[str, tuple[str | None, int]]:
        return self.admin.states(self.prefix, job_ids)

    def fsck(self) -> list[str]:
        return self.admin.fsck(self.prefix)

    def use_admin(self, conn: Any) -> None:
        raise NotImplementedError("a PostgreSQL scenario keeps its admin connection")


def pg_scenario(name: str, server: PostgresServer, workdir: str | os.PathLike[str], **options: Any) -> PgScenario:
    scenario = PgScenario(name, server.url, workdir, admin=PgAdmin(server.url), **options)  # type: ignore[arg-type]
    scenario.redis_mode = "postgresql"
    return scenario


def ensure_pgbouncer() -> str:
    """Path of ``pgbouncer``; as root on Debian, install the package when it is missing."""
    found = shutil.which("pgbouncer") or (os.path.exists("/usr/sbin/pgbouncer") and "/usr/sbin/pgbouncer") or None
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "pgbouncer"]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        if os.path.exists("/usr/sbin/pgbouncer"):
            return "/usr/sbin/pgbouncer"
    raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")


class PgBouncer:
    """pgbouncer on a free port in front of ``server``, ``pool_mode = transaction``. Runs as
    the ``postgres`` user when we are root (pgbouncer refuses root too)."""

    def __init__(self, server: PostgresServer, pool_mode: str = "transaction") -> None:
        self.server = server
        self.pool_mode = pool_mode
        self.port = free_port()
        self._dir = tempfile.mkdtemp(prefix="queue-core-pgbouncer-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def start(self) -> PgBouncer:
        binary = ensure_pgbouncer()
        ini = os.path.join(self._dir, "pgbouncer.ini")
        users = os.path.join(self._dir, "users.txt")
        with open(users, "w") as f:
            f.write('"postgres" ""\n')
        with open(ini, "w") as f:
            f.write(
                "[databases]\n"
                f"postgres = host={HOST} port={self.server.port} dbname=postgres\n"
                "[pgbouncer]\n"
                f"listen_addr = {HOST}\nlisten_port = {self.port}\n"
                f"unix_socket_dir = {self._dir}\n"
                "auth_type = trust\n"
                f"auth_file = {users}\n"
                f"pool_mode = {self.pool_mode}\n"
                "max_client_conn = 500\ndefault_pool_size = 20\n"
                "ignore_startup_parameters = extra_float_digits,options\n"
                f"logfile = {os.path.join(self._dir, 'pgbouncer.log')}\n"
            )
        owner = self.server._owner  # the postgres OS user when we are root
        command = [binary, ini]
        if owner is not None:
            for path in (self._dir, ini, users):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            command = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups", "--", *command]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [os.path.join(self.server.bin_dir, "pg_isready"), "-q", "-h", HOST, "-p", str(self.port), "-t", "1"],
                check=False,
            )
            if probe.returncode == 0:
                return self
            time.sleep(0.1)
        self.close()
        raise RuntimeError("pgbouncer did not start")

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # pgbouncer's immediate shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
