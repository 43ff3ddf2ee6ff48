"""Scale benchmark: import and load N SDTM subject visits on SQLite and PostgreSQL.

Generates one synthetic CDISC SDTM study (numpy, fixed seed) as CSV files:
``dm.csv`` (N/20 subjects over ~200 sites), ``sv.csv`` (exactly N visits, 20 per
subject) and ``tv.csv`` (the visit schedule). Then, for each backend, it
initialises a fresh store and times

* import    ``planner.importing.run.import_files(session, "sdtm", [dm, sv, tv], ...)``
            inside ``planner.store.transaction`` (wall clock, commit included);
* re-import the same files again; it must change nothing (``result.changed == 0``);
* load      ``planner.frames.load_portfolio(session)``; it must return N visits;

against the baseline ``pandas.read_csv(sv.csv)`` of the same file.

Run from the repository root::

    .venv/bin/python benchmarks/import_visits.py                     # 1,000,000 rows, SQLite
    .venv/bin/python benchmarks/import_visits.py --rows 100000 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

PostgreSQL runs when ``--postgres-url`` or ``$TEST_POSTGRES_URL`` names a server
whose user may create databases: a fresh ``tp_bench_<random>`` database is created
through an AUTOCOMMIT admin connection and dropped afterwards.

The exit status is 0 when the benchmark ran, even when a time target is missed
(the output is a report; missed targets print FAIL). It is 2 when a correctness
check failed (a re-import that changed rows, a load with the wrong row count) or a
step raised.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from planner.frames import load_portfolio  # noqa: E402
from planner.importing.run import import_files  # noqa: E402
from planner.store import make_engine, transaction, upgrade  # noqa: E402

POSTGRES_URL_ENV = "TEST_POSTGRES_URL"
STUDY_ID = "BENCH-01"
VISITS_PER_SUBJECT = 20
SITES = 200
SEED = 20240601
TARGETS = {"import": 30.0, "re-import": 30.0, "load": 5.0}  # seconds
ARMS = (("PBO", "Placebo"), ("LOW", "Xanomeline Low Dose"), ("HIGH", "Xanomeline High Dose"))


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Study:
    dm: Path
    sv: Path
    tv: Path
    subjects: int
    sites: int
    visits: int

    @property
    def files(self) -> list[Path]:
        return [self.dm, self.sv, self.tv]


def schedule() -> pd.DataFrame:
    """The planned visits: screening (day -14), baseline (day 1), then every 2 weeks."""
    nums = np.arange(1, VISITS_PER_SUBJECT + 1)
    names = ["SCREENING", "BASELINE"] + [f"WEEK {2 * (k - 2)}" for k in nums[2:]]
    days = np.where(nums == 1, -14, np.where(nums == 2, 1, 14 * (nums - 2) + 1))
    return pd.DataFrame({"VISITNUM": nums, "VISIT": names, "VISITDY": days})


def _iso(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype(str)


def generate(workdir: Path, rows: int, seed: int = SEED) -> Study:
    """Write dm.csv, sv.csv (exactly ``rows`` visits) and tv.csv into ``workdir``."""
    rng = np.random.default_rng(seed)
    subjects = -(-rows // VISITS_PER_SUBJECT)
    sites = min(SITES, subjects)
    site_ids = np.array([str(701 + i) for i in range(sites)])
    site = site_ids[np.sort(rng.integers(0, sites, subjects))]
    usubjid = (pd.Series(f"{STUDY_ID}-", index=range(subjects)) + site + "-"
               + pd.Series(np.arange(1, subjects + 1)).map("{:06d}".format)).to_numpy()
    arm = rng.integers(0, len(ARMS), subjects)
    consent = np.datetime64("2020-01-06", "D") + rng.integers(0, 3 * 365, subjects)
    start = consent + rng.integers(7, 29, subjects)
    dm = pd.DataFrame({
        "STUDYID": STUDY_ID, "DOMAIN": "DM", "USUBJID": usubjid, "SITEID": site,
        "ARMCD": np.array([a for a, _ in ARMS])[arm], "ARM": np.array([n for _, n in ARMS])[arm],
        "COUNTRY": "USA", "RFSTDTC": _iso(start), "RFICDTC": _iso(consent),
        "DMDTC": _iso(consent)})

    plan = schedule()
    subject = np.repeat(np.arange(subjects), VISITS_PER_SUBJECT)[:rows]
    visit = np.tile(np.arange(VISITS_PER_SUBJECT), subjects)[:rows]
    planned_day = plan["VISITDY"].to_numpy()[visit]
    jitter = np.where(visit < 2, 0, rng.integers(-3, 4, rows))
    day = np.where(visit == 0, consent[subject],
                   start[subject] + (planned_day - 1) + jitter).astype("datetime64[D]")
    sv = pd.DataFrame({
        "STUDYID": STUDY_ID, "DOMAIN": "SV", "USUBJID": usubjid[subject],
        "VISITNUM": plan["VISITNUM"].to_numpy()[visit], "VISIT": plan["VISIT"].to_numpy()[visit],
        "VISITDY": planned_day, "SVSTDTC": _iso(day), "SVENDTC": _iso(day)})

    tv = plan.assign(STUDYID=STUDY_ID, DOMAIN="TV", ARMCD="", TVSTRL="")
    unscheduled = {"STUDYID": STUDY_ID, "DOMAIN": "TV", "VISITNUM": 99, "VISIT": "UNSCHEDULED",
                   "VISITDY": None, "ARMCD": "", "TVSTRL": "If clinically indicated"}
    tv = pd.concat([tv, pd.DataFrame([unscheduled])], ignore_index=True)[
        ["STUDYID", "DOMAIN", "VISITNUM", "VISIT", "VISITDY", "ARMCD", "TVSTRL"]]
    tv["VISITDY"] = tv["VISITDY"].astype("Int64")

    study = Study(workdir / "dm.csv", workdir / "sv.csv", workdir / "tv.csv",
                  subjects, len(np.unique(site)), rows)
    dm.to_csv(study.dm, index=False)
    sv.to_csv(study.sv, index=False)
    tv.to_csv(study.tv, index=False)
    return study


# --------------------------------------------------------------------------- machine


def revision() -> str:
    """The commit measured, with '-dirty' when planner/ has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "planner"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("-dirty (uncommitted changes in planner/)" if dirty else "")


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ""
    with contextlib.suppress(OSError):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info = {"host": f"{platform.system()} {platform.release()} {platform.machine()}",
            "nproc": str(nproc), "cpu": cpu, "memory": memory, "load average": load,
            "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "sqlalchemy": sqlalchemy.__version__,
            "sqlite": sqlite3.sqlite_version, "trialplan": revision()}
    with contextlib.suppress(ImportError):
        import psycopg

        info["psycopg"] = psycopg.__version__
    return info


# --------------------------------------------------------------------------- stores


@contextlib.contextmanager
def sqlite_store(workdir: Path) -> Iterator[str]:
    path = workdir / "bench.sqlite"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    yield f"sqlite:///{path}"


@contextlib.contextmanager
def postgres_store(base_url: str) -> Iterator[str]:
    """A fresh database on the server of ``base_url``, dropped afterwards."""
    name = f"tp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_version(engine: sqlalchemy.Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return str(connection.execute(text("SHOW server_version")).scalar())
        return f"SQLite {sqlite3.sqlite_version}"


# --------------------------------------------------------------------------- timing


@dataclass
class Row:
    backend: str
    step: str
    seconds: float | None
    rows: int
    check: str = ""  # empty when the correctness check passed
    error: str = ""


def _error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [""]
    return f"{type(exc).__name__}: {lines[0][:120]}"


def timed(label: str, profile_to: Path | None, call: Callable[[], object]
          ) -> tuple[float, object]:
    gc.collect()
    profiler = cProfile.Profile() if profile_to else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    try:
        value = call()
    finally:
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - started
    if profiler and profile_to:
        profiler.dump_stats(profile_to)
    print(f"  {label:<24} {seconds:9.2f} s", flush=True)
    return seconds, value


def run_backend(backend: str, url: str, study: Study, profile_dir: Path | None) -> list[Row]:
    def profile(step: str) -> Path | None:
        return profile_dir / f"{backend}-{step}.prof" if profile_dir else None

    def do_import() -> object:
        with transaction(engine, "bench") as session:
            return import_files(session, "sdtm", study.files, "bench")

    def do_load() -> object:
        with transaction(engine, "bench", commit=False) as session:
            return load_portfolio(session)

    out: list[Row] = []
    engine = make_engine(url)
    try:
        seconds, _ = timed("init (schema)", None, lambda: upgrade(engine))
        print(f"  server: {server_version(engine)}", flush=True)
        for step in ("import", "re-import"):
            try:
                seconds, result = timed(step, profile(step), do_import)
            except Exception as exc:  # report and go on with the next backend
                traceback.print_exc()
                out.append(Row(backend, step, None, study.visits, error=_error(exc)))
                return out
            visits = result.counts.get("subject_visit", {})
            if step == "import":
                check = ("" if visits.get("insert") == study.visits
                         else f"inserted {visits.get('insert')} visits, expected {study.visits}")
            else:
                check = "" if result.changed == 0 else f"changed {result.changed} rows"
            print(f"    counts: {result.counts}", flush=True)
            out.append(Row(backend, step, seconds, study.visits, check))
        try:
            seconds, portfolio = timed("load", profile("load"), do_load)
        except Exception as exc:
            traceback.print_exc()
            out.append(Row(backend, "load", None, study.visits, error=_error(exc)))
            return out
        got = len(portfolio.visits)
        out.append(Row(backend, "load", seconds, study.visits,
                       "" if got == study.visits else f"loaded {got} visits"))
        del portfolio
    finally:
        engine.dispose()
    return out


# --------------------------------------------------------------------------- report


def verdict(row: Row) -> str:
    if row.error:
        return f"FAIL (error: {row.error})"
    if row.check:
        return f"FAIL (check: {row.check})"
    target = TARGETS.get(row.step)
    if target is None:
        return "-"
    return "PASS" if row.seconds is not None and row.seconds <= target else "FAIL"


def table(rows: list[Row], baseline: float) -> str:
    head = ("backend", "step", "seconds", "rows/s", "x read_csv", "target", "result")
    lines = []
    for row in rows:
        target = TARGETS.get(row.step)
        seconds = row.seconds
        lines.append((
            row.backend, row.step,
            "-" if seconds is None else f"{seconds:.2f}",
            "-" if not seconds else f"{row.rows / seconds:,.0f}",
            "-" if seconds is None else f"{seconds / baseline:.1f}",
            "-" if target is None else f"<= {target:g} s",
            verdict(row)))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt.format(*head), sep, *(fmt.format(*line) for line in lines)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="SV rows (default 1000000)")
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_URL_ENV),
                        help=f"server URL with a user that may create databases "
                             f"(default ${POSTGRES_URL_ENV}); PostgreSQL is skipped without")
    parser.add_argument("--workdir", type=Path,
                        help="where the CSV files and the SQLite file go (kept afterwards); "
                             "default a temporary directory, removed afterwards")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append",
                        help="run only this backend (repeatable; default: all available)")
    parser.add_argument("--profile", action="store_true",
                        help="also write cProfile stats <backend>-<step>.prof into the workdir "
                             "(slows the timed steps; view with python -m pstats)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.profile and args.workdir is None:
        parser.error("--profile needs --workdir (the .prof files are kept there)")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tp_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, workdir: Path) -> int:
    info = machine()
    print(f"trialplan import benchmark, {dt.datetime.now().isoformat(timespec='seconds')}")
    for key, value in info.items():
        print(f"  {key:<13} {value}")
    started = time.perf_counter()
    study = generate(workdir, args.rows)
    print(f"\ngenerated {study.visits:,} SV rows, {study.subjects:,} subjects, {study.sites} "
          f"sites in {time.perf_counter() - started:.1f} s ({workdir}; sv.csv "
          f"{study.sv.stat().st_size / 1e6:.1f} MB)", flush=True)

    read_csv = min(timed(f"pandas.read_csv #{i + 1}", None,
                         lambda: pd.read_csv(study.sv))[0] for i in range(2))
    rows = [Row("-", "pandas.read_csv(sv.csv)", read_csv, study.visits)]

    backends = args.backend or ["sqlite", "postgresql"]
    if "postgresql" in backends and not args.postgres_url:
        print(f"\nPostgreSQL skipped: no --postgres-url and no ${POSTGRES_URL_ENV}")
        backends = [b for b in backends if b != "postgresql"]
    profile_dir = workdir if args.profile else None
    for backend in backends:
        print(f"\n{backend}:", flush=True)
        store = (sqlite_store(workdir) if backend == "sqlite"
                 else postgres_store(args.postgres_url))
        try:
            with store as url:
                rows += run_backend(backend, url, study, profile_dir)
        except Exception as exc:
            traceback.print_exc()
            rows.append(Row(backend, "setup", None, study.visits, error=_error(exc)))

    print(f"\n{study.visits:,} SV rows ({study.subjects:,} subjects, {study.sites} sites); "
          f"rows/s = SV rows per second; x read_csv = seconds / pandas.read_csv seconds"
          + ("; PROFILED (cProfile overhead inflates the times)" if args.profile else ""))
    print(table(rows, read_csv))
    print(f"machine: {info['nproc']} CPU(s) {info['cpu']}, {info['memory']}, "
          f"Python {info['python']}, pandas {info['pandas']}, SQLAlchemy {info['sqlalchemy']}")
    missed = [r for r in rows if verdict(r) == "FAIL"]
    broken = [r for r in rows if r.error or r.check]
    if missed or broken:
        print(f"\nFAIL: {len(missed)} time target(s) missed, {len(broken)} check(s) failed: "
              + ", ".join(f"{r.backend} {r.step}" for r in missed + broken))
    else:
        print("\nPASS: every target met")
    return 2 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
