"""Protocol behaviour: fake spokes (NHC) and fake NHSs as state machines, and the raw primitive."""

from .base import Link, Peer, PeerLoop, ReqIds, Tunnel
from .memory import MemoryLink
from .nhs import FAULTS, Binding, FakeNHS
from .raw import Exchange, send_and_collect
from .spoke import FakeSpoke

__all__ = [
    "FAULTS", "Binding", "Exchange", "FakeNHS", "FakeSpoke", "Link", "MemoryLink", "Peer",
    "PeerLoop", "ReqIds", "Tunnel", "send_and_collect",
]
