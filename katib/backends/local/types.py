"""Configuration of the local backend."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class LocalBackendConfig:
    """Run Experiments on this machine with `katib.local` (trials as subprocesses).

    `workdir` holds one directory per Experiment (results file, trial logs); `env` is merged
    over the current environment of every trial; `python` replaces a leading `python`/`python3`
    in trial commands (default: this interpreter); `progress` shows live trial progress.
    """

    workdir: str | os.PathLike[str] = "katib-local"
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None
    progress: bool = True
