"""A throwaway ``redis-server`` for tests: start, stop, kill -9, pause, restart on the same port.

Used three ways:

- ``tests/run_with_redis.py`` starts one for a whole ``make test`` run and exports ``REDIS_URL``;
- the ``redis_url`` session fixture starts one when ``REDIS_URL`` is unset (plain ``pytest tests/``);
- fault tests take the ``redis_server`` fixture, a private server they may kill and restart
  without disturbing any other test.

The server keeps nothing on disk (``--save ''``, ``--appendonly no``), so a restart comes back
empty, exactly like a crashed cache node. Its log is kept in its own temp dir and quoted when it
fails to start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    """The redis-server binary is missing or the server did not come up."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_redis_server_binary() -> str:
    """Path of ``redis-server``; as root on Debian, install the package when it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]
        print("redis-server not found; installing Debian's redis-server package", flush=True)
        if subprocess.run(install, env=env, check=False).returncode != 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("redis-server")
        if found:
            return found
    raise RedisServerError(
        "redis-server is not installed: install it (Debian: apt-get install redis-server) "
        "or point REDIS_URL at a running Redis, e.g. REDIS_URL=redis://127.0.0.1:6379/0"
    )


def ping(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when a Redis answers PING on ``host:port`` (raw RESP, no client library needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1``; the port survives restarts.

    ``port=None`` picks a free port on the first ``start()`` and keeps it afterwards, so
    clients holding ``url`` reconnect to the restarted server.
    """

    def __init__(self, port: int | None = None, *, binary: str | None = None) -> None:
        self._port = port
        self._pick_port = port is None
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RedisServerError("the server has no port until it is started")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> str | None:
        return os.path.join(self._dir, "redis.log") if self._dir else None

    def start(self) -> RedisServer:
        """Start and wait until it answers PING. A no-op while it is running."""
        if self.running:
            return self
        binary = self._binary or ensure_redis_server_binary()
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="queue-core-redis-")
        # A port we picked can be taken by someone else before redis binds it: pick again.
        # Once the server has run, the port is pinned so that restarts keep the URL.
        attempts = 3 if self._pick_port else 1
        for attempt in range(1, attempts + 1):
            if self._pick_port:
                self._port = free_port()
            try:
                self._spawn(binary)
            except RedisServerError:
                if attempt == attempts:
                    raise
            else:
                self._pick_port = False
                return self
        raise AssertionError("unreachable")

    def _spawn(self, binary: str) -> None:
        assert self._dir is not None
        args = [
            binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        with open(os.path.join(self._dir, "redis.log"), "ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if ping(self.port):
                return
            time.sleep(0.02)
        self._reap(signal.SIGKILL)
        raise RedisServerError(f"redis-server did not start on port {self.port}:\n{self._log_tail()}")

    def stop(self) -> None:
        """Shut down gracefully (SIGTERM; SIGKILL after a timeout). Safe to call twice."""
        self._reap(signal.SIGTERM)

    def kill(self) -> None:
        """``kill -9``: the server dies without closing connections cleanly."""
        self._reap(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung or partitioned server)."""
        if self.running:
            assert self._process is not None
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``pause()``."""
        if self.running:
            assert self._process is not None
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> RedisServer:
        """Stop (if running) and start again on the same port, empty."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the temp dir."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _reap(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log_tail(self, lines: int = 20) -> str:
        path = self.log_path
        if path is None or not os.path.exists(path):
            return "(no log)"
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer port={self._port} pid={self.pid} {state}>"
