"""The container files stay in step with the topology tests/test_production_topology.py runs:
compose.yaml's nginx uses the very template that test fills in, the instances believe only
nginx's X-Forwarded-For, and the Dockerfile installs the locked dependencies with their hashes
and starts commands the `idp` CLI has. No container engine runs here, so the image itself is
built only where `docker info` succeeds."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from idp.cli import main as cli
from idp.config import PROJECT_ROOT
from tests.test_production_topology import TEMPLATE

COMPOSE = PROJECT_ROOT / "compose.yaml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def dockerfile_json(instruction: str) -> list[str]:
    """The JSON (exec) form of a Dockerfile instruction in the final stage."""
    match = re.findall(rf"^{instruction} (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, instruction
    return list(yaml.safe_load(match[-1]))  # JSON is YAML


def is_cli_command(argv: list[str]) -> bool:
    return argv[0] in cli.commands  # type: ignore[attr-defined]


def test_compose_runs_nginx_with_the_template_the_topology_test_runs() -> None:
    nginx = compose()["services"]["nginx"]
    mounts = [volume.split(":") for volume in nginx["volumes"]]
    [template] = [m for m in mounts if m[1].startswith("/etc/nginx/templates/")]
    assert (COMPOSE.parent / template[0]).resolve() == TEMPLATE.resolve()
    assert template[1].endswith(".template")  # the nginx image fills it in (envsubst)
    # Every ${NAME} in the template is given, and the image substitutes only those names.
    names = set(re.findall(r"\$\{([A-Z0-9_]+)\}", TEMPLATE.read_text()))
    assert names and names <= set(nginx["environment"]), names - set(nginx["environment"])
    assert all(re.match(nginx["environment"]["NGINX_ENVSUBST_FILTER"], n) for n in names)
    upstreams = {nginx["environment"][n] for n in names if n.startswith("IDP_UPSTREAM_")}
    assert upstreams == {"idp-1:8000", "idp-2:8000"}


def test_compose_instances_trust_nginx_alone_and_are_migrated_first() -> None:
    services = compose()["services"]
    nginx_ip = services["nginx"]["networks"]["idp"]["ipv4_address"]
    for name in ("idp-1", "idp-2"):
        instance = services[name]
        assert instance["environment"]["IDP_TRUSTED_PROXIES"] == nginx_ip
        assert instance["read_only"] is True
        assert instance["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        command = instance["command"]
        assert is_cli_command(command) and command[0] == "serve"
        assert command[command.index("--port") + 1] == "8000"
    assert services["migrate"]["command"] == ["migrate"]
    assert is_cli_command(services["migrate"]["command"])


def test_dockerfile_installs_the_locked_dependencies_and_runs_the_cli() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]
    assert "pip install --require-hashes -r /src/requirements/run.txt" in text
    assert "pip install --no-deps --no-build-isolation /src" in text
    for folder in ("templates", "static", "migrations"):  # next to the package: PROJECT_ROOT
        assert f"COPY {folder} /opt/idp/lib/python3.11/site-packages/{folder}" in text
    final = text[text.rindex("\nFROM ") :]
    assert re.search(r"^USER idp$", final, re.MULTILINE)
    assert dockerfile_json("ENTRYPOINT") == ["idp"]
    command = dockerfile_json("CMD")
    assert is_cli_command(command) and command[0] == "serve"
    assert command[command.index("--port") + 1] == "8000"
    [healthcheck] = [line for line in final.splitlines() if "/readyz" in line]
    assert "http://127.0.0.1:8000/readyz" in healthcheck
    # The build context carries what the image copies, and no virtualenv or local database.
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") :][:1] == ["*"]
    for needed in ("requirements/run.txt", "idp/", "templates/", "static/", "migrations/"):
        assert f"!{needed}" in ignored


@pytest.mark.e2e
def test_the_image_builds(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip("no container engine answers `docker info` on this machine")
    tag = "idp-test-build:latest"
    built = subprocess.run(
        [docker, "build", "-t", tag, str(PROJECT_ROOT)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-4000:]
    try:
        ran = subprocess.run(
            [docker, "run", "--rm", "--read-only", tag, "--help"], capture_output=True, text=True
        )
        assert ran.returncode == 0 and "serve" in ran.stdout, ran.stderr
    finally:
        subprocess.run([docker, "image", "rm", "-f", tag], capture_output=True)
