"""The release workflow (.github/workflows/wheels.yml) checked where it cannot run: that it
parses, that it builds what the README promises (Linux x86_64 and aarch64, macOS x86_64 and
arm64, CPython 3.10-3.13) with the ``[tool.cibuildwheel]`` table, that what it names exists,
and that cibuildwheel itself reads that table into the build identifiers we expect."""

from __future__ import annotations

from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "wheels.yml"
PYTHONS = ("cp310", "cp311", "cp312", "cp313")
ARCHS = {"linux": ("x86_64", "aarch64"), "macos": ("x86_64", "arm64")}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the CI's Python is 3.11
    tomllib = pytest.importorskip("tomli")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def cibw_table() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["cibuildwheel"]


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def test_it_runs_on_tags_pull_requests_and_by_hand(workflow: dict) -> None:
    # (PyYAML reads the key `on` as True, YAML 1.1's boolean.)
    triggers = workflow[True]
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}
    assert triggers["push"] == {"tags": ["v*"]}


def test_the_matrix_is_the_four_platforms(workflow: dict) -> None:
    matrix = workflow["jobs"]["wheels"]["strategy"]["matrix"]["include"]
    got = sorted((m["platform"], m["arch"]) for m in matrix)
    assert got == sorted((p, a) for p, archs in ARCHS.items() for a in archs)
    for m in matrix:
        # Each runner is of its own platform and architecture: no emulation.
        assert m["os"].startswith("ubuntu-" if m["platform"] == "linux" else "macos-"), m
        assert m["os"].endswith("-arm") == (m["arch"] == "aarch64"), m
        if m["platform"] == "macos":
            assert m["os"].endswith("-intel") == (m["arch"] == "x86_64"), m


def test_each_job_builds_its_own_arch_with_cibuildwheel(workflow: dict) -> None:
    job = workflow["jobs"]["wheels"]
    (step,) = steps_using(job, "pypa/cibuildwheel")
    assert re.fullmatch(r"v\d+\.\d+\.\d+", step["uses"].split("@")[1]), step["uses"]
    assert step["env"]["CIBW_ARCHS"] == "${{ matrix.arch }}"
    # Nothing else in the workflow overrides the [tool.cibuildwheel] table.
    assert not [k for k in step["env"] if k != "CIBW_ARCHS"]
    output = step["with"]["output-dir"]
    (upload,) = steps_using(job, "actions/upload-artifact")
    assert upload["with"]["path"] == f"{output}/*.whl"
    assert upload["with"]["if-no-files-found"] == "error"
    assert upload["with"]["name"] == "wheels-${{ matrix.platform }}-${{ matrix.arch }}"


def test_the_sdist_job_uploads_what_build_writes(workflow: dict) -> None:
    job = workflow["jobs"]["sdist"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["pipx run build --sdist"]
    (upload,) = steps_using(job, "actions/upload-artifact")
    # `python -m build` writes to dist/ unless told otherwise.
    assert upload["with"]["path"] == "dist/*.tar.gz"
    assert upload["with"]["if-no-files-found"] == "error"


def test_every_job_checks_out_and_has_a_timeout(workflow: dict) -> None:
    for name, job in workflow["jobs"].items():
        assert steps_using(job, "actions/checkout"), name
        assert 0 < job["timeout-minutes"] <= 60, name


def test_the_cibuildwheel_table_builds_the_four_pythons(cibw_table: dict) -> None:
    assert cibw_table["build"].split() == [f"{p}-*" for p in PYTHONS]
    assert cibw_table["linux"]["archs"] == list(ARCHS["linux"])
    assert cibw_table["macos"]["archs"] == list(ARCHS["macos"])
    # The wheels' tests run on the server extra's server: the manylinux containers and the
    # macOS runners have no redis-server.
    assert cibw_table["test-extras"] == ["server"]


def test_every_path_the_test_command_names_exists(cibw_table: dict) -> None:
    paths = re.findall(r"\{project\}/(\S+)", cibw_table["test-command"])
    assert paths, cibw_table["test-command"]
    for path in paths:
        assert (REPO / path).is_file(), path
    assert "tests/test_conformance.py" in paths
    assert "tests/test_extension_default.py" in paths


def test_build_wheels_sh_builds_the_same_pythons() -> None:
    script = (REPO / "ci" / "build_wheels.sh").read_text()
    (versions,) = re.findall(r"^VERSIONS=\(([^)]*)\)$", script, re.M)
    assert ["cp" + v.replace(".", "") for v in versions.split()] == list(PYTHONS)


def cibuildwheel_identifiers(platform: str) -> list[str]:
    if sys.version_info < (3, 11):  # pragma: no cover
        pytest.skip("cibuildwheel 4 needs Python >= 3.11 (the CI's Python is 3.11)")
    exe = shutil.which("cibuildwheel") or str(Path(sys.executable).with_name("cibuildwheel"))
    if not Path(exe).exists():
        pytest.fail("cibuildwheel is not installed: it is in the test extra")
    result = subprocess.run(
        [exe, "--print-build-identifiers", "--platform", platform, str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("platform", sorted(ARCHS))
def test_cibuildwheel_reads_the_table_as_intended(platform: str) -> None:
    identifiers = cibuildwheel_identifiers(platform)
    tag = "manylinux" if platform == "linux" else "macosx"
    expected = sorted(f"{p}-{tag}_{a}" for p in PYTHONS for a in ARCHS[platform])
    assert sorted(identifiers) == expected
