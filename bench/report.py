"""docs/performance.md: the machine, the method, every step measured, and the verdict."""

import os
import platform
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version

from bench.load import SCHEDULE_LAG_LIMIT_SECONDS, Percentiles, StepResult

LATENCY_LIMIT_SECONDS = 0.100
TARGET_RATIO = 0.70
_SCHEDULES = {"poisson": "Poisson", "fixed": "fixed-interval"}
_PACKAGES = ("uvicorn", "starlette", "fastapi", "sqlalchemy", "aiosqlite", "asyncpg", "redis")


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    system: str
    python: str
    services: str
    packages: str
    load_average: str
    date: str


@dataclass
class Sweep:
    """One target on one backend: its steps in order, or why it could not run."""

    backend: str
    target: str
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None

    def _best(self) -> int | None:
        """The index of the ok step with the highest achieved rate."""
        ok = [i for i, step in enumerate(self.steps) if step.meets(LATENCY_LIMIT_SECONDS)]
        return max(ok, key=lambda i: self.steps[i].achieved, default=None)

    @property
    def sustainable(self) -> float | None:
        """The highest achieved rate of a step with agents' p99 under the limit, every message
        sent and every delivery made."""
        best = self._best()
        return None if best is None else self.steps[best].achieved

    @property
    def lower_bound(self) -> bool:
        """The sweep did not find the target's limit: no step above the sustainable one
        failed, or the first that did had the load generator behind schedule."""
        best = self._best()
        if best is None:
            return False
        higher = [s for s in self.steps[best + 1 :] if s.rate > self.steps[best].rate]
        failed = [s for s in higher if not s.meets(LATENCY_LIMIT_SECONDS)]
        return not failed or failed[0].load_bound


def _proc_value(path: str, key: str) -> str:
    with open(path) as source:
        for line in source:
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    return "unknown"


def _os_name() -> str:
    try:
        with open("/etc/os-release") as release:
            fields = dict(line.rstrip("\n").split("=", 1) for line in release if "=" in line)
        return fields.get("PRETTY_NAME", "").strip('"') or platform.system()
    except OSError:
        return platform.system()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def describe_machine(services: str, load_average: str) -> Machine:
    """The facts a reader needs to compare these numbers with another run's."""
    memory_kib = int(_proc_value("/proc/meminfo", "MemTotal").split()[0])
    return Machine(
        cpu=_proc_value("/proc/cpuinfo", "model name"),
        cores=os.cpu_count() or 0,
        memory_gib=memory_kib / 2**20,
        system=f"{_os_name()}, Linux {platform.release()}",
        python=platform.python_version(),
        services=f"SQLite {sqlite3.sqlite_version}; {services}",
        packages=", ".join(f"{name} {version(name)}" for name in _PACKAGES),
        load_average=load_average,
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@dataclass(frozen=True)
class Method:
    conversations: int
    agents: int
    channels: int
    warmup: float
    duration: float
    grace: float
    schedule: str
    rates: list[float]


def _ms(value: float | None) -> str:
    """Milliseconds, with a decimal under 10 ms."""
    if value is None:
        return "–"
    return f"{value * 1000:.1f}" if value < 0.01 else f"{value * 1000:.0f}"


def _triple(percentiles: Percentiles | None) -> list[str]:
    if percentiles is None:
        return ["–", "–", "–"]
    return [_ms(percentiles.p50), _ms(percentiles.p95), _ms(percentiles.p99)]


def _rate(value: float | None, lower_bound: bool = False) -> str:
    if value is None:
        return "none (no step was ok)"
    return f"{'≥ ' if lower_bound else ''}{value:.0f} msg/s"


_COLUMNS = (
    "target", "rate", "offered", "achieved", "send p50", "send p99", "agents p50", "p95", "p99",
    "end user p50", "p95", "p99", "lost", "errors", "CPU servers", "CPU load", "CPU machine",
    "lag p99", "ok",
)  # fmt: skip
_HEADER = "\n".join(
    (
        "| " + " | ".join(_COLUMNS) + " |",
        "| --- |" + " ---: |" * (len(_COLUMNS) - 2) + " :---: |",
    )
)


def _ok_cell(step: StepResult) -> str:
    if step.meets(LATENCY_LIMIT_SECONDS):
        return "✓"
    return "✗ (load)" if step.load_bound else "✗"


def _row(target: str, step: StepResult) -> str:
    errors = step.errors + step.bad_frames + step.dropped_sockets
    cells = [
        target,
        f"{step.rate:g}",
        f"{step.offered:.1f}",
        f"{step.achieved:.1f}",
        _ms(step.send.p50 if step.send else None),
        _ms(step.send.p99 if step.send else None),
        *_triple(step.agents),
        *_triple(step.end_user),
        str(step.lost),
        str(errors),
        f"{step.cpu_servers:.2f}",
        f"{step.cpu_load:.2f}",
        f"{step.cpu_machine:.2f}",
        _ms(step.schedule_lag_p99),
        _ok_cell(step),
    ]
    return "| " + " | ".join(cells) + " |"


def _notes(sweep: Sweep) -> list[str]:
    notes = []
    if sweep.error:
        verdict = "stopped early" if sweep.steps else "did not run"
        notes.append(f"- {sweep.target} {verdict}: `{sweep.error}`")
    for step in sweep.steps:
        if step.first_error or step.bad_frames:
            notes.append(
                f"- {sweep.target} at {step.rate:g}/s: {step.errors} failed sends, "
                f"{step.bad_frames} duplicate or misrouted frames, {step.dropped_sockets} "
                f"sockets closed by the server; first error: `{step.first_error}`"
            )
    return notes


def _summary(backend: str, sweeps: list[Sweep]) -> str:
    by_target = {sweep.target: sweep for sweep in sweeps if sweep.steps}
    ours, floor = by_target.get("relaydesk"), by_target.get("baseline")
    if ours is None or floor is None:
        return f"- **{backend}**: not compared (a target has no measurement; see below)."
    line = (
        f"- **{backend}**: relaydesk {_rate(ours.sustainable, ours.lower_bound)}, "
        f"baseline {_rate(floor.sustainable, floor.lower_bound)}"
    )
    if not floor.sustainable:
        return line + ", ratio: n/a."
    ratio = (ours.sustainable or 0.0) / floor.sustainable
    return line + f", ratio **{_ratio(ratio, ours, floor)}** ({_verdict_of(ratio, ours, floor)})."


def _ratio(ratio: float, ours: Sweep, floor: Sweep) -> str:
    """A lower bound on relaydesk's rate raises the ratio; one on the baseline's lowers it."""
    if ours.lower_bound == floor.lower_bound:
        return f"{ratio:.0%}" if not ours.lower_bound else f"about {ratio:.0%}"
    return f"≥ {ratio:.0%}" if ours.lower_bound else f"≤ {ratio:.0%}"


def _verdict_of(ratio: float, ours: Sweep, floor: Sweep) -> str:
    target = f"the ≥ {TARGET_RATIO:.0%} target"
    if ratio >= TARGET_RATIO:
        return f"meets {target}" if not floor.lower_bound else f"{target} not shown"
    return f"misses {target}" if not ours.lower_bound else f"{target} not shown"


def _machine_section(machine: Machine) -> list[str]:
    return [
        "## Machine",
        "",
        f"- CPU: {machine.cpu}, {machine.cores} cores; memory {machine.memory_gib:.0f} GiB",
        f"- System: {machine.system}; Python {machine.python}",
        f"- Services: {machine.services}",
        f"- Packages: {machine.packages}",
        f"- Load average before the run (1, 5, 15 min): {machine.load_average}; the *CPU "
        "machine* column shows what else ran during each step.",
    ]


def _method_section(method: Method) -> list[str]:
    plural = "s" if method.channels != 1 else ""
    return [
        "## Method",
        "",
        "`bench/run.py` starts each target as real server processes on a fresh database and "
        "loads it from one separate process (`bench/load.py`: asyncio on uvloop, httpx, and "
        "websockets with permessage-deflate as browsers negotiate it). "
        f"{method.conversations} end users, spread over {method.channels} "
        f"channel{plural} of one partner, each hold a socket (`GET /api/v1/ws`), and "
        f"{method.agents} agents of that partner each hold one that receives the whole inbox. "
        "End users send `POST /api/v1/channels/{id}/chat/messages` on an open-loop "
        f"{_SCHEDULES[method.schedule]} schedule (every send its own task, never waiting for "
        "earlier answers) from a sender chosen at random. Every message must reach all "
        f"{method.agents} agents and its own end user: {method.agents + 1} deliveries.",
        "",
        "- Before the sweep every end user sends one message, so every conversation exists "
        "and the whole path is checked once.",
        f"- Each rate: {method.warmup:g} s warm-up, {method.duration:g} s measured, then up to "
        f"{method.grace:g} s for late deliveries. Rates tried: "
        f"{', '.join(f'{rate:g}' for rate in method.rates)} msg/s, stopping after the first "
        "rate whose agents' p99 exceeds 1 s or that achieves under 90% of what it offered, "
        "twice in a row (a rate that fails once is tried again: a burst of other work on the "
        "machine can spoil one step).",
        "- *offered*: sends started in the measured window per second (random arrivals "
        "scatter around the nominal rate; every target gets the same seeded arrivals). "
        "*achieved*: 201 answers received during the window per second. *send*: time from "
        "starting a send to its answer. *agents*, *end user*: delivery latency, from starting "
        "the send to reading its `message.created` frame, over the messages started in the "
        "window. Latencies in ms, all from the load process's clock.",
        f"- *lost*: deliveries still missing {method.grace:g} s after the last answer. "
        "*errors*: sends not answered 201, plus duplicate or misrouted frames and sockets the "
        "server closed. *CPU*: cores busy during the window: the servers' processes, the load "
        "process, the whole machine (PostgreSQL and Redis included).",
        "- *lag p99*: how late the load process started its sends against the schedule. "
        f"Over {SCHEDULE_LAG_LIMIT_SECONDS * 1000:.0f} ms while the load process used at "
        "least as much CPU as the target's servers, the step is marked *(load)*: the load "
        "process (about 2 ms of CPU per message, most of it httpx) shares the machine with "
        "the servers, and there it was the limit more than the target.",
        f"- *ok* (sustainable): agents' p99 < {LATENCY_LIMIT_SECONDS * 1000:.0f} ms, no lost "
        "delivery, no error. A target's sustainable rate is the highest achieved rate of an "
        "ok step; ≥ when no higher rate failed, or the first that did was a *(load)* step.",
        "- **baseline** (`bench/baseline_app.py`) is the floor of the same work under the same "
        "uvicorn settings: a bare Starlette app whose POST inserts one message row (aiosqlite; "
        "on PostgreSQL asyncpg and a Redis publish) and fans the frame out to the agents' and "
        "the end user's sockets, with no authentication, no conversation state and no checks. "
        "Its answer and frame carry every field of relaydesk's (the frame a conversation with "
        "its last message, about 1.2 KB), so clients read the same bytes from both.",
        "- SQLite: one server process. PostgreSQL: two server processes sharing Redis pub/sub; "
        "end users and agents alternate between them, so deliveries cross processes.",
    ]


def _backend_section(backend: str, sweeps: list[Sweep]) -> list[str]:
    lines = [f"## {backend}", "", _HEADER]
    lines += [_row(sweep.target, step) for sweep in sweeps for step in sweep.steps]
    notes = [note for sweep in sweeps for note in _notes(sweep)]
    return [*lines, "", *notes] if notes else lines


def render(machine: Machine, method: Method, sweeps: list[Sweep]) -> str:
    by_backend: dict[str, list[Sweep]] = {}
    for sweep in sweeps:
        by_backend.setdefault(sweep.backend, []).append(sweep)
    lines = [
        "# Performance",
        "",
        f"Written by `make bench` on {machine.date}; run it again to refresh this page "
        "(`make bench BENCH_ARGS=--help` lists the options).",
        "",
        *_machine_section(machine),
        "",
        *_method_section(method),
        "",
        "## Result",
        "",
        f"Target: relaydesk sustains at least {TARGET_RATIO:.0%} of the baseline's sustainable "
        f"rate (agents' p99 < {LATENCY_LIMIT_SECONDS * 1000:.0f} ms, zero lost deliveries).",
        "",
        *(_summary(backend, chosen) for backend, chosen in by_backend.items()),
    ]
    for backend, chosen in by_backend.items():
        lines += ["", *_backend_section(backend, chosen)]
    return "\n".join(lines) + "\n"
