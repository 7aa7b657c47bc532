"""The `dmvpn` command. Each room adds its own subcommands; this module holds no logic."""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that contribute subcommands, each with `register(subparsers)`.
COMMAND_MODULES = (
    "dmvpn.run",
    "dmvpn.wire.cli",
    "dmvpn.lab.cli",
    "dmvpn.perf",
    "dmvpn.conformance.cli",
    "dmvpn.testbed_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmvpn", description="DMVPN conformance and performance test suite and traffic generator"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dmvpn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
