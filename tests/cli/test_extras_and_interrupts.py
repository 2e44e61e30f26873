"""Missing extras and Ctrl-C: one line on stderr, the right exit code, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cli import cli_command, start_interruptible, wait_until_mapped
from helpers.images import write_class_folder

BLOCKED_RUN = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # import now raises ImportError, as on a runtime-only install
sys.argv = ["anime-detector", *{args!r}]
from anime_detector._entry import main
main()
"""


def _run_blocked(blocked: tuple[str, ...], *args: str | Path) -> subprocess.CompletedProcess[str]:
    code = BLOCKED_RUN.format(blocked=list(blocked), args=[str(a) for a in args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


TRAIN = ("tensorflow", "keras", "tf2onnx")


@pytest.mark.parametrize("command", [
    ("export", "model.keras", "--out", "x.onnx"),
    ("train", "data", "--out", "run"),
    ("eval", "model.keras", "data"),
    ("demo", "--out", "d"),
    ("bench", "--keras", "model.keras", "--no-cold-start"),
])
def test_missing_train_extra_is_one_line_before_any_work(command: tuple[str, ...],
                                                          tmp_path: Path) -> None:
    result = _run_blocked(TRAIN, *command)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "pip install 'anime-detector[cpu,train]'" in line
    assert not list(tmp_path.iterdir())


def test_export_verification_without_onnxruntime_names_the_extra(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    result = _run_blocked(("onnxruntime",), "export", "model.keras", "--out", tmp_path / "x.onnx")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "need onnxruntime" in line and "--no-verify" in line


@pytest.mark.parametrize("after_tf_loads_s", [0.0, 2.5])
def test_ctrl_c_during_train_start_up_is_exit_130_one_line(tmp_path: Path,
                                                           after_tf_loads_s: float) -> None:
    """Interrupted while TensorFlow imports (as soon as its library is loaded) or while the
    backbone is built (2.5 s later)."""
    pytest.importorskip("tensorflow")
    data = write_class_folder(tmp_path / "data", per_class=2)
    proc = start_interruptible(
        [*cli_command(), "train", str(data), "--out", str(tmp_path / "run"), "--weights",
         "none", "--epochs", "50"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ANIME_DETECTOR_CACHE": str(tmp_path / "c")})
    wait_until_mapped(proc, "libtensorflow_framework")
    time.sleep(after_tf_loads_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "error: interrupted"
    assert not (tmp_path / "run").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []


def test_an_ignored_sigint_stays_ignored(tmp_path: Path) -> None:
    """Started with SIGINT ignored (``cmd &`` in a script, nohup-style launchers), the command
    leaves it ignored, as Python itself does: a Ctrl-C meant for the script does not stop it."""
    code = ("import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "sys.argv = ['anime-detector', '--version']\n"
            "from anime_detector._entry import main\n"
            "import anime_detector.cli as cli\n"
            "cli.app = lambda: print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "True", result.stderr


def test_weights_download_line_goes_to_stderr_never_stdout(tmp_path: Path) -> None:
    """The real download path (offline here: it fails; online it downloads 10 MB)."""
    pytest.importorskip("tensorflow")
    data = write_class_folder(tmp_path / "data", per_class=2)
    result = subprocess.run([*cli_command(), "train", str(data), "--out", str(tmp_path / "run"),
                             "--backbone", "mobilenetv3small", "--epochs", "1"],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "ANIME_DETECTOR_CACHE": str(tmp_path / "c")})
    assert "Downloading data from" not in result.stdout
    assert "Downloading data from" in result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode:  # offline: one error line naming the file to fetch
        assert result.returncode == 2
        assert "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5" in \
            result.stderr.strip().splitlines()[-1]
