"""The child process of ``strongroom run``: started with its environment, its
output masked on the way through when asked, stopped with SIGTERM then SIGKILL
after a grace, and restarted with a new environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO

from strongroom.cli.masking import Masker

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Child:
    """One command run at a time, with the environment it was given."""

    def __init__(
        self,
        command: Sequence[str],
        base: Mapping[str, str],
        *,
        grace: float,
        mask: bool,
    ) -> None:
        self._command = list(command)
        self._base = dict(base)
        self._grace = grace
        self._mask = mask
        self._values: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._pumps: list[threading.Thread] = []

    def start(self, variables: Mapping[str, str]) -> None:
        """Run the command with ``variables`` over the base environment."""
        self._values += variables.values()
        piped = subprocess.PIPE if self._mask else None
        self._process = subprocess.Popen(  # noqa: S603 - the user's own command
            self._command,
            env={**self._base, **variables},
            stdout=piped,
            stderr=piped,
        )
        if self._mask:
            assert self._process.stdout is not None
            assert self._process.stderr is not None
            self._pumps = [
                self._pump(self._process.stdout, sys.stdout.buffer),
                self._pump(self._process.stderr, sys.stderr.buffer),
            ]

    def _pump(self, source: IO[bytes], target: IO[bytes]) -> threading.Thread:
        masker = Masker(self._values)

        def copy() -> None:
            fd = source.fileno()
            while chunk := os.read(fd, 65536):
                target.write(masker.feed(chunk))
                target.flush()
            target.write(masker.flush())
            target.flush()

        thread = threading.Thread(target=copy, daemon=True)
        thread.start()
        return thread

    def send(self, signum: int) -> None:
        """Pass a signal on to the command, if it runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def poll(self) -> int | None:
        """The command's exit status once it has ended (128+N for signal N)."""
        if self._process is None:
            return None
        code = self._process.poll()
        if code is None:
            return None
        self._drain()
        return code if code >= 0 else 128 - code

    def wait(self) -> int:
        """Wait for the command; its exit status."""
        assert self._process is not None
        self._process.wait()
        status = self.poll()
        assert status is not None
        return status

    def stop(self) -> None:
        """SIGTERM, the grace, then SIGKILL; wait for it to be gone."""
        process = self._process
        if process is None or process.poll() is not None:
            self._drain()
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self._grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._drain()

    def _drain(self) -> None:
        for pump in self._pumps:
            pump.join(5)
        self._pumps = []
