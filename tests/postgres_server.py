"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, a free port, stopped at the end.

Used like ``tests/redis_server.py``:

- ``tests/run_with_redis.py`` starts one beside the Redis for a whole ``make test`` run and
  exports ``POSTGRES_URL``;
- the ``postgres_url`` session fixture starts one when ``POSTGRES_URL`` is unset;
- fault tests take the ``postgres_server`` fixture, a private cluster they may kill, restart and
  whose connections they may terminate.

Debian keeps ``initdb`` and ``pg_ctl`` off the PATH, in ``/usr/lib/postgresql/<version>/bin``;
they are looked up there (newest version first), then on the PATH. When none is found and we are
root on Debian, the ``postgresql`` package is installed first, as for redis-server.

initdb and postgres refuse to run as root. As root the cluster's directory is handed to the
``postgres`` OS user (which the Debian package creates) and every server binary runs as that
user; the server also listens on TCP, so clients running as root connect by URL as usual.

The cluster is built for speed, not for surviving a machine crash: ``fsync=off`` and
``full_page_writes=off``. ``synchronous_commit`` stays on, so every commit's WAL is handed to
the kernel before the commit returns: a ``kill()`` of the server (not of the machine) loses
no committed transaction, as on a production server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType

HOST = "127.0.0.1"
USER = "postgres"  # the cluster's superuser (initdb -U), whoever runs the binaries
DATABASE = "postgres"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
DEBIAN_LIB = "/usr/lib/postgresql"
# pg_ctl's shutdown modes are these signals to the postmaster.
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


class PostgresServerError(RuntimeError):
    """The server binaries are missing or the cluster did not come up."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _version_key(path: str) -> tuple[int, ...]:
    name = os.path.basename(os.path.dirname(path))
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def find_bin_dir() -> str | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates = sorted(glob.glob(os.path.join(DEBIAN_LIB, "*", "bin")), key=_version_key, reverse=True)
    for directory in candidates:
        if all(os.access(os.path.join(directory, name), os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return os.path.dirname(on_path)
    return None


def ensure_bin_dir() -> str:
    """The server binaries' directory; as root on Debian, install ``postgresql`` when missing."""
    found = find_bin_dir()
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
        print("PostgreSQL server binaries not found; installing Debian's postgresql package", flush=True)
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = find_bin_dir()
        if found:
            return found
    raise PostgresServerError(
        "the PostgreSQL server binaries (initdb, pg_ctl) are not installed: install them "
        "(Debian: apt-get install postgresql) or point POSTGRES_URL at a running server, e.g. "
        "POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The OS user to run the server binaries as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresServerError(
            "running as root, and initdb refuses root: create a 'postgres' OS user "
            "(Debian's postgresql package does) or run the tests as another user"
        ) from exc


class PostgresServer:
    """One throwaway cluster on ``127.0.0.1``; the port survives restarts.

    ``url`` connects as the superuser ``postgres`` without a password (trust authentication on
    the loopback and the unix socket, which lives in the cluster's temp dir).
    """

    def __init__(self, port: int | None = None, *, settings: dict[str, str] | None = None) -> None:
        self._port = port
        self._settings = dict(settings or {})
        self._dir: str | None = None
        self._bin: str | None = None
        self._owner = _run_as()
        self._started = False
        self._process: subprocess.Popen[bytes] | None = None

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresServerError("the server has no port until it is started")
        return self._port

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@{HOST}:{self.port}/{DATABASE}"

    @property
    def socket_dir(self) -> str:
        return os.path.join(self._require_dir(), "sock")

    @property
    def data_dir(self) -> str:
        return os.path.join(self._require_dir(), "data")

    @property
    def log_path(self) -> str | None:
        return os.path.join(self._dir, "postgres.log") if self._dir else None

    @property
    def bin_dir(self) -> str:
        if self._bin is None:
            self._bin = ensure_bin_dir()
        return self._bin

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (None when it is not running)."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb on first use, then start and wait until it accepts connections."""
        if self.running:
            return self
        if self._dir is None:
            self._init_cluster()
        # A port we picked can be taken before the server binds it: pick again. Once the
        # server has run, the port is pinned so that restarts keep the URL.
        attempts = 1 if self._started else 3
        for attempt in range(1, attempts + 1):
            if not self._started and not (attempt == 1 and self._port is not None):
                self._port = free_port()
            try:
                self._spawn()
            except PostgresServerError:
                if attempt == attempts:
                    raise
            else:
                self._started = True
                return self
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        # The postmaster is our own child (not pg_ctl's, which would orphan it): we reap it, so
        # a killed one leaves no zombie that a later start would take for a live server.
        command = [os.path.join(self.bin_dir, "postgres"), "-D", self.data_dir, *self._server_options()]
        assert self.log_path is not None
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._as_owner(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._ready():
                return
            time.sleep(0.05)
        self._reap(signal.SIGKILL)
        raise PostgresServerError(f"postgres did not start on port {self._port}:\n{self._log_tail()}")

    def _ready(self) -> bool:
        command = [os.path.join(self.bin_dir, "pg_isready"), "-q", "-h", HOST, "-p", str(self.port), "-t", "1"]
        return subprocess.run(command, stdin=subprocess.DEVNULL, check=False).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Shut down like ``pg_ctl stop -m mode`` (smart, fast, immediate); safe to call twice."""
        self._reap(STOP_SIGNALS[mode])

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends follow): a crashed server, recovery on next start."""
        self._reap(signal.SIGKILL)
        if self._dir is not None:
            # Orphaned backends hold the shared memory until they notice; end them so a restart
            # on the same port does not fail on "pre-existing shared memory block".
            self._wait_backends_gone()

    def restart(self, mode: str = "fast") -> PostgresServer:
        """``pg_ctl restart -m mode``: stop in that mode, start again on the same port and data."""
        self.stop(mode)
        return self.start()

    def _reap(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def close(self) -> None:
        """Stop and remove the temp dir."""
        try:
            self.stop()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def psql(self, sql: str, *, database: str = DATABASE) -> str:
        """Run SQL through ``psql`` on the unix socket (no client library needed); returns stdout."""
        command = [
            os.path.join(self.bin_dir, "psql"),
            "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", self.socket_dir, "-p", str(self.port), "-U", USER, "-d", database, "-c", sql,
        ]  # fmt: skip
        done = subprocess.run(self._as_owner(command), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresServerError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    # -- internals ------------------------------------------------------------------------

    def _require_dir(self) -> str:
        if self._dir is None:
            raise PostgresServerError("the cluster has no directory until it is started")
        return self._dir

    def _init_cluster(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="queue-core-postgres-")
        os.mkdir(self.socket_dir)
        if self._owner is not None:
            # The owner needs to enter the temp dir (mkdtemp makes it 0700) and own what is in it.
            for path in (self._dir, self.socket_dir):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        command = [
            os.path.join(self.bin_dir, "initdb"),
            "-D", self.data_dir, "-U", USER, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        ]  # fmt: skip
        done = subprocess.run(self._as_owner(command), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresServerError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _server_options(self) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": self.socket_dir,
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
            **self._settings,
        }
        return [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]

    def _as_owner(self, command: Sequence[str]) -> list[str]:
        if self._owner is None:
            return list(command)
        # setpriv (util-linux) switches user without a login shell or PAM; runuser is the fallback.
        if shutil.which("setpriv"):
            return [
                "setpriv", f"--reuid={self._owner.pw_uid}", f"--regid={self._owner.pw_gid}", "--init-groups",
                "--", *command,
            ]  # fmt: skip
        return ["runuser", "-u", self._owner.pw_name, "--", *command]

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A killed child of ours that nobody reaped is a zombie: dead for our purpose.
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
        return True

    def _wait_backends_gone(self) -> None:
        data_dir = self.data_dir
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            holders = [pid for pid in self._pids_using(data_dir) if self._alive(pid)]
            if not holders:
                return
            for pid in holders:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    @staticmethod
    def _pids_using(data_dir: str) -> list[int]:
        """Processes whose working directory is the data dir (every postgres backend's is)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/cwd") == data_dir:
                    found.append(int(entry))
        return found

    def _log_tail(self, lines: int = 20) -> str:
        path = self.log_path
        if path is None or not os.path.exists(path):
            return "(no log)"
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PostgresServer port={self._port} pid={self.pid} {state}>"
