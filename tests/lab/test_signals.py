"""SIGTERM/SIGHUP handling while labs are up (no guests needed)."""

from __future__ import annotations

import signal

import pytest

from dmvpn.lab import LabTerminated
from dmvpn.lab import lab as labmod


def test_handlers_turn_sigterm_into_lab_terminated_and_are_restored():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    labmod._install_handlers()
    labmod._install_handlers()  # a second lab in the same process
    try:
        with pytest.raises(LabTerminated) as err:
            signal.raise_signal(signal.SIGTERM)
        assert err.value.exit_code == 128 + signal.SIGTERM
        assert isinstance(err.value, KeyboardInterrupt)  # stops pytest / the CLI like Ctrl-C
        labmod._release_handlers()
        assert signal.getsignal(signal.SIGTERM) is labmod._raise_terminated  # one lab still up
    finally:
        labmod._release_handlers()
    assert {s: signal.getsignal(s) for s in before} == before


def test_signals_during_cleanup_are_delivered_afterwards():
    seen = []
    old = signal.signal(signal.SIGHUP, lambda n, f: seen.append(n))
    try:
        with labmod._signals_deferred():
            signal.raise_signal(signal.SIGHUP)
            assert seen == []  # held while cleaning up
        assert seen == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, old)
