"""The fake spoke (NHC): registration, refresh, resolution, egress answering, redirect, purge.

Behaviour follows RFC 2332 where it speaks (a retransmission reuses its request ID, §5.2.0.1;
refresh at a third of the holding time, §5.2.3) and FRR/Cisco practice where it is silent
(retransmission back-off 1, 2, 4, ... s up to 64 s; the Cisco NAT extension naming the NHS).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import GrePacket, NhrpView

from .base import Peer, ReqIds, Tunnel


_REPLY_TYPE = {
    "registration": C.PacketType.REGISTRATION_REPLY,
    "resolution": C.PacketType.RESOLUTION_REPLY,
    "purge": C.PacketType.PURGE_REPLY,
}


@dataclass
class Outstanding:
    """A request waiting for its reply."""

    kind: str  # "registration", "resolution", "purge"
    reqid: int
    packet: bytes
    first_sent: float
    next_retry: float
    timeout: float
    sends: int = 1
    target: str = ""  # the resolved or purged protocol address


@dataclass
class Event:
    at: float
    what: str
    detail: dict = field(default_factory=dict)


class FakeSpoke(Peer):
    """An emulated spoke with its own NBMA and tunnel address."""

    def __init__(
        self,
        nbma: str,
        proto: str,
        nhs_nbma: str,
        nhs_proto: str,
        tunnel: Tunnel = Tunnel(),
        reqids: ReqIds | None = None,
        claimed_nbma: str | None = None,
        lan: str | None = None,
        unique: bool = True,
        max_retries: int = 6,
        max_backoff: float = 64.0,
        shortcut: bool = True,
    ) -> None:
        self.nbma = nbma
        self.proto = proto
        self.claimed_nbma = claimed_nbma or nbma  # differs when the spoke sits behind a NAT
        self.nhs_nbma = nhs_nbma
        self.nhs_proto = nhs_proto
        self.tunnel = tunnel
        self.reqids = reqids or ReqIds()
        self.lan = ipaddress.ip_network(lan) if lan else None
        self.unique = unique
        self.max_retries = max_retries
        self.max_backoff = max_backoff
        self.shortcut = shortcut
        self.addresses = (nbma,)
        self.outstanding: dict[int, Outstanding] = {}
        self.registered = False
        self.registration_reply: NhrpView | None = None
        self.refresh_at: float | None = None
        self.nat_nbma: str | None = None  # what the NHS saw, from the NAT extension
        self.shortcuts: dict[str, tuple[str, int, float]] = {}  # dst -> (nbma, prefix_len, expiry)
        self.negative: dict[str, int] = {}  # dst -> NAK code
        self.events: list[Event] = []
        self.failed: list[Outstanding] = []

    # -- building ------------------------------------------------------------------------------

    def _common(self) -> dict:
        return dict(outer_src=self.nbma, src_nbma=self.claimed_nbma, src_proto=self.proto, gre_key=self.tunnel.gre_key, password=self.tunnel.password)

    def registration_request(self, reqid: int) -> bytes:
        flags = (C.RegistrationFlags.U if self.unique else 0) | C.RegistrationFlags.NAT
        return T.registration_request(
            **self._common(),
            outer_dst=self.nhs_nbma,
            dst_proto=self.nhs_proto,
            reqid=reqid,
            flags=flags,
            hopcnt=1,
            holding_time=self.tunnel.holding_time,
            mtu=self.tunnel.mtu,
            prefix_len=0xFF if self.unique else 32,
            nhs_nbma=self.nhs_nbma,
            nhs_proto=self.nhs_proto,
        ).packet

    # -- actions -------------------------------------------------------------------------------

    def _send_request(self, kind: str, packet: bytes, reqid: int, now: float, target: str = "") -> list[bytes]:
        self.outstanding[reqid] = Outstanding(kind, reqid, packet, now, now + 1.0, 1.0, target=target)
        self.events.append(Event(now, f"{kind}-sent", {"reqid": reqid, "target": target}))
        return [packet]

    def register(self, now: float) -> list[bytes]:
        reqid = self.reqids.next()
        return self._send_request("registration", self.registration_request(reqid), reqid, now)

    def resolve(self, dst_proto: str, now: float) -> list[bytes]:
        reqid = self.reqids.next()
        packet = T.resolution_request(
            **self._common(),
            outer_dst=self.nhs_nbma,
            dst_proto=dst_proto,
            reqid=reqid,
            hopcnt=16,
            holding_time=self.tunnel.holding_time,
            mtu=self.tunnel.mtu,
            prefix_len=0xFF,
        ).packet
        return self._send_request("resolution", packet, reqid, now, target=dst_proto)

    def purge(self, proto: str, now: float, no_reply: bool = False, to_nbma: str | None = None) -> list[bytes]:
        reqid = self.reqids.next()
        packet = T.purge_request(
            **self._common(),
            outer_dst=to_nbma or self.nhs_nbma,
            dst_proto=self.nhs_proto,
            reqid=reqid,
            flags=C.PurgeFlags.N if no_reply else 0,
            purge_proto=proto,
        ).packet
        if no_reply:
            self.events.append(Event(now, "purge-sent", {"reqid": reqid, "target": proto}))
            return [packet]
        return self._send_request("purge", packet, reqid, now, target=proto)

    # -- timers --------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [o.next_retry for o in self.outstanding.values()]
        if self.refresh_at is not None:
            times.append(self.refresh_at)
        return min(times) if times else None

    def on_timer(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        for reqid, pending in list(self.outstanding.items()):
            if pending.next_retry > now:
                continue
            if pending.sends > self.max_retries:
                del self.outstanding[reqid]
                self.failed.append(pending)
                self.events.append(Event(now, f"{pending.kind}-failed", {"reqid": reqid}))
                if pending.kind == "registration":
                    self.registered = False
                continue
            pending.timeout = min(pending.timeout * 2, self.max_backoff)
            pending.next_retry = now + pending.timeout
            pending.sends += 1
            self.events.append(Event(now, f"{pending.kind}-retransmitted", {"reqid": reqid, "sends": pending.sends}))
            out.append(pending.packet)  # the same bytes: the same request ID (RFC 2332 §5.2.0.1)
        if self.refresh_at is not None and self.refresh_at <= now:
            self.refresh_at = None
            out += self.register(now)
        return out

    # -- receiving -----------------------------------------------------------------------------

    def handle(self, packet: GrePacket, now: float) -> list[bytes]:
        view = packet.nhrp
        if view is None or not view.checksum_ok:
            return []
        op = view.op_type
        if op in (C.PacketType.REGISTRATION_REPLY, C.PacketType.RESOLUTION_REPLY, C.PacketType.PURGE_REPLY):
            return self._reply(packet, view, now)
        if op == C.PacketType.RESOLUTION_REQUEST:
            return self._answer_resolution(packet, view, now)
        if op == C.PacketType.TRAFFIC_INDICATION:
            return self._traffic_indication(view, now)
        if op == C.PacketType.PURGE_REQUEST:
            return self._purged(packet, view, now)
        if op == C.PacketType.ERROR_INDICATION:
            self.events.append(Event(now, "error-indication", {"code": view.code, "offset": view.error_offset}))
        return []

    def _reply(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        pending = self.outstanding.get(view.reqid)
        # RFC 2332 §5.2.0.1: a reply matches on the request ID and the source addresses.
        if pending is None or view.src_proto != self.proto or _REPLY_TYPE[pending.kind] != view.op_type:
            self.events.append(Event(now, "unsolicited-reply", {"reqid": view.reqid, "type": view.op_type}))
            return []
        del self.outstanding[view.reqid]
        codes = [c.code for c in view.cies]
        detail = {"reqid": view.reqid, "codes": codes, "rtt": now - pending.first_sent, "sends": pending.sends}
        self.events.append(Event(now, f"{pending.kind}-reply", detail))
        if pending.kind == "registration":
            self.registration_reply = view
            self.registered = bool(codes) and all(code == C.CieCode.SUCCESS for code in codes)
            nat = view.extension(C.ExtensionType.NAT_ADDRESS)
            if nat is not None and nat.cies and len(nat.cies) > 1:
                self.nat_nbma = str(nat.cies[1].client_nbma)
            if self.registered:
                self.refresh_at = now + self.tunnel.holding_time / 3
        elif pending.kind == "resolution":
            if view.cies and view.cies[0].code == C.CieCode.SUCCESS:
                cie = view.cies[0]
                nbma = cie.client_nbma or view.src_nbma
                self.shortcuts[pending.target] = (str(nbma), cie.prefix_len, now + (cie.holding_time or self.tunnel.holding_time))
            elif view.cies:
                self.negative[pending.target] = view.cies[0].code
        return []

    def _answer_resolution(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        """As the egress spoke: answer directly to the requester's NBMA (RFC 2332 §5.2.2)."""
        target = ipaddress.ip_address(str(view.dst_proto))
        if target == ipaddress.ip_address(self.proto):
            prefix_len = 32
        elif self.lan is not None and target in self.lan:
            prefix_len = self.lan.prefixlen
        else:
            return []
        flags = (view.flags & (C.ResolutionFlags.Q | C.ResolutionFlags.S | C.ResolutionFlags.NAT)) | C.ResolutionFlags.A | C.ResolutionFlags.D
        self.events.append(Event(now, "resolution-answered", {"reqid": view.reqid, "from": str(view.src_proto)}))
        reply = T.resolution_reply(
            outer_src=self.nbma,
            outer_dst=str(view.src_nbma),
            src_nbma=str(view.src_nbma),
            src_proto=str(view.src_proto),
            dst_proto=str(view.dst_proto),
            gre_key=self.tunnel.gre_key,
            reqid=view.reqid,
            flags=flags,
            hopcnt=view.hopcnt,
            holding_time=self.tunnel.holding_time,
            mtu=self.tunnel.mtu,
            prefix_len=prefix_len,
            responder_nbma=self.claimed_nbma,
            responder_proto=self.proto,
            password=self.tunnel.password,
        )
        return [reply.packet]

    def _traffic_indication(self, view: NhrpView, now: float) -> list[bytes]:
        payload = view.payload
        if len(payload) < 20 or payload[0] >> 4 != 4:
            self.events.append(Event(now, "traffic-indication-unparsable", {}))
            return []
        inner_dst = str(ipaddress.IPv4Address(payload[16:20]))
        self.events.append(Event(now, "traffic-indication", {"inner_dst": inner_dst, "code": view.code}))
        if not self.shortcut or inner_dst in self.shortcuts:
            return []
        if any(o.kind == "resolution" and o.target == inner_dst for o in self.outstanding.values()):
            return []
        return self.resolve(inner_dst, now)

    def _purged(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        purged = [str(c.client_proto) for c in view.cies if c.client_proto]
        for proto in purged:
            self.shortcuts.pop(proto, None)
        self.events.append(Event(now, "purged", {"protos": purged, "reqid": view.reqid}))
        if view.flags & C.PurgeFlags.N:
            return []
        return [_reply_from_request(packet, view, C.PacketType.PURGE_REPLY, self.nbma, self.tunnel)]


def _reply_from_request(packet: GrePacket, view: NhrpView, op_type: int, outer_src: str, tunnel: Tunnel) -> bytes:
    """RFC 2332 §5.2.6: the request with only the type changed (extensions kept)."""
    return T.NhrpTemplate.compile(
        op_type,
        outer_src=outer_src,
        outer_dst=packet.outer_src,
        gre_key=tunnel.gre_key,
        src_nbma=view.src_nbma,
        src_proto=view.src_proto,
        dst_proto=view.dst_proto,
        flags=view.flags,
        reqid=view.reqid,
        hopcnt=view.hopcnt,
        cies=[T.Cie(c.code, c.prefix_len, c.mtu, c.holding_time, c.client_nbma, c.client_nbma_sub, c.client_proto, c.preference) for c in view.cies],
        extensions=[T.Extension(e.type, e.value, e.compulsory) for e in view.extensions],
    ).packet
