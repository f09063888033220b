"""``python -m ocppfast`` (and the ``ocppfast`` console script): the command line.

python -m ocppfast serve --host 127.0.0.1 --port 9000
python -m ocppfast simulate --url ws://127.0.0.1:9000/ocpp --chargers 1000 --duration 10
python -m ocppfast demo            # both together on loopback (what `make demo` runs)

One module per command in ``ocppfast/cli/``; the simulated stations are ``ocppfast.simulator``.
``python -m ocppfast COMMAND --help`` lists each command's options with their defaults.
"""

from __future__ import annotations

import argparse
import sys

from .cli import build_parser, run


def full_parser() -> argparse.ArgumentParser:
    """Every command of ``python -m ocppfast``, command groups hooked in included."""
    parser, commands = build_parser()
    from . import cli_cluster  # serve --workers/--redis, cluster status/call

    cli_cluster.add_parser(commands)
    # Other command groups hook in here: ``module.add_parser(commands)``, each setting
    # ``run=<function(args) -> exit status>`` on its parser (see ocppfast/cli/__init__.py).
    return parser


def main(argv: list[str] | None = None) -> int:
    args = full_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
