"""docs/performance.md: the machine, the method, every step measured, and the verdict."""

import os
import platform
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version

from bench import analytics, analytics_seed, broadcasts, broadcasts_seed, exports, exports_seed
from bench.load import SCHEDULE_LAG_LIMIT_SECONDS, Percentiles, StepResult
from relaydesk.broadcasts.models import Audience

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
        f"- Measured: {machine.date} (`--suite chat`)",
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


def render_chat(machine: Machine, method: Method, sweeps: list[Sweep]) -> str:
    """The chat part of the page: machine, method, result and every backend's steps."""
    by_backend: dict[str, list[Sweep]] = {}
    for sweep in sweeps:
        by_backend.setdefault(sweep.backend, []).append(sweep)
    lines = [
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
    return "\n".join(lines)


_PAGE_HEADER = (
    "# Performance\n\n"
    "Written by `make bench` in four parts, each measured by its own suite and stating when "
    "and on which machine: chat delivery under load (from *Machine* to the backends' tables), "
    "the [chat analytics reads](#analytics), the server's memory during the [CSV "
    "exports](#exports), and the worker's [broadcast delivery](#broadcasts) to a million end "
    "users. `make bench` runs all four; "
    '`make bench BENCH_ARGS="--suite chat"` (or `analytics`, `exports`, `broadcasts`) refreshes '
    "one part and keeps the others (`make bench BENCH_ARGS=--help` lists the options)."
)
_PART_STARTS = {
    "chat": "\n## Machine\n",
    "analytics": "\n## Analytics\n",
    "exports": "\n## Exports\n",
    "broadcasts": "\n## Broadcasts\n",
}


def _parts(page: str) -> dict[str, str]:
    """The parts of a page written before, by suite (only those it has)."""
    found = sorted(
        (at, suite) for suite, start in _PART_STARTS.items() if (at := page.find(start)) >= 0
    )
    ends = [at for at, _suite in found] + [len(page)]
    return {suite: page[at:end].strip() for (at, suite), end in zip(found, ends[1:], strict=True)}


def compose(
    page: str,
    *,
    chat: str | None,
    analytics: str | None,
    exports: str | None,
    broadcasts: str | None = None,
) -> str:
    """docs/performance.md with the parts measured now, and the other parts as they were."""
    kept = _parts(page)
    measured = {"chat": chat, "analytics": analytics, "exports": exports, "broadcasts": broadcasts}
    parts = [measured[suite] or kept.get(suite) for suite in _PART_STARTS]
    return "\n\n".join([_PAGE_HEADER, *(part for part in parts if part)]) + "\n"


# Analytics


TENS_OF_MS_SECONDS = 0.100  # "tens of milliseconds": p95 under 100 ms


def _analytics_ms(seconds: float) -> str:
    milliseconds = seconds * 1000
    return f"{milliseconds:.1f}" if milliseconds < 100 else f"{milliseconds:.0f}"


def _size(size: int) -> str:
    return "–" if not size else f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"


def _timing_row(timing: analytics.Timing, floor: analytics.Timing | None) -> str:
    ratio = f"{timing.p50 / floor.p50:.1f}×" if floor and timing is not floor else "1×"
    path = timing.path.split("&channel_id=")[0] + (
        "&channel_id=…" if "&channel_id" in timing.path else ""
    )
    request = f"`GET {path}`" if timing.path else "asyncpg, SQL only"
    latencies = [_analytics_ms(value) for value in (timing.p50, timing.p95, timing.p99, timing.max)]
    cells = [timing.name, request, str(timing.count), *latencies, ratio, _size(timing.size)]
    return "| " + " | ".join(cells) + " |"


def _analytics_verdict(run: analytics.Run) -> str:
    by_name = {timing.name: timing for timing in run.timings}
    summary, floor = by_name.get("summary, 24 h"), by_name.get("healthz (baseline)")
    if run.error or summary is None or floor is None:
        return f"- **{run.backend}**: not measured: `{run.error}`"
    meets = summary.p95 < TENS_OF_MS_SECONDS
    line = (
        f"- **{run.backend}**: the 24-hour summary answers in p50 {_analytics_ms(summary.p50)} "
        f"ms, p95 {_analytics_ms(summary.p95)} ms, p99 {_analytics_ms(summary.p99)} ms: "
        f"**{summary.p50 / floor.p50:.1f}×** the floor of a request (`GET /healthz`, p50 "
        f"{_analytics_ms(floor.p50)} ms), "
        + ("**within tens of milliseconds**" if meets else "**not within tens of milliseconds**")
    )
    slow = [timing for timing in run.timings if timing.p95 >= TENS_OF_MS_SECONDS]
    if slow:
        line += ". Over 100 ms at p95: " + ", ".join(
            f"{timing.name} (p50 {_analytics_ms(timing.p50)} ms, p95 "
            f"{_analytics_ms(timing.p95)} ms)"
            for timing in slow
        )
    if run.naive:
        line += (
            f". Computing the same figures from the message rows takes p50 "
            f"{_analytics_ms(run.naive.p50)} ms in the database alone, "
            f"{run.naive.p50 / summary.p50:.0f}× the whole summary request"
        )
    return line + "."


_TIMING_HEADER = (
    "| read | request | count | p50 | p95 | p99 | max | p50 ÷ healthz p50 | answer |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _run_section(run: analytics.Run) -> list[str]:
    lines = [f"### {run.backend}", ""]
    if run.error:
        return [*lines, f"Not measured: `{run.error}`"]
    seeded = ", ".join(f"{count:,} {name}" for name, count in run.seeded.items() if count)
    lines += [f"Seeded in {run.seed_seconds:.1f} s: {seeded}.", "", _TIMING_HEADER]
    floor = run.timings[0] if run.timings else None
    lines += [_timing_row(timing, floor) for timing in run.timings]
    if run.naive:
        lines.append(_timing_row(run.naive, floor))
    if run.plans:
        lines += ["", *_plans_section(run.plans)]
    return lines


def _plans_section(plans: list[analytics.Plan]) -> list[str]:
    lines = [
        "Each statement of the summary and of the year's daily read, as the service issues it, "
        "run again under `EXPLAIN (ANALYZE, BUFFERS)` after the timed requests (times in ms; "
        "buffers: 8 KB pages hit or read):",
        "",
        "| read | statement on | scans | planning | execution | buffers |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {plan.read} | {plan.statement} | {'; '.join(plan.scans)} | {plan.planning_ms:.2f} "
        f"| {plan.execution_ms:.2f} | {plan.buffers:,} |"
        for plan in plans
    ]
    return lines


def render_analytics(
    machine: Machine, scale: analytics_seed.Scale, runs: list[analytics.Run]
) -> str:
    """The analytics part of the page: when, on what, how, and every read's latencies."""
    lines = [
        "## Analytics",
        "",
        f"Measured by `make bench` (`--suite analytics`) on {machine.date}: {machine.cpu}, "
        f"{machine.cores} cores, {machine.memory_gib:.0f} GiB; {machine.system}; Python "
        f"{machine.python}; {machine.services}; load average (1, 5, 15 min) "
        f"{machine.load_average}.",
        "",
        "Requirement (HD-15): the 24-hour summary answers from indexed chat-session rows, not by "
        f"scanning messages; with {scale.sessions:,} chat sessions on PostgreSQL, in tens of "
        f"milliseconds (here: p95 under {TENS_OF_MS_SECONDS * 1000:.0f} ms).",
        "",
        *(_analytics_verdict(run) for run in runs),
        "",
        *_analytics_method(scale),
    ]
    for run in runs:
        lines += ["", *_run_section(run)]
    return "\n".join(lines)


def _analytics_method(scale: analytics_seed.Scale) -> list[str]:
    return [
        "### Method",
        "",
        "`bench/analytics.py`, per backend: a fresh database (PostgreSQL: a new, randomly named "
        "database, dropped afterwards), `relaydesk migrate`, the tenant and the partner with "
        "its admin from the CLI, then one partner's last "
        f"{analytics_seed.DAYS} days seeded straight into the tables of `relaydesk.models`: "
        f"{scale.channels} channels, {scale.agents} agents, {scale.end_users:,} end users "
        "each following a channel and holding one conversation, and "
        f"{scale.sessions:,} chat sessions over them, opening at a rate that doubles over the "
        "90 days (about 1.5% of them in the last 24 hours), with response times around 40 s "
        "and handling times around 7 min (log-normal), 3% finished without a response and 5% "
        "taken over; sessions still running now leave their conversation active or "
        "unanswered. PostgreSQL gets them by COPY, then every session's messages in one "
        "`INSERT … SELECT` (the end user's text, a *reopened* line from the second session "
        "on, *taken*, the agent's answer, the end user's reply, *taken over*, *finished*), "
        "then `VACUUM ANALYZE`; SQLite the same rows without the messages, by executemany in "
        "one transaction, then `ANALYZE`.",
        f"- One `relaydesk serve --no-worker` process; a partner admin's bearer token; each "
        f"read {scale.warmup} times to warm up, then {scale.requests} times one after another "
        "over one keep-alive connection (httpx, in the bench process on the same machine; "
        f"fewer if the reads take over {analytics.REQUEST_BUDGET_SECONDS:.0f} s in all). "
        "Latencies in ms from the client. The summary's count of finished, active and "
        "unanswered chats is checked against the seed.",
        "- Baseline, on the same server in the same run: `GET /healthz`, which runs one "
        "`SELECT 1`: the floor of a request (routing, middleware, a pooled connection). "
        "The ratio is the read's p50 over the baseline's p50.",
        "- Contrast (PostgreSQL): the summary's finished-chat, response and handling figures "
        "for the last 24 hours computed the naive way, by one query that windows every "
        "message of the partner per conversation (a session opens at the first message or a "
        f"*reopened* line, is answered at *taken*, ends at *finished*); "
        f"{analytics.NAIVE_RUNS} runs after one warm-up, timed with asyncpg; it must count "
        "the same finished chats.",
    ]


# Exports

# Flat: from the smallest size to the largest, the peak grows by less than this share of what
# the file grows by. A server holding the whole file, even as one string, would grow by at
# least as much as the file; holding its rows as objects, by several times more.
FLAT_SHARE = 0.25


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def _flatness(run: exports.Run, name: str) -> str:
    """One export's peak over the idle server at each size, whether it stays flat, and what
    the other requests waited meanwhile."""
    chosen = [d for d in run.downloads if d.export == name and not d.warmup]
    sizes = " and ".join(f"{download.rows:,}" for download in chosen)
    line = (
        f"  - *{name}*: the peak is "
        + " and ".join(f"{_mib(d.peak - run.idle_rss)}" for d in chosen)
        + f" MiB over the idle server at {sizes} rows"
    )
    if len(chosen) > 1:
        small, large = chosen[0], chosen[-1]
        added_kib, file_kib = large.peak - small.peak, (large.size - small.size) / 1024
        line += (
            f": the {large.rows - small.rows:,} more rows make the file {_mib(file_kib)} MiB "
            f"longer and the peak {_mib(added_kib)} MiB higher "
            f"({added_kib * 1024 / (large.rows - small.rows):.0f} B a row), "
            + ("**flat**" if added_kib < FLAT_SHARE * file_kib else "**not flat**")
        )
    rates = " and ".join(f"{d.rows_per_second:,.0f}" for d in chosen)
    waits = " and ".join(f"{_ms(d.healthz.p50)} ms (max {_ms(d.healthz.max)})" for d in chosen)
    return f"{line}. {rates} rows/s; `GET /healthz` meanwhile p50 {waits}."


def _exports_verdict(run: exports.Run) -> list[str]:
    if run.healthz is None or not run.downloads:
        return [f"- **{run.backend}**: not measured: `{run.error}`"]
    names = list(dict.fromkeys(d.export for d in run.downloads if not d.warmup))
    head = (
        f"- **{run.backend}**: the idle server holds {_mib(run.idle_rss)} MiB and answers "
        f"`GET /healthz` in p50 {_ms(run.healthz.p50)} ms"
    )
    tail = [f"  - Stopped early: `{run.error}`"] if run.error else []
    return [head + ".", *(_flatness(run, name) for name in names), *tail]


_DOWNLOAD_HEADER = (
    "| export | rows | file | time | rows/s | first byte | RSS before | peak (samples) "
    "| kernel peak | peak − before | peak − idle | server CPU | healthz p50 / max |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _download_row(download: exports.Download, idle_rss: int) -> str:
    kernel = "–" if download.kernel_peak is None else _mib(download.kernel_peak)
    cells = [
        f"{download.export}{' (warm-up)' if download.warmup else ''}",
        f"{download.rows:,}",
        f"{download.size / 2**20:.1f} MiB",
        f"{download.seconds:.2f} s",
        f"{download.rows_per_second:,.0f}",
        f"{download.first_byte_seconds * 1000:.0f} ms",
        _mib(download.rss_before),
        f"{_mib(download.rss_peak)} ({download.samples})",
        kernel,
        f"+{_mib(download.peak - download.rss_before)}",
        f"+{_mib(download.peak - idle_rss)}",
        f"{download.cpu_seconds:.2f} s",
        f"{_ms(download.healthz.p50)} / {_ms(download.healthz.max)} ms",
    ]
    return "| " + " | ".join(cells) + " |"


def _batch_plans(run: exports.Run) -> list[str]:
    if not run.plans:
        return []
    explain = "EXPLAIN QUERY PLAN" if run.backend == "SQLite" else "EXPLAIN"
    lines = [
        "",
        "How a batch after the first is read at the largest size: the second batch's "
        f"statements, captured from the exports' own code and explained (`{explain}`):",
        "",
        "| export | reads | plan |",
        "| --- | --- | --- |",
        *(
            f"| {export} | {table} | {plan.replace('|', '¦')} |"
            for export, table, plan in run.plans
        ),
    ]
    sorted_reads = [
        f"`{table}`"
        for _export, table, plan in run.plans
        if table in ("partner_request", "partner") and "TEMP B-TREE FOR ORDER BY" in plan
    ]
    if sorted_reads:
        lines += [
            "",
            f"Without statistics SQLite reads each batch of {' and '.join(sorted_reads)} through "
            "the `tenant_id` index: every batch visits all of the tenant's rows and sorts those "
            "after the batch before (*USE TEMP B-TREE FOR ORDER BY*), so a batch costs more the "
            "longer the table, and a whole export grows with the square of its rows. That, not "
            "memory, is why rows/s falls with the size here.",
        ]
    return lines


def _exports_run_section(run: exports.Run) -> list[str]:
    lines = [f"### {run.backend}", ""]
    if run.healthz is None:
        return [*lines, f"Not measured: `{run.error}`"]
    seeded = "; ".join(
        f"up to {size:,} in {seconds:.1f} s ({counts})" for size, seconds, counts in run.seeded
    )
    lines += [
        f"Seeded {seeded}. The idle server: resident memory {_mib(run.idle_rss)} MiB; "
        f"`GET /healthz` p50 {_analytics_ms(run.healthz.p50)} ms, p95 "
        f"{_analytics_ms(run.healthz.p95)} ms ({run.healthz.count} requests).",
        "",
        _DOWNLOAD_HEADER,
        *(_download_row(download, run.idle_rss) for download in run.downloads),
    ]
    lines += _batch_plans(run)
    return [*lines, "", f"Stopped early: `{run.error}`"] if run.error else lines


def render_exports(machine: Machine, sizes: list[int], runs: list[exports.Run]) -> str:
    """The exports part of the page: when, on what, how, and every download."""
    counts = " and ".join(f"{size:,}" for size in sizes)
    lines = [
        "## Exports",
        "",
        f"Measured by `make bench` (`--suite exports`) on {machine.date}: {machine.cpu}, "
        f"{machine.cores} cores, {machine.memory_gib:.0f} GiB; {machine.system}; Python "
        f"{machine.python}; {machine.services}; load average (1, 5, 15 min) "
        f"{machine.load_average}.",
        "",
        "Claim: the CSV exports stream, so the server's memory stays flat however many rows a "
        f"file holds: its peak over the idle server's is about the same at {counts} rows. "
        f"*Flat* here: from the smallest size to the largest the peak grows by less than "
        f"{FLAT_SHARE:.0%} of what the file grows by.",
        "",
        *(line for run in runs for line in _exports_verdict(run)),
        "",
        *_exports_explained(),
        "",
        *_exports_method(),
    ]
    for run in runs:
        lines += ["", *_exports_run_section(run)]
    return "\n".join(lines)


def _exports_explained() -> list[str]:
    return [
        "### How the exports stream",
        "",
        "`GET /api/v1/tenant/requests/export.csv` and `GET /api/v1/tenant/partners/export.csv` "
        "answer with a streamed body, an async generator (`relaydesk.exports`) that reads the "
        "rows in id order 1,000 at a time, each batch in a short transaction of its own "
        "(`rows_in_batches`: `WHERE id > <last id of the batch before> ORDER BY id LIMIT "
        "1000`, on an index of (tenant, id)), and hands them to the server 250 CSV lines at a "
        "time before it reads the next batch. The partners export completes each batch in "
        "the same transaction with two "
        "more reads, whatever the batch's size: the batch's add-ons, and its channels. The "
        "request's own session (the sign-in check) ends when the route returns, before the "
        "first byte of the body is sent. So at most one batch of rows is in memory at a time, "
        "however long the file, and no transaction stays open while a slow client downloads "
        "(on SQLite, where every transaction takes the one writer slot, it would hold the "
        "database). Each batch is read and turned into CSV on the server's event loop (on "
        "SQLite the statement itself runs there too, through relaydesk's driver), and the "
        "export lets other requests run between batches: the *healthz* column shows how long "
        "they wait meanwhile.",
    ]


def _exports_method() -> list[str]:
    return [
        "### Method",
        "",
        "`bench/exports.py`, per backend: a fresh database (PostgreSQL: a new, randomly named "
        "database, dropped afterwards), `relaydesk migrate`, the tenant and its admin from "
        "`relaydesk create-tenant`, the tenant's catalogue (3 packages, 5 add-ons, 2 more "
        "reviewers) written straight into the tables, and one `relaydesk serve --no-worker` "
        "process (one worker: the process measured is the one serving).",
        f"- The baseline: the admin's bearer token, `GET /healthz` (one `SELECT 1`, the floor "
        f"of a request) {exports.HEALTHZ_WARMUP} times to warm up and "
        f"{exports.HEALTHZ_REQUESTS} times timed, one after another; then the idle server's "
        "resident memory (VmRSS).",
        "- Each size: the partners and partner requests grown to it (`bench/exports_seed.py`: "
        "one executemany per table in one transaction, multi-row INSERTs on PostgreSQL; "
        "`ANALYZE` on PostgreSQL only: autovacuum gathers statistics in production, while "
        "nothing runs `ANALYZE` on a relaydesk SQLite file, so its planner goes without). "
        "Each partner has a package, 1–3 channels and 0–3 add-ons, 88% active, "
        "10% suspended, 2% pending; each request is an add-on request (60%) or a partnership "
        "request (a package change, or a registration without a partner yet), 20% pending, "
        "60% approved, 20% rejected, decided ones with their decider, time and reason. "
        f"{exports_seed.FORMULA_SHARE:.0%} of the names start with `=`; descriptions and "
        "reasons hold commas, quotes and line breaks. No end user follows the channels: the "
        "partners export reads follower counts but prints none.",
        "- Each export downloaded whole, unfiltered, over one keep-alive connection (httpx, "
        "streamed into a file, in the bench process on the same machine). Meanwhile a thread "
        f"reads the server's VmRSS every {exports.SAMPLE_SECONDS * 1000:.0f} ms; the kernel's "
        "record of the peak (VmHWM) is reset before the download (`/proc/<pid>/clear_refs`) "
        "and read after it: it also holds a peak between two samples whose memory was given "
        "back to the system. Then the file is checked: its first line "
        "is the export's header, it holds as many rows as were seeded, every name starting "
        "with `=` comes back escaped, and no cell starts with `=`, `+`, `-` or `@`. Meanwhile, "
        f"too, `GET /healthz` every {exports.PROBE_SECONDS * 1000:.0f} ms over a second "
        "connection: how long another request waits while an export streams.",
        "- At the first size each export is downloaded once more before the others, as a "
        "warm-up: the first download of each pays for what a process does once (statements "
        "compiled and cached, code run for the first time). The verdict leaves it out.",
        "- *time*: from sending the request to the last byte; *first byte*: to the first; "
        "*RSS before*: just before the request; *peak*: the highest sample (how many samples), "
        "and the kernel's mark; *peak − before*, *peak − idle*: the higher of the two peaks "
        "over the memory before the download and over the idle server's; *server CPU*: CPU "
        "seconds the server used during the download; *healthz*: p50 and slowest of the "
        "`GET /healthz` meanwhile. Memory in MiB.",
    ]


# Broadcasts

# Flat: from the smallest size to the largest, the peak over the memory before the delivery
# grows by less than this per added end user: half of what holding just each one's 16-byte id
# would take (as Python objects, several times more) ...
FLAT_BYTES_PER_END_USER = 8
# ... or by less than this in all: what the same delivery's peak varies by from run to run.
FLAT_NOISE_KIB = 1024


def _measured(run: broadcasts.Run) -> list[broadcasts.Delivery]:
    return [delivery for delivery in run.deliveries if not delivery.warmup]


def _delivery_result(delivery: broadcasts.Delivery) -> str:
    if delivery.finished:
        return (
            f"{delivery.delivered:,} in **{delivery.seconds:.1f} s** "
            f"({delivery.per_second:,.0f} deliveries/s)"
        )
    return (
        f"**not done**: {delivery.delivered:,} of {delivery.audience_size:,} in "
        f"{delivery.seconds:.1f} s ({delivery.per_second:,.0f} deliveries/s), then "
        f"`{delivery.error}`"
    )


def _meets(delivery: broadcasts.Delivery) -> bool:
    """Delivered whole at the rate that reaches the target's million in the target's time."""
    rate = broadcasts.TARGET_END_USERS / broadcasts.TARGET_SECONDS
    return delivery.finished and delivery.per_second >= rate


def _memory_flatness(run: broadcasts.Run) -> list[str]:
    """Per batch size: the peak over the memory before, at each size, and whether it is flat."""
    lines = []
    for batch in dict.fromkeys(d.batch for d in _measured(run)):
        chosen = [
            d for d in _measured(run) if d.batch == batch and d.audience == Audience.ALL_END_USERS
        ]
        peaks = " and ".join(
            f"{_mib(d.peak - d.rss_before)} MiB at {d.end_users:,}" for d in chosen
        )
        line = f"  - batch {batch:,}: the peak over the memory before is {peaks} end users"
        unfinished = [d for d in chosen if not d.finished]
        if unfinished:
            line += " (not done at " + ", ".join(
                f"{d.end_users:,}: {d.delivered:,} delivered" for d in unfinished
            )
            line += "; no verdict)"
        elif len(chosen) > 1 and chosen[-1].delivered > chosen[0].delivered:
            small, large = chosen[0], chosen[-1]
            grown = (large.peak - large.rss_before) - (small.peak - small.rss_before)
            added = large.delivered - small.delivered
            flat = grown * 1024 / added < FLAT_BYTES_PER_END_USER or grown < FLAT_NOISE_KIB
            line += (
                f": {grown / 1024:+.1f} MiB for {added:,} more deliveries "
                f"({grown * 1024 / added:+.1f} B each), {'**flat**' if flat else '**not flat**'}"
            )
        lines.append(line + ".")
    return lines


def _broadcasts_verdict(run: broadcasts.Run) -> list[str]:
    measured = [d for d in _measured(run) if d.audience == Audience.ALL_END_USERS]
    if not measured:
        return [f"- **{run.backend}**: not measured: `{run.error}`"]
    largest = max(d.end_users for d in measured)
    at_largest = [d for d in measured if d.end_users == largest]
    worker = next((d for d in at_largest if d.batch == broadcasts.BATCH), at_largest[0])
    stated = run.backend == "PostgreSQL" and largest == broadcasts.TARGET_END_USERS

    def against_target(delivery: broadcasts.Delivery) -> str:
        if not stated:
            return ""
        met = "meets" if _meets(delivery) else "misses"
        return f": **{met}** the target of {broadcasts.TARGET_SECONDS:.0f} s"

    lines = [
        f"- **{run.backend}**, {largest:,} end users, at the worker's batch of "
        f"{worker.batch:,}: {_delivery_result(worker)}{against_target(worker)}."
    ]
    finished = [d for d in at_largest if d.finished]
    fastest = min(finished, key=lambda delivery: delivery.seconds) if finished else None
    if fastest is not None and fastest is not worker:
        lines.append(
            f"  - Fastest batch size tried: {fastest.batch:,}, {_delivery_result(fastest)}"
            f"{against_target(fastest)}."
        )
    floor = run.baseline_for(largest)
    if floor is not None:
        timed = fastest or worker
        lines.append(
            f"  - Baseline: the bare `INSERT … SELECT` of {floor.rows:,} rows into a table "
            f"without indexes takes {floor.seconds:.1f} s ({floor.per_second:,.0f} rows/s); "
            f"the {'fastest ' if fastest else ''}delivery "
            f"{'takes' if timed.finished else 'had taken, when it stopped,'} "
            f"**{timed.seconds / floor.seconds:.0f}×** as long."
        )
    lines += _memory_flatness(run)
    if run.error:
        lines.append(f"  - Stopped early: `{run.error}`")
    return lines


_DELIVERY_HEADER = (
    "| end users | audience | batch | delivered | cards | time | deliveries/s | × baseline "
    "| RSS before | peak (samples) | kernel peak | peak − before | CPU worker | CPU machine |\n"
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
    "| ---: |"
)


def _delivery_row(delivery: broadcasts.Delivery, floor: broadcasts.Baseline | None) -> str:
    kernel = "–" if delivery.kernel_peak is None else _mib(delivery.kernel_peak)
    notes = " (warm-up)" if delivery.warmup else ""
    notes += "" if delivery.finished else " **not done**"
    cells = [
        f"{delivery.end_users:,}",
        f"{delivery.audience.value}{notes}",
        f"{delivery.batch:,}",
        f"{delivery.delivered:,} of {delivery.audience_size:,}",
        f"{delivery.cards:,}",
        f"{delivery.seconds:.1f} s",
        f"{delivery.per_second:,.0f}",
        "–" if floor is None else f"{delivery.seconds / floor.seconds:.1f}×",
        _mib(delivery.rss_before),
        f"{_mib(delivery.rss_peak)} ({delivery.samples})",
        kernel,
        f"+{_mib(delivery.peak - delivery.rss_before)}",
        f"{delivery.cpu_seconds:.1f} s",
        f"{delivery.machine_cpu_seconds:.1f} s",
    ]
    return "| " + " | ".join(cells) + " |"


def _statement_times(run: broadcasts.Run) -> list[str]:
    """Where the time of each delivery at the largest size went, statement by statement."""
    measured = _measured(run)
    largest = max(delivery.end_users for delivery in measured)
    lines = [
        "Where the time went at the largest size, by statement (timed around each statement "
        "the worker sent; *longest*: the slowest one; *(failed)*: cancelled by the statement "
        "timeout; *the rest*: commits, the worker's own Python, the cards' events):",
        "",
        "| audience | batch | statement | count | time | share | longest |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for delivery in (d for d in measured if d.end_users == largest):
        shown = delivery.statements[:5]
        rest = delivery.seconds - sum(statement.seconds for statement in shown)
        rows = [(s.name, f"{s.count:,}", s.seconds, f"{s.longest:.2f} s") for s in shown]
        for name, count, seconds, longest in [*rows, ("the rest", "", rest, "")]:
            lines.append(
                f"| {delivery.audience.value} | {delivery.batch:,} | {name} | {count} | "
                f"{seconds:.1f} s | {seconds / delivery.seconds:.0%} | {longest} |"
            )
    return lines


def _broadcasts_run_section(run: broadcasts.Run) -> list[str]:
    lines = [f"### {run.backend}", ""]
    if not run.seeded:
        return [*lines, f"Not measured: `{run.error}`"]
    seeded = "; ".join(f"{size:,} end users in {seconds:.1f} s" for size, seconds in run.seeded)
    floors = "; ".join(
        f"{floor.rows:,} rows in {floor.seconds:.2f} s ({floor.per_second:,.0f} rows/s)"
        for floor in run.baselines
    )
    lines += [
        f"Seeded (cumulative) {seeded}. Baseline, the bare `INSERT … SELECT`: {floors}."
        + (f" Settings: {run.settings}." if run.settings else ""),
        "",
        _DELIVERY_HEADER,
        *(_delivery_row(d, run.baseline_for(d.end_users)) for d in run.deliveries),
    ]
    if _measured(run):
        lines += ["", *_statement_times(run)]
    return [*lines, "", f"Stopped early: `{run.error}`"] if run.error else lines


def render_broadcasts(
    machine: Machine, sizes: list[int], batches: list[int], runs: list[broadcasts.Run]
) -> str:
    """The broadcasts part of the page: when, on what, how, and every delivery."""
    lines = [
        "## Broadcasts",
        "",
        f"Measured by `make bench` (`--suite broadcasts`) on {machine.date}: {machine.cpu}, "
        f"{machine.cores} cores (`nproc`), {machine.memory_gib:.0f} GiB RAM; {machine.system}; "
        f"Python {machine.python}; {machine.services}; load average (1, 5, 15 min) "
        f"{machine.load_average}.",
        "",
        f"Target: the worker delivers one broadcast to {broadcasts.TARGET_END_USERS:,} end "
        f"users on PostgreSQL in under {broadcasts.TARGET_SECONDS:.0f} s, and its memory stays "
        "flat: its peak over its memory before the delivery about the same at every size. "
        f"*Flat* here: from the smallest size to the largest the peak grows by less than "
        f"{FLAT_BYTES_PER_END_USER} bytes per added delivery (holding just each end user's "
        f"id would take 16), or by less than {FLAT_NOISE_KIB // 1024} MiB in all (what one "
        "delivery's peak varies by from run to run).",
        "",
        *(line for run in runs for line in _broadcasts_verdict(run)),
        "",
        *_broadcasts_method(sizes, batches),
    ]
    for run in runs:
        lines += ["", *_broadcasts_run_section(run)]
    return "\n".join(lines)


def _broadcasts_method(sizes: list[int], batches: list[int]) -> list[str]:
    counts = " and ".join(f"{size:,}" for size in sizes)
    tried = ", ".join(f"{batch:,}" for batch in batches)
    return [
        "### Method",
        "",
        "`bench/broadcasts.py`, per backend (PostgreSQL first): a fresh database (PostgreSQL: "
        "a new, randomly named database, dropped afterwards) migrated by `relaydesk.migrate`; "
        "the tenant, the partner, its admin and an agent through the services, and two "
        "channels with chat on. The end users are written set-based (`bench/broadcasts_seed.py`: "
        "one `INSERT … SELECT` over a generated series per table, ids UUIDv7 in id order as "
        f"relaydesk's are), {counts} on PostgreSQL and a tenth of that on SQLite: "
        f"1 in {broadcasts_seed.FOLLOWER_EVERY} follows the broadcast's channel, "
        f"{len(broadcasts_seed.THREADS)} in {broadcasts_seed.THREAD_PERIOD} have a chat thread "
        "with it (half of them followers), "
        f"{len(broadcasts_seed.OTHER_THREADS)} in {broadcasts_seed.THREAD_PERIOD} one with the "
        f"partner's other channel, each thread with {broadcasts_seed.MESSAGES_PER_THREAD} "
        "messages; then `VACUUM ANALYZE` on PostgreSQL (what autovacuum keeps current in "
        "production), nothing on SQLite (nothing analyzes a relaydesk SQLite file). Whether "
        "PostgreSQL's statistics are refreshed during a delivery is up to the server's "
        "autovacuum (its setting is under *Settings* below).",
        "- Baseline at each size, on the same database in the same run: as many rows shaped "
        "as engagement deliveries (ids made as the delivery makes them) written by one bare "
        "`INSERT … SELECT` over a generated series into a scratch table without indexes, "
        "constraints or triggers (`CHECKPOINT` before it): the database's raw insert speed. "
        "*× baseline* is a delivery's time over it.",
        "- Each delivery: a new active message engagement of the channel, its approved "
        "broadcast request, and the broadcast (state `scheduled`, due a minute ago) written "
        "directly: the approval workflow is not what is measured. After a `CHECKPOINT`, "
        "`deliver_due_broadcasts(database, batch=…)` runs in the bench process with its own "
        "pool and an in-memory bus (the cards' events are built and published, to no "
        "subscriber), until the broadcast is done, for at most the delivery budget; PostgreSQL "
        f"cancels a statement after {broadcasts.STATEMENT_TIMEOUT_SECONDS} s. A delivery "
        "stopped either way is reported *not done* with how far it came. At each size one "
        f"broadcast to all end users per batch size ({tried}); at the largest one more, to "
        "the channel's non-followers, at the batch size that was fastest there. The process's "
        "first delivery is repeated: the first pays for what runs once (a *warm-up*, left out "
        "of the verdict).",
        f"- Meanwhile a thread reads the bench process's VmRSS every "
        f"{exports.SAMPLE_SECONDS * 1000:.0f} ms, and the kernel's record of the peak "
        "(VmHWM, reset through `/proc/self/clear_refs` before) is read after: *peak − before* "
        "is the higher of the two over the memory just before the delivery. *CPU worker*: the "
        "bench process's CPU seconds (the worker's Python, the driver); *CPU machine*: every "
        "core's busy seconds, PostgreSQL's and anything else running on the machine. Memory "
        "in MiB.",
        "- Checked after each delivery: the broadcast is `done` with `delivered_count` and "
        "`total` equal to the audience the seed implies; its deliveries count as many rows as "
        "distinct end users (nobody twice), each with one `received` activity line; the "
        "channel's threads moved on by exactly one card each for the audience's threads, with "
        "as many engagement cards in them; no thread with the other channel moved. An "
        "unfinished delivery is checked as far as it came.",
    ]
