"""The fault suite's long form: ``python -m tests.faults [--seeds 1 2 3] [--rounds 30]
[--harsh]`` (as root): a run per seed, two faults at once with ``--harsh``; a table each,
and exit 1 if any run lost, duplicated, diverged or left something undelivered. A run that
fails keeps its folder (the counters' and the simulator's logs, each counter's disk image)
and says where."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tests.faults.store import run, unavailable


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--harsh", action="store_true", help="two faults at once")
    args = parser.parse_args()
    if (why := unavailable()) is not None:
        print(f"cannot run: {why}")
        return 2
    whole = True
    for seed in args.seeds:
        root = Path(tempfile.mkdtemp(prefix="tmfaults"))
        try:
            result = run(seed, args.rounds, args.harsh, root, print)
        except BaseException:
            print(f"seed {seed} failed; its logs are kept in {root}")
            raise
        print(f"\nseed {seed}, {args.rounds} rounds{', harsh' if args.harsh else ''}:\n"
              f"{result.table()}\n")
        whole = whole and result.whole
        if result.whole:
            shutil.rmtree(root)
        else:
            print(f"its logs are kept in {root}")
    return 0 if whole else 1


if __name__ == "__main__":
    raise SystemExit(main())
