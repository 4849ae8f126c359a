"""wrk as the load generator: one request shape per run, its numbers read back as JSON.

A Python client cannot outrun the servers it measures (bench/run.py's one-core client set the
pace at ~170 req/s); wrk, a C event loop, can. Each run writes a small Lua script whose
`request()` sends the same request on every keep-alive connection and whose `done()` prints
requests, duration, errors and latency percentiles as one JSON line, which is parsed here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

MARKER = "WRK_JSON "
# done() runs once in wrk's main Lua state with the merged statistics of every thread.
# Latencies are in microseconds; errors.status counts answers with a status of 400 or more.
LUA = """
wrk.method = %(method)s
wrk.path = %(path)s
wrk.body = %(body)s
%(headers)s
%(delay)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class Request:
    """One HTTP request, sent again and again."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: dict[str, int]  # only the kinds that happened: connect, read, write, status, timeout

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def script(request: Request, delay_ms: float | None) -> str:
    headers = "\n".join(
        f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items()
    )
    # delay() paces each connection: the request waits this long after the previous answer.
    delay = f"function delay() return {delay_ms:g} end" if delay_ms else ""
    values = dict(method=lua_string(request.method), path=lua_string(request.path))
    values |= dict(body=lua_string(request.body) if request.body else "nil", marker=MARKER)
    return LUA % (values | dict(headers=headers, delay=delay))


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does this)")
    return found


def wrk(
    base_url: str,
    request: Request,
    seconds: float,
    connections: int = 50,
    threads: int = 2,
    delay_ms: float | None = None,
) -> Result:
    """Run wrk for `seconds` against `base_url` + request.path; bounded by its own duration."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as lua:
        lua.write(script(request, delay_ms))
        lua.flush()
        argv = [require_wrk(), f"-t{min(threads, connections)}", f"-c{connections}"]
        argv += [f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", lua.name, base_url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk exited {done.returncode}:\n{done.stdout}{done.stderr}")
    raw = json.loads(lines[-1].removeprefix(MARKER))
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    seconds_run = raw["duration_us"] / 1e6
    return Result(
        rps=round(raw["requests"] / seconds_run, 1) if seconds_run else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        requests=raw["requests"],
        errors=errors,
    )


def _selftest() -> None:  # pragma: no cover - a quick manual check: python bench/loadgen.py URL
    import sys

    print(wrk(sys.argv[1], Request("GET", sys.argv[2] if len(sys.argv) > 2 else "/"), 2, 4))


if __name__ == "__main__":
    _selftest()
