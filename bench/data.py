"""The data generator: a store built through the real commands, from a fixed seed.

A ``Spec`` says how many learners, codes, courses and paths (5 to 20 steps) to make;
``build_catalogue`` creates them in that order through a command executor (the
backend's ``handle``, or the write model's ``execute`` when projection workers
catch up later), and ``random_completions`` draws distinct (learner, content, date)
triples spread over two years. ``write_in_processes`` runs a long list of commands
from several processes at once, each owning a disjoint slice of the learners.
``training_rows`` draws distinct (learner, code, date) training records and
``write_import_file`` writes them as a CSV file for ``qualify import``.
"""

from __future__ import annotations

import csv
import multiprocessing
import queue
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from domain import commands as c
from domain.application import Outcome
from domain.content import ContentKind
from domain.imports import IMPORT_HEADINGS
from domain.principal import SYSTEM
from qualify.bootstrap import Backend, build
from qualify.config import Settings

SEED = 20_240_722
FIRST_DAY = date(2023, 1, 1)
DAYS = 730
PROGRESS_EVERY = 1000

Execute = Callable[[c.Command], Outcome]


@dataclass(frozen=True)
class Spec:
    """The shape of a generated store."""

    learners: int
    codes: int
    courses: int
    paths: int = 0
    min_steps: int = 5
    max_steps: int = 20
    paths_per_learner: int = 1
    seed: int = SEED


@dataclass(frozen=True)
class Catalogue:
    """What ``build_catalogue`` created, by the names and ids commands take."""

    usernames: tuple[str, ...]
    codes: tuple[str, ...]
    content_ids: tuple[str, ...]
    path_codes: tuple[str, ...]


@dataclass(frozen=True)
class Completion:
    """One learner completing one content item on one day."""

    username: str
    content_id: str
    day: date

    def command(self) -> c.CompleteContent:
        """The command that records it."""
        return c.CompleteContent(self.content_id, self.username, self.day)


def handle_with(backend: Backend) -> Execute:
    """Run commands through ``backend.handle``: stored, then projected."""
    return lambda command: backend.handle(command, SYSTEM)


def store_with(backend: Backend) -> Execute:
    """Run commands through the write model only: stored, not yet projected."""
    return lambda command: backend.write_model.execute(command, SYSTEM)


def username(index: int) -> str:
    """The generated learner number ``index``."""
    return f"learner{index:06d}"


def build_catalogue(
    execute: Execute,
    spec: Spec,
    report: Callable[[str], None] = lambda _: None,
    *,
    register: bool = True,
) -> Catalogue:
    """Codes, courses (course i carries code i mod codes), paths, learners, joins.

    With ``register=False`` the learners are named but not registered: their
    commands (``learner_commands``) are left to the caller, to run in parallel.
    """
    rng = random.Random(spec.seed)
    codes = tuple(f"Q{i:05d}" for i in range(spec.codes))
    for code in codes:
        _value(execute, c.CreateCode(code, f"Generated qualification {code}"))
    report(f"created {len(codes)} codes")

    content_ids = tuple(
        _value(
            execute,
            c.CreateContent(
                ContentKind.COURSE,
                f"Generated course {i:05d}",
                description="A course made by the benchmark data generator.",
                code=codes[i % len(codes)] if codes else None,
                modules=(c.Module("Module 1", "", rng.choice((15, 30, 60))),),
            ),
        )
        for i in range(spec.courses)
    )
    report(f"created {len(content_ids)} courses")

    path_codes = tuple(f"P{i:04d}" for i in range(spec.paths))
    course_codes = codes[: min(len(codes), spec.courses)]
    for index, path_code in enumerate(path_codes):
        _value(execute, c.CreateCode(path_code, f"Generated path {path_code}"))
        count = rng.randint(spec.min_steps, min(spec.max_steps, len(course_codes)))
        steps = tuple(
            c.StepInput(code, f"Step {step + 1}", rng.choice((5, 10, 20)), step == 0)
            for step, code in enumerate(rng.sample(course_codes, count))
        )
        _value(
            execute,
            c.CreateLearningPath(path_code, f"Generated path {index:04d}", steps),
        )
    if path_codes:
        report(f"created {len(path_codes)} paths")

    usernames = tuple(username(i) for i in range(spec.learners))
    catalogue = Catalogue(usernames, codes, content_ids, path_codes)
    if register:
        for commands in learner_commands(catalogue, spec):
            for command in commands:
                execute(command)
        report(f"registered {len(usernames)} learners")
    return catalogue


def learner_commands(catalogue: Catalogue, spec: Spec) -> list[list[c.Command]]:
    """For each learner, in order: registering, then joining their paths."""
    rng = random.Random(spec.seed + 1)
    joins = min(spec.paths_per_learner, len(catalogue.path_codes))
    return [
        [
            c.RegisterUser(name, f"{name}@example.com", "Learner", name.title()),
            *(
                c.JoinPath(path, name)
                for path in rng.sample(catalogue.path_codes, joins)
            ),
        ]
        for name in catalogue.usernames
    ]


def random_completions(
    catalogue: Catalogue, count: int, seed: int = SEED
) -> list[Completion]:
    """``count`` distinct completions, uniformly over learners, content and 2 years."""
    limit = len(catalogue.usernames) * len(catalogue.content_ids) * DAYS
    if count > limit:
        raise ValueError(f"only {limit} distinct completions exist, not {count}")
    rng = random.Random(seed)
    seen: set[tuple[int, int, int]] = set()
    chosen: list[Completion] = []
    while len(chosen) < count:
        key = (
            rng.randrange(len(catalogue.usernames)),
            rng.randrange(len(catalogue.content_ids)),
            rng.randrange(DAYS),
        )
        if key in seen:
            continue
        seen.add(key)
        learner, content, day = key
        chosen.append(
            Completion(
                catalogue.usernames[learner],
                catalogue.content_ids[content],
                FIRST_DAY + timedelta(days=day),
            )
        )
    return chosen


def spread_completions(catalogue: Catalogue, count: int) -> list[Completion]:
    """``count`` distinct completions in which any run of consecutive ones shares
    no learner and no content item, as long as the run is shorter than both lists.

    Completion k is learner k mod L and content k mod C; with L and C coprime the
    pairs are all distinct for k < L x C. Concurrent clients taking them in order
    therefore never race for the same learner or course.
    """
    learners, contents = len(catalogue.usernames), len(catalogue.content_ids)
    if count > learners * contents:
        raise ValueError(f"only {learners * contents} spread completions exist")
    if _gcd(learners, contents) != 1:
        raise ValueError("the learner and content counts must be coprime")
    return [
        Completion(
            catalogue.usernames[k % learners],
            catalogue.content_ids[k % contents],
            FIRST_DAY + timedelta(days=(k * 7919) % DAYS),
        )
        for k in range(count)
    ]


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _value(execute: Execute, command: c.Command) -> str:
    value = execute(command).value
    if value is None:
        raise RuntimeError(f"{command!r} produced no value")
    return value


# Import files

PROVIDERS = ("Bench Training Ltd", "Northwind Safety Academy", "Contoso Learning")
OTHER_INFORMATION = "Certificate checked by the line manager"


@dataclass(frozen=True, slots=True)
class TrainingRow:
    """One row of an import file: a new training record for a learner."""

    username: str
    code: str
    day: date
    title: str
    provider: str
    other_information: str

    def cells(self) -> list[str]:
        """The row's cells under ``IMPORT_HEADINGS``: no Record Id, so it is new."""
        return [
            "",
            self.username,
            "Training Record",
            "0",
            self.title,
            self.provider,
            self.day.isoformat(),
            self.other_information,
            self.code,
            "",
        ]


def training_rows(
    usernames: Sequence[str], codes: Sequence[str], count: int, seed: int = SEED
) -> list[TrainingRow]:
    """``count`` new records with distinct (learner, code, date), drawn uniformly.

    Distinct triples mean no row duplicates another or an earlier import's row,
    so every row of every file is created.
    """
    limit = len(usernames) * len(codes) * DAYS
    if count > limit:
        raise ValueError(f"only {limit} distinct training records exist, not {count}")
    rng = random.Random(seed)
    days = [FIRST_DAY + timedelta(days=day) for day in range(DAYS)]
    titles = [f"External training for {code}" for code in codes]
    rows = []
    for key in rng.sample(range(limit), count):
        pair, day = divmod(key, DAYS)
        learner, code = divmod(pair, len(codes))
        rows.append(
            TrainingRow(
                username=usernames[learner],
                code=codes[code],
                day=days[day],
                title=titles[code],
                provider=PROVIDERS[pair % len(PROVIDERS)],
                other_information=OTHER_INFORMATION if key % 10 == 0 else "",
            )
        )
    return rows


def write_import_file(path: Path, rows: Iterable[TrainingRow]) -> int:
    """Write an import file as a spreadsheet saves it (CRLF); its size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(IMPORT_HEADINGS)
        writer.writerows(row.cells() for row in rows)
    return path.stat().st_size


# Many processes


def by_learner(
    catalogue: Catalogue,
    spec: Spec,
    completions: Sequence[Completion],
    parts: int,
) -> list[list[c.Command]]:
    """Every learner's registration, joins and completions, dealt into ``parts``.

    A learner's commands stay in one part and in order (registered first), so
    parts run in parallel never race for the same learner.
    """
    slices: list[list[c.Command]] = [[] for _ in range(parts)]
    owner = {name: i % parts for i, name in enumerate(catalogue.usernames)}
    for name, commands in zip(
        catalogue.usernames, learner_commands(catalogue, spec), strict=True
    ):
        slices[owner[name]].extend(commands)
    for completion in completions:
        slices[owner[completion.username]].append(completion.command())
    return slices


def write_in_processes(
    database_url: str,
    slices: Sequence[Sequence[c.Command]],
    report: Callable[[str], None] = lambda _: None,
    timeout: float = 1800.0,
) -> int:
    """Run each slice of commands in a process of its own, all at once.

    Commands go through the write model only (``follow=False``): stored, not
    projected. Returns how many commands were run.
    """
    context = multiprocessing.get_context("spawn")
    progress: multiprocessing.Queue[tuple[int, int, str | None]] = context.Queue()
    workers = [
        context.Process(
            target=_write_slice, args=(database_url, list(part), index, progress)
        )
        for index, part in enumerate(slices)
    ]
    for worker in workers:
        worker.start()
    total = sum(len(part) for part in slices)
    counts = [0] * len(slices)
    finished: set[int] = set()
    try:
        reported = 0
        deadline = time.monotonic() + timeout
        while len(finished) < len(slices):
            try:
                index, count, error = progress.get(timeout=1.0)
            except queue.Empty:
                crashed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                if crashed or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the data writers stopped (exit codes {crashed})"
                    ) from None
                continue
            if error is not None:
                raise RuntimeError(f"data writer {index} failed: {error}")
            counts[index] = count
            if count == len(slices[index]):
                finished.add(index)
            if sum(counts) - reported >= 5 * PROGRESS_EVERY or len(finished) == len(
                slices
            ):
                reported = sum(counts)
                report(f"ran {reported} of {total} commands")
    finally:
        # Writers still running here were interrupted: stop them at once.
        for worker in workers:
            if len(finished) < len(slices):
                worker.kill()
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join()
    return sum(counts)


def _write_slice(
    database_url: str,
    commands: list[c.Command],
    index: int,
    progress: multiprocessing.Queue[tuple[int, int, str | None]],
) -> None:
    try:
        backend = build(Settings(database_url=database_url), follow=False)
    except Exception as error:
        progress.put((index, 0, repr(error)))
        return
    try:
        execute = store_with(backend)
        for count, command in enumerate(commands, start=1):
            execute(command)
            if count % PROGRESS_EVERY == 0:
                progress.put((index, count, None))
        progress.put((index, len(commands), None))
    except Exception as error:
        progress.put((index, 0, repr(error)))
    finally:
        backend.close()
