"""The fake NHS (hub): registration server, resolution, forwarding, redirect, purge.

It plays the hub against a real DUT spoke, and, with `faults`, it is the deliberately wrong
in-process DUT that shows every conformance case able to fail: each fault breaks one RFC rule the
way a buggy implementation would (FRR 8.4's own deviations among them).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import Cie, GrePacket, NhrpView, ParseError, parse_ipv4_gre

from .base import Peer, Tunnel

#: Deviations a FakeNHS can be told to commit (see the class docstring).
FAULTS = frozenset(
    {
        "silent",  # never answers
        "wrong-reqid",  # replies carry request ID + 1
        "bad-checksum",  # replies carry a wrong NHRP checksum
        "wrong-type",  # a Registration Reply sent as type 2
        "no-responder-address",  # the Responder Address extension is left out of replies
        "drop-extensions",  # replies carry no extensions at all
        "accept-unique-conflict",  # a unique address re-registered from another NBMA replaces the binding (FRR 8.4)
        "echo-unknown-compulsory",  # an unknown compulsory extension is echoed, no Error Indication 1 (FRR 8.4)
        "ignore-uniqueness-prefix",  # U set with a non-host prefix is accepted
        "reply-to-claimed-nbma",  # behind NAT: the reply goes to the claimed NBMA, not the packet's source
        "no-nat-extension",  # NAT is not reported back in the NAT extension
        "no-purge",  # Purge Requests are ignored (FRR 8.4)
        "keep-on-purge",  # Purge Replies are sent but the binding stays
        "no-redirect",  # hairpinned data is forwarded without a Traffic Indication
        "no-hop-check",  # a request forwarded with hop count 0 instead of Error Indication 15
        "nak-code-11",  # "no binding" NAKs use FRR's constant 11 instead of RFC 2332's 12
        "error-on-error",  # answers an Error Indication with an Error Indication
        "unique-always",  # every registration is treated as unique (re-registration from a new NBMA refused)
        "first-cie-only",  # only the first CIE of a request is processed and answered
        "accept-empty-registration",  # a request without CIEs is answered with a success CIE
        "no-header-checks",  # version, address family and length fields are not checked
        "ignore-checksum",  # a bad NHRP checksum is not noticed
        "answer-anything",  # even unparsable or invalid packets get a success reply (salvaged request ID)
        "crash-on-malformed",  # the first malformed packet stops the NHS for good (a crash)
    }
)

HOST_PREFIXES = (0, 0xFF)


@dataclass
class Binding:
    proto: str
    nbma: str  # where packets for `proto` go (post-NAT)
    claimed_nbma: str
    unique: bool
    expires: float
    prefix_len: int = 32


@dataclass
class NhsStats:
    registrations: int = 0
    resolutions: int = 0
    purges: int = 0
    redirects: int = 0
    errors_sent: int = 0
    forwarded: int = 0


class FakeNHS(Peer):
    """An emulated NHS at one NBMA/tunnel address pair."""

    def __init__(
        self,
        nbma: str,
        proto: str,
        tunnel: Tunnel = Tunnel(),
        routes: dict[str, str] | None = None,
        faults: frozenset[str] | set[str] = frozenset(),
        hopcnt: int = 255,
        redirect: bool = True,
    ) -> None:
        unknown = set(faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown NHS faults: {sorted(unknown)}")
        self.nbma = nbma
        self.proto = proto
        self.tunnel = tunnel
        self.addresses = (nbma,)
        #: prefix -> tunnel address of the spoke behind which it lies (what routing would say)
        self.routes = {ipaddress.ip_network(p): via for p, via in (routes or {}).items()}
        self.faults = frozenset(faults)
        self.hopcnt = hopcnt
        self.redirect = redirect
        self.cache: dict[str, Binding] = {}
        self.stats = NhsStats()
        self.redirected_pairs: set[tuple[str, str]] = set()
        self.crashed = False

    # -- helpers -------------------------------------------------------------------------------

    def binding(self, proto: str, now: float) -> Binding | None:
        entry = self.cache.get(proto)
        if entry is not None and entry.expires <= now:
            del self.cache[proto]
            return None
        return entry

    def _send(self, packet: bytes) -> bytes:
        if "bad-checksum" in self.faults and len(packet) > 40:
            data = bytearray(packet)
            nhrp = 20 + _gre_len(packet)
            data[nhrp + 12] ^= 0x5A
            return bytes(data)
        return packet

    def error_indication(self, offender: GrePacket, view: NhrpView, code: int, offset: int = 0) -> bytes:
        """RFC 2332 §5.2.7: src = this NHS, dst = the offender, the offending packet inside, no extensions."""
        self.stats.errors_sent += 1
        return self._send(
            T.error_indication(
                code,
                offset,
                payload=view.raw,
                outer_src=self.nbma,
                outer_dst=offender.outer_src,
                src_nbma=self.nbma,
                src_proto=self.proto,
                dst_proto=view.src_proto,
                gre_key=self.tunnel.gre_key,
                hopcnt=0,
            ).packet
        )

    # -- dispatch ------------------------------------------------------------------------------

    def receive(self, raw: bytes, now: float) -> list[bytes]:
        if self.crashed:
            return []
        try:
            packet = parse_ipv4_gre(raw)
        except ParseError:
            return self._malformed(raw)
        view = packet.nhrp
        if view is not None and (
            view.op_type not in C.PacketType._value2member_map_
            or not self.header_ok(view)
            or not (view.checksum_ok or "ignore-checksum" in self.faults)
        ):
            return self._malformed(raw)  # RFC 2332 §5.2.7 allows a silent discard
        return self.handle(packet, now)

    def _malformed(self, raw: bytes) -> list[bytes]:
        if "crash-on-malformed" in self.faults:
            self.crashed = True
        if "answer-anything" in self.faults and len(raw) >= 20 + _gre_len(raw) + 28:
            return [self._salvaged_reply(raw)]
        return []

    def _salvaged_reply(self, raw: bytes) -> bytes:
        """What a parser that trusts nothing it reads would answer: success, whatever came in."""
        nhrp = 20 + _gre_len(raw)
        reqid = struct.unpack_from("!I", raw, nhrp + 24)[0]
        src = ".".join(str(b) for b in raw[12:16])
        return T.registration_reply(
            outer_src=self.nbma, outer_dst=src, src_proto=self.proto, dst_proto=self.proto, gre_key=self.tunnel.gre_key, reqid=reqid
        ).packet

    def header_ok(self, view: NhrpView) -> bool:
        """RFC 2332 §5.1's fixed-header rules a receiver can check."""
        if "no-header-checks" in self.faults:
            return True
        nbma_len = {C.AddressFamily.IPV4: 4, C.AddressFamily.IPV6: 16}.get(view.afn)
        proto_len = {C.ProtocolType.IPV4: 4, C.ProtocolType.IPV6: 16}.get(view.pro_type)
        return (
            view.version == C.NHRP_VERSION
            and nbma_len is not None
            and view.shtl == nbma_len  # no reserved/E.164 bits, the family's length
            and view.sstl == 0
            and proto_len is not None
            and view.src_proto_len == proto_len
            and view.dst_proto_len == proto_len
        )

    def handle(self, packet: GrePacket, now: float) -> list[bytes]:
        if "silent" in self.faults:
            return []
        if packet.gre_key != self.tunnel.gre_key:
            return []  # not our tunnel: the kernel would not have matched it (ENC-02)
        if packet.gre_proto in (C.GRE_PROTO_IPV4, C.GRE_PROTO_IPV6):
            return self._data(packet, now)
        view = packet.nhrp
        if view is None:
            return []
        if view.op_type == C.PacketType.ERROR_INDICATION:
            if "error-on-error" in self.faults:
                return [self.error_indication(packet, view, C.ErrorCode.PROTOCOL_ERROR)]
            return []  # never an Error Indication about an Error Indication
        unknown = [e for e in view.extensions if e.compulsory and e.type not in _KNOWN_EXTENSIONS]
        if unknown and "echo-unknown-compulsory" not in self.faults and view.op_type in C.REQUEST_TYPES:
            offset = view.raw.find(unknown[0].raw)
            return [self.error_indication(packet, view, C.ErrorCode.UNRECOGNIZED_EXTENSION, offset)]
        if view.op_type == C.PacketType.REGISTRATION_REQUEST:
            return self._registration(packet, view, now)
        if view.op_type == C.PacketType.RESOLUTION_REQUEST:
            return self._resolution(packet, view, now)
        if view.op_type == C.PacketType.PURGE_REQUEST:
            return self._purge(packet, view, now)
        return []

    # -- registration (RFC 2332 §5.2.3, §5.2.4) ------------------------------------------------

    def _registration(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        self.stats.registrations += 1
        unique = bool(view.flags & C.RegistrationFlags.U) or "unique-always" in self.faults
        natted = str(view.src_nbma) != packet.outer_src
        codes = []
        request_cies = view.cies[:1] if "first-cie-only" in self.faults else view.cies
        if not request_cies and "accept-empty-registration" in self.faults:
            request_cies = [Cie(0, 32, 0, self.tunnel.holding_time, b"", b"", b"", 0)]
        for cie in request_cies:
            proto = str(cie.client_proto or view.src_proto)
            claimed = str(cie.client_nbma or view.src_nbma)
            nbma = packet.outer_src if natted else claimed
            existing = self.binding(proto, now)
            if unique and cie.prefix_len not in HOST_PREFIXES + (32, 128) and "ignore-uniqueness-prefix" not in self.faults:
                codes.append(C.CieCode.ADMINISTRATIVELY_PROHIBITED)
                continue
            if existing is not None and existing.unique and existing.nbma != nbma and "accept-unique-conflict" not in self.faults:
                codes.append(C.CieCode.UNIQUE_ADDRESS_ALREADY_REGISTERED)
                continue
            holding = cie.holding_time or self.tunnel.holding_time
            self.cache[proto] = Binding(proto, nbma, claimed, unique, now + holding, cie.prefix_len)
            codes.append(C.CieCode.SUCCESS)
        if not request_cies:
            return []  # RFC 2332 §5.2.3: one or more CIEs; nothing to answer
        cies = [
            T.Cie(code, c.prefix_len, c.mtu, 0 if code else c.holding_time, c.client_nbma, c.client_nbma_sub, c.client_proto, c.preference)
            for code, c in zip(codes, request_cies)
        ]
        extensions = self._reply_extensions(view, packet if natted else None)
        op_type = C.PacketType.RESOLUTION_REPLY if "wrong-type" in self.faults else C.PacketType.REGISTRATION_REPLY
        destination = str(view.src_nbma) if "reply-to-claimed-nbma" in self.faults else packet.outer_src
        return [self._reply(op_type, packet, view, destination, cies, extensions)]

    def _reply_extensions(self, view: NhrpView, natted: GrePacket | None) -> list[T.Extension]:
        """Echo the request's extensions in order (§5.3), filling the Responder Address (§5.3.1)."""
        if "drop-extensions" in self.faults:
            return []
        out = []
        for ext in view.extensions:
            if ext.type == C.ExtensionType.RESPONDER_ADDRESS:
                if "no-responder-address" in self.faults:
                    continue
                me = T.Cie(prefix_len=32, mtu=self.tunnel.mtu, holding_time=self.tunnel.holding_time, client_nbma=self.nbma, client_proto=self.proto)
                out.append(T.responder_address([me]))
            elif ext.type == C.ExtensionType.NAT_ADDRESS and natted is not None and "no-nat-extension" not in self.faults:
                cies = [_t_cie(c) for c in ext.cies or []]
                cies.append(T.Cie(prefix_len=32, client_nbma=natted.outer_src, client_proto=view.src_proto))
                out.append(T.nat_address(cies))
            else:
                out.append(T.Extension(ext.type, ext.value, ext.compulsory))
        return out

    def _reply(self, op_type: int, packet: GrePacket, view: NhrpView, destination: str, cies: list[T.Cie], extensions: list[T.Extension], flags: int | None = None) -> bytes:
        reqid = (view.reqid + 1) & 0xFFFFFFFF if "wrong-reqid" in self.faults else view.reqid
        return self._send(
            T.NhrpTemplate.compile(
                op_type,
                outer_src=self.nbma,
                outer_dst=destination,
                gre_key=self.tunnel.gre_key,
                src_nbma=view.src_nbma,
                src_proto=view.src_proto,
                dst_proto=view.dst_proto,
                flags=view.flags if flags is None else flags,
                reqid=reqid,
                hopcnt=self.hopcnt,
                cies=cies,
                extensions=extensions,
            ).packet
        )

    # -- resolution (RFC 2332 §5.2.1, §5.2.2) --------------------------------------------------

    def _resolution(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        self.stats.resolutions += 1
        target = str(view.dst_proto)
        entry = self.binding(target, now)
        if entry is None:
            via = self._route(target)
            if via is not None and (hop := self.binding(via, now)) is not None:
                return self._forward(packet, view, hop.nbma)
        flags = (view.flags & (C.ResolutionFlags.Q | C.ResolutionFlags.S | C.ResolutionFlags.NAT)) | C.ResolutionFlags.A
        if entry is None:
            code = 11 if "nak-code-11" in self.faults else C.CieCode.NO_BINDING_EXISTS
            cies = [T.Cie(code=code, prefix_len=32)]
        else:
            flags |= C.ResolutionFlags.D | (C.ResolutionFlags.U if entry.unique else 0)
            remaining = max(0, int(entry.expires - now))
            cies = [T.Cie(prefix_len=32, mtu=self.tunnel.mtu, holding_time=remaining, client_nbma=entry.nbma, client_proto=entry.proto)]
        extensions = self._reply_extensions(view, None)
        return [self._reply(C.PacketType.RESOLUTION_REPLY, packet, view, packet.outer_src, cies, extensions, flags)]

    def _route(self, address: str) -> str | None:
        ip = ipaddress.ip_address(address)
        best = None
        for net, via in self.routes.items():
            if ip in net and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, via)
        return best[1] if best else None

    def _forward(self, packet: GrePacket, view: NhrpView, next_nbma: str) -> list[bytes]:
        """As a transit NHS: hop count - 1, own CIE appended to the Forward Transit record (§5.3.2)."""
        if view.hopcnt == 0 and "no-hop-check" not in self.faults:
            return [self.error_indication(packet, view, C.ErrorCode.HOP_COUNT_EXCEEDED)]
        self.stats.forwarded += 1
        me = T.Cie(prefix_len=32, mtu=self.tunnel.mtu, holding_time=self.tunnel.holding_time, client_nbma=self.nbma, client_proto=self.proto)
        extensions = []
        for ext in view.extensions:
            if ext.type == C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD:
                extensions.append(T.forward_transit([_t_cie(c) for c in ext.cies or []] + [me]))
            else:
                extensions.append(T.Extension(ext.type, ext.value, ext.compulsory))
        forwarded = T.NhrpTemplate.compile(
            view.op_type,
            outer_src=self.nbma,
            outer_dst=next_nbma,
            gre_key=self.tunnel.gre_key,
            src_nbma=view.src_nbma,
            src_proto=view.src_proto,
            dst_proto=view.dst_proto,
            flags=view.flags,
            reqid=view.reqid,
            hopcnt=max(0, view.hopcnt - 1),
            cies=[_t_cie(c) for c in view.cies],
            extensions=extensions,
        ).packet
        return [self._send(forwarded)]

    # -- purge (RFC 2332 §5.2.5, §5.2.6) -------------------------------------------------------

    def _purge(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if "no-purge" in self.faults:
            return []
        self.stats.purges += 1
        if "keep-on-purge" not in self.faults:
            for cie in view.cies:
                self.cache.pop(str(cie.client_proto or view.src_proto), None)
        if view.flags & C.PurgeFlags.N:
            return []
        cies = [_t_cie(c) for c in view.cies]
        extensions = [T.Extension(e.type, e.value, e.compulsory) for e in view.extensions]
        return [self._reply(C.PacketType.PURGE_REPLY, packet, view, packet.outer_src, cies, extensions)]

    # -- data and redirect (draft-detienne-dmvpn-01 §4) -----------------------------------------

    def _data(self, packet: GrePacket, now: float) -> list[bytes]:
        inner = packet.payload
        if len(inner) < 20 or inner[0] >> 4 != 4:
            return []
        src = str(ipaddress.IPv4Address(inner[12:16]))
        dst = str(ipaddress.IPv4Address(inner[16:20]))
        via = self._route(dst)
        egress = self.binding(via, now) if via else self.binding(dst, now)
        if egress is None:
            return []
        out = [self._send(T.encode_ipv4_gre(inner, src=self.nbma, dst=egress.nbma, key=self.tunnel.gre_key, proto=packet.gre_proto))]
        sender = next((b for b in self.cache.values() if b.nbma == packet.outer_src and b.expires > now), None)
        pair = (packet.outer_src, egress.nbma)
        if self.redirect and "no-redirect" not in self.faults and sender is not None and pair not in self.redirected_pairs:
            self.redirected_pairs.add(pair)  # one redirect per pair: a rate limit the RFC leaves open
            self.stats.redirects += 1
            out.append(
                self._send(
                    T.traffic_indication(
                        payload=inner[:min(len(inner), 128)],
                        outer_src=self.nbma,
                        outer_dst=packet.outer_src,
                        src_nbma=self.nbma,
                        src_proto=self.proto,
                        dst_proto=src,  # the hairpinned packet's source, as FRR, opennhrp and Cisco send it
                        gre_key=self.tunnel.gre_key,
                        hopcnt=1,
                    ).packet
                )
            )
        return out


_KNOWN_EXTENSIONS = frozenset(int(t) for t in C.ExtensionType)


def _t_cie(c: Cie) -> T.Cie:
    return T.Cie(c.code, c.prefix_len, c.mtu, c.holding_time, c.client_nbma, c.client_nbma_sub, c.client_proto, c.preference)


def _gre_len(packet: bytes) -> int:
    flags = struct.unpack_from("!H", packet, 20)[0]
    return 4 + 4 * bool(flags & C.GRE_FLAG_CHECKSUM) + 4 * bool(flags & C.GRE_FLAG_KEY) + 4 * bool(flags & C.GRE_FLAG_SEQUENCE)


__all__ = ["FAULTS", "Binding", "FakeNHS", "NhsStats"]
