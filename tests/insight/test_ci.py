"""Tests that need chromium, playwright or matplotlib skip where they are absent, but
fail in CI (CI=true), where .ci/run installs them: a skip there would hide a missing
install step."""

import pytest

from tests.insight.conftest import skip_or_fail


def test_skips_on_a_developers_machine(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        skip_or_fail("chromium is missing")


def test_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing .*CI=true"):
        skip_or_fail("chromium is missing")
