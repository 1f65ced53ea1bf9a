"""rembg in its own virtual environment (``bench/.venv-rembg``), driven from here.

rembg is the peer we compare against, not a dependency: the bench creates the venv with
pip on first use and talks to :mod:`bench.rembg_worker` over a pipe. ``U2NET_HOME``
points rembg at our model cache, so both sides load byte-identical ONNX files (rembg
md5-checks u2net/u2netp; ISNet goes through its ``dis_custom`` session by path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
VENV = BENCH_DIR / ".venv-rembg"
PYTHON = VENV / "bin" / "python"
REMBG = VENV / "bin" / "rembg"
#: rembg's own model names; anything else runs through ``dis_custom`` with a path.
REMBG_NATIVE = {"u2net", "u2netp"}
#: What the venv gets; ``[cli]`` brings the ``rembg p`` command's dependencies.
REQUIREMENTS = ("rembg[cli]", "onnxruntime")
STAMP = VENV / ".bench-installed"


def ensure_venv() -> None:
    """Create the venv and install rembg into it (once)."""
    if STAMP.exists() and STAMP.read_text() == " ".join(REQUIREMENTS):
        return
    print(f"creating {VENV} and installing rembg (first run only)…", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    STAMP.write_text(" ".join(REQUIREMENTS))


def rembg_version() -> str:
    out = subprocess.run(
        [str(PYTHON), "-c", "import importlib.metadata as m; print(m.version('rembg'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def rembg_env(models_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["U2NET_HOME"] = str(models_dir)
    env.pop("MODEL_CHECKSUM_DISABLED", None)  # keep rembg's md5 checks on
    return env


def rembg_cli_args(model: str, model_path: Path) -> list[str]:
    """``rembg p`` model arguments for ``model``."""
    if model in REMBG_NATIVE:
        return ["-m", model]
    return ["-m", "dis_custom", "-x", json.dumps({"model_path": str(model_path)})]


class RembgWorker:
    """One long-lived rembg process with one session (started once, like ours)."""

    def __init__(self, model: str, model_path: Path, models_dir: Path) -> None:
        args = [str(PYTHON), str(BENCH_DIR / "rembg_worker.py"), model]
        if model not in REMBG_NATIVE:
            args.append(str(model_path))
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=rembg_env(models_dir),
        )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"rembg worker did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("rembg worker exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def call(self, **request: Any) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return self._read()

    def masks(self, paths: list[Path], out: Path) -> None:
        self.call(cmd="masks", paths=[str(p) for p in paths], out=str(out))

    def time(self, path: Path, reps: int) -> list[float]:
        seconds: list[float] = self.call(cmd="time", path=str(path), reps=reps)["seconds"]
        return seconds

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)

    def __enter__(self) -> RembgWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
