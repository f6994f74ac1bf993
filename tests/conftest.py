"""Shared fixtures: every test runs with a clean telemetry environment and its own config dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

# Variables that switch telemetry or its configuration; a developer's or CI's own values
# must not leak into the tests' expectations.
_PREFIXES = ("ASTRID_", "OTEL_")
_NAMES = ("DO_NOT_TRACK", "CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS",
          "GITLAB_CI", "CIRCLECI", "TRAVIS", "BUILDKITE", "TF_BUILD", "JENKINS_URL", "TEAMCITY_VERSION",
          "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ID", "DRONE", "APPVEYOR",
          "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
_KEEP = ("ASTRID_TEST_",)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for key in list(os.environ):
        if key.startswith(_KEEP):
            continue
        if key.startswith(_PREFIXES) or key in _NAMES or key.endswith("_TELEMETRY"):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    # an ignored environment value is logged once per process: once per test here
    config = sys.modules.get("astrid.config")
    if config is not None:
        config._warned.clear()
    return home
