"""The DUT of a testbed file: its links, its management plane, its health and its recovery."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dmvpn.dut import Dut, HealthState
from dmvpn.transport import GreSocket, Interlock

from .file import Testbed, TestbedError, load, parse
from .ssh import ManagementError, SshClient, SshTarget


def open_management(testbed: Testbed):
    """The management plane the file names (FrrManagement or CiscoManagement), or None. Nothing is
    connected until the first query."""
    spec = testbed.management
    if spec is None:
        return None
    password = None
    if spec.password_env:
        password = os.environ.get(spec.password_env)
        if password is None:
            raise TestbedError(f"{testbed.path}: management.password_env: the environment has no {spec.password_env}")
    target = SshTarget(spec.host, spec.port, spec.username, password, spec.key_files, spec.known_hosts,
                       connect_timeout=min(10.0, spec.timeout), command_timeout=spec.timeout)
    client = SshClient(target)
    if spec.kind == "frr-vtysh":
        from .frr import FrrManagement

        return FrrManagement(client, spec.vtysh)
    from .cisco import CiscoManagement

    return CiscoManagement(client)


class TestbedDut(Dut):
    """An external DUT described by a testbed file.

    Health: with management, alive means the NHRP process is in the DUT's process table, and its
    identity (pids; for IOS also reloads seen through the uptime) is what the run policy compares
    before and after a case; a management plane that does not answer twice in a row is no alive
    DUT. The probe registration (hubs) is the base class's. Recovery cannot reboot someone's
    router: it waits, at most `dut.recovery_timeout` seconds, for the DUT to be alive (and, for a
    hub, answering) again, and raises otherwise; after one failed wait it raises at once, so the
    run policy marks the remaining cases inconclusive instead of waiting for each.
    """

    __test__ = False

    def __init__(self, testbed: Testbed, management=None) -> None:
        super().__init__(testbed.info)
        self.testbed = testbed
        self.namespace = testbed.namespace
        self.interface = testbed.interface
        self.ipsec = testbed.ipsec
        self.management = open_management(testbed) if management is None else management
        self._esp_link = None
        self._given_up: str | None = None
        self.generation = 0

    @classmethod
    def from_file(cls, path: str | Path) -> "TestbedDut":
        return cls(load(path))

    @classmethod
    def from_dict(cls, data: dict, name: str = "testbed") -> "TestbedDut":
        return cls(parse(data, name))

    # -- links ---------------------------------------------------------------------------------

    def open_link(self) -> GreSocket:
        try:
            return GreSocket(Interlock(self.info.allowed_prefixes), netns=self.namespace, device=self.interface)
        except OSError as exc:
            where = f" in namespace {self.namespace}" if self.namespace else ""
            raise TestbedError(f"{self.testbed.path}: tester.interface: cannot bind to {self.interface!r}{where}: {exc.strerror}") from None

    def esp_tester(self, nat_t: bool = False) -> str:
        if not self.ipsec:
            raise NotImplementedError("the testbed file has no ipsec section")
        return self.ipsec["tester_address"]

    def esp_link(self):
        if not self.ipsec:
            raise NotImplementedError("the testbed file has no ipsec section")
        if self._esp_link is None:
            from dmvpn.transport.esp import EspLink
            from dmvpn.wire.esp import EspSA

            c = self.ipsec
            algorithm = "aes-gcm-128" if len(c["key_out"]) == 20 else "aes-gcm-256"
            nat_t = (4500, 4500) if c["nat_t"] else None
            outbound = {(c["tester_address"], self.info.nbma): EspSA(c["spi_out"], algorithm, c["key_out"], nat_t=nat_t)}
            inbound = {c["spi_in"]: EspSA(c["spi_in"], algorithm, c["key_in"], nat_t=nat_t)}
            self._esp_link = EspLink(Interlock(self.info.allowed_prefixes), outbound, inbound, netns=self.namespace,
                                     device=self.interface)
        return self._esp_link

    def set_evidence(self, link, recorder) -> None:
        super().set_evidence(link, recorder)
        if self._esp_link is not None:
            self._esp_link.recorder = recorder

    # -- state (management) --------------------------------------------------------------------

    def cache(self) -> list[dict] | None:
        return None if self.management is None else self.management.cache()

    def shortcuts(self) -> list[dict] | None:
        return None if self.management is None else self.management.shortcuts()

    def esp_counters(self) -> dict | None:
        if self.management is None or not self.ipsec:
            return None
        try:
            return self.management.esp_counters(self.ipsec["tester_address"])
        except Exception:
            return None

    def reset_state(self) -> str:
        if self.management is None:
            return ""
        return self.management.reset(self.info.role)

    # -- a DUT spoke's controls (the file's commands) --------------------------------------------

    def _values(self, **more: Any) -> dict:
        extra = self.info.extra
        lan = extra.get("lan")
        src = ""
        if lan:
            import ipaddress

            src = str(next(ipaddress.ip_network(lan).hosts()))
        return {"nhs_nbma": extra.get("nhs_nbma", ""), "nhs_tunnel": extra.get("nhs_proto", ""), "src": src,
                "dst": "", "count": "", **{k: str(v) for k, v in more.items()}}

    def trigger_registration(self) -> None:
        if not self.testbed.register or self.management is None:
            raise NotImplementedError("the testbed file has no spoke.register commands")
        self.management.run_commands(list(self.testbed.register), self._values())

    def send_data(self, dst: str, count: int = 3) -> None:
        if not self.testbed.send_data or self.management is None:
            raise NotImplementedError("the testbed file has no spoke.send_data commands")
        self.management.run_commands(list(self.testbed.send_data), self._values(dst=dst, count=count))

    # -- health and recovery ---------------------------------------------------------------------

    def health_state(self) -> HealthState:
        if self.management is None:
            return HealthState(True, "no management: the probe registration alone says alive")
        last = None
        for _ in range(2):
            try:
                alive, why, ids = self.management.nhrp_identity()
                return HealthState(alive, why, ids)
            except ManagementError as exc:
                last = exc
        return HealthState(False, f"management unreachable: {last}")

    def health(self) -> tuple[bool, str]:
        state = self.health_state()
        return state.alive, state.why

    def recover(self, force: bool = False, poll: float = 2.0) -> str:
        """Wait (bounded) until the DUT is alive again; with `force`, also check a DUT that looks alive.
        A hub must also answer a probe registration. Raises RuntimeError when it does not come back."""
        state = self.health_state()
        if self._given_up is not None:
            if state.alive and self._answering():
                self._given_up = None
                return "the DUT is back"
            raise RuntimeError(self._given_up)
        if not force and state.alive:
            return ""
        start = time.monotonic()
        deadline = start + self.testbed.recovery_timeout
        while True:
            if state.alive and self._answering():
                waited = time.monotonic() - start
                return "external DUT alive and answering (nothing to restart)" if waited < poll else f"waited {waited:.0f} s for the DUT to come back"
            if time.monotonic() >= deadline:
                self._given_up = (f"the DUT did not come back within {self.testbed.recovery_timeout:g} s ({state.why}); "
                                  "the remaining cases cannot test")
                raise RuntimeError(self._given_up)
            time.sleep(poll)
            state = self.health_state()

    def _answering(self) -> bool:
        if self.info.role != "hub":
            return True
        link = self.open_link()
        try:
            return self.answers_probe(link) is not False
        finally:
            link.close()

    def close(self) -> None:
        if self._esp_link is not None:
            self._esp_link.close()
            self._esp_link = None
        client = getattr(self.management, "client", None)
        if client is not None:
            client.close()
