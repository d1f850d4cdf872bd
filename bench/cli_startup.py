"""Start-up time of the `promo-wallet` command: how long until a command has done its work when
that work is small, so that what is measured is the interpreter and the imports.

    .venv/bin/python bench/cli_startup.py              # 7 runs of each command
    .venv/bin/python bench/cli_startup.py --runs 15
    .venv/bin/python bench/cli_startup.py --root /tmp/old-checkout   # another tree of the code, to compare

With --root, every run is `python -m app.cli` from that tree (this interpreter, that code), so two
trees measured one after the other under the same load compare fairly.

Commands measured, each as a fresh process (the installed `promo-wallet` script when it is there,
else `python -m app.cli`), median wall time of the runs, and median CPU time (user + system):

- `promo-wallet --help`;
- `promo-wallet wallet 1 --org 1 --status NOPE`: a light command up to its first check of its
  input (exit 2, no database touched), i.e. the start-up every command pays;
- `promo-wallet wallet 566881933 --org 100737` on a demo-seeded SQLite file: a light command end
  to end (settings, the SQL engine, one wallet read, a Rich table). Reported, not held to the target.

Target: the first two under 1 s. Also reported, from one `python -X importtime` run of each:
whether the web stack (FastAPI, Starlette, Strawberry, uvicorn, app.main) was imported at all.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0
WEB_STACK = ("fastapi", "starlette", "strawberry", "uvicorn", "app.main", "app.graphql")
DEMO_ORG, DEMO_CUSTOMER = "100737", "566881933"


def command(root: Path | None) -> list[str]:
    script = Path(sys.executable).with_name("promo-wallet")
    return [str(script)] if script.exists() and root is None else [sys.executable, "-m", "app.cli"]


def environment(database_url: str, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMO_WALLET_")}
    return env | {"PROMO_WALLET_DATABASE_URL": database_url, "PYTHONPATH": str(root), "COLUMNS": "200"}


def timed(
    run: list[str], root: Path, env: dict[str, str], runs: int, expect: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run. On a machine shared with other work the
    wall time grows with the load; the CPU time much less, so both are printed."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(run, env=env, capture_output=True, text=True, cwd=root)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(run)}: exit {done.returncode}, expected {expect}\n{done.stderr}")
    return walls, cpus


def web_stack_imported(args: list[str], root: Path, env: dict[str, str]) -> list[str]:
    """The web-stack modules a run of `args` imports (from -X importtime's report on stderr)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=root,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "import time:" in line
    }
    return sorted({name.split(".")[0] for name in imported if name.startswith(WEB_STACK)})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--root", type=Path, help="the tree whose app/ to run (default: this one)")
    options = parser.parse_args()
    root = (options.root or ROOT).resolve()
    base = command(options.root)

    with tempfile.TemporaryDirectory() as folder:
        env = environment(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", root)
        seeded = subprocess.run([*base, "demo"], env=env, capture_output=True, text=True, cwd=root)
        if seeded.returncode != 0:
            raise SystemExit(f"promo-wallet demo failed:\n{seeded.stderr}")
        cases = [
            ("promo-wallet --help", ["--help"], 0, True),
            ("wallet, up to its input check", ["wallet", "1", "--org", "1", "--status", "NOPE"], 2, True),
            ("wallet of a demo customer (SQLite)", ["wallet", DEMO_CUSTOMER, "--org", DEMO_ORG], 0, False),
        ]
        print(f"promo-wallet start-up, median of {options.runs} runs ({' '.join(base)}, code in {root})")
        print(f"{'command':<38} {'wall':>7} {'min':>6} {'max':>6} {'/ target':>9} {'cpu':>6}  web stack")
        for label, args, expect, held_to_target in cases:
            walls, cpus = timed([*base, *args], root, env, options.runs, expect)
            median = statistics.median(walls)
            ratio = f"{median / TARGET_S:8.2f}x" if held_to_target else "        -"
            web = ", ".join(web_stack_imported(args, root, env)) or "none"
            print(
                f"{label:<38} {median:6.2f}s {min(walls):5.2f}s {max(walls):5.2f}s {ratio} "
                f"{statistics.median(cpus):5.2f}s  {web}"
            )
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"target: {TARGET_S:.1f} s for --help and the input check; load average {load:.2f}")


if __name__ == "__main__":
    main()
