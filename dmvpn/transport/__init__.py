"""Sending and receiving bytes in the right network namespace, evidence capture, the interlock.

Knows nothing of NHRP semantics: peers hand it whole IPv4 packets (outer header included) and
get whole IPv4 packets back.
"""

from .capture import PcapRecorder
from .gre import GreSocket
from .interlock import Interlock, UnsafeDestination
from .namespace import in_netns, socket_in_netns

__all__ = ["GreSocket", "Interlock", "PcapRecorder", "UnsafeDestination", "in_netns", "socket_in_netns"]
