"""Runs every benchmarks/bench_*.py one after another (`make bench`).

Each script prints its own table and writes its JSON under benchmarks/results/; they run in
sequence, never together, because each measures ratios side by side on a shared 2-core machine.
Extra arguments select scripts by name: `make bench BENCH="serving model"`.
"""

import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
        if not scripts:
            print(f"no benchmark matches {argv}; have: {[s.stem for s in HERE.glob('bench_*.py')]}")
            return 2
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"=== {script.name}: exit {rc} after {time.perf_counter() - start:.0f} s ===", flush=True)
        if rc:
            failed.append(script.name)
    print(f"\nresults: {HERE / 'results'}/*.json" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
