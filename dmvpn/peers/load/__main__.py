"""`python -m dmvpn.peers.load null-responder --netns NS [...]`: the null responder process."""

import sys

from .responder import null_responder_main

if len(sys.argv) > 1 and sys.argv[1] == "null-responder":
    sys.exit(null_responder_main(sys.argv[2:]))
print("usage: python -m dmvpn.peers.load null-responder --netns NS [...]", file=sys.stderr)
sys.exit(2)
