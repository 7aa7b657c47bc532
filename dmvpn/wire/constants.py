"""NHRP, GRE and DMVPN constants, named as the RFCs name them, with the RFCs' values.

Importable without scapy: the struct templates and TRex profile processes use it too.

Two values differ on purpose from FRR's and opennhrp's headers (which share a copy): the CIE code
"No Internetworking Layer Address to NBMA Address Binding Exists" is 12 (RFC 2332 §5.2.2; FRR says
11) and the Error Indication code "NHRP Loop Detected" is 3 (RFC 2332 §5.2.7; FRR says 2).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

#: GRE protocol type carrying NHRP (ETH_P_NHRP in FRR/opennhrp, GRE_NHRP in tcpdump).
GRE_PROTO_NHRP = 0x2001
GRE_PROTO_IPV4 = 0x0800
GRE_PROTO_IPV6 = 0x86DD
#: IP protocol number of GRE (RFC 2784) and of NARP/NHRP directly in IP (ENC-09).
IPPROTO_GRE = 47
IPPROTO_NARP = 54
IPPROTO_ESP = 50

NHRP_VERSION = 1  # ar$op.version for RFC 2332 NHRP
NHRP_FIXED_HEADER_LEN = 20
NHRP_CIE_FIXED_LEN = 12
NHRP_EXT_HEADER_LEN = 4
NHRP_DEFAULT_HOLDING_TIME = 7200  # RFC 2332 does not fix it; FRR, opennhrp, Cisco, Huawei all use 7200


class AddressFamily(IntEnum):
    """ar$afn: IANA address family numbers of the NBMA address (RFC 2332 §5.1)."""

    IPV4 = 1
    IPV6 = 2
    NSAP = 3
    E164 = 8
    ATM_WITH_SUBADDR = 0x000F  # value named in RFC 2332 §5.1 for ATM with subaddress


class ProtocolType(IntEnum):
    """ar$pro.type short form: Ethertypes of the protocol (tunnel) address (RFC 2332 §5.1)."""

    SNAP = 0x0080  # long form: ar$pro.snap holds OUI + PID
    IPV4 = 0x0800
    IPV6 = 0x86DD


class PacketType(IntEnum):
    """ar$op.type (RFC 2332 §5.2; type 8 from draft-detienne-dmvpn-01 Fig. 4)."""

    RESOLUTION_REQUEST = 1
    RESOLUTION_REPLY = 2
    REGISTRATION_REQUEST = 3
    REGISTRATION_REPLY = 4
    PURGE_REQUEST = 5
    PURGE_REPLY = 6
    ERROR_INDICATION = 7
    TRAFFIC_INDICATION = 8


#: Packet types whose mandatory part is the common header of RFC 2332 §5.2.0.1 with CIEs.
COMMON_HEADER_TYPES = frozenset(range(1, 7))
#: Packet types whose mandatory part ends with an embedded packet instead of CIEs.
INDICATION_TYPES = frozenset({PacketType.ERROR_INDICATION, PacketType.TRAFFIC_INDICATION})
REQUEST_TYPES = frozenset(
    {PacketType.RESOLUTION_REQUEST, PacketType.REGISTRATION_REQUEST, PacketType.PURGE_REQUEST}
)
REPLY_FOR = {
    PacketType.RESOLUTION_REQUEST: PacketType.RESOLUTION_REPLY,
    PacketType.REGISTRATION_REQUEST: PacketType.REGISTRATION_REPLY,
    PacketType.PURGE_REQUEST: PacketType.PURGE_REPLY,
}


class ResolutionFlags(IntFlag):
    """Flags of Resolution Request/Reply (RFC 2332 §5.2.1, §5.2.2)."""

    Q = 0x8000  # requester is a router
    A = 0x4000  # authoritative
    D = 0x2000  # stable association (reply)
    U = 0x1000  # uniqueness
    S = 0x0800  # stable binding
    NAT = 0x0002  # Cisco extension "Cisco NAT Supported", not RFC 2332


class RegistrationFlags(IntFlag):
    """Flags of Registration Request/Reply (RFC 2332 §5.2.3)."""

    U = 0x8000  # unique registration
    NAT = 0x0002  # Cisco


class PurgeFlags(IntFlag):
    """Flags of Purge Request/Reply (RFC 2332 §5.2.5)."""

    N = 0x8000  # no reply expected
    NAT = 0x0002  # Cisco; Wireshark decodes it on purge too


FLAGS_BY_TYPE: dict[int, type[IntFlag]] = {
    PacketType.RESOLUTION_REQUEST: ResolutionFlags,
    PacketType.RESOLUTION_REPLY: ResolutionFlags,
    PacketType.REGISTRATION_REQUEST: RegistrationFlags,
    PacketType.REGISTRATION_REPLY: RegistrationFlags,
    PacketType.PURGE_REQUEST: PurgeFlags,
    PacketType.PURGE_REPLY: PurgeFlags,
}


class CieCode(IntEnum):
    """CIE codes (NAK codes) of replies (RFC 2332 §5.2.2, §5.2.4)."""

    SUCCESS = 0
    ADMINISTRATIVELY_PROHIBITED = 4
    INSUFFICIENT_RESOURCES = 5
    NO_BINDING_EXISTS = 12  # "No Internetworking Layer Address to NBMA Address Binding Exists"
    BINDING_NOT_UNIQUE = 13  # "Binding Exists But Is Not Unique"
    UNIQUE_ADDRESS_ALREADY_REGISTERED = 14  # "Unique Internetworking Layer Address Already Registered"


class ErrorCode(IntEnum):
    """Error Indication codes (RFC 2332 §5.2.7; 16 and 17 from RFC 2735)."""

    UNRECOGNIZED_EXTENSION = 1
    LOOP_DETECTED = 3
    PROTOCOL_ADDRESS_UNREACHABLE = 6
    PROTOCOL_ERROR = 7
    SDU_SIZE_EXCEEDED = 8
    INVALID_EXTENSION = 9
    INVALID_RESOLUTION_REPLY = 10
    AUTHENTICATION_FAILURE = 11
    HOP_COUNT_EXCEEDED = 15
    VPN_MISMATCH = 16
    VPN_UNSUPPORTED = 17


class TrafficCode(IntEnum):
    """Traffic Indication codes (draft-detienne-dmvpn-01 §4)."""

    REDIRECT = 0  # "NHRP Traffic Redirect/Indirection"


class ExtensionType(IntEnum):
    """Extension types (RFC 2332 §5.3), without the compulsory bit."""

    END = 0
    RESPONDER_ADDRESS = 3
    FORWARD_TRANSIT_NHS_RECORD = 4
    REVERSE_TRANSIT_NHS_RECORD = 5
    AUTHENTICATION = 7
    VENDOR_PRIVATE = 8
    NAT_ADDRESS = 9  # Cisco; RFC 2735 uses 9 for "Device Capabilities" (Wireshark: when length is 8)
    MOBILE_NHC_AUTHENTICATION = 10  # RFC 2520


EXT_COMPULSORY = 0x8000  # C bit
EXT_UNUSED = 0x4000  # u bit, MUST be zero
EXT_TYPE_MASK = 0x3FFF

#: Extensions whose value is a list of CIEs.
CIE_LIST_EXTENSIONS = frozenset(
    {
        ExtensionType.RESPONDER_ADDRESS,
        ExtensionType.FORWARD_TRANSIT_NHS_RECORD,
        ExtensionType.REVERSE_TRANSIT_NHS_RECORD,
        ExtensionType.NAT_ADDRESS,
    }
)

#: Cisco's plaintext authentication type word (value = this + the password, unpadded, <= 8 bytes).
CISCO_AUTH_PLAINTEXT = 0x00000001
CISCO_AUTH_MAX_PASSWORD = 8

#: shtl/sstl and CIE type/length octets: bit 6 is the type (0 NSAP/native, 1 E.164), bits 5..0 the length.
TL_TYPE_E164 = 0x40
TL_RESERVED = 0x80
TL_LEN_MASK = 0x3F

#: GRE first-word flags (RFC 2784, RFC 2890).
GRE_FLAG_CHECKSUM = 0x8000
GRE_FLAG_KEY = 0x2000
GRE_FLAG_SEQUENCE = 0x1000
GRE_VERSION_MASK = 0x0007


def flag_names(op_type: int, flags: int) -> list[str]:
    """Names of the set flags of `flags` as the message type `op_type` defines them."""
    enum = FLAGS_BY_TYPE.get(op_type)
    if enum is None:
        return []
    return [member.name for member in enum if flags & member.value]  # type: ignore[misc]
