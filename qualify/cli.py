"""The ``qualify`` command: serve the GraphQL backend, issue development tokens.

Each subcommand is a parser with a ``run`` default that takes the parsed arguments
and returns the exit status; a new command adds one more ``_add_*`` function.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shlex
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeAlias

import jwt
from psycopg.errors import InsufficientPrivilege

from domain.application import EventLog
from domain.commands import ImportTrainingRecords
from domain.errors import QualifyError
from domain.imports import (
    Action,
    ImportRefused,
    ImportRejected,
    ImportReport,
    read_file,
)
from domain.learners import latest_completion_date
from domain.principal import Principal, Role
from graph.auth import DEFAULT_LIFETIME, RS256, issue_token
from projections.applied import UnreadableEvent
from projections.follower import StoreChanged
from projections.integrity import chained_entries
from projections.integrity import check as check_integrity
from projections.rebuild import ScratchUnusable, rebuild
from projections.verification import verify
from qualify.bootstrap import (
    all_projections,
    build,
    catching_up,
    sqlite_refusal,
    store_exists,
)
from qualify.config import (
    DEFAULT_DATABASE_URL,
    ConfigurationError,
    PostgresLocation,
    Settings,
    SQLiteLocation,
    store_location,
)
from qualify.demo import load_demo
from qualify.worker import run_worker

_logger = logging.getLogger(__name__)
# Whoever can run the command line on the server acts as an administrator.
CLI_USER = Principal("cli", Role.ADMIN)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
EXAMPLE_QUERY = "{ codes(first: 10) { totalCount nodes { code description inUse } } }"

# Usage errors and refused settings share argparse's exit status.
USAGE_ERROR = 2
# A store found wrong: as a verification that finds a difference exits.
STORE_WRONG = 1
_ROLE_NAMES = ", ".join(role.value for role in Role)
_DEFAULT_HOURS = DEFAULT_LIFETIME / timedelta(hours=1)
_PROJECTION_NAMES = [p.name for p in all_projections() if p.rebuildable]

Run = Callable[[argparse.Namespace], int]
# A string, since argparse's class is generic only to type checkers.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's) and return its status."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = _parser().parse_args(argv)
    run: Run = args.run

    try:
        return run(args)
    except (ConfigurationError, StoreChanged) as error:
        _fail(str(error))
        return USAGE_ERROR
    except UnreadableEvent as error:
        # Any command reading the log may meet it, on opening the store too.
        _fail(f"{error}.")
        return STORE_WRONG
    except BrokenPipeError:
        # The reader of the output (``head``, say) stopped reading. Later writes,
        # even the interpreter's flush at exit, would fail again: send them nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qualify",
        description="Event-sourced GraphQL backend for qualification codes.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_serve(commands)
    _add_token(commands)
    _add_projections(commands)
    _add_events(commands)
    _add_import(commands)
    return parser


# serve


def _add_serve(commands: Subcommands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the GraphQL server",
        description="Serve GraphQL at /graphql until interrupted.",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="default: %(default)s"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the seed's example first, if the store is empty",
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()

    import uvicorn

    # Imported here so the other commands work without the GraphQL layer.
    from graph.app import create_app

    # Bound before anything else, so a port in use is said plainly and the banner
    # never names an address this process does not hold.
    try:
        listening = _bind(args.host, args.port)
    except OSError as error:
        _fail(
            f"cannot listen on {_url_host(args.host)}:{args.port}: "
            f"{error.strerror or error}; choose another with --host or --port."
        )
        return 1

    with listening:
        backend = build(settings)
        try:
            if args.demo:
                load_demo(backend)
            app = create_app(backend)
            _settle_heap()

            _banner(settings, args.host, args.port)
            # log_config=None keeps uvicorn's records in the format configured
            # above; the app logs one line per request, so uvicorn's access log
            # is off.
            config = uvicorn.Config(app, log_config=None, access_log=False)
            with catching_up(backend):
                uvicorn.Server(config).run(sockets=[listening])
        finally:
            backend.close()
    return 0


def _settle_heap() -> None:
    """Leave what start-up built out of every later collection.

    The libraries, the schema and the caches built at start are some 80,000
    objects that live as long as the process. Python's full collection walks
    every tracked object, so each one that ran while requests were served held
    them all up for the length of the walk.
    """
    gc.collect()
    gc.freeze()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Named as TCP so that asyncio turns Nagle's algorithm off on every accepted
    # connection: it only does so for sockets whose protocol says TCP, and with
    # Nagle on, a response's body waited about 40 ms behind its headers on a
    # kept-alive connection.
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # A restart may bind while the last run's connections still wind down.
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError:
        listening.close()
        raise
    return listening


def _banner(settings: Settings, host: str, port: int) -> None:
    url = f"http://{_url_host(host)}:{port}/graphql"
    where = "" if settings.is_production else " (GraphiQL in a browser)"
    lines = ["", f"Qualify GraphQL: {url}{where}"]

    # A production log is no place for a ready-made admin credential.
    if settings.is_production:
        lines.append("Issue a token with: qualify token --user NAME --role ROLE")
    elif settings.jwt_secret is None:
        lines.append("Tokens come from the identity provider (RS256) alone.")
    else:
        token = issue_token(settings.jwt_secret, "admin", Role.ADMIN)
        body = json.dumps({"query": EXAMPLE_QUERY})
        curl = " ".join(
            [
                "curl -s",
                shlex.quote(url),
                "-H 'Content-Type: application/json'",
                "-H",
                shlex.quote(f"Authorization: Bearer {token}"),
                "-d",
                shlex.quote(body),
            ]
        )
        lines += [f"Admin token: {token}", "Try:", f"  {curl}"]

    lines.append("")
    print("\n".join(lines), file=sys.stderr)


def _url_host(host: str) -> str:
    # An IPv6 address needs brackets in a URL.
    return f"[{host}]" if ":" in host else host


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 1 to 65535, not {port}")
    return port


# token


def _add_token(commands: Subcommands) -> None:
    token = commands.add_parser(
        "token",
        help="print a bearer token",
        description=(
            "Print a bearer token: HS256 signed with QUALIFY_JWT_SECRET, or RS256 "
            "signed with --private-key, as an identity provider would."
        ),
    )
    token.add_argument("--user", required=True, help="the username the token names")
    token.add_argument(
        "--role",
        required=True,
        help=f"one of {_ROLE_NAMES}",
    )
    token.add_argument(
        "--hours",
        type=int,
        default=None,
        help=f"lifetime in hours (default: {_DEFAULT_HOURS:g})",
    )
    token.add_argument(
        "--private-key",
        metavar="FILE",
        default=None,
        help="sign RS256 with this RSA private key (PEM), for testing",
    )
    token.set_defaults(run=_token)


def _token(args: argparse.Namespace) -> int:
    try:
        role = Role(args.role.strip().lower())
    except ValueError:
        _fail(f"unknown role {args.role!r}; choose one of {_ROLE_NAMES}.")
        return USAGE_ERROR
    if args.hours is not None and args.hours < 1:
        _fail(f"--hours must be at least 1, not {args.hours}.")
        return USAGE_ERROR

    settings = Settings.from_environment()
    algorithm = "HS256"
    if args.private_key is not None:
        try:
            key = Path(args.private_key).read_text(encoding="ascii")
        except (OSError, UnicodeError):
            _fail(f"cannot read the private key {args.private_key}.")
            return USAGE_ERROR
        algorithm = RS256
    elif settings.jwt_secret is None:
        _fail(
            "QUALIFY_JWT_SECRET is not set, so no HS256 token would be accepted; "
            "pass --private-key FILE for an RS256 one."
        )
        return USAGE_ERROR
    else:
        key = settings.jwt_secret
    try:
        lifetime = (
            DEFAULT_LIFETIME if args.hours is None else timedelta(hours=args.hours)
        )
        token = issue_token(key, args.user, role, lifetime, algorithm=algorithm)
    except QualifyError as error:
        _fail(error.message)
        return USAGE_ERROR
    except OverflowError:
        _fail(f"--hours {args.hours} reaches past the end of the calendar.")
        return USAGE_ERROR
    except (ValueError, TypeError, AttributeError, jwt.PyJWTError):
        # A public key given by mistake has no signing method at all.
        _fail(f"{args.private_key} is not an RSA private key in PEM form.")
        return USAGE_ERROR

    print(token)
    return 0


# projections


def _add_projections(commands: Subcommands) -> None:
    projections = commands.add_parser(
        "projections",
        help="run or check the read models",
        description="Keep the read models current, or prove them against the log.",
    )
    actions = projections.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="follow the log and keep the read models current until stopped",
        description="The projection worker; several may run against one store.",
    )
    run.set_defaults(run=_projections_run)
    verify = actions.add_parser(
        "verify",
        help="replay the log into scratch tables and compare them with the live ones",
        description="Exits 1 and prints the first differences when any are found.",
    )
    verify.set_defaults(run=_projections_verify)
    rebuild_ = actions.add_parser(
        "rebuild",
        help="rebuild read models from position zero, then switch them in",
        description="The live read models keep answering until the rebuilt ones "
        "are complete. Without names, every read model is rebuilt.",
    )
    rebuild_.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"read models to rebuild: {', '.join(_PROJECTION_NAMES)}",
    )
    rebuild_.set_defaults(run=_projections_rebuild)


def _projections_run(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    stats = run_worker(settings, stop)
    _logger.info(
        "projection worker stopped: %d events applied, %d reconnects",
        stats.events,
        stats.reconnects,
    )
    return 0


def _projections_rebuild(args: argparse.Namespace) -> int:
    fixed = sorted(
        p.name for p in all_projections() if not p.rebuildable and p.name in args.names
    )
    if fixed:
        _fail(
            f"{fixed[0]} is never rebuilt: its hashes are the record the log is "
            "checked against."
        )
        return USAGE_ERROR
    unknown = sorted(set(args.names) - set(_PROJECTION_NAMES))
    if unknown:
        _fail(
            f"there is no read model {unknown[0]!r}; the read models are "
            f"{', '.join(_PROJECTION_NAMES)}."
        )
        return USAGE_ERROR
    chosen = [
        p
        for p in all_projections()
        if p.rebuildable and (not args.names or p.name in args.names)
    ]

    settings = Settings.from_environment()
    backend = build(settings)
    try:
        bar = _Progress(1, "rebuilding", "position")
        started = time.perf_counter()

        def show(position: int, head: int) -> None:
            bar.total = max(head, 1)
            rate = position / max(time.perf_counter() - started, 1e-9)
            bar.show(position, f" of {head}, {rate:,.0f} events/s")

        try:
            done = rebuild(backend.log, backend.store, chosen, show)
        except ScratchUnusable as error:
            _fail(str(error))
            return USAGE_ERROR
        except UnreadableEvent as error:
            bar.done()
            _fail(f"{error}; nothing was rebuilt.")
            return STORE_WRONG
        except InsufficientPrivilege as error:
            bar.done()
            _fail(
                f"the store's user lacks a right the rebuild needs: {error}; it "
                "builds in <schema>_rebuild, which the user must be allowed to "
                "create (CREATE on the database), and rewrites the read-model "
                "tables. Nothing was changed."
            )
            return USAGE_ERROR
        except sqlite3.OperationalError as error:
            location = store_location(settings.database_url)
            assert isinstance(location, SQLiteLocation)
            refusal = sqlite_refusal(Path(location.path).absolute(), error)
            if refusal is None:
                raise
            bar.done()
            _fail(f"{refusal} Nothing was changed.")
            return USAGE_ERROR
        bar.done()
    finally:
        backend.close()
    print(
        f"rebuilt {', '.join(done.names)}: {done.events} events in "
        f"{done.seconds:.1f} s ({done.rate:,.0f} events/s), switched in "
        f"{done.switch_seconds:.1f} s changing {done.changed} rows, at position "
        f"{done.position}"
    )
    return 0


def _projections_verify(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    backend = build(settings)
    try:
        started = time.perf_counter()
        verdict = verify(backend.log, backend.store, all_projections())
    finally:
        backend.close()

    took = time.perf_counter() - started
    if verdict.ok:
        print(
            f"verified {verdict.tables} tables at log position {verdict.position} "
            f"in {took:.1f} s: the read models match the log"
        )
        return 0
    print(
        f"the read models differ from the log at position {verdict.position}:",
        file=sys.stderr,
    )
    for difference in verdict.differences:
        print(f"  {difference}", file=sys.stderr)
    return 1


# events


def _add_events(commands: Subcommands) -> None:
    events = commands.add_parser(
        "events",
        help="export the event log, or check an export and the log's hash chain",
        description="The log for auditors' own tools, one JSON event a line.",
    )
    actions = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write the log to standard output as NDJSON",
        description="Fields: position, type, aggregate_id, aggregate_version, "
        "occurred_at, actor, correlation_id, payload, hash.",
    )
    export.add_argument(
        "--since",
        type=_position,
        default=0,
        metavar="POSITION",
        help="only the events after this position (default: all)",
    )
    export.set_defaults(run=_events_export)
    check = actions.add_parser(
        "verify",
        help="check an export against the store, and the store against its hashes",
        description="Exits 1 and names the first difference when any is found.",
    )
    check.add_argument("file", type=Path, help="an NDJSON file `events export` wrote")
    check.set_defaults(run=_events_verify)


def _position(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()):
        raise argparse.ArgumentTypeError(f"a log position is a whole number: {raw!r}")
    return int(raw)


def _events_export(args: argparse.Namespace) -> int:
    backend = build(Settings.from_environment())
    try:
        written = 0
        # Each hash chains on the one before, so the log is hashed from its start
        # whatever --since says; an unreadable event before it stops the export.
        for item in chained_entries(backend.log):
            if item["position"] > args.since:
                sys.stdout.write(json.dumps(item, sort_keys=True) + "\n")
                written += 1
    finally:
        backend.close()
    _logger.info("exported %d events after position %d", written, args.since)
    return 0


def _events_verify(args: argparse.Namespace) -> int:
    try:
        lines = args.file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError) as error:
        _fail(f"cannot read {args.file}: {getattr(error, 'strerror', None) or error}.")
        return USAGE_ERROR

    backend = build(Settings.from_environment())
    try:
        problem = _compare_export(backend.log, lines)
        integrity = check_integrity(backend.log, backend.store)
    finally:
        backend.close()

    if problem is None:
        print(f"{args.file.name}: {len(lines)} events, each as the store holds it")
    else:
        print(f"{args.file.name}: {problem}", file=sys.stderr)
    if integrity.intact:
        print(f"hash chain intact through position {integrity.through}")
    else:
        print(
            f"hash chain broken at position {integrity.broken_at}: {integrity.reason}",
            file=sys.stderr,
        )
    return 0 if problem is None and integrity.intact else 1


def _compare_export(log: EventLog, lines: list[str]) -> str | None:
    """The first way the export differs from the store, or None.

    The first line may start anywhere (an export made with --since); from there
    on each line must be the store's next event, so a line left out, repeated or
    moved is caught where it happens.
    """
    if not lines:
        return "the file holds no events"
    try:
        return _first_difference(log, lines)
    except UnreadableEvent as error:
        # The store, not the file, is what changed there.
        return f"{error}."


def _first_difference(log: EventLog, lines: list[str]) -> str | None:
    stored = iter(chained_entries(log))
    previous: int | None = None
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
            position = int(item["position"])
        except (ValueError, TypeError, KeyError):
            return f"line {number} is not an exported event"
        if previous is None:
            found = next((s for s in stored if s["position"] >= position), None)
            if found is None or found["position"] != position:
                return f"line {number}: the store holds no event at position {position}"
        else:
            found = next(stored, None)
            if found is None:
                return (
                    f"line {number}: the store holds no event after position {previous}"
                )
            if found["position"] != position:
                return (
                    f"line {number}: position {position} follows position "
                    f"{previous}, but the store's next event is at "
                    f"{found['position']}"
                )
        for field in sorted(set(item) | set(found)):
            if item.get(field) != found.get(field):
                return f"line {number} (position {position}): {field} differs"
        previous = position
    return None


# import


def _add_import(commands: Subcommands) -> None:
    command = commands.add_parser(
        "import",
        help="import training records from a CSV file",
        description="Apply a whole CSV file of training records, or none of it.",
    )
    command.add_argument("file", help="the CSV file, as the export writes it")
    command.add_argument(
        "--dry-run", action="store_true", help="check and report; write nothing"
    )
    command.set_defaults(run=_import)


CHECKING_ROWS = "checking every row"
"""How the line that ends the reading of an import file and starts its checks
against the store begins (the benchmarks time the two phases by it)."""


def _import(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    path = Path(args.file)
    progress = _Progress(0)
    try:
        size = path.stat().st_size
        if size > settings.import_max_bytes:
            raise ImportRefused(
                f"{path.name} is {size} bytes, over the import limit of "
                f"{settings.import_max_bytes} bytes."
            )
        data = path.read_bytes()
        progress = _Progress(data.count(b"\n"))
        parsed = read_file(data, latest_completion_date(), progress.show)
        progress.done()
    except OSError as error:
        _fail(f"cannot read {path}: {error.strerror}.")
        return USAGE_ERROR
    except ImportRefused as error:
        progress.done()
        _fail(error.message)
        return USAGE_ERROR

    # An import checks its rows against a store's learners and records: opening
    # a new, empty store (in the wrong directory, say) would only refuse them all.
    location = store_location(settings.database_url)
    if not store_exists(location):
        _fail(_no_store(settings.database_url, location))
        return USAGE_ERROR

    # The import applies its own events, as on SQLite: its report holds once it
    # is printed, whether or not a projection worker runs beside it.
    backend = build(settings, follow=True)
    try:
        if args.dry_run:
            print(f"{CHECKING_ROWS}; nothing is written...", file=sys.stderr)
        else:
            print(
                f"{CHECKING_ROWS}; the file is applied only if all are valid...",
                file=sys.stderr,
            )
        outcome = backend.handle(
            ImportTrainingRecords(path.name, parsed, dry_run=args.dry_run), CLI_USER
        )
    except ImportRejected as error:
        _print_report(error.report)
        _fail(error.message)
        return 1
    except QualifyError as error:
        _fail(error.message)
        return 1
    finally:
        backend.close()

    assert outcome.report is not None
    _print_report(outcome.report)
    return 0


def _no_store(url: str, location: SQLiteLocation | PostgresLocation) -> str:
    """Why there is nothing to import into at ``location``, and what to set."""
    setting = f"QUALIFY_DATABASE_URL is {url}"
    if url == DEFAULT_DATABASE_URL:
        setting += " (the default)"
    remedy = (
        "set QUALIFY_DATABASE_URL to the store the server uses, e.g. "
        "sqlite:////absolute/path/qualify.db or "
        "postgresql://user@host:5432/dbname?schema=name."
    )
    if isinstance(location, PostgresLocation):
        return (
            f"There is no store in the schema {location.schema} of the database "
            f"{location.dbname} at {location.host}:{location.port}; {remedy}"
        )
    if location.path == ":memory:":
        return (
            f"There is no store to import into: {setting}, a store that starts "
            f"empty and vanishes on exit; {remedy}"
        )
    path = Path(location.path)
    if path.is_absolute():
        return f"There is no store at {path}: {setting}; {remedy}"
    return (
        f"There is no store at {path.absolute()}: {setting}, a path relative to "
        f"the working directory. Run the command where the store is, or {remedy}"
    )


def _print_report(report: ImportReport) -> None:
    counts = ", ".join(
        f"{report.count(action)} {action.value.lower()}" for action in Action
    )
    verb = "would change" if report.dry_run else "changed"
    if report.problems:
        verb = "was refused; it would have changed"
    elif not report.dry_run and not report.applied:
        verb = "changed nothing"
    print(f"{report.file_name} {verb}: {counts}")
    if report.import_id:
        print(f"import id {report.import_id}, sha256 {report.checksum}")
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}")
    if report.blank_rows:
        print(f"blank rows skipped: {', '.join(map(str, report.blank_rows))}")
    for problem in report.problems:
        # A fault of the whole row (its number of cells) names no cell.
        cell = f" {problem.value!r}" if problem.column or problem.value else ""
        column = f" {problem.column}" if problem.column else ""
        print(f"row {problem.row}{column}{cell}: {problem.reason}")


class _Progress:
    """A one-line progress bar on standard error, redrawn at most 20 times."""

    def __init__(self, total: int, verb: str = "reading", unit: str = "row") -> None:
        self.total = max(total, 1)
        self.shown = -1
        self.verb = verb
        self.unit = unit

    def show(self, row: int, detail: str = "") -> None:
        step = min(row * 20 // self.total, 20)
        if step != self.shown:
            self.shown = step
            bar = "#" * step + "." * (20 - step)
            print(
                f"\r{self.verb} [{bar}] {self.unit} {row}{detail}",
                end="",
                file=sys.stderr,
            )

    def done(self) -> None:
        if self.shown >= 0:
            print(file=sys.stderr)


def _fail(message: str) -> None:
    print(f"qualify: {message}", file=sys.stderr)
