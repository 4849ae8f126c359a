"""`make run`'s demo data: created once, and following the sandbox when its port changes."""

from __future__ import annotations

import json
from pathlib import Path

from idp.demo import seed


async def test_the_demo_follows_the_sandbox_to_another_port(store, tmp_path: Path) -> None:
    first = await seed(store, str(tmp_path), "http://127.0.0.1:8100", now=10)
    assert first is not None
    again = await seed(store, str(tmp_path), "http://127.0.0.1:8100", now=20)
    assert again == first  # nothing new on a second start

    moved = await seed(store, str(tmp_path), "http://127.0.0.1:8101", now=30)
    assert moved is not None and moved["password"] == first["password"]
    client = await store.clients.get("nox")
    assert client.redirect_uris == ["http://127.0.0.1:8101/callback"]
    assert client.post_login_redirect_url == "http://127.0.0.1:8101/post-login-redirect"
    assert client.handoff_mode == "backchannel" and client.preset == "nox"
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["redirect_uri"] == "http://127.0.0.1:8101/callback"
