"""Real PostgreSQL, MariaDB and Redis from Debian's packages, on free loopback ports.

Each is a process of its own with its data in a temporary directory, started for the
test session and stopped by its PID. ``.ci/run`` installs the packages on a fresh
machine (postgresql, mariadb-server, redis-server). PostgreSQL refuses to run as
root, so it runs as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from otel_xray.devtools.loopback import end_process_group
from tests.ports import unused_port

USER = "app"
PASSWORD = "app-secret"
DATABASE = "shop"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"not listening on {port} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


class Server:
    """One server process; ``port`` is where it listens on 127.0.0.1."""

    name = ""

    def __init__(self) -> None:
        self.port = unused_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"otel-xray-{self.name}-"))
        self.log = self.directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def available(cls) -> str | None:
        """None, or why this server cannot run here."""
        raise NotImplementedError

    def _spawn(self, command: list[str], **kwargs: object) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kwargs,
            )
        assert self.process is not None
        _wait_for_port(self.port, self.process, self.log, 60)

    def stop(self) -> None:
        process, self.process = self.process, None
        end_process_group(process, grace=20)
        shutil.rmtree(self.directory, ignore_errors=True)


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


class PostgreSQL(Server):
    name = "postgresql"

    @classmethod
    def available(cls) -> str | None:
        if _postgres_bin() is None:
            return "no PostgreSQL server (Debian package postgresql; .ci/run installs it)"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser"
        return None

    def start(self) -> PostgreSQL:
        binaries = _postgres_bin()
        assert binaries is not None
        data = self.directory / "data"
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.directory, "postgres")
        password = self.directory / "password"
        password.write_text(PASSWORD + "\n")
        if as_postgres:
            shutil.chown(password, "postgres")
        subprocess.run(
            [*as_postgres, str(binaries / "initdb"), "-D", str(data), "-U", USER,
             "--pwfile", str(password), "-A", "scram-sha-256", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self._spawn(
            [*as_postgres, str(binaries / "postgres"), "-D", str(data), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.directory), "-c", "fsync=off"],
        )  # fmt: skip
        # The port opens before the server takes connections ("the database system is
        # starting up", psql exit 2): a few tries, a bounded wait.
        for attempt in range(20):
            created = subprocess.run(
                [str(binaries / "psql") if (binaries / "psql").exists() else "psql",
                 "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres",
                 "-c", f"CREATE DATABASE {DATABASE}"],
                check=False, capture_output=True, timeout=60,
                env={**os.environ, "PGPASSWORD": PASSWORD},
            )  # fmt: skip
            if created.returncode != 2 or attempt == 19:
                created.check_returncode()
                return self
            time.sleep(0.25)
        return self


class MariaDB(Server):
    name = "mariadb"

    @classmethod
    def available(cls) -> str | None:
        if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
            return "no MariaDB server (Debian package mariadb-server; .ci/run installs it)"
        return None

    def start(self) -> MariaDB:
        data = self.directory / "data"
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "")
        subprocess.run(
            ["mariadb-install-db", f"--datadir={data}", f"--user={user}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        socket_path = self.directory / "mysqld.sock"
        daemon = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self._spawn(
            [daemon, "--no-defaults", f"--datadir={data}", f"--user={user}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={socket_path}",
             f"--pid-file={self.directory / 'mysqld.pid'}", "--skip-grant-tables=0",
             "--innodb-buffer-pool-size=16M", "--skip-log-bin"],
        )  # fmt: skip
        subprocess.run(
            ["mariadb", f"--socket={socket_path}", "-uroot", "-e",
             f"CREATE DATABASE {DATABASE}; "
             f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
             f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'%';"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return self


class Redis(Server):
    name = "redis"

    @classmethod
    def available(cls) -> str | None:
        if shutil.which("redis-server") is None:
            return "no Redis server (Debian package redis-server; .ci/run installs it)"
        return None

    def start(self) -> Redis:
        self._spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
        )  # fmt: skip
        return self
