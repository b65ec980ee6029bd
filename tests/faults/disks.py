"""Small filesystems of a test's own: an ext4 image each, loop-mounted, so that a
counter's data dir can fill up ("disk full") without touching the machine's disk. Needs
root, mkfs.ext4 and loop devices; every mount is undone on exit, also after a failure."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from tests.faults.lan import command

COMMAND_TIMEOUT_S = 30.0
FILLER = ".filler"  # the file that takes a full disk's last free block
CHUNK = 64 * 1024  # bytes written at a time to take what fallocate left
MAX_CHUNKS = 100_000  # bounds the loop that fills a disk: 6.4 GB, far beyond any image


def unavailable() -> str | None:
    """Why small filesystems cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (mount)"
    if not Path("/dev/loop-control").exists():
        return "needs loop devices (/dev/loop-control)"
    missing = [p for p in ("mkfs.ext4", "mount", "umount") if shutil.which(p) is None]
    return f"needs {', '.join(missing)}" if missing else None


class Disks:
    """``disk(path, size_mb)`` mounts a new empty ext4 filesystem of that size at
    ``path``; ``fill`` takes every free block of it, ``free`` gives them back."""

    def __init__(self) -> None:
        self._mounted: list[Path] = []

    def __enter__(self) -> Disks:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def disk(self, path: Path, size_mb: int) -> Path:
        image = path.with_name(f"{path.name}.img")
        with open(image, "wb") as f:  # sparse: it takes the machine's disk only as used
            f.truncate(size_mb * 1024 * 1024)
        # -m 0: no blocks kept back for root (the counters run as root: they would not
        # see the disk full until those were gone too). -b 4096, as on a till's disk: a
        # small image gets 1 KiB blocks, and SQLite, which allocates its memory-mapped
        # -shm file by writing one byte per 4 KiB page, then died of SIGBUS on a full disk.
        command("mkfs.ext4", "-q", "-F", "-m", "0", "-b", "4096", str(image),
                timeout_s=COMMAND_TIMEOUT_S)
        path.mkdir(parents=True, exist_ok=True)
        command("mount", "-o", "loop", str(image), str(path),
                timeout_s=COMMAND_TIMEOUT_S)
        self._mounted.append(path)
        return path

    def fill(self, path: Path) -> int:
        """Take every free block of the disk at ``path``; the bytes taken."""
        fd = os.open(path / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            stat = os.statvfs(path)
            try:
                os.posix_fallocate(fd, os.fstat(fd).st_size, stat.f_bavail * stat.f_frsize)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            for _ in range(MAX_CHUNKS):  # what fallocate could not take (metadata blocks)
                try:
                    os.write(fd, b"\0" * CHUNK)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def free(self, path: Path) -> None:
        (path / FILLER).unlink(missing_ok=True)

    def close(self) -> None:
        for path in reversed(self._mounted):
            subprocess.run(["umount", "-l", str(path)], capture_output=True,
                           timeout=COMMAND_TIMEOUT_S, check=False)
        self._mounted.clear()
