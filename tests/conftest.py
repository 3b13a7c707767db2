"""Shared fixtures. Importing nothing that installs a reactor (pytest-twisted picks it)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of an external program the test drives; in CI a missing one is a failure.

    Outside CI the test is skipped with a message naming the package to install.
    """
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; scripts/test installs it (see .ci/apt/)")
    pytest.skip(f"{name} is not installed (run scripts/test, or apt-get install it)")
    raise AssertionError  # unreachable


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Run every test in its own temporary folder (trial's mktemp() is cwd-relative)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def workdir(tmp_path):
    """A private folder for twistd's ready file, log and state directory."""
    return tmp_path


def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/integration/ as integration, whether or not its module does.

    So `-m "not integration"` is exactly the in-memory unit tests.
    """
    for item in items:
        if "integration" in item.path.relative_to(config.rootpath).parts[:-1]:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _quiet_hub():
    """Each test starts and ends with the process-wide observatory off and empty."""
    from zoo.events import hub

    hub.forget()
    yield
    hub.forget()


def use_implementation(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, target, name, python, c
) -> str:
    """For a fixture with params ["python", "c"]: set C{target.name} to C{python}, or
    to C{c(module)} with zoo's built C speedups module (skipped where none was built;
    CI builds it and fails a build that lost it, tests/test_speedups.py)."""
    from zoo._twisted import speedups

    if request.param == "c":
        if speedups.built is None:
            pytest.skip("zoo._twisted._speedups not built here (no C compiler?)")
        monkeypatch.setattr(target, name, c(speedups.built))
    else:
        monkeypatch.setattr(target, name, python)
    return str(request.param)
