"""The distributions build, and the wheel installs and runs in a fresh venv.

Marked ``packaging``: it builds the sdist and the wheel with ``python -m build``,
which installs setuptools into an isolated build environment, then installs the
wheel and its dependencies into a new virtual environment. Both steps download from
the package index the machine's pip is configured for, so the test needs that index
and takes tens of seconds (about 30 s with a warm pip cache on the
2-core machine this was written on). Deselect it with ``-m "not packaging"``.
"""

from __future__ import annotations

import configparser
import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import attrs
import pytest

import calls_async

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 300


@attrs.frozen
class Built:
    wheel: Path
    sdist: Path
    work: Path


def _run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(str(arg) for arg in args)} failed:\n{result.stdout}\n"
        f"{result.stderr}"
    )
    return result


def _copy_sources(destination: Path) -> None:
    """Copy the files git tracks or would track, so no build output leaks in."""
    listed = _run(
        "git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=ROOT
    )
    for name in listed.stdout.splitlines():
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree but still in the index
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if shutil.which("git") is None:
        pytest.fail("git is needed to list the source files to build from")
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    _copy_sources(source)
    dist = work / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, source, cwd=work)
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return Built(wheel=wheel, sdist=sdist, work=work)


def _wheel_file(wheel: zipfile.ZipFile, suffix: str) -> str:
    (name,) = [n for n in wheel.namelist() if n.endswith(suffix)]
    return wheel.read(name).decode()


def test_wheel_ships_py_typed(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
    assert "calls_async/py.typed" in names
    assert "calls_async/pytest_plugin.py" in names
    assert "calls_async/testing/__init__.py" in names
    assert not [name for name in names if name.startswith("tests/")]


def test_wheel_entry_points(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        text = _wheel_file(wheel, ".dist-info/entry_points.txt")
    entry_points = configparser.ConfigParser()
    entry_points.read_string(text)
    assert entry_points["console_scripts"]["calls-async"] == "calls_async.cli:main"
    assert entry_points["pytest11"]["calls_async"] == "calls_async.pytest_plugin"


def test_wheel_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        metadata = email.parser.Parser().parsestr(
            _wheel_file(wheel, ".dist-info/METADATA")
        )
        license_files = [name for name in wheel.namelist() if "/licenses/" in name]
    assert metadata["Name"] == "calls-async"
    assert metadata["Version"] == calls_async.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert [Path(name).name for name in license_files] == ["LICENSE"]
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert "Framework :: Pytest" in classifiers
    assert metadata["Requires-Python"] == ">=3.11"
    extras = metadata.get_all("Provides-Extra")
    assert "pytest" in extras
    assert "test" in extras


def test_sdist_has_license_and_docs(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert "LICENSE" in names
    assert "README.md" in names
    assert "calls_async/py.typed" in names
    assert "calls_async/_version.py" in names


def test_wheel_runs_in_fresh_venv(built: Built) -> None:
    venv = built.work / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=built.work)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("AZURE_")
    }
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        built.wheel,
        cwd=built.work,
        env=env,
    )

    # From the work folder, so that the checkout is not on sys.path.
    imported = _run(
        python,
        "-c",
        "import calls_async; print(calls_async.__version__, calls_async.__file__)",
        cwd=built.work,
        env=env,
    )
    version, location = imported.stdout.split()
    assert version == calls_async.__version__
    assert Path(location).is_relative_to(venv)

    demo = _run(
        bin_dir / "calls-async", "demo", "--calls", "3", cwd=built.work, env=env
    )
    assert demo.stdout.rstrip().endswith("PASSED"), demo.stdout
