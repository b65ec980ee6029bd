"""Wrong wall clocks for processes of a test's own: ``skew.c``, built here with the
machine's C compiler and loaded with LD_PRELOAD, adds the seconds written in a file to the
process's real-time clock (monotonic time is untouched, as on a machine whose clock is
off). Needs a C compiler (cc)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("skew.c")
COMPILE_TIMEOUT_S = 60.0


def unavailable() -> str | None:
    return None if shutil.which("cc") else "needs a C compiler (cc)"


class Clocks:
    """One skew file per process name, under ``root``; ``prefix(name)`` runs a command
    with that clock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.library = root / "skew.so"
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(self.library), str(SOURCE),
                        "-ldl"], check=True, capture_output=True, timeout=COMPILE_TIMEOUT_S)

    def prefix(self, name: str) -> tuple[str, ...]:
        self.set(name, 0)
        return ("env", f"LD_PRELOAD={self.library}", f"TILLMESH_SKEW_FILE={self._file(name)}")

    def set(self, name: str, seconds: float) -> None:
        """``name``'s clock ``seconds`` ahead (behind if negative), within a second."""
        self._file(name).write_text(f"{seconds}\n")

    def _file(self, name: str) -> Path:
        return self.root / f"{name}.skew"
