"""What one argon2id password check costs here, and how many the password pool does per second.

Prints, for the configured parameters (IDP_ARGON2_*; OWASP's by default) and libpass's former
defaults (64 MiB, t=3, p=4): one verification's wall and CPU time and the peak memory it adds;
then verifications per second through the sign-in path's pool (`idp.security.passwords`, one
niced thread per core) next to a process pool of the same size and niceness; then how late a
1 ms task on the event loop runs while the pool's threads hash, niced and not. Medians over
alternating rounds; prints numbers, asserts nothing.
Run: .venv/bin/python bench/hashes.py [--rounds R] [--jobs J]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher

from idp.config import load_settings
from idp.security import passwords

PASSWORD = "correct horse battery staple"
OLD = passwords.Argon2Parameters(65536, 3, 4)


def hasher_for(p: passwords.Argon2Parameters) -> PasswordHasher:
    return PasswordHasher(
        time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism
    )


def peak_kib() -> int:
    """This process's peak resident memory (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure_in_child(p: passwords.Argon2Parameters, stored: str) -> tuple[float, float, int]:
    """Wall ms and CPU ms (all threads: p>1 runs lanes in threads) of one verification, the
    median of five after a first one, and the KiB that first one added to the peak RSS; run in
    a fresh process, so that peak is the check's own."""
    ph = hasher_for(p)
    before = peak_kib()
    ph.verify(stored, PASSWORD)
    added = peak_kib() - before
    walls, cpus = [], []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        ph.verify(stored, PASSWORD)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, added


def verify_once(stored: str) -> bool:
    return passwords.verify(PASSWORD, stored).ok


async def pool_rate(jobs: int, stored: str) -> float:
    pool = passwords.pool()
    start = time.perf_counter()
    # Never more in flight than the pool takes: a full pool answers 503, it does not queue more.
    limit = asyncio.Semaphore(pool.workers + pool.queue)

    async def one() -> None:
        async with limit:
            await passwords.verify_async(PASSWORD, stored)

    await asyncio.gather(*(one() for _ in range(jobs)))
    return jobs / (time.perf_counter() - start)


def executor_rate(executor: Executor, jobs: int, stored: str) -> float:
    start = time.perf_counter()
    list(executor.map(verify_once, [stored] * jobs))
    return jobs / (time.perf_counter() - start)


async def loop_bursts(
    pool: passwords.PasswordPool | None, stored: str, seconds: float
) -> list[float]:
    """A 1 ms CPU burst on the event loop due every 5 ms (like small requests arriving) while
    `pool`'s threads are kept busy verifying: ms from when each was due until it was done, so
    the wake-up delay the hashing causes counts too."""
    done = False

    async def keep_busy(pool: passwords.PasswordPool) -> None:
        while not done:
            await pool.run(verify_once, stored)

    feeders = [asyncio.ensure_future(keep_busy(pool)) for _ in range(pool.workers)] if pool else []
    await asyncio.sleep(0.1)
    bursts, due = [], time.perf_counter()
    end = due + seconds
    while due < end:
        due += 0.005
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        cpu = time.thread_time()
        while time.thread_time() - cpu < 0.001:
            pass
        bursts.append((time.perf_counter() - due) * 1000)
        due = max(due, time.perf_counter())  # a late burst does not make the next ones late
    done = True
    await asyncio.gather(*feeders)
    return bursts


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=40, help="verifications per throughput round")
    args = parser.parse_args()
    settings = load_settings()
    current = passwords.Argon2Parameters(
        settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
    )
    workers = settings.password_workers
    passwords.configure(workers, settings.password_queue, current)
    load = os.getloadavg()
    print(f"cores {os.cpu_count()} (usable {workers}), load average {load[0]:.2f} {load[1]:.2f}")

    for label, p in (("configured", current), ("libpass former default", OLD)):
        samples, stored = [], hasher_for(p).hash(PASSWORD)
        for _ in range(args.rounds):
            # A fresh (spawned, not forked) process: its peak memory is this check's own.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
                samples.append(child.submit(measure_in_child, p, stored).result())
        wall, cpu, mem = (statistics.median(s[i] for s in samples) for i in range(3))
        name = f"m={p.memory_kib},t={p.time_cost},p={p.parallelism}"
        print(
            f"one verify, {label} ({name}): wall {wall:.1f} ms, CPU {cpu:.1f} ms, "
            f"peak RSS +{mem / 1024:.1f} MiB   (median of {args.rounds})"
        )

    stored = passwords.hash_password(PASSWORD)
    threads, processes = [], []
    # The processes are niced as the pool's threads are, so both compete alike with the rest.
    with ProcessPoolExecutor(
        workers, initializer=os.nice, initargs=(passwords.NICE_INCREMENT,)
    ) as procs:
        executor_rate(procs, workers, stored)  # start the processes
        for _ in range(args.rounds):  # alternate, so both see the same background load
            threads.append(asyncio.run(pool_rate(args.jobs, stored)))
            processes.append(executor_rate(procs, args.jobs, stored))
    passwords.pool().shutdown()
    for label, rates in (
        (f"password pool ({workers} niced threads)", threads),
        (f"process pool ({workers} niced processes)", processes),
    ):
        listed = " ".join(f"{r:.1f}" for r in rates)
        print(f"{label}: {statistics.median(rates):.1f} verifies/s median   [{listed}]")
    # Pools made here, not through configure: one niced as the sign-in path's, one not.
    pools = {
        "pool idle": None,
        f"pool busy, threads nice +{passwords.NICE_INCREMENT}": passwords.PasswordPool(workers, 0),
        "pool busy, threads not niced": passwords.PasswordPool(workers, 0, nice=0),
    }
    bursts: dict[str, list[float]] = {label: [] for label in pools}
    for _ in range(args.rounds):
        for label, pool in pools.items():
            bursts[label] += asyncio.run(loop_bursts(pool, stored, 2.0))
    for label, values in bursts.items():
        print(
            f"1 ms CPU burst on the event loop, {label}: p50 {statistics.median(values):.2f} ms,"
            f" p99 {p99(values):.2f} ms   ({len(values)} bursts)"
        )
    for pool in pools.values():
        if pool:
            pool.shutdown()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f}")


if __name__ == "__main__":
    main()
