"""The lock files in requirements/ pin every dependency pyproject.toml declares, in range."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    found = re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", text, flags=re.M)
    return {name.lower().replace("_", "-"): version for name, version in found}


def canonical(req: Requirement) -> str:
    return req.name.lower().replace("_", "-")


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("run.txt", PYPROJECT["dependencies"]),
        ("dev.txt", PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]),
        ("otel.txt", PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["otel"]),
    ],
)
def test_lock_pins_every_declared_dependency(lock: str, declared: list[str]) -> None:
    pinned = pins(lock)
    for line in declared:
        req = Requirement(line)
        assert canonical(req) in pinned, f"{req.name} is not in requirements/{lock}: run make lock"
        assert req.specifier.contains(pinned[canonical(req)], prereleases=True), (
            f"requirements/{lock} pins {req.name}=={pinned[canonical(req)]} outside {req.specifier}"
        )


def test_lock_files_agree_on_shared_versions() -> None:
    run, dev, otel = pins("run.txt"), pins("dev.txt"), pins("otel.txt")
    assert {name: dev.get(name) for name in run} == run
    assert {name: otel.get(name) for name in run} == run
    # The tests of tracing run on what `make otel` installs.
    assert {name: dev.get(name) for name in otel} == otel


def test_dev_declares_the_otel_extra() -> None:
    """dev repeats the otel extra (a self-reference, idp[otel], cannot be locked with hashes)."""
    extras = PYPROJECT["optional-dependencies"]
    assert set(extras["otel"]) <= set(extras["dev"])


def test_every_pin_carries_a_hash() -> None:
    for lock in ("run.txt", "dev.txt", "otel.txt"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements" / lock).read_text())
        for block in blocks:
            if "==" in block.split("\n")[0]:
                assert "--hash=sha256:" in block, block.split("\n")[0]
