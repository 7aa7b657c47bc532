"""The fake NHS (hub): registration server, resolution, forwarding, redirect, purge.

It plays the hub against a real DUT spoke, and, with `faults`, it is the deliberately wrong
in-process DUT that shows every conformance case able to fail: each fault breaks one RFC rule the
way a buggy implementation would (FRR 8.4's own deviations among them).

Behaviour, where RFC 2332 speaks: a Registration Request is processed only when its destination is
the NHS or the requester itself, and forwarded otherwise (§5.2.3); bindings lapse with their
holding time (§5.2.0.1); a unique binding is never replaced (code 14, §5.2.3); a Resolution Request
is answered from the NHS's authoritative bindings (§5.2.2: NAK 12 when there is none, NAK 13 when
the request asks for uniqueness the binding does not have, never from non-authoritative data when
A is set), or, with `forward_to_clients` (what DMVPN hubs do), forwarded to the registered client;
a packet forwarded with hop count 0 gets Error Indication 15 (§5.1), one whose Forward/Reverse
Transit record or Responder Address already names this NHS gets Error Indication 3 (§5.3.1-5.3.3);
a Resolution Reply for a client is forwarded to it (§5.2.2); transit Error Indications are
forwarded, except the NHS's own, which are dropped quietly (§5.2.7); Purge Requests remove the
bindings and are answered unless N is set (§5.2.5); a Purge Reply is never acted on; once-only
extensions that repeat make the packet malformed (§5.3); replies end their extensions with End
(§5.3); with a password (Cisco plaintext authentication) every request and reply must carry it
exactly, else Error Indication 11 (§5.3.4). GRE (RFC 2784, RFC 2890): the checksum is verified when
present, reserved bits 1-5 (other than K and S) or a version other than 0 make the packet
discarded, reserved bits 6-12 are ignored, a sequence number is accepted. Redirect
(draft-detienne-dmvpn-01): hairpinned data is forwarded and, when its source lies behind a
registered client, that client gets a Traffic Indication, at most one per (source /24, destination
/24) pair and 15 s (IPv6: /64), as FRR's recommended hashlimit rule does.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.fastparse import Cie, GrePacket, NhrpView, ParseError, parse_ipv4_gre, parse_nhrp

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
        "no-hop-check",  # forwards (also its clients' Resolution Requests) with hop count 0 instead of Error Indication 15 (FRR 8.4)
        "nak-code-11",  # "no binding" NAKs use FRR's constant 11 instead of RFC 2332's 12
        "error-on-error",  # answers an Error Indication with an Error Indication
        "unique-always",  # every registration is treated as unique (re-registration from a new NBMA refused)
        "first-cie-only",  # only the first CIE of a request is processed and answered
        "accept-empty-registration",  # a request without CIEs is answered with a success CIE
        "no-header-checks",  # version, address family and length fields are not checked
        "ignore-checksum",  # a bad NHRP checksum is not noticed
        "answer-anything",  # even unparsable or invalid packets get a success reply (salvaged request ID)
        "crash-on-malformed",  # the first malformed packet stops the NHS for good (a crash)
        # GRE (RFC 2784, RFC 2890)
        "ignore-gre-key",  # packets with a wrong or no GRE key are processed as the tunnel's
        "reject-gre-checksum",  # a packet with a GRE checksum (C=1) is dropped even when it verifies (Linux without icsum)
        "ignore-gre-checksum",  # a wrong GRE checksum is not noticed
        "ignore-gre-reserved",  # GRE reserved bits 1-5 (the routing bit) do not make the packet discarded
        "strict-gre-reserved",  # GRE reserved bits 6-12 make the packet discarded (Linux gre_demux with bits 9-12)
        "ignore-gre-version",  # a GRE version other than 0 is processed as version 0
        "crash-on-gre-sequence",  # a GRE sequence number (S=1) stops the NHS for good (a header parser bug)
        "accept-narp",  # NHRP directly in IP (protocol 54) is processed as if it came through the tunnel
        # NAT (the Cisco NAT extension)
        "nat-binding-claimed",  # behind NAT the binding keeps the claimed NBMA, not the packet's source
        "nat-ext-unsolicited",  # behind NAT the reply carries a NAT extension the request did not have
        "one-binding-per-nbma",  # a registration replaces every other binding of the same NBMA address
        # registration
        "ignore-holding-time",  # bindings get the NHS's default holding time, whatever the CIE says
        "default-for-zero-holding-time",  # a CIE holding time of 0 means the NHS's default (FRR 8.4)
        "subnet-code-13",  # a subnet registration without U gets code 13, a Resolution Reply code (FRR 8.4)
        "register-any-destination",  # a registration is processed whatever its destination protocol address
        "duplicate-extensions",  # a repeated once-only extension is processed (and answered) twice (FRR 8.4)
        "no-end-extension",  # reply extensions are not terminated by End when the request's were not
        "ext-u-bit-echoed",  # an extension with the u bit set is echoed unprocessed, even when compulsory (FRR 8.4)
        "ignore-auth",  # the authentication extension is not checked
        "auth-prefix-compare",  # the password is compared without its length (trailing NULs accepted)
        "auth-error-on-error",  # an Error Indication failing authentication draws Error Indication 11, unless it is code 11 itself (FRR 10.3)
        # resolution and forwarding
        "forward-keep-hopcnt",  # forwards its clients' Resolution Requests without decrementing the hop count
        "forward-no-transit-record",  # forwards its clients' Resolution Requests without appending itself to the Forward Transit record
        "no-loop-check",  # forwards (also its clients' Resolution Requests) whatever the transit records say (FRR 8.4)
        "nak-holding-time",  # a NAK's CIE carries the holding time instead of 0
        "ignore-resolution-uniqueness",  # U in a Resolution Request is ignored: a non-unique binding is returned
        "answer-non-authoritative",  # source bindings of Resolution Requests are cached and returned, even when A is set
        # purge
        "reply-despite-n",  # a Purge Request with N set is answered
        "purge-reply-only-if-cached",  # a Purge Request that matches no binding is not answered
        "purge-on-reply",  # a (unsolicited) Purge Reply removes the bindings it names
        # Error Indications
        "error-twice",  # every Error Indication is sent twice
        "error-and-process",  # a request with an unknown compulsory extension gets Error Indication 1 and is processed too
        "error-with-extensions",  # Error Indications carry a Forward Transit record and End (opennhrp)
        "error-src-offender",  # Error Indications name the offender's NBMA address as their source (FRR 8.4)
        "no-ei-loop-check",  # a transit Error Indication sourced by the NHS itself is forwarded (FRR 8.4)
        # redirect
        "redirect-every-packet",  # every hairpinned packet draws a Traffic Indication (no rate limit)
        "redirect-any-source",  # a Traffic Indication goes to the sender whatever the packet's source address
    }
)

#: Faults that make the NHS forward its clients' Resolution Requests (as `forward_to_clients` does).
FORWARDING_FAULTS = frozenset({"no-hop-check", "no-loop-check", "forward-keep-hopcnt", "forward-no-transit-record"})

HOST_PREFIXES = (0, 0xFF)
REDIRECT_INTERVAL = 15.0  # one Traffic Indication per pair per 15 s: FRR's hashlimit 4/minute, burst 1
_ONCE_ONLY_EXEMPT = frozenset({C.ExtensionType.VENDOR_PRIVATE, C.ExtensionType.END})


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


class BindingTable(dict):
    """proto -> Binding; what has outlived its holding time is gone from every view of it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock

    def prune(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for proto in [p for p, b in dict.items(self) if b.expires <= now]:
            dict.__delitem__(self, proto)

    def values(self):
        self.prune()
        return dict.values(self)

    def items(self):
        self.prune()
        return dict.items(self)

    def __iter__(self):
        self.prune()
        return dict.__iter__(self)

    def __contains__(self, proto) -> bool:
        binding = dict.get(self, proto)
        return binding is not None and binding.expires > self.clock()


def ipv6_proto(proto: str) -> str:
    """The IPv6 protocol address an IPv4-addressed station uses in IPv6-over-IPv4 NHRP (2001:db8:ffff::/96)."""
    return str(ipaddress.IPv6Address("2001:db8:ffff::" + proto))


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
        forward_to_clients: bool = False,
        proto6: str | None = None,
    ) -> None:
        unknown = set(faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown NHS faults: {sorted(unknown)}")
        self.nbma = nbma
        self.proto = proto
        self.proto6 = proto6 or ipv6_proto(proto)  # its address in IPv6-over-IPv4 NHRP
        self.tunnel = tunnel
        self.addresses = (nbma,)
        #: prefix -> tunnel address of the spoke behind which it lies (what routing would say)
        self.routes = {ipaddress.ip_network(p): via for p, via in (routes or {}).items()}
        self.faults = frozenset(faults)
        self.hopcnt = hopcnt
        self.redirect = redirect
        #: forward Resolution Requests for a registered client to it (DMVPN hubs) instead of answering
        self.forward_to_clients = forward_to_clients
        self.cache: BindingTable = BindingTable()
        self.non_authoritative: BindingTable = BindingTable()  # only with "answer-non-authoritative"
        self.stats = NhsStats()
        self._redirect_after: dict[tuple, float] = {}  # (src net, dst net) -> when the next TI may go
        self.crashed = False

    # -- helpers -------------------------------------------------------------------------------

    @property
    def forwarding(self) -> bool:
        return self.forward_to_clients or bool(self.faults & FORWARDING_FAULTS)

    def binding(self, proto: str, now: float) -> Binding | None:
        entry = dict.get(self.cache, proto)
        if entry is not None and entry.expires <= now:
            dict.__delitem__(self.cache, proto)
            return None
        return entry

    def own_proto(self, view: NhrpView) -> str:
        """This NHS's protocol address in the family of `view`."""
        return self.proto6 if view.pro_type == C.ProtocolType.IPV6 else self.proto

    def is_me(self, proto) -> bool:
        return str(proto) in (self.proto, self.proto6)

    def _me_cie(self, view: NhrpView, prefix_len: int = 32) -> T.Cie:
        return T.Cie(prefix_len=prefix_len, mtu=self.tunnel.mtu, holding_time=self.tunnel.holding_time, client_nbma=self.nbma, client_proto=self.own_proto(view))

    def _send(self, packet: bytes) -> bytes:
        if "bad-checksum" in self.faults and len(packet) > 40:
            data = bytearray(packet)
            nhrp = 20 + _gre_len(packet)
            data[nhrp + 12] ^= 0x5A
            return bytes(data)
        return packet

    def error_indication(self, offender: GrePacket, view: NhrpView, code: int, offset: int = 0, dst_proto=None) -> list[bytes]:
        """RFC 2332 §5.2.7: src = this NHS, dst = the offender, the offending packet inside, no extensions."""
        self.stats.errors_sent += 1
        extensions = [T.forward_transit(), T.end()] if "error-with-extensions" in self.faults else None
        src_nbma = str(view.src_nbma) if "error-src-offender" in self.faults and view.src_nbma else self.nbma
        packet = self._send(
            T.error_indication(
                code,
                offset,
                payload=view.raw,
                outer_src=self.nbma,
                outer_dst=offender.outer_src,
                src_nbma=src_nbma,
                src_proto=self.own_proto(view),
                dst_proto=view.src_proto if dst_proto is None else dst_proto,
                gre_key=self.tunnel.gre_key,
                hopcnt=0,
                extensions=extensions,
            ).packet
        )
        return [packet, packet] if "error-twice" in self.faults else [packet]

    # -- dispatch ------------------------------------------------------------------------------

    def receive(self, raw: bytes, now: float) -> list[bytes]:
        if self.crashed:
            return []
        if len(raw) >= 20 and raw[9] == C.IPPROTO_NARP and "accept-narp" in self.faults:
            return self._narp(raw, now)
        try:
            packet = parse_ipv4_gre(raw)
        except ParseError:
            return self._malformed(raw)
        if not self.gre_ok(packet):
            return self._malformed(raw)
        view = packet.nhrp
        if view is not None and (
            view.op_type not in C.PacketType._value2member_map_
            or not self.header_ok(view)
            or not (view.checksum_ok or "ignore-checksum" in self.faults)
            or not self.extensions_ok(view)
        ):
            return self._malformed(raw)  # RFC 2332 §5.2.7 allows a silent discard
        return self.handle(packet, now)

    def gre_ok(self, packet: GrePacket) -> bool:
        """RFC 2784 §2.2-2.5 and RFC 2890 as a receiver applies them."""
        flags = packet.gre_flags
        if flags & C.GRE_FLAG_SEQUENCE and "crash-on-gre-sequence" in self.faults:
            self.crashed = True
            return False
        if flags & C.GRE_VERSION_MASK and "ignore-gre-version" not in self.faults:
            return False  # §2.3.1: the version MUST be 0
        if flags & _GRE_DISCARD_BITS and "ignore-gre-reserved" not in self.faults:
            return False  # §2.3: bits 1-5 (but K and S, RFC 2890) non-zero: discard
        if flags & _GRE_IGNORED_BITS and "strict-gre-reserved" in self.faults:
            return False  # §2.3: bits 6-12 MUST be ignored on receipt
        if flags & C.GRE_FLAG_CHECKSUM:
            if "reject-gre-checksum" in self.faults:
                return False
            if not packet.gre_checksum_ok and "ignore-gre-checksum" not in self.faults:
                return False  # §2.2: the checksum is processed
        return True

    def extensions_ok(self, view: NhrpView) -> bool:
        """RFC 2332 §5.3: "any particular extension type may occur only once" (Vendor-Private aside)."""
        if "duplicate-extensions" in self.faults:
            return True
        seen = [e.type for e in view.extensions if e.type not in _ONCE_ONLY_EXEMPT]
        return len(seen) == len(set(seen))

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

    def _narp(self, raw: bytes, now: float) -> list[bytes]:
        """With "accept-narp": NHRP straight in IP (protocol 54) is taken as if it came through GRE."""
        ihl = (raw[0] & 0x0F) * 4
        try:
            view = parse_nhrp(raw[ihl:])
        except ParseError:
            return []
        src = ".".join(str(b) for b in raw[12:16])
        dst = ".".join(str(b) for b in raw[16:20])
        packet = GrePacket(src, dst, raw[8], self.tunnel.gre_key, C.GRE_PROTO_NHRP, raw[ihl:], view)
        return self.handle(packet, now)

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

    def auth_ok(self, view: NhrpView) -> bool:
        """Cisco plaintext authentication: the extension's value is exactly 00000001 + the password."""
        password = self.tunnel.password
        if password is None or "ignore-auth" in self.faults:
            return True
        ext = view.extension(C.ExtensionType.AUTHENTICATION)
        if ext is None:
            return False
        want = struct.pack("!I", C.CISCO_AUTH_PLAINTEXT) + bytes(password)
        if "auth-prefix-compare" in self.faults:
            return ext.value.rstrip(b"\0") == want
        return ext.value == want

    def handle(self, packet: GrePacket, now: float) -> list[bytes]:
        if "silent" in self.faults:
            return []
        if packet.gre_key != self.tunnel.gre_key and "ignore-gre-key" not in self.faults:
            return []  # not our tunnel: the kernel would not have matched it (ENC-02)
        if packet.gre_proto in (C.GRE_PROTO_IPV4, C.GRE_PROTO_IPV6):
            return self._data(packet, now)
        view = packet.nhrp
        if view is None:
            return []
        if view.op_type == C.PacketType.ERROR_INDICATION:
            if not self.auth_ok(view) and "error-on-error" not in self.faults:
                if "auth-error-on-error" in self.faults and view.code != C.ErrorCode.AUTHENTICATION_FAILURE:
                    return self.error_indication(packet, view, C.ErrorCode.AUTHENTICATION_FAILURE)
                return []  # fails authentication: discarded, and never an Error Indication about an Error Indication
            return self._error_indication(packet, view, now)
        if view.op_type == C.PacketType.TRAFFIC_INDICATION:
            return []
        if not self.auth_ok(view):
            return self.error_indication(packet, view, C.ErrorCode.AUTHENTICATION_FAILURE)
        if view.op_type in C.REQUEST_TYPES:
            if "ext-u-bit-echoed" not in self.faults:
                unknown = [e for e in view.extensions if e.compulsory and e.type not in _KNOWN_EXTENSIONS]
            else:
                unknown = [e for e in view.extensions if e.compulsory and e.type not in _KNOWN_EXTENSIONS and not e.unused]
            if unknown and "echo-unknown-compulsory" not in self.faults and self._responder_for(view, now):
                offset = view.raw.find(unknown[0].raw)
                errors = self.error_indication(packet, view, C.ErrorCode.UNRECOGNIZED_EXTENSION, offset)
                if "error-and-process" not in self.faults:
                    return errors
                return errors + self._request(packet, view, now)
        return self._request(packet, view, now)

    def _responder_for(self, view: NhrpView, now: float) -> bool:
        """Whether this NHS would answer `view` itself (a transit NHS ignores unknown extensions, §5.3)."""
        if view.op_type == C.PacketType.RESOLUTION_REQUEST:
            return self._resolution_target(view, now)[0] != "forward"
        if view.op_type == C.PacketType.REGISTRATION_REQUEST:
            return self._registration_local(view)
        return True

    def _request(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if view.op_type == C.PacketType.REGISTRATION_REQUEST:
            return self._registration(packet, view, now)
        if view.op_type == C.PacketType.RESOLUTION_REQUEST:
            return self._resolution(packet, view, now)
        if view.op_type == C.PacketType.RESOLUTION_REPLY:
            return self._transit_reply(packet, view, now)
        if view.op_type == C.PacketType.PURGE_REQUEST:
            return self._purge(packet, view, now)
        if view.op_type == C.PacketType.PURGE_REPLY:
            if "purge-on-reply" in self.faults:
                for cie in view.cies:
                    self.cache.pop(str(cie.client_proto or view.src_proto), None)
            return []  # §5.2.5: an unsolicited Purge Reply "must be ignored"
        return []

    # -- registration (RFC 2332 §5.2.3, §5.2.4) ------------------------------------------------

    def _registration_local(self, view: NhrpView) -> bool:
        """§5.2.3: processed when the destination is this NHS or the requester itself."""
        return "register-any-destination" in self.faults or self.is_me(view.dst_proto) or view.dst_proto == view.src_proto

    def _registration(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if not self._registration_local(view):
            hop = self.binding(str(view.dst_proto), now)
            return self._forward(packet, view, hop.nbma) if hop is not None else []
        self.stats.registrations += 1
        unique = bool(view.flags & C.RegistrationFlags.U) or "unique-always" in self.faults
        natted = str(view.src_nbma) != packet.outer_src
        codes = []
        request_cies = view.cies[:1] if "first-cie-only" in self.faults else view.cies
        if not request_cies and "accept-empty-registration" in self.faults:
            request_cies = [Cie(0, 32, 0, self.tunnel.holding_time, b"", b"", b"", 0)]
        host = 128 if view.pro_type == C.ProtocolType.IPV6 else 32
        for cie in request_cies:
            proto = str(cie.client_proto or view.src_proto)
            claimed = str(cie.client_nbma or view.src_nbma)
            nbma = packet.outer_src if natted and "nat-binding-claimed" not in self.faults else claimed
            existing = self.binding(proto, now)
            subnet = cie.prefix_len not in HOST_PREFIXES + (host,)
            if unique and subnet and "ignore-uniqueness-prefix" not in self.faults:
                codes.append(C.CieCode.ADMINISTRATIVELY_PROHIBITED)
                continue
            if not unique and subnet and "subnet-code-13" in self.faults:
                codes.append(C.CieCode.BINDING_NOT_UNIQUE)
                continue
            if existing is not None and existing.unique and existing.nbma != nbma and "accept-unique-conflict" not in self.faults:
                codes.append(C.CieCode.UNIQUE_ADDRESS_ALREADY_REGISTERED)
                continue
            holding = cie.holding_time
            if "ignore-holding-time" in self.faults or (holding == 0 and "default-for-zero-holding-time" in self.faults):
                holding = self.tunnel.holding_time
            if "one-binding-per-nbma" in self.faults:
                for other in [p for p, b in self.cache.items() if b.nbma == nbma and p != proto]:
                    del self.cache[other]
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
            if ext.unused and "ext-u-bit-echoed" in self.faults:
                out.append(T.Extension(ext.type | C.EXT_UNUSED, ext.value, ext.compulsory))  # unprocessed
            elif ext.type == C.ExtensionType.RESPONDER_ADDRESS:
                if "no-responder-address" in self.faults:
                    continue
                out.append(T.responder_address([self._me_cie(view)]))
            elif ext.type == C.ExtensionType.NAT_ADDRESS and natted is not None and "no-nat-extension" not in self.faults:
                cies = [_t_cie(c) for c in ext.cies or []]
                cies.append(T.Cie(prefix_len=32, client_nbma=natted.outer_src, client_proto=view.src_proto))
                out.append(T.nat_address(cies))
            elif ext.type == C.ExtensionType.END:
                continue
            else:
                out.append(T.Extension(ext.type, ext.value, ext.compulsory))
        if natted is not None and "nat-ext-unsolicited" in self.faults and view.extension(C.ExtensionType.NAT_ADDRESS) is None:
            out.append(T.nat_address([T.Cie(prefix_len=32, client_nbma=natted.outer_src, client_proto=view.src_proto)]))
        if view.extensions and (view.extensions[-1].type == C.ExtensionType.END or "no-end-extension" not in self.faults):
            out.append(T.end())  # §5.3: the list is terminated by the End extension
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

    def _resolution_target(self, view: NhrpView, now: float) -> tuple[str, Binding | None]:
        """("answer", binding), ("forward", next hop), ("non-authoritative", binding) or ("nak", None)."""
        target = str(view.dst_proto)
        entry = self.binding(target, now)
        if entry is not None:
            if self.forwarding and entry.nbma != str(view.src_nbma):
                return "forward", entry
            return "answer", entry
        via = self._route(target)
        if via is not None and (hop := self.binding(via, now)) is not None:
            return "forward", hop
        other = dict.get(self.non_authoritative, target)
        if other is not None and other.expires > now:
            return "non-authoritative", other
        return "nak", None

    def _resolution(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        self.stats.resolutions += 1
        kind, entry = self._resolution_target(view, now)
        if "answer-non-authoritative" in self.faults and view.flags & C.ResolutionFlags.S and view.cies and view.cies[0].holding_time:
            # §6.2.1 allows caching the requester's binding for non-authoritative use only
            source = str(view.src_proto)
            dict.__setitem__(self.non_authoritative, source, Binding(source, str(view.src_nbma), str(view.src_nbma), False, now + view.cies[0].holding_time))
        if kind == "forward":
            return self._forward(packet, view, entry.nbma)
        flags = (view.flags & (C.ResolutionFlags.Q | C.ResolutionFlags.S | C.ResolutionFlags.NAT)) | C.ResolutionFlags.A
        host = 128 if view.pro_type == C.ProtocolType.IPV6 else 32
        want_unique = bool(view.flags & C.ResolutionFlags.U) and "ignore-resolution-uniqueness" not in self.faults
        want_authoritative = bool(view.flags & C.ResolutionFlags.A) and "answer-non-authoritative" not in self.faults
        if kind == "non-authoritative" and not want_authoritative:
            flags &= ~C.ResolutionFlags.A
        elif kind != "answer":
            entry = None
        if entry is None or (want_unique and not entry.unique):
            code = C.CieCode.BINDING_NOT_UNIQUE if entry is not None else (11 if "nak-code-11" in self.faults else C.CieCode.NO_BINDING_EXISTS)
            holding = self.tunnel.holding_time if "nak-holding-time" in self.faults else 0
            cies = [T.Cie(code=code, prefix_len=host, holding_time=holding)]
        else:
            flags |= C.ResolutionFlags.D | (C.ResolutionFlags.U if entry.unique else 0)
            remaining = max(0, int(entry.expires - now))
            cies = [T.Cie(prefix_len=host, mtu=self.tunnel.mtu, holding_time=remaining, client_nbma=entry.nbma, client_proto=entry.proto)]
        extensions = self._reply_extensions(view, None)
        return [self._reply(C.PacketType.RESOLUTION_REPLY, packet, view, packet.outer_src, cies, extensions, flags)]

    def _route(self, address: str) -> str | None:
        ip = ipaddress.ip_address(address)
        best = None
        for net, via in self.routes.items():
            if ip.version == net.version and ip in net and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, via)
        return best[1] if best else None

    def _loop(self, view: NhrpView, ext_type: int) -> bool:
        ext = view.extension(ext_type)
        return ext is not None and any(self.is_me(c.client_proto) for c in ext.cies or [])

    def _forward(self, packet: GrePacket, view: NhrpView, next_nbma: str) -> list[bytes]:
        """As a transit NHS: hop count - 1, own CIE appended to the Forward/Reverse Transit record (§5.3.2, §5.3.3)."""
        if view.hopcnt == 0 and "no-hop-check" not in self.faults:
            return self.error_indication(packet, view, C.ErrorCode.HOP_COUNT_EXCEEDED)
        reply = view.op_type in (C.PacketType.RESOLUTION_REPLY, C.PacketType.REGISTRATION_REPLY, C.PacketType.PURGE_REPLY)
        record = C.ExtensionType.REVERSE_TRANSIT_NHS_RECORD if reply else C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD
        if "no-loop-check" not in self.faults and (self._loop(view, record) or (reply and self._loop(view, C.ExtensionType.RESPONDER_ADDRESS))):
            responder = view.extension(C.ExtensionType.RESPONDER_ADDRESS)
            sender = responder.cies[0].client_proto if reply and responder and responder.cies else None
            return self.error_indication(packet, view, C.ErrorCode.LOOP_DETECTED, dst_proto=sender)
        self.stats.forwarded += 1
        extensions = []
        for ext in view.extensions:
            if ext.type == record and "forward-no-transit-record" not in self.faults:
                extensions.append(T.Extension(record, b"".join(_t_cie(c).encode() for c in ext.cies or []) + self._me_cie(view, 0).encode()))
            elif ext.type == C.ExtensionType.AUTHENTICATION and self.tunnel.password is not None:
                extensions.append(T.cisco_auth(self.tunnel.password))  # regenerated hop by hop (§5.3.4)
            else:
                extensions.append(T.Extension(ext.type | (C.EXT_UNUSED if ext.unused else 0), ext.value, ext.compulsory))
        hopcnt = view.hopcnt if "forward-keep-hopcnt" in self.faults else max(0, view.hopcnt - 1)
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
            hopcnt=hopcnt,
            cies=[_t_cie(c) for c in view.cies],
            extensions=extensions,
        ).packet
        return [self._send(forwarded)]

    def _transit_reply(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        """§5.2.2: a Resolution Reply for one of its clients is sent on to that client."""
        if self.is_me(view.src_proto):
            return []  # an answer to a request of its own; this NHS sends none (unsolicited)
        client = self.binding(str(view.src_proto), now)
        if client is None or client.nbma == packet.outer_src:
            return []
        return self._forward(packet, view, client.nbma)

    # -- Error Indications (RFC 2332 §5.2.7) ---------------------------------------------------

    def _error_indication(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if "error-on-error" in self.faults:
            return self.error_indication(packet, view, C.ErrorCode.PROTOCOL_ERROR)
        if self.is_me(view.dst_proto):
            return []  # for this NHS: nothing to answer, never an Error Indication about one
        if view.src_nbma == self.nbma and self.is_me(view.src_proto) and "no-ei-loop-check" not in self.faults:
            return []  # its own Error Indication came back: quietly dropped
        client = self.binding(str(view.dst_proto), now)
        if client is None or client.nbma == packet.outer_src:
            return []
        if view.hopcnt == 0 and "no-hop-check" not in self.faults:
            return []  # cannot be forwarded, and no Error Indication about an Error Indication
        self.stats.forwarded += 1
        forwarded = T.error_indication(
            view.code,
            view.error_offset,
            payload=view.payload,
            outer_src=self.nbma,
            outer_dst=client.nbma,
            src_nbma=view.src_nbma,
            src_proto=view.src_proto,
            dst_proto=view.dst_proto,
            gre_key=self.tunnel.gre_key,
            hopcnt=max(0, view.hopcnt - 1),
            extensions=[T.Extension(e.type, e.value, e.compulsory) for e in view.extensions],
        ).packet
        return [self._send(forwarded)]

    # -- purge (RFC 2332 §5.2.5, §5.2.6) -------------------------------------------------------

    def _purge(self, packet: GrePacket, view: NhrpView, now: float) -> list[bytes]:
        if "no-purge" in self.faults:
            return []
        self.stats.purges += 1
        matched = False
        for cie in view.cies:
            proto = str(cie.client_proto or view.src_proto)
            matched |= self.binding(proto, now) is not None
            if "keep-on-purge" not in self.faults:
                self.cache.pop(proto, None)
        if view.flags & C.PurgeFlags.N and "reply-despite-n" not in self.faults:
            return []
        if not matched and "purge-reply-only-if-cached" in self.faults:
            return []
        cies = [_t_cie(c) for c in view.cies]
        extensions = self._reply_extensions(view, None)
        return [self._reply(C.PacketType.PURGE_REPLY, packet, view, packet.outer_src, cies, extensions)]

    # -- data and redirect (draft-detienne-dmvpn-01) ---------------------------------------------

    def _data(self, packet: GrePacket, now: float) -> list[bytes]:
        inner = packet.payload
        version = inner[0] >> 4 if inner else 0
        if version == 4 and len(inner) >= 20:
            src, dst = str(ipaddress.IPv4Address(inner[12:16])), str(ipaddress.IPv4Address(inner[16:20]))
            ttl_at, mask = 8, 24
        elif version == 6 and len(inner) >= 40:
            src, dst = str(ipaddress.IPv6Address(inner[8:24])), str(ipaddress.IPv6Address(inner[24:40]))
            ttl_at, mask = 7, 64
        else:
            return []
        egress = self._behind(dst, now)
        if egress is None or inner[ttl_at] <= 1:
            return []
        forwarded = bytearray(inner)
        forwarded[ttl_at] -= 1  # routed through the hub: TTL / hop limit - 1
        if version == 4:
            forwarded[10:12] = b"\0\0"
            forwarded[10:12] = struct.pack("!H", inet_checksum(bytes(forwarded[: (inner[0] & 0x0F) * 4])))
        out = [self._send(T.encode_ipv4_gre(bytes(forwarded), src=self.nbma, dst=egress.nbma, key=self.tunnel.gre_key, proto=packet.gre_proto))]
        if not self.redirect or "no-redirect" in self.faults:
            return out
        if "redirect-any-source" in self.faults:
            source = next((b for b in self.cache.values() if b.nbma == packet.outer_src), None)
        else:
            source = self._behind(src, now)  # the source must lie behind a registered client
        if source is None or source.nbma == egress.nbma:
            return out
        pair = (ipaddress.ip_network(f"{src}/{mask}", strict=False), ipaddress.ip_network(f"{dst}/{mask}", strict=False))
        if "redirect-every-packet" not in self.faults:
            if self._redirect_after.get(pair, 0.0) > now:
                return out
            self._redirect_after[pair] = now + REDIRECT_INTERVAL
        self.stats.redirects += 1
        out.append(
            self._send(
                T.traffic_indication(
                    payload=bytes(forwarded[: min(len(forwarded), 128)]),
                    outer_src=self.nbma,
                    outer_dst=source.nbma,
                    src_nbma=self.nbma,
                    src_proto=self.proto6 if version == 6 else self.proto,
                    dst_proto=src,  # the hairpinned packet's source, as FRR, opennhrp and Cisco send it
                    gre_key=self.tunnel.gre_key,
                    hopcnt=1,
                    password=self.tunnel.password,
                ).packet
            )
        )
        return out

    def _behind(self, address: str, now: float) -> Binding | None:
        """The registered client `address` lies behind: its own binding, or routing's next hop."""
        via = self._route(address)
        return self.binding(via, now) if via else self.binding(address, now)


_KNOWN_EXTENSIONS = frozenset(int(t) for t in C.ExtensionType)
#: RFC 2784 §2.3: bits 1-5 of the first word (0x7C00) without K and S (RFC 2890): discard.
_GRE_DISCARD_BITS = 0x7C00 & ~(C.GRE_FLAG_KEY | C.GRE_FLAG_SEQUENCE)
#: RFC 2784 §2.3: bits 6-12 (0x03F8): ignore.
_GRE_IGNORED_BITS = 0x03F8


def _t_cie(c: Cie) -> T.Cie:
    return T.Cie(c.code, c.prefix_len, c.mtu, c.holding_time, c.client_nbma, c.client_nbma_sub, c.client_proto, c.preference)


def _gre_len(packet: bytes) -> int:
    flags = struct.unpack_from("!H", packet, 20)[0]
    return 4 + 4 * bool(flags & C.GRE_FLAG_CHECKSUM) + 4 * bool(flags & C.GRE_FLAG_KEY) + 4 * bool(flags & C.GRE_FLAG_SEQUENCE)


__all__ = ["FAULTS", "FORWARDING_FAULTS", "Binding", "BindingTable", "FakeNHS", "NhsStats", "ipv6_proto"]
