"""The fault suite's long form: ``python -m tests.faults [--seeds 1 2 3] [--rounds 30]
[--harsh]`` (as root): a run per seed, two faults at once with ``--harsh``; a table each,
and exit 1 if any run lost, duplicated, diverged or left something undelivered."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.faults import lan
from tests.faults.store import run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--harsh", action="store_true", help="two faults at once")
    args = parser.parse_args()
    if (why := lan.unavailable()) is not None:
        print(f"cannot run: {why}")
        return 2
    whole = True
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="tmfaults") as root:
            result = run(seed, args.rounds, args.harsh, Path(root), print)
        print(f"\nseed {seed}, {args.rounds} rounds{', harsh' if args.harsh else ''}:\n"
              f"{result.table()}\n")
        whole = whole and result.whole
    return 0 if whole else 1


if __name__ == "__main__":
    raise SystemExit(main())
