"""The build is reproducible and says what it is (issue 16, item 6): the base image by digest,
every install from the hash-checked locks in requirements/, the OCI labels, a non-root user,
the license, and a wheel that carries py.typed for every package.

These read the files; tests/test_image_build.py builds the image where a builder can."""

from __future__ import annotations

import hashlib
import re
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]
PACKAGES: list[str] = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
LOCKS = REPO / "requirements"
DIGEST = re.compile(r"^[a-z0-9][a-z0-9._/-]*:[\w][\w.-]*@sha256:[0-9a-f]{64}$")
# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the license's official text.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
OCI_LABELS = ("title", "description", "version", "licenses", "source", "revision", "created")


# -- the Dockerfile, read as instructions ---------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [text for word, text in self.instructions if word == keyword]


def instructions(path: Path) -> Iterator[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        pending = ""
        yield keyword.upper(), " ".join(rest.split())


def read_dockerfile() -> tuple[dict[str, str], list[Stage]]:
    """The ARG defaults given before the first FROM, and the stages."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, text in instructions(REPO / "Dockerfile"):
        if keyword == "FROM":
            image, _, name = text.partition(" AS ")
            stages.append(Stage(image.strip(), name.strip() or None))
        elif stages:
            stages[-1].instructions.append((keyword, text))
        elif keyword == "ARG":
            key, _, value = text.partition("=")
            global_args[key] = value
    return global_args, stages


def expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def labels(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for text in stage.all("LABEL"):
        for key, value in re.findall(r'([\w.-]+)="([^"]*)"', text):
            found[key] = value
    return found


def arg_defaults(stage: Stage) -> dict[str, str]:
    pairs = (text.partition("=") for text in stage.all("ARG"))
    return {key: value for key, _, value in pairs}


def test_every_from_line_names_its_base_by_digest() -> None:
    global_args, stages = read_dockerfile()
    names: set[str] = set()
    for stage in stages:
        image = expand(stage.image, global_args)
        assert image in names or DIGEST.match(image), f"FROM {stage.image} = {image}"
        if stage.name:
            names.add(stage.name)
    assert expand(stages[-1].image, global_args).startswith(
        "docker.io/library/python:3.11-slim@sha256:"
    )


def test_the_image_carries_the_oci_labels_of_the_project() -> None:
    final = read_dockerfile()[1][-1]
    found = labels(final)
    assert {f"org.opencontainers.image.{key}" for key in OCI_LABELS} <= set(found)
    assert found["org.opencontainers.image.title"] == PROJECT["name"]
    assert found["org.opencontainers.image.description"] == PROJECT["description"]
    assert found["org.opencontainers.image.licenses"] == PROJECT["license"]
    defaults = arg_defaults(final)
    # The labels that change per build come from build arguments (.ci/image fills them in).
    for key, arg in (("version", "VERSION"), ("revision", "REVISION"), ("created", "CREATED")):
        assert found[f"org.opencontainers.image.{key}"] == f"${{{arg}}}"
        assert arg in defaults
    assert defaults["VERSION"] == PROJECT["version"]


def test_the_image_runs_as_the_non_root_user_10001() -> None:
    final = read_dockerfile()[1][-1]
    users = final.all("USER")
    assert users == ["arsync"]
    assert any("useradd" in run and "--uid 10001 arsync" in run for run in final.all("RUN"))
    position = [word for word, _ in final.instructions]
    assert position.index("USER") > max(i for i, word in enumerate(position) if word == "RUN")


def test_the_image_keeps_its_probe_signal_volumes_and_entrypoint() -> None:
    final = read_dockerfile()[1][-1]
    assert final.all("HEALTHCHECK") == [
        "--interval=60s --timeout=10s --start-period=30s --retries=3 "
        'CMD ["python", "-m", "jobs.health"]'
    ]
    assert final.all("STOPSIGNAL") == ["SIGTERM"]
    assert final.all("VOLUME") == ['["/app/out", "/app/state"]']
    assert final.all("ENTRYPOINT") == ['["arsync"]']


def test_every_pip_install_in_the_image_is_the_lock_or_the_wheel_alone() -> None:
    build, final = read_dockerfile()[1]
    runs = " ".join(build.all("RUN"))
    assert "--require-hashes --no-deps --only-binary :all: -r requirements/build.txt" in runs
    assert "--no-build-isolation" in runs  # the wheel is built by the locked hatchling
    assert "COPY requirements/runtime.txt /tmp/runtime.txt" in [
        f"COPY {text}" for text in final.all("COPY")
    ]
    installs = [run for run in final.all("RUN") if "pip install" in run]
    assert installs[0].startswith(
        "pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: "
        "-r /tmp/runtime.txt"
    )
    assert installs[1].startswith("pip install --no-cache-dir --no-deps /tmp/*.whl")
    assert "pip check" in installs[1]
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert not {"requirements", "requirements/", "LICENSE", "README.md"} & set(ignored)


def test_make_installs_from_the_locks_with_their_hashes() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target, lock in ((".runtime", "runtime"), (".dev", "dev")):
        recipe = makefile.split(f"$(VENV)/{target}:", 1)[1].split("\n\n", 1)[0]
        assert f"requirements/{lock}.txt" in recipe.splitlines()[0]  # a new lock reinstalls
        assert f"pip install --quiet --require-hashes --no-deps -r requirements/{lock}.txt" in (
            recipe
        )
        assert "pip install --quiet --no-deps -e ." in recipe
        assert "pip check" in recipe
    assert "make test" in (REPO / ".ci/run").read_text(encoding="utf-8")  # CI: the dev lock


# -- the locks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int


def read_lock(name: str) -> dict[str, list[Pin]]:
    """Each locked package's pins (two when the pin differs by Python version)."""
    text = (LOCKS / name).read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, list[Pin]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *options = line.split(" --hash=")
        spec, _, marker = requirement.partition(";")
        package, _, version = spec.strip().partition("==")
        assert version, f"{name}: {line.strip()[:80]} is not pinned with =="
        pin = Pin(
            canonicalize_name(package),
            Version(version),
            Marker(marker.strip()) if marker.strip() else None,
            len(options),
        )
        pins.setdefault(pin.name, []).append(pin)
    return pins


def pyproject_requirements(*extras: str) -> list[Requirement]:
    found = [Requirement(text) for text in PROJECT["dependencies"]]
    for extra in extras:
        for text in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                found.extend(pyproject_requirements(*requirement.extras))
            else:
                found.append(requirement)
    return found


ON_LINUX_311 = {"python_full_version": "3.11.7", "python_version": "3.11", "sys_platform": "linux"}


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("runtime.txt", pyproject_requirements("postgres", "xlsx")),
        ("dev.txt", pyproject_requirements("dev")),
        ("build.txt", [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]),
    ],
)
def test_each_lock_pins_every_requirement_of_pyproject_within_its_range(
    lock: str, requirements: list[Requirement]
) -> None:
    pins = read_lock(lock)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {requirement}: run make lock"
        chosen = [
            pin for pin in pins[name] if pin.marker is None or pin.marker.evaluate(ON_LINUX_311)
        ]
        assert len(chosen) == 1, (lock, name)
        assert requirement.specifier.contains(chosen[0].version, prereleases=True), (
            f"{lock} pins {name}=={chosen[0].version}, outside {requirement}: run make lock"
        )
    assert canonicalize_name("psycopg-binary") in pins or lock != "runtime.txt"


@pytest.mark.parametrize("lock", ["runtime.txt", "dev.txt", "build.txt"])
def test_every_pin_has_hashes_and_none_is_for_one_machine_only(lock: str) -> None:
    pins = [pin for entries in read_lock(lock).values() for pin in entries]
    assert pins
    assert [pin.name for pin in pins if pin.hashes == 0] == []
    # One lock for x86_64 and aarch64: no pin may hold for one kind of processor only.
    assert [pin.name for pin in pins if pin.marker and "platform_machine" in str(pin.marker)] == []


def test_the_dev_lock_agrees_with_the_runtime_and_build_locks() -> None:
    """The same versions and the same files; the markers may differ, because a dev-only
    package can need the same one on more platforms (trio needs cffi on Windows too)."""
    dev = read_lock("dev.txt")
    for other in ("runtime.txt", "build.txt"):
        for name, pins in read_lock(other).items():
            same = [(pin.version, pin.hashes) for pin in pins]
            assert [(pin.version, pin.hashes) for pin in dev[name]] == same, (
                f"{name} differs between dev.txt and {other}"
            )


# -- license, py.typed, the wheel -----------------------------------------------------------


def test_the_license_file_is_the_official_text_of_the_license_pyproject_names() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"Apache License\n                           Version 2.0, January 2004" in text


def test_every_package_is_marked_typed() -> None:
    assert sorted(PACKAGES) == ["arsync", "connector", "jobs", "scoring"]
    assert [p for p in PACKAGES if not (REPO / p / "py.typed").is_file()] == []
    assert "Typing :: Typed" in PROJECT["classifiers"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    from hatchling.builders.wheel import WheelBuilder  # noqa: PLC0415 - only these tests build

    directory = tmp_path_factory.mktemp("wheel")
    built = list(WheelBuilder(str(REPO)).build(directory=str(directory), versions=["standard"]))
    assert len(built) == 1
    return zipfile.ZipFile(built[0])


def test_the_wheel_carries_py_typed_for_every_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert {f"{package}/py.typed" for package in PACKAGES} <= names


def test_the_wheel_carries_the_report_template_where_its_loader_looks(
    wheel: zipfile.ZipFile,
) -> None:
    """`arsync report` renders `report.html.j2` through PackageLoader("jobs.report",
    "templates"): a wheel without it installs an arsync whose report fails."""
    assert "jobs/report/templates/report.html.j2" in set(wheel.namelist())
    page = (REPO / "jobs/report/page.py").read_text(encoding="utf-8")
    assert 'PackageLoader("jobs.report", "templates")' in page


def test_the_wheel_carries_the_license_and_names_the_extras(wheel: zipfile.ZipFile) -> None:
    dist_info = f"{PROJECT['name']}-{PROJECT['version']}.dist-info"
    assert wheel.read(f"{dist_info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert {"Provides-Extra: postgres", "Provides-Extra: xlsx"} <= set(metadata.splitlines())
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    # Not in the default install: only with their extras (and the dev extra, which has both).
    assert [line for line in requires if "extra ==" not in line and "psycopg" in line] == []
    assert [line for line in requires if "extra ==" not in line and "openpyxl" in line] == []
    assert "Requires-Dist: psycopg[binary]<4,>=3.1.12; extra == 'postgres'" in requires
    assert "Requires-Dist: openpyxl<4,>=3.1; extra == 'xlsx'" in requires
