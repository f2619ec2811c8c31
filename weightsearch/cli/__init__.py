"""The `weightsearch` command line: one module per command group defines its parsers and handlers.

A command module imports only the standard library, rich and `weightsearch.contracts` at import time;
what its handlers drive (the configuration layer, torch, Ray, Optuna, MLflow) is imported inside them,
so `--help` and each command pay only for what that command uses. User errors exit with code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from weightsearch.cli import cluster, confirm, results, suggest, sweep, train
from weightsearch.errors import UserError

_GROUPS = (train, sweep, confirm, suggest, results, cluster)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weightsearch", description="Search the loss weights of VLA pretraining with Ray Tune, Optuna and MLflow."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"weightsearch {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (`weightsearch best … | head`): nothing left to say, and
        # Python's final flush of stdout must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
