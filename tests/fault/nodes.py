"""Redis processes the fault harness owns: single nodes, a local Cluster, a Sentinel set.

Every process is started here with its own temp directory, bound to 127.0.0.1, in its own
session (so a signal meant for it reaches nothing else), and is stopped by the PID we
recorded -- never by name. The baseline arguments: no persistence unless a scenario asks
for it, ``DEBUG`` enabled for local clients, ``noeviction``.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from tests.redis_server import HOST, ensure_redis_server_binary

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
#: cluster bus ports are data ports + 10000, so cluster nodes pick from below this.
CLUSTER_PORT_CEILING = 50000


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_ports(count: int, *, with_bus: bool = False) -> list[int]:
    """``count`` distinct free ports (and, ``with_bus``, each with port + 10000 free too)."""
    picked: list[int] = []
    while len(picked) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if with_bus:
            if port >= CLUSTER_PORT_CEILING:
                port = 20000 + port % (CLUSTER_PORT_CEILING - 20000)
            if not (port_is_free(port) and port_is_free(port + 10000)):
                continue
        if port not in picked:
            picked.append(port)
    return picked


@dataclass(frozen=True)
class Tls:
    """Certificate files for a TLS node (see ``make_certificates``)."""

    cert: str
    key: str
    ca: str


def make_certificates(directory: str) -> Tls:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost, made with openssl."""
    ca_key, ca_cert = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, name) for name in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(directory, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=queue-core test CA",
            "-keyout", ca_key, "-out", ca_cert)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
            "-out", cert, "-extfile", ext)  # fmt: skip
    return Tls(cert=cert, key=key, ca=ca_cert)


class RedisNode:
    """One redis-server process. The port and the directory survive restarts, so a node
    restarted after ``kill()`` reloads its AOF (when it has one) and keeps its URL."""

    def __init__(
        self,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        tls: Tls | None = None,
        password: str | None = None,
        directory: str | None = None,
        sentinel_config: str | None = None,
    ) -> None:
        self.port = port if port is not None else free_ports(1)[0]
        self.args = list(args)
        self.tls = tls
        self.password = password
        self.dir = directory or tempfile.mkdtemp(prefix=f"qc-fault-{self.port}-")
        self._own_dir = directory is None
        self.sentinel_config = sentinel_config
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(self.dir, "redis.log")

    # ---- addresses

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2}
        if self.password:
            options["password"] = self.password
        if self.tls:
            options.update(ssl=True, ssl_ca_certs=self.tls.ca, ssl_cert_reqs="required")
        return options

    def admin(self, **overrides: Any) -> redis.Redis:
        """A plain sync client for the test itself (faults, fsck): never the code under test."""
        return redis.Redis(host=HOST, port=self.port, **{**self.client_options(), **overrides})

    # ---- process control

    def command(self) -> list[str]:
        binary = ensure_redis_server_binary()
        if self.sentinel_config is not None:
            return [binary, self.sentinel_config, "--sentinel", "--port", str(self.port), "--bind", HOST,
                    "--dir", self.dir, "--logfile", self.log_path, "--daemonize", "no"]  # fmt: skip
        base = ["--bind", HOST, "--dir", self.dir, "--logfile", self.log_path, "--daemonize", "no",
                "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
                "--maxmemory-policy", "noeviction"]  # fmt: skip
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls.cert,
                     "--tls-key-file", self.tls.key, "--tls-ca-cert-file", self.tls.ca,
                     "--tls-auth-clients", "no"]  # fmt: skip
        else:
            ports = ["--port", str(self.port)]
        auth = ["--requirepass", self.password] if self.password else []
        return [binary, *ports, *base, *auth, *self.args]

    def start(self) -> RedisNode:
        if self.running:
            return self
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                with self.admin(socket_timeout=0.5, socket_connect_timeout=0.5) as conn:
                    if conn.ping():
                        return
            except redis.BusyLoadingError:
                pass
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass
            time.sleep(0.02)
        tail = self.log_tail()
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not come up:\n{tail}")

    def kill(self) -> None:
        """``kill -9`` by recorded PID."""
        self._reap(signal.SIGKILL)

    def stop(self) -> None:
        self._reap(signal.SIGTERM)

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def restart(self) -> RedisNode:
        self.stop()
        return self.start()

    def wipe(self) -> None:
        """Remove what the node persisted (AOF, RDB), so the next start is empty."""
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if name.startswith("appendonly") or name.endswith(".rdb"):
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)

    def close(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _reap(self, sig: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not os.path.exists(self.log_path):
            return "(no log)"
        with open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:]) or "(empty log)"

    def __repr__(self) -> str:
        return f"<RedisNode port={self.port} pid={self.pid}>"


class Cluster:
    """A local Redis Cluster of ``masters`` masters (and ``replicas`` replicas each)."""

    def __init__(self, masters: int = 3, replicas: int = 0, *, node_timeout_ms: int = 2000) -> None:
        self.dir = tempfile.mkdtemp(prefix="qc-fault-cluster-")
        ports = free_ports(masters * (1 + replicas), with_bus=True)
        self.replicas = replicas
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms)]  # fmt: skip
        self.nodes = [RedisNode(port=port, directory=self._node_dir(port), args=args) for port in ports]

    def _node_dir(self, port: int) -> str:
        path = os.path.join(self.dir, str(port))
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def url(self) -> str:
        return f"redis+cluster://{HOST}:{self.nodes[0].port}/0"

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        create = ["redis-cli", "--cluster", "create", *[f"{HOST}:{n.port}" for n in self.nodes],
                  "--cluster-replicas", str(self.replicas), "--cluster-yes"]  # fmt: skip
        done = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")
        self.wait_ok()
        self.wait_replicated()
        return self

    def wait_replicated(self, timeout: float = 30.0) -> None:
        """Until every replica finished its first sync (the master delays it by
        ``repl-diskless-sync-delay``, 5 s): a replica that never synced is not promoted,
        so a master killed before then leaves its slots down for good."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._replica_synced(node) for node in self.nodes if node.running):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster's replicas did not sync with their masters")

    @staticmethod
    def _replica_synced(node: RedisNode) -> bool:
        with node.admin(socket_timeout=1) as conn:
            info = conn.info("replication")
        return info.get("role") != "slave" or info.get("master_link_status") == "up"

    def wait_promoted(self, key: str, old: RedisNode, timeout: float = 30.0) -> RedisNode:
        """Until another node serves ``key``'s slot (``old`` was killed) and the cluster
        is ok again; returns the promoted node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError, LookupError):
                node = self.node_serving(key)
                if node is not old and node.running and all(self._node_ok(n) for n in self.nodes if n.running):
                    return node
            time.sleep(0.05)
        raise RuntimeError(f"no replica took over {key!r}'s slot from port {old.port}")

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every running node says cluster_state:ok and sees every slot served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._node_ok(node) for node in self.nodes if node.running):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    @staticmethod
    def _node_ok(node: RedisNode) -> bool:
        try:
            with node.admin(socket_timeout=1) as conn:
                info = conn.execute_command("CLUSTER", "INFO")
        except (redis.RedisError, OSError):
            return False
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "cluster_state:ok" in text and "cluster_slots_ok:16384" in text

    def masters(self) -> list[RedisNode]:
        result = []
        for node in self.nodes:
            if not node.running:
                continue
            with node.admin() as conn:
                role = conn.execute_command("ROLE")[0]
            if (role.decode() if isinstance(role, bytes) else role) == "master":
                result.append(node)
        return result

    def subscribers(self, channel: str) -> int:
        """How many connections of the whole cluster are subscribed to ``channel``
        (classic pub/sub: each node counts only its own clients)."""
        total = 0
        for node in self.nodes:
            if node.running:
                with node.admin(socket_timeout=1) as conn:
                    total += int(conn.execute_command("PUBSUB", "NUMSUB", channel)[1])
        return total

    def node_serving(self, key: str) -> RedisNode:
        """The running master that serves ``key``'s slot now."""
        seed = next(node for node in self.nodes if node.running)
        with seed.admin() as conn:
            slot = conn.execute_command("CLUSTER", "KEYSLOT", key)
            for low, high, master, *_ in conn.execute_command("CLUSTER", "SLOTS"):
                if low <= slot <= high:
                    port = int(master[1])
                    return next(node for node in self.nodes if node.port == port)
        raise LookupError(key)

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelSet:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels watching service ``name``."""

    def __init__(
        self, *, replicas: int = 1, sentinels: int = 1, name: str = "qcmain", primary_args: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="qc-fault-sentinel-")
        ports = free_ports(1 + replicas + sentinels)
        self.primary = RedisNode(port=ports[0], directory=self._sub(ports[0]), args=list(primary_args))
        self.replicas = [
            RedisNode(port=p, directory=self._sub(p), args=["--replicaof", HOST, str(ports[0]), *primary_args])
            for p in ports[1 : 1 + replicas]
        ]
        self.sentinels = []
        for port in ports[1 + replicas :]:
            conf = os.path.join(self._sub(port), "sentinel.conf")
            quorum = sentinels // 2 + 1
            with open(conf, "w") as f:
                f.write(
                    f"sentinel monitor {name} {HOST} {ports[0]} {quorum}\n"
                    f"sentinel down-after-milliseconds {name} 1000\n"
                    f"sentinel failover-timeout {name} 3000\n"
                    f"sentinel parallel-syncs {name} 1\n"
                )
            self.sentinels.append(RedisNode(port=port, directory=self._sub(port), sentinel_config=conf))

    def _sub(self, port: int) -> str:
        path = os.path.join(self.dir, str(port))
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}/0"

    @property
    def data_nodes(self) -> list[RedisNode]:
        return [self.primary, *self.replicas]

    def start(self) -> SentinelSet:
        for node in self.data_nodes:
            node.start()
        self.wait_replicated()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_sentinels_see_replicas()
        return self

    def wait_replicated(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = True
            for replica in self.replicas:
                with replica.admin() as conn:
                    info = conn.info("replication")
                if info.get("master_link_status") != "up":
                    ok = False
            if ok:
                return
            time.sleep(0.1)
        raise RuntimeError("replicas did not sync with the primary")

    def wait_sentinels_see_replicas(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.sentinels[0].admin() as conn:
                    seen = conn.execute_command("SENTINEL", "REPLICAS", self.name)
                if len(seen) >= len(self.replicas):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the sentinels did not discover the replicas")

    def current_primary_port(self) -> int:
        with self.sentinels[0].admin() as conn:
            _host, port = conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        return int(port)

    def node(self, port: int) -> RedisNode:
        return next(node for node in self.data_nodes if node.port == port)

    def close(self) -> None:
        for node in [*self.sentinels, *self.data_nodes]:
            node.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running(node: Any) -> Iterator[Any]:
    """``with running(RedisNode(...)) as node``: started, always closed."""
    try:
        yield node.start()
    finally:
        node.close()
