"""The console script as a user runs it."""

import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "retail-mlops")


def run(*args: str, env_overrides: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_overrides or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd, check=False)


def test_sample_data_writes_weekly_files(tmp_path):
    out = tmp_path / "sample"
    done = run("sample-data", "--out", str(out), "--weeks", "2", "--baskets-per-week", "50", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.csv")) == ["transactions_200607.csv", "transactions_200608.csv"]
    assert "macro-F1" in done.stdout


def test_materialize_without_files_says_what_to_do(tmp_path):
    done = run(
        "materialize",
        env_overrides={"RETAIL_LAKE": str(tmp_path / "lake"), "DAGSTER_HOME": str(tmp_path / "home")},
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "--landing" in done.stdout and "sample-data" in done.stdout


def test_help_lists_the_commands():
    done = run("--help")
    assert done.returncode == 0
    for command in ("sample-data", "materialize", "serve"):
        assert command in done.stdout
