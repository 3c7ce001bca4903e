"""Running `relaydesk` commands as real subprocesses against the test database."""

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from relaydesk.config import Settings

TIMEOUT = 60.0  # seconds for a command to finish
STARTUP_TIMEOUT = 20.0  # seconds for a long-running command to come up
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The one JSON object a successful command prints."""
        assert self.returncode == 0, self.stderr
        assert len(self.stdout.splitlines()) == 1, self.stdout
        return json.loads(self.stdout)

    def assert_failed(self, message: str) -> None:
        assert (self.returncode, self.stdout) == (1, ""), self
        assert self.stderr.splitlines() == [f"error: {message}"]


@dataclass
class Running:
    """A long-running command whose merged stdout and stderr are collected line by line."""

    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def wait_for_output(self, fragment: str) -> None:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while fragment not in self.text:
                assert self.process.returncode is None, f"exited early:\n{self.text}"
                await asyncio.sleep(0.05)

    async def terminate(self) -> int:
        """Sends SIGTERM; returns the exit status, which must come within STOP_TIMEOUT."""
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_TIMEOUT):
            returncode = await self.process.wait()
            await self._reader
        return returncode


class Relaydesk:
    """Runs `python -m relaydesk …` on the test database, with its own data folder."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "RELAYDESK_DATABASE_URL": settings.database_url,
            "RELAYDESK_DATA_DIR": str(data_dir),
        }
        self.started: list[asyncio.subprocess.Process] = []

    async def _exec(self, args: tuple[str, ...], **kwargs: Any) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relaydesk", *args, cwd=self.data_dir, **kwargs
        )

    async def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        process = await self._exec(
            args,
            env={**self.env, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.started.append(process)
        async with asyncio.timeout(TIMEOUT):
            stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return Result(process.returncode, stdout.decode(), stderr.decode())

    async def start(self, *args: str) -> Running:
        process = await self._exec(
            args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self.started.append(process)
        return Running(process)

    async def kill_leftovers(self) -> None:
        for process in self.started:
            if process.returncode is None:
                process.kill()
                await process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until_serving(server: Running, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http, asyncio.timeout(STARTUP_TIMEOUT):
        while True:
            assert server.process.returncode is None, server.text
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
