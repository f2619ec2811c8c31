"""Where a sweep keeps its files: one run directory per sweep name under a storage root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STORAGE_ROOT = "ws-runs"


@dataclass(frozen=True)
class RunPaths:
    """The run directory of sweep ``name`` under ``root``, and the default stores inside it."""

    root: Path
    name: str

    @classmethod
    def of(cls, name: str, storage_path: str | os.PathLike[str] | None = None) -> "RunPaths":
        return cls(Path(storage_path or DEFAULT_STORAGE_ROOT).expanduser().resolve(), name)

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def spec_file(self) -> Path:
        """The resolved spec as the sweep ran it (read back by `status`, `best`, `resume`)."""
        return self.dir / "spec.yaml"

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{self.dir / 'optuna.db'}"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.dir / 'mlflow.db'}"

    @property
    def artifact_dir(self) -> Path:
        return self.dir / "mlartifacts"

    @property
    def ray_dir(self) -> Path:
        """Ray Tune's storage_path; its experiment folder is named after the sweep."""
        return self.dir / "ray"
