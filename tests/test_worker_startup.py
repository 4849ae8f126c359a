"""A server worker's start-up (`idp.app:asgi_app`): the garbage collector is tuned once the app
has started, in the worker only (an app made by create_app, as in the tests, leaves it alone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from idp.app import GC_THRESHOLDS
from idp.store.migrate import upgrade

WORKER = """
import asyncio, gc, json
from idp.app import asgi_app

async def main():
    app = asgi_app()
    before = [gc.get_threshold(), gc.get_freeze_count()]
    await app.startup()
    after = [gc.get_threshold(), gc.get_freeze_count()]
    await app.shutdown()
    print(json.dumps([before, after]))

asyncio.run(main())
"""


def test_the_worker_freezes_and_raises_the_thresholds_after_start_up(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'idp.sqlite3'}"
    upgrade(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env |= {"IDP_ISSUER": "http://127.0.0.1:8000", "IDP_DATABASE_URL": database_url}
    env["IDP_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [threshold, frozen], [tuned, frozen_after] = json.loads(done.stdout.splitlines()[-1])
    assert threshold == [700, 10, 10] and frozen == 0  # Python's defaults until started
    assert tuned == list(GC_THRESHOLDS)
    assert frozen_after > 10_000  # the modules, the app and its services
