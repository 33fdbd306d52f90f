"""The set-up that `make test` does by itself: Chromium for the page tests, a clean tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import tree_changes, tree_snapshot

ROOT = Path(__file__).resolve().parents[1]
ENSURE = ROOT / "tools" / "ensure-chromium"


def _ensure(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ENSURE)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_test_runs_the_browser_check_before_the_tests() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "unit: $(VENV)/.test browser" in makefile
    assert "bash tools/ensure-chromium" in makefile
    # CI is the README's command and nothing else: no separate install step.
    assert "apt-get" not in (ROOT / ".ci" / "run").read_text()


def test_present_chromium_is_left_alone(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    result = _ensure(CONVMM_CHROMIUM=str(fake), CONVMM_APT_GET=str(tmp_path / "no-apt"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_missing_chromium_without_an_installer_says_what_to_run(tmp_path: Path) -> None:
    result = _ensure(
        CONVMM_CHROMIUM=str(tmp_path / "chromium"), CONVMM_APT_GET=str(tmp_path / "no-apt")
    )
    assert result.returncode == 1
    assert "apt-get install chromium" in result.stderr
    assert "then run make test again" in result.stderr


def test_a_failed_install_stops_with_the_command_to_run(tmp_path: Path) -> None:
    failing = tmp_path / "apt-get"
    failing.write_text("#!/bin/sh\nexit 100\n")
    failing.chmod(0o755)
    result = _ensure(CONVMM_CHROMIUM=str(tmp_path / "chromium"), CONVMM_APT_GET=str(failing))
    assert result.returncode == 1
    if os.geteuid() == 0:
        assert "could not install Chromium" in result.stderr
    assert "apt-get install chromium" in result.stderr


def test_an_install_that_brings_chromium_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "chromium"
    installer = tmp_path / "apt-get"
    installer.write_text(
        f'#!/bin/sh\nif [ "$1" = install ]; then printf "#!/bin/sh\\n" > {target}; '
        f"chmod +x {target}; fi\n"
    )
    installer.chmod(0o755)
    result = _ensure(CONVMM_CHROMIUM=str(target), CONVMM_APT_GET=str(installer))
    if os.geteuid() != 0:  # only root may install
        assert result.returncode == 1
        return
    assert result.returncode == 0, result.stderr
    assert target.exists()
    assert "Chromium installed" in result.stderr


def test_the_tree_guard_sees_new_changed_and_removed_files(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    kept, changed, removed = (tmp_path / "docs" / n for n in ("kept", "changed", "removed"))
    for path in (kept, changed, removed):
        path.write_text("x")
    (tmp_path / "test-artifacts").mkdir()
    before = tree_snapshot(tmp_path)
    changed.write_text("y")
    os.utime(changed, ns=(before["docs/changed"] + 10**9,) * 2)
    removed.unlink()
    (tmp_path / "docs" / "new").write_text("z")
    (tmp_path / "test-artifacts" / "shot.png").write_text("ignored")
    assert tree_changes(before, tree_snapshot(tmp_path)) == [
        "docs/changed",
        "docs/new",
        "docs/removed",
    ]
