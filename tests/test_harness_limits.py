"""The test run itself: a hang fails fast (pytest-timeout), hypothesis is seeded in CI."""

import subprocess
import sys
import textwrap

from hypothesis import settings

from hypothesis_profiles import hypothesis_profile


def test_every_test_has_a_timeout(request):
    assert int(request.config.getini("timeout")) == 600
    assert request.config.pluginmanager.hasplugin("timeout")


def test_a_hanging_test_fails_within_its_timeout(tmp_path):
    (tmp_path / "test_hang.py").write_text(textwrap.dedent("""
        import time
        def test_hang():
            time.sleep(120)
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "2",
                          str(tmp_path / "test_hang.py")], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.returncode == 1
    assert "Timeout" in out.stdout and "1 failed" in out.stdout


def test_hypothesis_profile_is_seeded_in_ci():
    assert hypothesis_profile({}) == "dev"
    assert hypothesis_profile({"CI": "true"}) == "ci"
    assert hypothesis_profile({"HWSNN_REQUIRE_BACKENDS": "1"}) == "ci"
    assert hypothesis_profile({"HWSNN_REQUIRE_BACKENDS": "0"}) == "dev"
    assert hypothesis_profile({"CI": "1", "HYPOTHESIS_PROFILE": "dev"}) == "dev"
    assert settings.get_profile("ci").derandomize is True
    assert settings.get_profile("dev").derandomize is False
    assert settings().derandomize is settings.get_profile(hypothesis_profile()).derandomize  # the one loaded
    assert settings.get_profile("mutation").derandomize is True
