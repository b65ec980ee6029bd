"""The fault suite's own disks and clocks do what its faults say: a disk fills and frees
again, and a process's wall clock goes wrong and right while its timers keep time."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import clocks, disks
from tests.faults.clocks import Clocks
from tests.faults.disks import Disks

WAIT_S = 10.0


@pytest.mark.skipif(disks.unavailable() is not None, reason=f"{disks.unavailable()}")
def test_a_small_disk_fills_up_and_frees_and_is_unmounted_after(tmp_path: Path) -> None:
    with Disks() as made:
        disk = made.disk(tmp_path / "C01", 16)
        (disk / "sales.db").write_bytes(b"x" * 4096)
        assert made.fill(disk) > 10 * 1024 * 1024
        with pytest.raises(OSError) as full, open(disk / "more", "wb") as f:
            f.write(b"x" * 65536)
            f.flush()
            os.fsync(f.fileno())
        assert full.value.errno == errno.ENOSPC
        made.free(disk)
        (disk / "more").write_bytes(b"x" * 65536)
        assert (disk / "sales.db").read_bytes() == b"x" * 4096  # what was there stays
    mounted = Path("/proc/mounts").read_text()
    assert str(disk) not in mounted


@pytest.mark.skipif(clocks.unavailable() is not None, reason=f"{clocks.unavailable()}")
def test_a_process_clock_goes_wrong_and_right_while_it_runs(tmp_path: Path) -> None:
    shim = Clocks(tmp_path)
    prefix = shim.prefix("C01")
    # The child says its wall clock's offset from ours, and how long a 0.2 s wait took.
    child = subprocess.Popen(
        [*prefix, sys.executable, "-u", "-c",
         "import sys, threading, time\n"
         "for line in sys.stdin:\n"
         "    began = time.monotonic(); threading.Event().wait(0.2)\n"
         "    print(time.time() - float(line), time.monotonic() - began)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None

    def offset() -> tuple[float, float]:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(f"{time.time()}\n")
        child.stdin.flush()
        ahead, waited = child.stdout.readline().split()
        return float(ahead), float(waited)

    def settles_at(seconds: float) -> None:
        deadline = time.monotonic() + WAIT_S
        while abs(offset()[0] - seconds) > 1.0:
            assert time.monotonic() < deadline, f"the clock did not go to {seconds} s"

    try:
        settles_at(0)
        shim.set("C01", 5400)
        settles_at(5400)
        shim.set("C01", -2700)
        settles_at(-2700)
        assert 0.15 < offset()[1] < 1.0  # waits and timers keep time
    finally:
        child.stdin.close()
        child.wait(WAIT_S)
