"""Every command has --help, and none of them loads onnxruntime or TensorFlow for it."""

from __future__ import annotations

import json
import subprocess
import sys

# The commands are read from the app itself, so a new one is covered without editing this.
PROBE = """
import json, sys
import typer.main
from typer.testing import CliRunner
from anime_detector.cli import app
outputs = {}
for cmd in sorted(typer.main.get_command(app).commands):
    result = CliRunner().invoke(app, [cmd, "--help"])
    assert result.exit_code == 0, (cmd, result.output)
    outputs[cmd] = result.output
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in {"onnxruntime", "tensorflow", "keras", "tf2onnx"})
print(json.dumps({"heavy": heavy, "outputs": outputs}))
"""


def test_help_for_every_command_is_light() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True,
                         text=True, check=True)
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    assert payload["heavy"] == []
    # at least the nine commands of the README's command table
    assert {"predict", "train", "export", "eval", "bench", "demo", "serve", "batch",
            "explain"} <= set(payload["outputs"])
    for cmd, text in payload["outputs"].items():
        assert "Usage" in text, cmd
