"""The `weightsearch` command line: one module per command group defines its parsers and handlers.

A command module imports only the standard library, rich and `weightsearch.contracts` at import time;
what its handlers drive (the configuration layer, torch, Ray, Optuna, MLflow) is imported inside them.
`weightsearch COMMAND …` imports only the module of COMMAND (see ``COMMAND_MODULES``), and `--help` all
of them, so each command pays only for what it uses. User errors exit with code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import NoReturn

from weightsearch.errors import UserError

# Each command's module under weightsearch.cli, in the order `--help` lists them (tests/test_cli_imports.py
# checks this table against the parsers the modules define).
COMMAND_MODULES = {
    "train": "train",
    "validate": "sweep",
    "run": "sweep",
    "resume": "sweep",
    "status": "sweep",
    "confirm": "confirm",
    "suggest": "suggest",
    "best": "results",
    "show": "results",
    "submit": "cluster",
    "jobs": "cluster",
}


class OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix (the usage block is what `--help` is for), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given ``command``, only of the commands its module defines (enough to parse it)."""
    parser = OneLineErrors(
        prog="weightsearch", description="Search the loss weights of VLA pretraining with Ray Tune, Optuna and MLflow."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for module in modules:
        import_module(f"weightsearch.cli.{module}").add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The parser has no options of its own but -h, so the first word names the command.
    parser = build_parser(argv[0] if argv else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named with the command, whose --help lists what it takes
        OneLineErrors(prog=f"{parser.prog} {args.command}").error(f"unrecognized arguments: {' '.join(unknown)}")
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
