"""The fake spoke (NHC): registration, refresh, resolution, egress answering, redirect, purge, data.

Behaviour follows RFC 2332 where it speaks (a retransmission reuses its request ID, §5.2.0.1;
refresh at a third of the holding time, §5.2.3; the requester's binding is cached only with the S
bit and a holding time, §6.2.1; an unsolicited Resolution Reply gets Error Indication 10, §5.2.2;
Purge Requests are answered and honoured, §5.2.5; cached information is dropped when its holding
time runs out, §5.2.0.1) and FRR/Cisco practice where it is silent (retransmission back-off 1, 2,
4, ... s up to 64 s; the Cisco NAT extension; the egress answers a forwarded Resolution Request
directly; a Traffic Indication makes it resolve the inner packet's destination; a shortcut in use
is re-resolved at two thirds of its holding time).

With `faults`, it is the deliberately wrong in-process DUT spoke of the self-tests: each fault
breaks one rule the way a buggy spoke would (FRR 8.4's own deviations among them).
"""

from __future__ import annotations

import ipaddress
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.fastparse import GrePacket, NhrpView, ParseError, parse_nhrp

from .base import Peer, ReqIds, Tunnel

#: Deviations a FakeSpoke can be told to commit (see the module docstring).
SPOKE_FAULTS = frozenset(
    {
        # its own Registration Requests
        "reg-dst-zero",  # Registration Requests name 0.0.0.0 as destination, neither the NHS nor itself (§5.2.3)
        "unique-prefix-32",  # U set with CIE prefix length 32 instead of 0xFF, as Cisco does (§5.2.3)
        "zero-holding-time",  # the registration CIE carries holding time 0 (§5.2.0.1)
        "no-end-extension",  # Registration Request extensions are not terminated by the End extension (§5.3)
        "new-reqid-on-retransmit",  # a retransmitted request gets a new request ID (§5.2.0.1)
        "no-retransmit",  # unanswered requests are never sent again
        "no-refresh",  # never re-registers after a success, so the binding lapses (§5.2.3)
        "bad-checksum",  # every NHRP packet it sends carries a wrong checksum (§5.1)
        # answering Resolution Requests as the egress
        "no-responder-address",  # the Responder Address extension of its replies is left empty (§5.3.1)
        "reply-via-nhs",  # answers a forwarded Resolution Request through the NHS, not directly (FRR 8.4)
        "cache-without-s",  # caches the requester's binding whatever the S bit and holding time say (FRR 8.4, §6.2.1)
        "mute-after-shortcut",  # stops answering Resolution Requests once it holds a shortcut (FRR issue #4845)
        # its own resolutions and shortcuts
        "no-error-10",  # an unsolicited Resolution Reply is dropped without Error Indication 10 (FRR 8.4, §5.2.2)
        "cache-unsolicited",  # an unsolicited Resolution Reply installs a shortcut
        "shortcut-from-nak",  # a NAKed Resolution Reply (CIE code != 0) installs a shortcut anyway
        "prefix-0-as-default",  # CIE prefix length 0 is taken as /0 instead of "no equivalence class" (§5.2.0.1)
        "ignore-nat-ext",  # the NAT extension's post-NAT address of the responder is ignored
        "retry-after-error-6",  # keeps retransmitting a Resolution Request answered by Error Indication 6
        "ignore-ti",  # Traffic Indications are ignored: no shortcut is ever tried
        "ti-extensions-dropped",  # a Traffic Indication that carries extensions is dropped
        "resolve-garbage-ti",  # a Traffic Indication's payload is not validated: garbage gets resolved
        "crash-on-malformed",  # a malformed Traffic Indication stops the spoke for good (a crash)
        "data-via-nhs",  # data keeps going through the NHS although a shortcut is installed
        "no-renewal",  # a shortcut in use is not re-resolved before its holding time runs out
        "ignore-holding-time",  # shortcuts never expire (§5.2.0.1: cached information SHALL be discarded)
        "ignore-purge",  # Purge Requests get no reply and purge nothing (FRR 8.4, §5.2.5)
    }
)

_REPLY_TYPE = {
    "registration": C.PacketType.REGISTRATION_REPLY,
    "resolution": C.PacketType.RESOLUTION_REPLY,
    "purge": C.PacketType.PURGE_REPLY,
}
_KNOWN_EXTENSIONS = frozenset(int(t) for t in C.ExtensionType)
_INF = math.inf


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
    build: Callable[[int], bytes] | None = None  # the same request with another request ID


@dataclass
class Shortcut:
    """A resolved next hop for `target`'s equivalence class (indexable as (nbma, prefix_len, expires))."""

    nbma: str
    prefix_len: int
    expires: float
    proto: str = ""  # the next hop's protocol address (the CIE's client protocol address)
    target: str = ""
    installed: float = 0.0
    renew_at: float = _INF
    used: bool = False

    def __getitem__(self, index: int):
        return (self.nbma, self.prefix_len, self.expires)[index]

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.target}/{self.prefix_len}", strict=False)


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
        retry_timeout: float = 1.0,
        faults: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        unknown = set(faults) - SPOKE_FAULTS
        if unknown:
            raise ValueError(f"unknown spoke faults: {sorted(unknown)}")
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
        self.retry_timeout = retry_timeout
        self.faults = frozenset(faults)
        self.addresses = (nbma,)
        self.outstanding: dict[int, Outstanding] = {}
        self.registered = False
        self.registration_reply: NhrpView | None = None
        self.refresh_at: float | None = None
        self.nat_nbma: str | None = None  # what the NHS saw, from the NAT extension
        self.shortcuts: dict[str, Shortcut] = {}  # resolved destination -> its shortcut
        self.negative: dict[str, int] = {}  # dst -> NAK code or Error Indication code
        self.negative_until: dict[str, float] = {}
        self.cache: dict[str, tuple[str, float]] = {}  # requesters' bindings: proto -> (nbma, expiry)
        self.events: list[Event] = []
        self.failed: list[Outstanding] = []
        self.crashed = False

    # -- building ------------------------------------------------------------------------------

    def _common(self) -> dict:
        return dict(outer_src=self.nbma, src_nbma=self.claimed_nbma, src_proto=self.proto, gre_key=self.tunnel.gre_key, password=self.tunnel.password)

    def _out(self, packet: bytes) -> bytes:
        """What leaves the spoke: with "bad-checksum", the NHRP checksum is spoiled."""
        if "bad-checksum" not in self.faults or len(packet) < 48 or packet[22:24] != b"\x20\x01":
            return packet
        data = bytearray(packet)
        nhrp = 20 + _gre_len(packet)
        data[nhrp + 12] ^= 0x5A
        return bytes(data)

    def registration_request(self, reqid: int) -> bytes:
        flags = (C.RegistrationFlags.U if self.unique else 0) | C.RegistrationFlags.NAT
        prefix_len = 0xFF if self.unique and "unique-prefix-32" not in self.faults else 32
        holding_time = 0 if "zero-holding-time" in self.faults else self.tunnel.holding_time
        extensions = [T.responder_address(), T.forward_transit(), T.reverse_transit()]
        if self.tunnel.password is not None:
            extensions.append(T.cisco_auth(self.tunnel.password))
        extensions.append(T.nat_address([T.Cie(prefix_len=32, mtu=self.tunnel.mtu, client_nbma=self.nhs_nbma, client_proto=self.nhs_proto)]))
        if "no-end-extension" not in self.faults:
            extensions.append(T.end())
        return T.registration_request(
            **self._common(),
            outer_dst=self.nhs_nbma,
            dst_proto="0.0.0.0" if "reg-dst-zero" in self.faults else self.nhs_proto,
            reqid=reqid,
            flags=flags,
            hopcnt=1,
            holding_time=holding_time,
            mtu=self.tunnel.mtu,
            prefix_len=prefix_len,
            extensions=extensions,
        ).packet

    def resolution_request(self, dst_proto: str, reqid: int, to_nbma: str | None = None) -> bytes:
        return T.resolution_request(
            **self._common(),
            outer_dst=to_nbma or self.nhs_nbma,
            dst_proto=dst_proto,
            reqid=reqid,
            hopcnt=16,
            holding_time=self.tunnel.holding_time,
            mtu=self.tunnel.mtu,
            prefix_len=0xFF,
            nat_cies=(),
        ).packet

    # -- actions -------------------------------------------------------------------------------

    def _send_request(self, kind: str, build: Callable[[int], bytes], reqid: int, now: float, target: str = "") -> list[bytes]:
        packet = self._out(build(reqid))
        self.outstanding[reqid] = Outstanding(
            kind, reqid, packet, now, now + self.retry_timeout, self.retry_timeout, target=target, build=build
        )
        self.events.append(Event(now, f"{kind}-sent", {"reqid": reqid, "target": target}))
        return [packet]

    def register(self, now: float) -> list[bytes]:
        if self.crashed:
            return []
        reqid = self.reqids.next()
        return self._send_request("registration", self.registration_request, reqid, now)

    def reregister(self, now: float) -> list[bytes]:
        """Register now, as a fresh start: pending registrations and the refresh timer are dropped."""
        for reqid in [r for r, o in self.outstanding.items() if o.kind == "registration"]:
            del self.outstanding[reqid]
        self.refresh_at = None
        return self.register(now)

    def resolve(self, dst_proto: str, now: float) -> list[bytes]:
        if self.crashed:
            return []
        reqid = self.reqids.next()
        return self._send_request("resolution", lambda r: self.resolution_request(dst_proto, r), reqid, now, target=dst_proto)

    def purge(self, proto: str, now: float, no_reply: bool = False, to_nbma: str | None = None) -> list[bytes]:
        reqid = self.reqids.next()

        def build(r: int) -> bytes:
            return T.purge_request(
                **self._common(),
                outer_dst=to_nbma or self.nhs_nbma,
                dst_proto=self.nhs_proto,
                reqid=r,
                flags=C.PurgeFlags.N if no_reply else 0,
                purge_proto=proto,
            ).packet

        if no_reply:
            self.events.append(Event(now, "purge-sent", {"reqid": reqid, "target": proto}))
            return [self._out(build(reqid))]
        return self._send_request("purge", build, reqid, now, target=proto)

    def send_data(self, dst: str, count: int, now: float) -> list[bytes]:
        """`count` ICMP echo requests from the spoke's LAN to `dst`, through a shortcut if one covers it."""
        if self.crashed:
            return []
        src = str(self.lan[1]) if self.lan is not None else self.proto
        sc = self.shortcut_for(dst, now)
        via = self.nhs_nbma
        if sc is not None and "data-via-nhs" not in self.faults:
            via = sc.nbma
        out = []
        for seq in range(count):
            inner = _icmp_echo(src, dst, seq)
            out.append(T.encode_ipv4_gre(inner, src=self.nbma, dst=via, key=self.tunnel.gre_key, proto=C.GRE_PROTO_IPV4))
        self.events.append(Event(now, "data-sent", {"dst": dst, "via": via, "count": count}))
        if sc is not None:
            sc.used = True
            if sc.renew_at <= now:  # expiring and now in use: renew at once (as FRR does)
                out += self._renew(sc, now)
        return out

    def shortcut_for(self, dst: str, now: float) -> Shortcut | None:
        """The live shortcut with the longest prefix covering `dst`."""
        address = ipaddress.ip_address(dst)
        best = None
        for sc in self.shortcuts.values():
            if sc.expires <= now and "ignore-holding-time" not in self.faults:
                continue
            if address in sc.network and (best is None or sc.prefix_len > best.prefix_len):
                best = sc
        return best

    # -- timers --------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        if self.crashed:
            return None
        times = [o.next_retry for o in self.outstanding.values()]
        if self.refresh_at is not None:
            times.append(self.refresh_at)
        for sc in self.shortcuts.values():
            times.append(sc.renew_at)
            if "ignore-holding-time" not in self.faults:
                times.append(sc.expires)
        times = [t for t in times if t != _INF]
        return min(times) if times else None

    def on_timer(self, now: float) -> list[bytes]:
        if self.crashed:
            return []
        out: list[bytes] = []
        for reqid, pending in list(self.outstanding.items()):
            if pending.next_retry > now:
                continue
            if "no-retransmit" in self.faults:
                pending.next_retry = _INF  # waits for its reply forever, never sends again
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
            if "new-reqid-on-retransmit" in self.faults and pending.build is not None:
                del self.outstanding[reqid]
                pending.reqid = self.reqids.next()
                pending.packet = self._out(pending.build(pending.reqid))
                self.outstanding[pending.reqid] = pending
            self.events.append(Event(now, f"{pending.kind}-retransmitted", {"reqid": pending.reqid, "sends": pending.sends}))
            out.append(pending.packet)  # the same bytes: the same request ID (RFC 2332 §5.2.0.1)
        if self.refresh_at is not None and self.refresh_at <= now:
            self.refresh_at = None
            out += self.register(now)
        for target, sc in list(self.shortcuts.items()):
            if sc.expires <= now and "ignore-holding-time" not in self.faults:
                del self.shortcuts[target]  # RFC 2332 §5.2.0.1: discarded when the holding time expires
                self.events.append(Event(now, "shortcut-expired", {"target": target}))
                continue
            if sc.renew_at <= now:
                if sc.used:
                    out += self._renew(sc, now)
                else:
                    sc.renew_at = _INF  # expiring: renewed if it gets used (send_data), else it lapses
                    sc.used = False
        return out

    def _renew(self, sc: Shortcut, now: float) -> list[bytes]:
        sc.renew_at = _INF
        if "no-renewal" in self.faults or self._resolving(sc.target):
            return []
        self.events.append(Event(now, "shortcut-renewal", {"target": sc.target}))
        return self.resolve(sc.target, now)

    def _resolving(self, target: str) -> bool:
        return any(o.kind == "resolution" and o.target == target for o in self.outstanding.values())

    # -- receiving -----------------------------------------------------------------------------

    def receive(self, raw: bytes, now: float) -> list[bytes]:
        if self.crashed:
            return []
        return super().receive(raw, now)

    def handle(self, packet: GrePacket, now: float) -> list[bytes]:
        if packet.gre_key != self.tunnel.gre_key:
            return []  # not our tunnel: the kernel would not have matched it
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
            self._error_indication(view, now)
        return []

    def _reply(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        pending = self.outstanding.get(view.reqid)
        # RFC 2332 §5.2.0.1: a reply matches on the request ID and the source addresses.
        if pending is None or view.src_proto != self.proto or _REPLY_TYPE[pending.kind] != view.op_type:
            self.events.append(Event(now, "unsolicited-reply", {"reqid": view.reqid, "type": view.op_type}))
            if view.op_type == C.PacketType.RESOLUTION_REPLY:
                return self._unsolicited_resolution_reply(packet, view, now)
            return []  # an unsolicited Purge Reply "must be ignored" (§5.2.5)
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
            if self.registered and "no-refresh" not in self.faults:
                self.refresh_at = now + self.tunnel.holding_time / 3
        elif pending.kind == "resolution":
            self._resolution_reply(packet, view, pending.target, now)
        return []

    def _resolution_reply(self, packet: GrePacket, view: NhrpView, target: str, now: float) -> None:
        if not view.cies:
            self.negative[target] = -1
            return
        cie = view.cies[0]  # the first CIE holds the preferred next hop (§5.2.2)
        if cie.code != C.CieCode.SUCCESS and "shortcut-from-nak" not in self.faults:
            self.negative[target] = cie.code  # a NAK: no binding, no shortcut
            self.negative_until[target] = now + self.tunnel.holding_time
            self.events.append(Event(now, "resolution-nak", {"target": target, "code": cie.code}))
            return
        self._install(packet, view, cie, target, now)

    def _install(self, packet: GrePacket, view: NhrpView, cie, target: str, now: float) -> None:
        prefix_len = cie.prefix_len
        width = 32 if ":" not in target else 128
        if prefix_len == 0:
            # §5.2.0.1: 0 means no equivalence information (equivalent to 0xFF)
            prefix_len = 0 if "prefix-0-as-default" in self.faults else width
        prefix_len = min(prefix_len, width)
        proto = str(cie.client_proto) if cie.client_proto else target
        nbma = str(cie.client_nbma) if cie.client_nbma else packet.outer_src
        nat = view.extension(C.ExtensionType.NAT_ADDRESS)
        if nat is not None and nat.cies and "ignore-nat-ext" not in self.faults:
            for c in nat.cies:  # the responder's post-NAT address (Cisco NAT extension)
                if c.client_nbma and str(c.client_proto) == proto:
                    nbma = str(c.client_nbma)
        holding = cie.holding_time or self.tunnel.holding_time
        self.shortcuts[target] = Shortcut(
            nbma, prefix_len, now + holding, proto=proto, target=target, installed=now, renew_at=now + 2 * holding / 3
        )
        self.negative.pop(target, None)
        self.negative_until.pop(target, None)
        self.events.append(Event(now, "shortcut-installed", {"target": target, "nbma": nbma, "prefix_len": prefix_len}))

    def _unsolicited_resolution_reply(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if "cache-unsolicited" in self.faults and view.cies and view.cies[0].code == C.CieCode.SUCCESS:
            self._install(packet, view, view.cies[0], str(view.dst_proto), now)
        if "no-error-10" in self.faults:
            return []
        # §5.2.7 code 10: "an error packet is sent to the station making the reply"
        responder = view.extension(C.ExtensionType.RESPONDER_ADDRESS)
        station = str(view.dst_proto)
        if responder is not None and responder.cies and responder.cies[0].client_proto:
            station = str(responder.cies[0].client_proto)
        elif view.cies and view.cies[0].client_proto:
            station = str(view.cies[0].client_proto)
        return [self.error_indication(packet, view, C.ErrorCode.INVALID_RESOLUTION_REPLY, station)]

    def error_indication(self, offender: GrePacket, view: NhrpView, code: int, dst_proto: str, offset: int = 0) -> bytes:
        """RFC 2332 §5.2.7: src = this spoke, the offending packet inside, no extensions."""
        self.events.append(Event(0.0, "error-sent", {"code": code}))
        return self._out(
            T.error_indication(
                code, offset, payload=view.raw, outer_src=self.nbma, outer_dst=offender.outer_src,
                src_nbma=self.claimed_nbma, src_proto=self.proto, dst_proto=dst_proto, gre_key=self.tunnel.gre_key, hopcnt=0,
            ).packet
        )

    def _error_indication(self, view: NhrpView, now: float) -> None:
        self.events.append(Event(now, "error-indication", {"code": view.code, "offset": view.error_offset}))
        try:
            offending = parse_nhrp(view.payload)
        except ParseError:
            return
        pending = self.outstanding.get(offending.reqid)
        if pending is None or pending.kind != "resolution" or offending.op_type != C.PacketType.RESOLUTION_REQUEST:
            return
        if view.code == C.ErrorCode.PROTOCOL_ADDRESS_UNREACHABLE and "retry-after-error-6" not in self.faults:
            del self.outstanding[offending.reqid]  # answered: unreachable; a negative entry, no retries
            self.negative[pending.target] = view.code
            self.negative_until[pending.target] = now + self.tunnel.holding_time

    def _answer_resolution(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        """As the egress spoke: answer directly to the requester's NBMA (RFC 2332 §5.2.2, DMVPN)."""
        if "mute-after-shortcut" in self.faults and self.shortcuts:
            return []
        target = ipaddress.ip_address(str(view.dst_proto))
        if target == ipaddress.ip_address(self.proto):
            prefix_len = 32
        elif self.lan is not None and target in self.lan:
            prefix_len = self.lan.prefixlen
        else:
            return []
        unknown = [e for e in view.extensions if e.compulsory and e.type not in _KNOWN_EXTENSIONS]
        if unknown:  # §5.3: the responder MUST return Error Indication 1
            return [self.error_indication(packet, view, C.ErrorCode.UNRECOGNIZED_EXTENSION, str(view.src_proto), view.raw.find(unknown[0].raw))]
        request_ht = view.cies[0].holding_time if view.cies else 0
        if (view.flags & C.ResolutionFlags.S and request_ht) or "cache-without-s" in self.faults:
            # §6.2.1: the source binding may be cached only with S set and a holding time
            self.cache[str(view.src_proto)] = (str(view.src_nbma), now + (request_ht or self.tunnel.holding_time))
        flags = (view.flags & (C.ResolutionFlags.Q | C.ResolutionFlags.S | C.ResolutionFlags.NAT)) | C.ResolutionFlags.A | C.ResolutionFlags.D
        me = T.Cie(prefix_len=0, mtu=self.tunnel.mtu, holding_time=self.tunnel.holding_time, client_nbma=self.claimed_nbma, client_proto=self.proto)
        extensions = []
        for ext in view.extensions:  # §5.2.2: every extension of the request is in the reply
            if ext.type == C.ExtensionType.RESPONDER_ADDRESS and "no-responder-address" not in self.faults:
                extensions.append(T.responder_address([me]))
            else:
                extensions.append(T.Extension(ext.type, ext.value, ext.compulsory))
        cie = T.Cie(prefix_len=prefix_len, mtu=self.tunnel.mtu, holding_time=self.tunnel.holding_time, client_nbma=self.claimed_nbma, client_proto=self.proto)
        to = self.nhs_nbma if "reply-via-nhs" in self.faults else str(view.src_nbma)
        self.events.append(Event(now, "resolution-answered", {"reqid": view.reqid, "from": str(view.src_proto), "to": to}))
        reply = T.NhrpTemplate.compile(
            C.PacketType.RESOLUTION_REPLY,
            outer_src=self.nbma,
            outer_dst=to,
            gre_key=self.tunnel.gre_key,
            src_nbma=view.src_nbma,
            src_proto=view.src_proto,
            dst_proto=view.dst_proto,
            flags=flags,
            reqid=view.reqid,
            hopcnt=16,
            cies=[cie],
            extensions=extensions,
        )
        return [self._out(reply.packet)]

    def _traffic_indication(self, view: NhrpView, now: float) -> list[bytes]:
        if "ignore-ti" in self.faults or not self.shortcut:
            return []
        if view.extensions and "ti-extensions-dropped" in self.faults:
            return []
        payload = view.payload
        if not _ipv4_header_ok(payload):
            self.events.append(Event(now, "traffic-indication-unparsable", {}))
            if "crash-on-malformed" in self.faults:
                self.crashed = True
                return []
            if "resolve-garbage-ti" not in self.faults:
                return []
            payload = payload.ljust(20, b"\0")
        inner_dst = str(ipaddress.IPv4Address(payload[16:20]))
        self.events.append(Event(now, "traffic-indication", {"inner_dst": inner_dst, "code": view.code}))
        if self.shortcut_for(inner_dst, now) is not None or self._resolving(inner_dst):
            return []
        if self.negative_until.get(inner_dst, 0) > now:
            return []
        return self.resolve(inner_dst, now)

    def _purged(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if "ignore-purge" in self.faults:
            return []
        purged = []
        for c in view.cies:
            if not c.client_proto:
                continue
            proto = str(c.client_proto)
            width = 32 if ":" not in proto else 128
            plen = width if c.prefix_len in (0, 0xFF) or c.prefix_len > width else c.prefix_len
            cls = ipaddress.ip_network(f"{proto}/{plen}", strict=False)
            for target, sc in list(self.shortcuts.items()):
                # §5.2.5: everything matching the CIE's equivalence class goes (the next hop itself too)
                if sc.network.overlaps(cls) or sc.proto == proto:
                    del self.shortcuts[target]
            for cached in [p for p in self.cache if ipaddress.ip_address(p) in cls]:
                del self.cache[cached]
            purged.append(proto)
        self.events.append(Event(now, "purged", {"protos": purged, "reqid": view.reqid}))
        if view.flags & C.PurgeFlags.N:
            return []
        return [self._out(_reply_from_request(packet, view, C.PacketType.PURGE_REPLY, self.nbma, self.tunnel))]


def _ipv4_header_ok(payload: bytes) -> bool:
    """An IPv4 header a router could forward: version 4, IHL >= 5, all of it present."""
    if len(payload) < 20 or payload[0] >> 4 != 4:
        return False
    ihl = (payload[0] & 0x0F) * 4
    return ihl >= 20 and len(payload) >= ihl


def _icmp_echo(src: str, dst: str, seq: int) -> bytes:
    icmp = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x4E48, seq) + b"dmvpn-nhc-data!!")
    struct.pack_into("!H", icmp, 2, inet_checksum(icmp))
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq + 1, 0, 64, 1, 0,
                                   ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed))
    struct.pack_into("!H", header, 10, inet_checksum(header))
    return bytes(header + icmp)


def _gre_len(packet: bytes) -> int:
    flags = struct.unpack_from("!H", packet, 20)[0]
    return 4 + 4 * bool(flags & C.GRE_FLAG_CHECKSUM) + 4 * bool(flags & C.GRE_FLAG_KEY) + 4 * bool(flags & C.GRE_FLAG_SEQUENCE)


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
