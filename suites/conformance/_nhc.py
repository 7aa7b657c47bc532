"""The tester's side of the DUT-NHC cases: it plays the DUT spoke's NHS and its peer spokes.

The DUT spoke's NHS is the tester (DutInfo.extra "nhs_nbma"/"nhs_proto"); peer spokes are fresh
tester identities (`ctx.identity()`), each with a /24 of its own carved from the prefix the DUT
routes via its NHS (extra "peer_lans"). Everything the DUT sends to any tester address arrives on
the case's link; the helpers pick what a step waits for by NHRP type (the DUT's periodic
registration refreshes are never mistaken for an answer).
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Iterable, Iterator

from dmvpn.conformance import CaseContext
from dmvpn.dut.capability import Capability
from dmvpn.peers import Exchange
from dmvpn.wire import constants as C
from dmvpn.wire import ip as IP
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import GrePacket

RES_REQ, RES_REP = C.PacketType.RESOLUTION_REQUEST, C.PacketType.RESOLUTION_REPLY
REG_REQ, REG_REP = C.PacketType.REGISTRATION_REQUEST, C.PacketType.REGISTRATION_REPLY
PURGE_REP = C.PacketType.PURGE_REPLY
ERROR = C.PacketType.ERROR_INDICATION
DATA = "data"  # in `types`: GRE-encapsulated IPv4 data

#: what the DUT-NHC cases of a shortcut flow need: a spoke the tester can make register, with shortcuts
SHORTCUT_FLOW = (Capability.TRIGGER_REGISTRATION, Capability.SHORTCUT)

#: shortcut types that are no next hop (FRR shows these while resolving or after a failure)
NOT_INSTALLED = frozenset({"incomplete", "invalid", "negative"})

_lans: "weakref.WeakKeyDictionary[object, Iterator[ipaddress.IPv4Network]]" = weakref.WeakKeyDictionary()
_nats: "weakref.WeakKeyDictionary[object, Iterator[str]]" = weakref.WeakKeyDictionary()


class Rig:
    """One case's tester side. Creating it drains what earlier cases left on the link."""

    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx
        self.dut = ctx.dut
        info = ctx.dut.info
        self.nhs_nbma: str = info.extra["nhs_nbma"]
        self.nhs_proto: str = info.extra["nhs_proto"]
        self.lan = ipaddress.ip_network(info.extra["lan"]) if info.extra.get("lan") else None
        self.retry_window = float(info.extra.get("retry_window", 3.0))
        self._dut_nbma = ipaddress.IPv4Address(info.nbma).packed
        self.drain()

    # -- the link ------------------------------------------------------------------------------

    def drain(self) -> None:
        self.ctx.drain()

    def _accept(self, types: Iterable[int | str] | None):
        wanted = None if types is None else set(types)

        def accept(parsed: GrePacket | None, raw: bytes) -> bool:
            if len(raw) < 20 or raw[12:16] != self._dut_nbma:
                return False
            if parsed is None or wanted is None:
                return True  # a malformed packet from the DUT is an answer too
            if parsed.nhrp is None:
                return DATA in wanted and parsed.gre_proto == C.GRE_PROTO_IPV4
            return parsed.nhrp.op_type in wanted

        return accept

    def send(self, packets: bytes | Iterable[bytes], window: float, types: Iterable[int | str] | None = None, stop_after: int | None = None) -> Exchange:
        """Send these bytes; collect what the DUT sends of these types (None: anything) in the window."""
        return self.ctx.exchange(packets, window, self._accept(types), stop_after)

    def collect(self, window: float, types: Iterable[int | str] | None = None, stop_after: int | None = None) -> Exchange:
        return self.send([], window, types, stop_after)

    def wait_for(self, window: float, types: Iterable[int | str], match=lambda packet: True, packets: Iterable[bytes] = ()) -> GrePacket | None:
        """Send `packets`, then the first NHRP packet of these types that `match`es within the window."""
        unsent = [list(packets)]

        def first_match(left: float) -> GrePacket | None:
            exchange = self.send(unsent.pop() if unsent else [], left, types, stop_after=1)
            return next((packet for packet in exchange.nhrp() if match(packet)), None)

        return self.ctx.wait_until(first_match, lambda packet: packet is not None, window, 0, time_left=True)

    # -- identities ----------------------------------------------------------------------------

    def peer(self) -> tuple[str, str]:
        """A fresh emulated peer spoke: (NBMA, tunnel address)."""
        return self.ctx.identity()

    def peer_lan(self) -> ipaddress.IPv4Network:
        """A /24 behind an emulated peer, routed via the NHS at the DUT; a new one per call in a run."""
        lans = _lans.get(self.dut)
        if lans is None:
            lans = _lans[self.dut] = ipaddress.ip_network(self.dut.info.extra["peer_lans"]).subnets(new_prefix=24)
        return next(lans)

    def target(self) -> str:
        """A destination no earlier case resolved: host .10 of a fresh peer LAN."""
        return str(self.peer_lan()[10])

    def nat_address(self) -> str:
        """A fresh "post-NAT" address of an emulated peer (the DUT's nat_nbma pool)."""
        nats = _nats.get(self.dut)
        if nats is None:
            nats = _nats[self.dut] = iter(self.dut.info.nat_nbma)
        return next(nats)

    def lan_address(self, host: int = 1) -> str:
        return str(self.lan[host])

    # -- registration (the tester as the DUT's NHS) ---------------------------------------------

    def registration_request(self, trigger: bool = True) -> GrePacket | None:
        """Make the DUT register (fresh state) and return its Registration Request, or None."""
        self.drain()
        if trigger:
            self.dut.trigger_registration()
        found = self.collect(self.retry_window, (REG_REQ,), stop_after=1).nhrp(REG_REQ)
        return found[0] if found else None

    def registration_reply(self, request: GrePacket, code: int = 0) -> bytes:
        """RFC 2332 §5.2.4: the request with type 4, the CIE codes set, Responder Address filled."""
        view = request.nhrp
        cies = [T.Cie(code, c.prefix_len, c.mtu, c.holding_time if not code else 0, c.client_nbma, c.client_nbma_sub, c.client_proto, c.preference) for c in view.cies]
        extensions = []
        for ext in view.extensions:
            if ext.type == C.ExtensionType.RESPONDER_ADDRESS:
                me = T.Cie(mtu=1400, holding_time=self.dut.info.holding_time, client_nbma=self.nhs_nbma, client_proto=self.nhs_proto)
                extensions.append(T.responder_address([me]))
            else:
                extensions.append(T.Extension(ext.type, ext.value, ext.compulsory))
        return self.ctx.packet(REG_REP, (self.nhs_nbma, view.src_proto), view.reqid, outer_dst=request.outer_src, src_nbma=view.src_nbma,
                               dst_proto=view.dst_proto, flags=view.flags, hopcnt=64, cies=cies, extensions=extensions)

    def register(self) -> GrePacket:
        """Registration before a flow: trigger, answer. A failure is a failed precondition (the
        flow cannot be tested: recorded, and the case ends); the cases about registration itself
        observe it directly."""
        request = self.registration_request()
        if request is None:
            self.ctx.precondition("registered with the tester as NHS", False, "no Registration Request", "a Registration Request to the NHS")
            self.ctx.stop()
        self.ctx.link.send(self.registration_reply(request))
        return request

    # -- Traffic Indications and resolutions ------------------------------------------------------

    def inner(self, dst: str, src: str | None = None) -> bytes:
        """An ICMP echo from the DUT's LAN to `dst`: the packet a Traffic Indication is about."""
        return ipv4_echo(src or self.lan_address(), dst)

    def traffic_indication(self, dst: str | None = None, payload: bytes | None = None, extensions: list[T.Extension] | None = None) -> bytes:
        """The tester-as-hub redirects the DUT's packet to `dst` (draft-detienne-dmvpn-01 §4)."""
        body = payload if payload is not None else self.inner(dst)
        more = {} if extensions is None else {"extensions": extensions}
        return self.ctx.packet(C.PacketType.TRAFFIC_INDICATION, (self.nhs_nbma, self.nhs_proto), dst_proto=self.lan_address(), payload=body, **more)

    def solicit_resolution(self, dst: str, **ti) -> GrePacket | None:
        """Send a Traffic Indication about `dst`; return the DUT's Resolution Request for it, or None."""
        return self.wait_for(self.ctx.window, (RES_REQ,), lambda p: str(p.nhrp.dst_proto) == dst, [self.traffic_indication(dst, **ti)])

    def resolution_reply(
        self,
        request: GrePacket,
        peer: tuple[str, str],
        prefix_len: int = 24,
        code: int = 0,
        holding_time: int = 600,
        nat_nbma: str | None = None,
        outer_src: str | None = None,
        reqid: int | None = None,
    ) -> bytes:
        """Peer `peer` answers the DUT's Resolution Request directly (RFC 2332 §5.2.2, DMVPN).

        With `nat_nbma`, the peer sits behind a NAT: the packet comes from `nat_nbma`, the CIE
        carries the peer's own NBMA and the NAT extension names `nat_nbma` for the peer's address.
        """
        view = request.nhrp
        nbma, proto = peer
        me = T.Cie(mtu=1400, holding_time=holding_time, client_nbma=nbma, client_proto=proto)
        extensions = []
        for ext in view.extensions:  # §5.2.2: every extension of the request is in the reply
            if ext.type == C.ExtensionType.RESPONDER_ADDRESS:
                extensions.append(T.responder_address([me]))
            elif ext.type == C.ExtensionType.NAT_ADDRESS and nat_nbma is not None:
                extensions.append(T.nat_address([T.Cie(prefix_len=32, client_nbma=nat_nbma, client_proto=proto)]))
            else:
                extensions.append(T.Extension(ext.type, ext.value, ext.compulsory))
        if nat_nbma is not None and not view.extension(C.ExtensionType.NAT_ADDRESS):
            extensions.insert(max(0, len(extensions) - 1), T.nat_address([T.Cie(prefix_len=32, client_nbma=nat_nbma, client_proto=proto)]))
        flags = (view.flags & (C.ResolutionFlags.Q | C.ResolutionFlags.S | C.ResolutionFlags.NAT)) | C.ResolutionFlags.A | C.ResolutionFlags.D
        cie = T.Cie(code=code, prefix_len=prefix_len, mtu=1400, holding_time=0 if code else holding_time, client_nbma=nbma, client_proto=proto)
        return self.ctx.packet(RES_REP, (outer_src or nat_nbma or nbma, view.src_proto), view.reqid if reqid is None else reqid,
                               outer_dst=request.outer_src, src_nbma=view.src_nbma, dst_proto=view.dst_proto, flags=flags, hopcnt=64,
                               cies=[cie], extensions=extensions)

    def shortcut_to(self, peer: tuple[str, str], dst: str, **reply) -> GrePacket:
        """Resolve `dst` on the DUT (Traffic Indication) and answer as `peer`. Observes only failure
        (and then ends the case)."""
        request = self.solicit_resolution(dst)
        if request is None:
            self.ctx.observe("Resolution Request after a Traffic Indication", False, "no Resolution Request", f"a Resolution Request for {dst}")
            self.ctx.stop()
        self.ctx.link.send(self.resolution_reply(request, peer, **reply))
        return request

    def forwarded_request(self, requester: tuple[str, str], dst: str, reqid: int, flags: int = 0xC802, holding_time: int = 600,
                          extensions: list[T.Extension] | None = None, direct: bool = False) -> bytes:
        """`requester`'s Resolution Request for `dst` as the tester-as-hub forwards it to the DUT
        (hop count lowered, its own CIE in the Forward Transit record), or, with `direct`, as the
        requester sends it itself."""
        nbma, proto = requester
        hub = T.Cie(prefix_len=32, mtu=1400, holding_time=600, client_nbma=self.nhs_nbma, client_proto=self.nhs_proto)
        if extensions is None:
            extensions = [T.responder_address(), T.forward_transit([] if direct else [hub]), T.reverse_transit(), T.nat_address(), T.end()]
        return self.ctx.packet(RES_REQ, (nbma if direct else self.nhs_nbma, proto), reqid, src_nbma=nbma, dst_proto=dst, flags=flags,
                               hopcnt=16 if direct else 15, prefix_len=0xFF, holding_time=holding_time, extensions=extensions)

    # -- management and the data plane ----------------------------------------------------------

    def shortcut_for(self, dst: str) -> dict | None | bool:
        """The DUT's installed shortcut covering `dst` (longest prefix), None, or False if unknown."""
        try:
            rows = self.dut.shortcuts()
        except Exception as exc:
            self.ctx.note(f"DUT shortcuts unavailable: {type(exc).__name__}: {str(exc)[:200]}")
            return False
        if rows is None:
            return False
        address = ipaddress.ip_address(dst)
        best = None
        for row in rows:
            if row.get("type") in NOT_INSTALLED or not row.get("via"):
                continue
            try:
                net = ipaddress.ip_network(row["prefix"], strict=False)
            except ValueError:
                continue
            if address in net and (best is None or net.prefixlen > ipaddress.ip_network(best["prefix"], strict=False).prefixlen):
                best = row
        return best

    def wait_shortcut(self, dst: str, present: bool = True, timeout: float | None = None) -> dict | None | bool:
        """Poll the DUT's shortcuts until one covers `dst` (or none does); the last answer."""
        return self.ctx.wait_until(
            lambda: self.shortcut_for(dst), lambda found: found is False or bool(found) == present,
            self.ctx.window if timeout is None else timeout, min(0.2, max(0.01, self.ctx.quiet / 5)),
        )

    def data_path(self, dst: str, count: int = 3) -> list[str]:
        """Make the DUT send `count` packets to `dst`; the outer destinations they were sent to."""
        self.drain()
        self.dut.send_data(dst, count)
        exchange = self.collect(self.ctx.quiet / 3, (DATA,))  # send_data returns once all is sent
        out = []
        for reply in exchange.replies:
            packet = reply.packet
            if packet is not None and packet.nhrp is None and len(packet.payload) >= 20 and packet.payload[16:20] == ipaddress.IPv4Address(dst).packed:
                out.append(packet.outer_dst)
        return out

    def expect_data_via_nhs(self, target: str, peer_nbma: str) -> None:
        """Data for `target` goes via the NHS, not straight to the peer (no usable shortcut)."""
        words = self.path_words(self.data_path(target), peer_nbma)
        self.ctx.expect("data path", words in ("data sent via the NHS", "no data seen"), words, "data sent via the NHS")

    def path_words(self, destinations: list[str], peer_nbma: str) -> str:
        """Where data went, in fixed words."""
        if not destinations:
            return "no data seen"
        kinds = {"to the peer" if d == peer_nbma else "via the NHS" if d == self.nhs_nbma else "elsewhere" for d in destinations}
        if kinds == {"to the peer"}:
            return "data sent directly to the peer's NBMA address"
        if kinds == {"via the NHS"}:
            return "data sent via the NHS"
        if kinds == {"to the peer", "via the NHS"}:
            return "data partly via the NHS"
        return "data sent to another address"

    def expect_alive(self) -> None:
        """After malformed input: healthy, and still registering when asked (a spoke answers no
        Registration Request, so the hub probe of the runner does not fit a DUT spoke)."""
        try:
            healthy, why = self.dut.health()
        except Exception as exc:
            healthy, why = False, f"health check failed: {type(exc).__name__}"
        request = self.registration_request() if healthy else None
        if request is not None:
            self.ctx.link.send(self.registration_reply(request))
        observed = "alive" if healthy and request is not None else f"DUT down: {why}" if not healthy else "no Registration Request when asked"
        self.ctx.observe("alive after malformed input", observed == "alive", observed, "alive")


def ipv4_echo(src: str, dst: str, payload: bytes = b"dmvpn-nhc-probe!") -> bytes:
    """A complete IPv4 ICMP echo request (checksums right)."""
    return IP.ipv4(src, dst, IP.icmp_echo(0x4E48, 1, payload), 1, ttl=63, ident=1)


def flag_words(view) -> str:
    names = C.flag_names(view.op_type, view.flags)
    return "|".join(names) if names else "none"


def forwarded_exchange(ctx: CaseContext, rig: Rig, flags: int = 0xC802, holding_time: int = 600):
    """A peer's Resolution Request for an address behind the DUT, as the tester-as-hub forwards it."""
    requester = rig.peer()
    target = rig.lan_address(10)
    reqid = ctx.dut.reqid_base()
    packet = rig.forwarded_request(requester, target, reqid, flags=flags, holding_time=holding_time)
    exchange = rig.send(packet, ctx.window, (RES_REP, ERROR), stop_after=1)
    return requester, target, reqid, packet, exchange
