"""Negotiated ESP keys from charon's log, as :class:`dmvpn.wire.esp.EspSA` objects.

strongSwan's save-keys plugin (which writes the keys in Wireshark's format) is not built in Debian
12's strongSwan 5.9.8 (no ``libstrongswan-save-keys.so``). charon logs the same keys when its
CHILD_SA subsystem logs at level 4 (``chd = 4`` in the filelog section,
:func:`dmvpn.ike.config.strongswan_conf` with ``keys_in_log=True``)::

    08:11:00 02[CHD] <hub|1>   using AES_GCM_16 for encryption
    08:11:00 02[CHD] <hub|1> encryption initiator key => 20 bytes @ 0x7f4278001960
    08:11:00 02[CHD] <hub|1>    0: FF FE C1 5D FD 64 51 1E AF D4 AE FA F6 9F AD 8D  ...].dQ.........
    08:11:00 02[CHD] <hub|1>   16: F5 7A 3A 46                                      .z:F
    08:11:00 02[CHD] <hub|1> encryption responder key => 20 bytes @ 0x7f42780019a0
    ...
    08:11:00 02[CHD] <hub|1> adding inbound ESP SA
    08:11:00 02[CHD] <hub|1>   SPI 0x16ba83a0, src 192.0.2.1 dst 192.0.2.250
    08:11:00 02[IKE] <hub|1> CHILD_SA hub-gre{1} established with SPIs cf6d1011_i c8aa7c9d_o and TS ...

The initiator of a CHILD_SA (log line "establishing CHILD_SA") sends with the initiator key and
receives with the responder key (RFC 7296 §2.17); the responder the other way round. For AES-GCM
the "encryption key" is the AES key followed by the 4-byte salt, as :class:`EspSA` wants it.
Log lines of several IKE_SAs may interleave: they are told apart by their ``<name|id>`` prefix
(``ike_name = yes``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dmvpn.wire.esp import EspSA

_LINE = re.compile(r"^\S+ \d+\[(\w+)\] <([^>]*)> (.*)$")
_DUMP_HEAD = re.compile(r"^(encryption|integrity) (initiator|responder) key => (\d+) bytes")
_DUMP_ROW = re.compile(r"^\s*\d+: (.*)$")
_USING = re.compile(r"^\s*using (\S+) for (encryption|integrity)")
_ADDING = re.compile(r"^adding (inbound|outbound) ESP SA")
_SPI = re.compile(r"^\s*SPI 0x([0-9a-f]+), src (\S+) dst (\S+)")
_ESTABLISHED = re.compile(r"^CHILD_SA (\S+?)\{(\d+)\} established with SPIs ([0-9a-f]+)_i ([0-9a-f]+)_o")
_ESTABLISHING = re.compile(r"^establishing CHILD_SA")
_PACKET = re.compile(r"^(sending|received) packet: from (\S+)\[(\d+)\] to (\S+)\[(\d+)\]")
_NAT = re.compile(r"faking NAT situation|(local|remote) host is behind NAT")

#: charon's integrity algorithm name -> dmvpn.wire.esp's CBC algorithm suffix
_INTEG = {"HMAC_SHA1_96": "hmac-sha1-96", "HMAC_SHA2_256_128": "hmac-sha256-128"}


@dataclass
class ChildSaKeys:
    """One CHILD_SA as charon logged it, from this charon's point of view."""

    name: str  #: the child's name, e.g. "hub-gre"
    unique_id: int  #: charon's CHILD_SA number ({1})
    ike: str  #: the IKE_SA's "<name|id>" tag
    initiator: bool  #: this charon initiated the CHILD_SA
    local: str
    remote: str
    spi_in: int
    spi_out: int
    encryption: str  #: charon's name, e.g. "AES_GCM_16"
    integrity: str | None  #: None for AEAD
    key_in: bytes  #: encryption key (+ salt for GCM) of the inbound SA
    key_out: bytes
    auth_key_in: bytes = b""
    auth_key_out: bytes = b""
    encap: bool = False  #: ESP in UDP (NAT-T, forced by kernel-libipsec)
    ports: tuple[int, int] = (4500, 4500)  #: (local, remote) IKE ports once NAT-T was chosen

    @property
    def algorithm(self) -> str:
        """The :mod:`dmvpn.wire.esp` algorithm name."""
        if self.encryption.startswith("AES_GCM_16"):
            bits = (len(self.key_out) - 4) * 8
            return f"aes-gcm-{bits}"
        if self.encryption == "AES_CBC" and self.integrity in _INTEG:
            return f"aes-cbc-{len(self.key_out) * 8}-{_INTEG[self.integrity]}"
        raise ValueError(f"no dmvpn.wire.esp algorithm for {self.encryption}/{self.integrity}")

    def esp_sas(self, mode: str = "tunnel") -> tuple[EspSA, EspSA]:
        """(outbound, inbound) :class:`EspSA` for our user-space ESP. ``mode``: the CHILD_SA's
        (charon does not log it; a kernel-libipsec charon only does tunnel)."""
        nat_out = self.ports if self.encap else None
        nat_in = (self.ports[1], self.ports[0]) if self.encap else None
        out = EspSA(self.spi_out, self.algorithm, self.key_out, self.auth_key_out, mode=mode,
                    tunnel=(self.local, self.remote) if mode == "tunnel" else None, nat_t=nat_out)
        inb = EspSA(self.spi_in, self.algorithm, self.key_in, self.auth_key_in, mode=mode,
                    tunnel=(self.remote, self.local) if mode == "tunnel" else None, nat_t=nat_in)
        return out, inb


class _Pending:
    def __init__(self) -> None:
        self.initiator = False
        self.keys: dict[tuple[str, str], bytes] = {}
        self.algs: dict[str, str] = {}
        self.spis: dict[str, tuple[int, str, str]] = {}
        self.encap = False
        self.ports = (4500, 4500)
        self.dump: tuple[tuple[str, str], int, bytearray] | None = None


def child_sas(log_text: str) -> list[ChildSaKeys]:
    """Every CHILD_SA established in a charon log written with ``chd = 4``, oldest first."""
    state: dict[str, _Pending] = {}
    done: list[ChildSaKeys] = []
    for line in log_text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        _subsys, tag, msg = m.groups()
        st = state.setdefault(tag, _Pending())
        if st.dump is not None:
            row = _DUMP_ROW.match(msg)
            if row:
                key, total, buf = st.dump
                want = min(16, total - len(buf))
                tokens = row[1].split()[:want]
                buf += bytes.fromhex("".join(tokens))
                if len(buf) >= total:
                    st.keys[key] = bytes(buf)
                    st.dump = None
                continue
            st.dump = None  # a dump cut short: drop it
        if h := _DUMP_HEAD.match(msg):
            st.dump = ((h[1], h[2]), int(h[3]), bytearray())
            if int(h[3]) == 0:
                st.keys[(h[1], h[2])] = b""
                st.dump = None
        elif u := _USING.match(msg):
            st.algs[u[2]] = u[1]
        elif a := _ADDING.match(msg):
            st.spis["_next"] = (0, a[1], "")
        elif (s := _SPI.match(msg)) and "_next" in st.spis:
            direction = st.spis.pop("_next")[1]
            st.spis[direction] = (int(s[1], 16), s[2], s[3])
        elif _ESTABLISHING.match(msg):
            st.initiator = True
        elif _NAT.search(msg):
            st.encap = True
        elif p := _PACKET.match(msg):
            ours, theirs = (p[3], p[5]) if p[1] == "sending" else (p[5], p[3])
            st.ports = (int(ours), int(theirs))
        elif e := _ESTABLISHED.match(msg):
            mine, peer = ("initiator", "responder") if st.initiator else ("responder", "initiator")
            spi_in, spi_out = int(e[3], 16), int(e[4], 16)
            out_info = st.spis.get("outbound", (spi_out, "", ""))
            local, remote = out_info[1], out_info[2]
            done.append(ChildSaKeys(
                name=e[1], unique_id=int(e[2]), ike=tag, initiator=st.initiator,
                local=local, remote=remote, spi_in=spi_in, spi_out=spi_out,
                encryption=st.algs.get("encryption", ""), integrity=st.algs.get("integrity"),
                key_in=st.keys.get(("encryption", peer), b""),
                key_out=st.keys.get(("encryption", mine), b""),
                auth_key_in=st.keys.get(("integrity", peer), b""),
                auth_key_out=st.keys.get(("integrity", mine), b""),
                encap=st.encap, ports=st.ports if st.encap else (500, 500),
            ))
            # the next CHILD_SA of this IKE_SA starts afresh (NAT-T state stays with the IKE_SA)
            st.initiator, st.keys, st.algs, st.spis = False, {}, {}, {}
    return done
