"""The image builds, runs as uid 10001 with both extras, and carries its labels: built with
buildah (no daemon) by .ci/image, where buildah is on PATH and the base image is present or
can be pulled. Skipped otherwise, with the builder's own reason (on a machine that cannot reach
Docker Hub: the registry's name does not resolve).

ARSYNC_TEST_BASE_IMAGE builds on another base instead of the pinned one, e.g. the Debian
stand-in of `.ci/base-standin`: that tests the Dockerfile's steps, not the pinned base.
ARSYNC_BUILD_CA is handed on to .ci/image for a proxy's CA."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TAG = "localhost/arsync:image-build-test"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def pinned_base() -> str:
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert match is not None
    return match.group(1)


def buildah(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - buildah from PATH, arguments of this test's own
        ["buildah", *args],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not on PATH (Debian: apt-get install buildah)")
    base = os.environ.get("ARSYNC_TEST_BASE_IMAGE") or pinned_base()
    if buildah("inspect", "--type", "image", base).returncode != 0:
        pulled = buildah("pull", base)
        if pulled.returncode != 0:
            pytest.skip(
                f"the base image {base} is not present and cannot be pulled: "
                f"{last_line(pulled.stderr)}"
            )
    built = subprocess.run(  # noqa: S603 - the project's own build script
        ["bash", str(REPO / ".ci/image"), TAG, "--build-arg", f"PYTHON_IMAGE={base}"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "ARSYNC_IMAGE_BUILDER": "buildah"},
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield TAG
    buildah("rmi", TAG)


def run_in(image: str, *command: str) -> str:
    container = buildah("from", image).stdout.strip()
    try:
        ran = buildah("run", "--isolation", "chroot", container, "--", *command)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout
    finally:
        buildah("rm", container)


def test_the_image_runs_arsync_as_uid_10001_with_both_extras(image: str) -> None:
    assert run_in(image, "arsync", "--version").strip() == f"arsync {VERSION}"
    assert run_in(image, "id", "-u").strip() == "10001"
    assert run_in(image, "python", "-c", "import psycopg, openpyxl; print('ok')").strip() == "ok"


def test_the_image_carries_its_labels_probe_and_entrypoint(image: str) -> None:
    inspected = json.loads(buildah("inspect", "--type", "image", image).stdout)
    config = inspected["Docker"]["config"]
    labels = config["Labels"]
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert config["User"] == "arsync"
    assert config["Entrypoint"] == ["arsync"]
    assert config["Cmd"] == ["worker"]
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "-m", "jobs.health"]
