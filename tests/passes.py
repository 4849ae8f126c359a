"""`make test`'s pytest part: the suite's passes, side by side.

A pass is one pytest run over a part of the suite with its own settings:
- on SQLite, the end-to-end tests (real `idp serve` processes, Chromium, the production
  topology test on the database IDP_TEST_TOPOLOGY_POSTGRES_URL names) and the in-process tests;
- the end-to-end tests again with `idp serve` on Hypercorn (the default server is Granian;
  Hypercorn stays supported), on the PostgreSQL database IDP_TEST_E2E_POSTGRES_URL names when
  set; the browser tests, which test pages rather than the server, run once;
- the in-process tests again on PostgreSQL (IDP_TEST_POSTGRES_URL), when set.

Most of a pass's time is spent waiting on servers, browsers and sockets: one pass keeps about
one of two cores busy. So `--jobs` passes (3 by default) run at once, each with its own
temporary folder and database, the longest first. Each pass writes its output to
`var/test-logs/NAME.log`; a pass that fails has its whole log printed at the end. Extra
arguments go to every pytest run (`make test PYTEST_ARGS="-x"`), as does PYTEST_ADDOPTS.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "test-logs"


@dataclass
class Pass:
    name: str
    marks: str
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset
    code: int | None = field(default=None, init=False)
    seconds: float = field(default=0.0, init=False)

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    def run(self, extra: list[str], tmp: Path) -> None:
        env = dict(os.environ)
        for name, value in self.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        argv = [sys.executable, "-m", "pytest", "-q", "-m", self.marks]
        argv += ["--basetemp", str(tmp / self.name), "-p", "no:cacheprovider", *extra]
        started = time.monotonic()
        with self.log.open("wb") as out:
            self.code = subprocess.call(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
        self.seconds = time.monotonic() - started

    def summary(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        found = (line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line))
        return next(found, "(no summary)").strip("= ")


def passes() -> list[Pass]:
    """The passes, longest first."""
    no_postgres: dict[str, str | None] = {"IDP_TEST_POSTGRES_URL": None}
    found = [
        Pass("sqlite-e2e", "e2e", no_postgres),
        Pass("sqlite", "not e2e", no_postgres | {"IDP_TEST_TOPOLOGY_POSTGRES_URL": None}),
    ]
    if os.environ.get("IDP_TEST_POSTGRES_URL"):  # 10 minutes of 3 at once here, 6.5 alone
        found.insert(0, Pass("postgres", "not e2e", {"IDP_TEST_TOPOLOGY_POSTGRES_URL": None}))
    hypercorn: dict[str, str | None] = {
        "IDP_TEST_SERVER": "hypercorn",
        "IDP_TEST_TOPOLOGY_POSTGRES_URL": None,
        "IDP_TEST_POSTGRES_URL": os.environ.get("IDP_TEST_E2E_POSTGRES_URL"),
    }
    found.append(Pass("hypercorn-e2e", "e2e and not browser", hypercorn))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3, help="passes at once (default 3)")
    args, pytest_args = parser.parse_known_args()  # the rest goes to every pytest run
    LOGS.mkdir(parents=True, exist_ok=True)
    todo = passes()
    queue = list(todo)
    lock = threading.Lock()
    started = time.monotonic()

    def worker(tmp: Path) -> None:
        while True:
            with lock:
                if not queue:
                    return
                current = queue.pop(0)
                print(f"== {current.name}: pytest -m {current.marks!r} ...", flush=True)
            current.run(pytest_args, tmp)
            with lock:
                outcome = "ok" if current.code == 0 else f"FAILED (exit {current.code})"
                print(f"== {current.name}: {outcome}, {current.summary()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="idp-tests-") as tmp:
        threads = [
            threading.Thread(target=worker, args=(Path(tmp),)) for _ in range(max(1, args.jobs))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    failed = [p for p in todo if p.code != 0]
    for p in failed:
        print(f"\n==================== {p.name}: its whole output ({p.log}) ====================")
        print(p.log.read_text(errors="replace"), flush=True)
    print(f"\n== {len(todo)} passes in {time.monotonic() - started:.0f} s, {args.jobs} at once:")
    for p in todo:
        outcome = "ok    " if p.code == 0 else "FAILED"
        print(f"   {outcome} {p.name:14} {p.seconds:5.0f} s  {p.summary()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
