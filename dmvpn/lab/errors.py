"""Errors of the lab. Every message names what failed and, where there is one, what to do."""

from __future__ import annotations


class LabError(RuntimeError):
    """Something about the lab failed (set-up, boot, command channel)."""


class PrerequisiteError(LabError):
    """The machine lacks something the lab needs (root, linux.uml, FRR, ...)."""


class BootError(LabError):
    """A guest did not become ready."""


class GuestDied(LabError):
    """A guest's linux.uml process is gone."""


class CommandTimeout(LabError):
    """A command in a guest did not finish in time."""

    def __init__(self, node: str, command, timeout: float, detail: str = "") -> None:
        self.node, self.command, self.timeout = node, command, timeout
        msg = f"command on {node} timed out after {timeout:g} s: {command!r}"
        super().__init__(msg + (f" ({detail})" if detail else ""))


class LabTerminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM/SIGHUP arrives while a lab is up.

    A KeyboardInterrupt (not an Exception) so that ``except Exception`` blocks do not swallow it
    and pytest stops the session (running fixture teardown) as it does on Ctrl-C; the lab's
    cleanup runs on the way out. ``exit_code`` is 128 + the signal number.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"terminated by signal {signum}")
