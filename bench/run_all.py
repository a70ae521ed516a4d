"""Run every benchmark and print the tables for the README (`make bench`).

    .venv/bin/python bench/run_all.py            # everything: about 20 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick    # smaller sizes and shorter loads: a few minutes

Each benchmark runs in its own process, against PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/magflow_bench, created and migrated when missing), and prints its
own summary lines as it goes. At the end come the machine, the commands, and every table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import PYTHON, ROOT, machine

BENCH = Path(__file__).resolve().parent


def benchmarks(quick: bool) -> list[list[str]]:
    if quick:
        return [
            ["bench_sync.py", "--sizes", "10000"],
            ["bench_api.py", "--duration", "5", "--warmup", "2"],
            ["bench_admin.py", "--repeat", "5"],
        ]
    return [["bench_sync.py"], ["bench_api.py"], ["bench_admin.py"]]


def run(command: list[str]) -> tuple[int, list[str], float]:
    """Run one benchmark, echoing its output; return its exit status, its output lines and its duration."""
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603
        [PYTHON, str(BENCH / command[0]), *command[1:]],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    return process.wait(), lines, time.monotonic() - started


def tables(lines: list[str]) -> list[str]:
    """The markdown tables of a benchmark's output, each with the title line above it, and its machine speed."""
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("machine speed "):
            kept += ["", line[:1].upper() + line[1:] + "."]
        elif line.startswith("|"):
            if index > 0 and not lines[index - 1].startswith("|"):
                # The line just above (past blanks), unless that is the last row of the table before.
                title = next((text for text in reversed(lines[:index]) if text.strip()), "")
                title = "" if title.startswith("|") else title
                kept += ["", f"**{title}**" if title else "", ""]
            kept.append(line)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Smaller sizes and shorter loads.")
    args = parser.parse_args()

    report: list[str] = []
    failed = []
    for command in benchmarks(args.quick):
        print(f"\n=== {' '.join(command)} ===", flush=True)
        status, lines, seconds = run(command)
        if status != 0:
            failed.append(command[0])
        report.append(f"- `.venv/bin/python bench/{' '.join(command)}` ({seconds / 60:.1f} min, exit {status})")
        report += tables(lines)
        report.append("")

    print("\n\n## Benchmarks\n")
    print(f"Machine: {machine()}.\n")
    print("\n".join(report))
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
