"""A sweep as a Ray Job: the files it ships (the spec and its space file) and a `weightsearch run` entrypoint.

The entrypoint is an argument list joined with :func:`shlex.join`: Ray runs it through a shell on the
head node, and quoting every argument keeps a spec value or an override from becoming shell code.
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

import yaml

from weightsearch.config import (
    SweepSpec,
    find_space_file,
    load_spec,
    overrides_from_args,
    read_mapping,
    resolve_spec_file,
)
from weightsearch.contracts import SWEEP_FLAGS
from weightsearch.errors import UserError
from weightsearch.redact import without_password


@dataclass(frozen=True)
class SweepSubmission:
    """A locally validated sweep, ready to ship: its files, its entrypoint and where its results will land."""

    spec: SweepSpec
    spec_file: Path | Traversable
    space_files: dict[str, Path | Traversable]
    argv: list[str]
    storage_path: str

    @property
    def entrypoint(self) -> str:
        return shlex.join(self.argv)

    @property
    def run_dir(self) -> str:
        """The sweep's run directory as the driver on the cluster resolves it."""
        return f"{self.storage_path.rstrip('/')}/{self.spec.name}"

    def result_lines(self) -> list[str]:
        """Where the study, the MLflow runs and the run directory will be (passwords masked)."""
        study = self.spec.storage.optuna_url
        tracking = self.spec.tracking.uri
        return [
            f"run dir  {self.run_dir} (on the node running the job's driver: the head)",
            f"study    {without_password(study) if study else f'SQLite {self.run_dir}/optuna.db'}",
            f"mlflow   {without_password(tracking) if tracking else f'SQLite {self.run_dir}/mlflow.db'} "
            f"(experiment {self.spec.experiment})",
        ]

    @contextmanager
    def working_dir(self) -> Iterator[Path]:
        """A temporary folder holding the spec and its space file, as the job's ``working_dir``."""
        with tempfile.TemporaryDirectory(prefix="ws-submit-") as folder:
            root = Path(folder)
            (root / self.spec_file.name).write_bytes(self.spec_file.read_bytes())
            for name, source in self.space_files.items():
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
            yield root


def prepare_submission(args: argparse.Namespace) -> SweepSubmission:
    """Validate ``args.spec`` with the command line's overrides and build the job that runs it on a cluster."""
    spec_file = resolve_spec_file(Path(args.spec))
    spec = load_spec(args.spec, overrides_from_args(args))
    space_files = _space_files(spec_file, args.overrides)
    if spec_file.name in space_files:
        raise UserError(f"spec field 'space': {spec_file.name!r} is the spec's own file name; rename one of them")
    storage_path = _cluster_storage_path(spec, args.storage_path)
    argv = ["weightsearch", "run", f"./{spec_file.name}", "--ray-address", "auto", f"--storage-path={storage_path}"]
    for flag in SWEEP_FLAGS:
        value = getattr(args, flag.attribute, None)
        if flag.forwarded and value is not None:
            argv.append(f"{flag.flag}={value}")
    # `--set=KEY=VALUE` in one word, so that a value starting with '-' is not read as a flag.
    argv.extend(f"--set={override}" for override in args.overrides)
    return SweepSubmission(spec, spec_file, space_files, argv, storage_path)


def _space_files(spec_file: Path | Traversable, overrides: Sequence[str]) -> dict[str, Path | Traversable]:
    """The space file the spec names after the overrides (``--set space=FILE``), keyed by the name it is written as."""
    name = read_mapping(spec_file, "spec file").get("space")
    for override in overrides:
        key, _, text = override.partition("=")
        if key.strip() == "space":
            name = yaml.safe_load(text)
    if not isinstance(name, str):
        return {}
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise UserError(
            f"spec field 'space': {name!r} would not sit inside the job's working directory; name the space file "
            "relative to the spec (or the repository's search_spaces/) without '..', or inline the space"
        )
    spec_dir = spec_file.resolve().parent if isinstance(spec_file, Path) else Path.cwd()
    return {name: find_space_file(name, spec_dir)}


def _cluster_storage_path(spec: SweepSpec, requested: str | None) -> str:
    """The storage root on the cluster: absolute as given; a relative one goes under the driver's home."""
    path = spec.storage.path
    if path.startswith("~") or PurePosixPath(path).is_absolute():
        return path
    if requested is not None:
        raise UserError(
            f"--storage-path: {requested!r} is relative, so the sweep would land in the job's temporary working "
            "directory; give an absolute path on the cluster (shared by all nodes), e.g. /mnt/ws-runs"
        )
    # The job runs in a temporary copy of its working directory; its files must outlive it.
    return f"~/{path}"
