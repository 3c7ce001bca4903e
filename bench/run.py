"""`make bench`: three suites, each writing its part of docs/performance.md.

    python -m bench.run [--suite chat,analytics,exports,broadcasts] [--quick]
                        [--backends sqlite,postgresql]

chat: sweep the message rate on relaydesk and on the baseline. For every backend and target:
a fresh database, the target's servers, its clients set up and connected, one priming message
per end user, then one step per rate until a rate fails badly twice in a row.

analytics: the chat-analytics reads on 100,000 seeded chat sessions (bench/analytics.py). For
every backend: a fresh database seeded in bulk, one server, sequential requests to the summary
and the daily figures next to GET /healthz; on PostgreSQL also the naive query over the
messages and the summary's query plans.

exports: the streamed CSV exports at 10,000 and 100,000 rows (bench/exports.py). For every
backend: a fresh database, one server, the partners and requests grown in bulk to each size,
each export downloaded whole while the server's resident memory is sampled, next to the idle
server's memory and GET /healthz.

broadcasts: one broadcast delivered to 100,000 and to 1,000,000 end users on PostgreSQL (a
tenth of that on SQLite) by the worker's own function in this process (bench/broadcasts.py).
For every backend: a fresh database, the end users grown in bulk to each size, a bare
INSERT … SELECT of as many rows as the baseline, then one broadcast per batch size, timed
while this process's resident memory is sampled, and checked.

A run of some suites keeps the others' parts of the report as they were.
Servers and PostgreSQL databases are removed again however the run ends (Ctrl-C included).
"""

import argparse
import asyncio
import math
import resource
import signal
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import uvloop
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench import analytics, analytics_seed, broadcasts, exports, report, targets
from bench.load import LoadGenerator, Step, StepResult
from bench.servers import ROOT, DatabaseUrls, postgresql_database, sqlite_database

SUITES = ("chat", "analytics", "exports", "broadcasts")
DEFAULT_RATES = "25,50,100,150,200,225,250,275,300,350,400,450,500,600,800,1000"
FULL = {
    "conversations": 200, "agents": 20, "rates": DEFAULT_RATES, "duration": 10.0, "warmup": 3.0,
    "sessions": 100_000, "requests": 200, "export_rows": "10000,100000",
    "end_users": "100000,1000000", "delivery_budget": 300.0,
}  # fmt: skip
QUICK = {
    "conversations": 20, "agents": 3, "rates": "20,40", "duration": 3.0, "warmup": 1.0,
    "sessions": 10_000, "requests": 20, "export_rows": "1000,10000",
    "end_users": "10000,100000", "delivery_budget": 60.0,
}  # fmt: skip
# A step this bad ends the sweep: higher rates can only be worse. The achieved rate is held
# against the offered one (sends started in the window), which a Poisson schedule scatters
# around the nominal rate.
STOP_P99_SECONDS = 1.0
STOP_ACHIEVED_SHARE = 0.9
ATTEMPTS_BEFORE_STOPPING = 2
TARGETS: dict[str, targets.Target] = {
    "relaydesk": targets.relaydesk,
    "baseline": targets.baseline,
}


@dataclass(frozen=True)
class Options:
    suites: list[str]
    backends: list[str]
    targets: list[str]
    conversations: int
    agents: int
    rates: list[float]
    warmup: float
    duration: float
    grace: float
    schedule: str
    output: Path | None
    postgres_url: str
    redis_url: str
    sessions: int
    requests: int
    export_rows: list[int]
    end_users: list[int]
    batches: list[int]
    delivery_budget: float


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--suite",
        default=",".join(SUITES),
        help="chat,analytics,exports,broadcasts: the suites to run (all four)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short check of the whole path (chat: C=20, A=3, rates 20,40, 3 s steps; "
        "analytics: 10,000 sessions, 20 requests a read; exports: 1,000 and 10,000 rows; "
        "broadcasts: 10,000 and 100,000 end users); "
        "writes no report unless --output is given",
    )
    chat = parser.add_argument_group("chat suite")
    chat.add_argument("--targets", default="relaydesk,baseline", help="relaydesk,baseline")
    chat.add_argument("--conversations", type=int, help="end users, one conversation each (200)")
    chat.add_argument("--agents", type=int, help="agents, each receiving the whole inbox (20)")
    chat.add_argument("--rates", help=f"messages per second to try (default {DEFAULT_RATES})")
    chat.add_argument("--warmup", type=float, help="seconds before each measurement (3)")
    chat.add_argument("--duration", type=float, help="seconds measured per rate (10)")
    chat.add_argument("--grace", type=float, default=5.0, help="seconds for late deliveries (5)")
    chat.add_argument("--schedule", choices=("poisson", "fixed"), default="poisson")
    reads = parser.add_argument_group("analytics suite")
    reads.add_argument("--sessions", type=int, help="chat sessions seeded (100000)")
    reads.add_argument("--requests", type=int, help="timed requests per read (200)")
    downloads = parser.add_argument_group("exports suite")
    downloads.add_argument(
        "--export-rows", help="partners and requests at each size, ascending (10000,100000)"
    )
    delivery = parser.add_argument_group("broadcasts suite")
    delivery.add_argument(
        "--end-users",
        help="end users at each size on PostgreSQL, ascending; SQLite gets a tenth "
        "(100000,1000000)",
    )
    delivery.add_argument(
        "--batches",
        default=",".join(str(batch) for batch in broadcasts.default_batches()),
        help="end users per transaction, one broadcast each at each size "
        f"({','.join(str(batch) for batch in broadcasts.default_batches())}: the worker's "
        "own and two larger)",
    )
    delivery.add_argument(
        "--delivery-budget",
        type=float,
        help="seconds a delivery may take before it is stopped and reported unfinished (300)",
    )
    parser.add_argument("--output", type=Path, help="default docs/performance.md, unless --quick")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    arguments = parser.parse_args(argv)
    for name, value in (QUICK if arguments.quick else FULL).items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    unknown = set(_csv(arguments.suite)) - set(SUITES)
    unknown |= set(_csv(arguments.backends)) - {"sqlite", "postgresql"}
    unknown |= set(_csv(arguments.targets)) - set(TARGETS)
    if unknown:
        parser.error(f"unknown suites, backends or targets: {', '.join(sorted(unknown))}")
    if arguments.sessions < 10 or arguments.requests < 1:
        parser.error("--sessions needs at least 10 and --requests at least 1")
    if not _csv(arguments.rates):
        parser.error("--rates needs at least one rate")
    try:
        export_rows = [int(size) for size in _csv(arguments.export_rows)]
    except ValueError:
        export_rows = []
    if not export_rows or export_rows[0] < 1 or export_rows != sorted(set(export_rows)):
        parser.error("--export-rows needs sizes of at least 1, ascending")
    try:
        end_users = [int(size) for size in _csv(arguments.end_users)]
        batches = [int(batch) for batch in _csv(arguments.batches)]
    except ValueError:
        end_users, batches = [], []
    if not end_users or end_users[0] < 10 or end_users != sorted(set(end_users)):
        parser.error("--end-users needs sizes of at least 10, ascending")
    if not batches or min(batches) < 1:
        parser.error("--batches needs batch sizes of at least 1")
    output = arguments.output
    if output is None and not arguments.quick:
        output = ROOT / "docs" / "performance.md"
    return Options(
        suites=_csv(arguments.suite),
        backends=_csv(arguments.backends),
        targets=_csv(arguments.targets),
        conversations=arguments.conversations,
        agents=arguments.agents,
        rates=[float(rate) for rate in _csv(arguments.rates)],
        warmup=arguments.warmup,
        duration=arguments.duration,
        grace=arguments.grace,
        schedule=arguments.schedule,
        output=output,
        postgres_url=arguments.postgres_url,
        redis_url=arguments.redis_url,
        sessions=arguments.sessions,
        requests=arguments.requests,
        export_rows=export_rows,
        end_users=end_users,
        batches=batches,
        delivery_budget=arguments.delivery_budget,
    )


def raise_open_file_limit() -> None:
    """Hundreds of sockets, in this process and in the servers, which inherit the limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _backend(name: str, options: Options) -> targets.Backend:
    if name == "sqlite":
        return targets.Backend("SQLite, 1 process", 1, None)
    return targets.Backend("PostgreSQL + Redis, 2 processes", 2, options.redis_url)


def _database(
    backend: targets.Backend, folder: Path, options: Options
) -> AbstractAsyncContextManager[DatabaseUrls]:
    if backend.redis_url is None:
        return sqlite_database(folder)
    return postgresql_database(options.postgres_url)


def _ends_sweep(step: StepResult) -> bool:
    return (
        step.agents is None
        or step.agents.p99 > STOP_P99_SECONDS
        or step.achieved < STOP_ACHIEVED_SHARE * step.offered
        or step.dropped_sockets > 0
    )


def _print_step(target: str, step: StepResult) -> None:
    agents = step.agents
    p99 = f"{agents.p99 * 1000:.0f} ms" if agents else "–"
    print(
        f"  {target:9} {step.rate:6g}/s: {step.offered:6.1f} offered, {step.achieved:6.1f} "
        f"achieved  agents p99 {p99:>8}  "
        f"lost {step.lost}  errors {step.errors + step.bad_frames + step.dropped_sockets}  "
        f"CPU servers {step.cpu_servers:.2f} load {step.cpu_load:.2f} "
        f"machine {step.cpu_machine:.2f}  lag p99 {step.schedule_lag_p99 * 1000:.0f} ms",
        flush=True,
    )
    if step.first_error:
        print(f"    first error: {step.first_error}", flush=True)


def _print_server_logs(folder: Path) -> None:
    for log in sorted(folder.glob("server*.log")):
        print(f"--- {log.name} (end) ---\n{log.read_text(errors='replace')[-3000:]}")


@asynccontextmanager
async def _printing_logs_on_error(folder: Path) -> AsyncIterator[None]:
    """On a failure, shows the end of each server's log before the folder goes away."""
    try:
        yield
    except Exception:
        _print_server_logs(folder)
        raise


def _step(rate: float, options: Options) -> Step:
    return Step(
        rate=rate,
        warmup=options.warmup,
        duration=options.duration,
        grace=options.grace,
        poisson=options.schedule == "poisson",
    )


async def _run_steps(generator: LoadGenerator, options: Options, result: report.Sweep) -> None:
    """Primes, then runs one step per rate until a rate is bad enough to end the sweep, twice
    in a row: a burst of other work on the machine can spoil a single step."""
    await generator.prime()
    for rate in options.rates:
        for _attempt in range(ATTEMPTS_BEFORE_STOPPING):
            step = await generator.run_step(_step(rate, options))
            result.steps.append(step)
            _print_step(result.target, step)
            if not _ends_sweep(step):
                break
        else:
            return


async def sweep(backend: targets.Backend, target: str, options: Options) -> report.Sweep:
    """One target on a fresh database; a failure is recorded in the result, not raised."""
    result = report.Sweep(backend.name, target)
    print(f"{backend.name}: {target}", flush=True)
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-") as name:
        folder = Path(name)
        try:
            async with (
                _printing_logs_on_error(folder),
                _database(backend, folder, options) as database,
                TARGETS[target](
                    backend, database, folder, options.conversations, options.agents
                ) as running,
                LoadGenerator.connected(running.population, running.cpu_seconds) as generator,
            ):
                await _run_steps(generator, options, result)
        except Exception as error:  # one failed sweep must not cost the others their report
            traceback.print_exc()
            result.error = str(error).splitlines()[0] if str(error) else repr(error)
    return result


async def _service_versions(options: Options) -> str:
    """PostgreSQL's and Redis's versions; raises if either is unreachable."""
    connection = await asyncpg.connect(options.postgres_url)
    try:
        postgres = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    redis = Redis.from_url(options.redis_url)
    try:
        redis_version = (await redis.info("server"))["redis_version"]
    finally:
        await redis.aclose()
    return f"PostgreSQL {postgres}; Redis {redis_version}"


async def _sweeps(options: Options) -> tuple[str, list[report.Sweep]]:
    """Each target on each backend, and the services' versions. PostgreSQL's sweeps are
    recorded as not run, rather than failing the run, when PostgreSQL or Redis is away."""
    services = "PostgreSQL and Redis not used"
    sweeps = []
    for name in options.backends:
        backend = _backend(name, options)
        if backend.redis_url:
            try:
                services = await _service_versions(options)
            except (OSError, asyncpg.PostgresError, RedisError) as error:
                print(f"{backend.name}: not reachable, skipped: {error!r}", flush=True)
                unreachable = f"PostgreSQL or Redis not reachable: {error!r}"
                sweeps += [
                    report.Sweep(backend.name, t, error=unreachable) for t in options.targets
                ]
                continue
        sweeps += [await sweep(backend, target, options) for target in options.targets]
    return services, sweeps


async def _chat(options: Options) -> str:
    """The chat suite; its part of the report."""
    load_average = report.load_average()  # before the bench adds its own load
    services, sweeps = await _sweeps(options)
    machine = report.describe_machine(services, load_average)
    method = report.Method(
        conversations=options.conversations,
        agents=options.agents,
        channels=math.ceil(options.conversations / targets.END_USERS_PER_CHANNEL),
        warmup=options.warmup,
        duration=options.duration,
        grace=options.grace,
        schedule=options.schedule,
        rates=options.rates,
    )
    return report.render_chat(machine, method, sweeps)


async def _postgres_settings(options: Options) -> str:
    """PostgreSQL's version and memory settings; raises if it is unreachable."""
    connection = await asyncpg.connect(options.postgres_url)
    try:
        version, buffers, work_mem = await connection.fetchrow(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('work_mem')"
        )
    finally:
        await connection.close()
    return f"PostgreSQL {version} (shared_buffers {buffers}, work_mem {work_mem})"


async def _analytics_run(name: str, options: Options, scale: analytics_seed.Scale) -> analytics.Run:
    """One backend's analytics; a failure is recorded in the result, not raised."""
    label = "PostgreSQL" if name == "postgresql" else "SQLite"
    print(f"analytics on {label}", flush=True)
    try:
        return await analytics.run_backend(name, label, options.postgres_url, scale)
    except Exception as error:  # one failed backend must not cost the other its report
        traceback.print_exc()
        return analytics.Run(label, error=str(error).splitlines()[0] if str(error) else repr(error))


async def _analytics(options: Options) -> str:
    """The analytics suite, PostgreSQL first (the requirement is stated for it); its part of
    the report."""
    load_average = report.load_average()
    scale = analytics_seed.scale(options.sessions, options.requests)
    services, runs = "PostgreSQL not used", []
    for name in sorted(options.backends, key=lambda backend: backend != "postgresql"):
        if name == "postgresql":
            try:
                services = await _postgres_settings(options)
            except (OSError, asyncpg.PostgresError) as error:
                print(f"PostgreSQL: not reachable, skipped: {error!r}", flush=True)
                runs.append(analytics.Run("PostgreSQL", error=f"not reachable: {error!r}"))
                continue
        runs.append(await _analytics_run(name, options, scale))
    # Other work on the machine shows in the latencies: the load average says how much.
    load_averages = f"{load_average} before the run, {report.load_average()} after"
    machine = report.describe_machine(services, load_averages)
    return report.render_analytics(machine, scale, runs)


async def _exports_run(name: str, options: Options) -> exports.Run:
    """One backend's downloads; a failure is recorded in the result, not raised."""
    label = "PostgreSQL" if name == "postgresql" else "SQLite"
    print(f"exports on {label}", flush=True)
    try:
        return await exports.run_backend(name, label, options.postgres_url, options.export_rows)
    except Exception as error:  # one failed backend must not cost the other its report
        traceback.print_exc()
        return exports.Run(label, error=str(error).splitlines()[0] if str(error) else repr(error))


async def _exports(options: Options) -> str:
    """The exports suite; its part of the report."""
    load_average = report.load_average()
    services, runs = "PostgreSQL not used", []
    for name in options.backends:
        if name == "postgresql":
            try:
                services = await _postgres_settings(options)
            except (OSError, asyncpg.PostgresError) as error:
                print(f"PostgreSQL: not reachable, skipped: {error!r}", flush=True)
                runs.append(exports.Run("PostgreSQL", error=f"not reachable: {error!r}"))
                continue
        runs.append(await _exports_run(name, options))
    load_averages = f"{load_average} before the run, {report.load_average()} after"
    machine = report.describe_machine(services, load_averages)
    return report.render_exports(machine, options.export_rows, runs)


async def _broadcasts(options: Options) -> str:
    """The broadcasts suite, PostgreSQL first (the target is stated for it); its part of the
    report."""
    load_average = report.load_average()
    services, runs = "PostgreSQL not used", []
    for name in sorted(options.backends, key=lambda backend: backend != "postgresql"):
        label = "PostgreSQL" if name == "postgresql" else "SQLite"
        if name == "postgresql":
            try:
                services = await _postgres_settings(options)
            except (OSError, asyncpg.PostgresError) as error:
                print(f"PostgreSQL: not reachable, skipped: {error!r}", flush=True)
                runs.append(broadcasts.Run(label, error=f"not reachable: {error!r}"))
                continue
        print(f"broadcasts on {label}", flush=True)
        run = await broadcasts.run_backend(
            name, label, options.postgres_url, options.end_users, options.batches,
            options.delivery_budget,
        )  # fmt: skip
        if run.error:
            print(f"  stopped: {run.error}", flush=True)
        runs.append(run)
    load_averages = f"{load_average} before the run, {report.load_average()} after"
    machine = report.describe_machine(services, load_averages)
    return report.render_broadcasts(machine, options.end_users, options.batches, runs)


async def main(options: Options) -> None:
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)  # clean up as for Ctrl-C
    chat = await _chat(options) if "chat" in options.suites else None
    reads = await _analytics(options) if "analytics" in options.suites else None
    downloads = await _exports(options) if "exports" in options.suites else None
    sent = await _broadcasts(options) if "broadcasts" in options.suites else None
    if options.output:
        page = options.output.read_text() if options.output.exists() else ""
        options.output.write_text(
            report.compose(page, chat=chat, analytics=reads, exports=downloads, broadcasts=sent)
        )
        print(f"wrote {options.output}")
    else:
        print("\n\n".join(part for part in (chat, reads, downloads, sent) if part))


if __name__ == "__main__":
    options = parse_options(sys.argv[1:])
    raise_open_file_limit()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted; servers stopped and databases dropped")
