"""The command line, one module per command: ``serve``, ``simulate``, ``demo``.

Each command module has ``add_parser(subparsers)``, which adds its options and sets
``run=<function(args) -> exit status>`` as the parser default. :func:`build_parser` puts them
together; ``ocppfast/__main__.py`` parses and calls :func:`run`. Another command group hooks in
the same way: ``module.add_parser(subparsers)`` with ``set_defaults(run=...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable

from ..observe import WIRE_LOGGER

__all__ = [
    "LOG_LEVELS",
    "Formatter",
    "build_parser",
    "run",
    "setup_logging",
    "use_uvloop",
]

LOG_LEVELS = ("debug", "info", "warning", "error")

Command = Callable[[argparse.Namespace], int]


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, keeps the description's line breaks."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every command has."""
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="warning",
        help="lowest level of log messages written to stderr",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="also log every OCPP-J frame sent and received (logger ocppfast.wire at DEBUG; "
        "--log-level debug alone leaves the frames out)",
    )


def build_parser() -> tuple[
    argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]
]:
    """The parser of ``python -m ocppfast`` and its subparsers (to add command groups)."""
    from . import demo, serve, simulate

    parser = argparse.ArgumentParser(
        prog="python -m ocppfast",
        description="ocppfast's command line. python -m ocppfast COMMAND --help lists a "
        "command's options and their defaults.",
        formatter_class=Formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serve, simulate, demo):
        module.add_parser(sub)
    return parser, sub


def setup_logging(level: str, trace: bool = False) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The frame tracer has a switch of its own: at --log-level debug a busy server would
    # otherwise write every frame. Set before any connection is made (it is checked then).
    logging.getLogger(WIRE_LOGGER).setLevel(logging.DEBUG if trace else logging.INFO)


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(args: argparse.Namespace) -> int:
    """Run the command ``args`` was parsed for; returns the exit status."""
    setup_logging(getattr(args, "log_level", "warning"), getattr(args, "trace", False))
    use_uvloop()
    command: Command = args.run
    return command(args)
