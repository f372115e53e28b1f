"""Environment variable names and settings resolution.

The core never reads the environment; the CLI calls ``resolve_settings()`` once and passes the
result (explicit paths) down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ENV_HOME: Final = "MODELPACK_HOME"
ENV_DEBUG: Final = "MODELPACK_DEBUG"
DEFAULT_HOME: Final = "~/.modelpack"


@dataclass(frozen=True)
class Settings:
    home: Path
    debug: bool


def resolve_home(value: str | Path | None, environ: Mapping[str, str] = os.environ) -> Path:
    """CLI option > MODELPACK_HOME > ~/.modelpack."""
    raw = value or environ.get(ENV_HOME) or DEFAULT_HOME
    return Path(raw).expanduser()


def is_debug(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(ENV_DEBUG, "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_settings(home: str | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    return Settings(home=resolve_home(home, environ), debug=is_debug(environ))
