"""A command line argparse cannot parse is one line on stderr naming the `--help` to read, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLI = "import sys; from weightsearch.cli import main; sys.exit(main())"  # the console script's entry point


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["--bogus"], "the following arguments are required: COMMAND"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["run"], "the following arguments are required: spec"),
        (["best", "quickstart", "--top", "x"], "argument --top: invalid int value: 'x'"),
        (["status", "quickstart", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help_exit_2_and_nothing_written(tmp_path, argv, named) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", CLI, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert completed.returncode == 2
    assert completed.stdout == ""
    [line] = completed.stderr.splitlines()
    command = " ".join(["weightsearch", *argv[:1]]) if argv and argv[0] in {"run", "best", "status"} else "weightsearch"
    assert line.startswith(f"{command}: error: ") and named in line
    assert line.endswith(f"; see `{command} --help`")
    assert list(tmp_path.iterdir()) == []
