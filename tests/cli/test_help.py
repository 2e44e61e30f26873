"""Every command has --help, and none of them loads onnxruntime or TensorFlow for it."""

from __future__ import annotations

import json
import subprocess
import sys

COMMANDS = ("predict", "train", "export", "eval", "bench", "demo")

PROBE = """
import json, sys
from typer.testing import CliRunner
from anime_detector.cli import app
outputs = {}
for cmd in %r:
    result = CliRunner().invoke(app, [cmd, "--help"])
    assert result.exit_code == 0, (cmd, result.output)
    outputs[cmd] = result.output
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in {"onnxruntime", "tensorflow", "keras", "tf2onnx"})
print(json.dumps({"heavy": heavy, "outputs": outputs}))
"""


def test_help_for_every_command_is_light() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE % (COMMANDS,)], capture_output=True,
                         text=True, check=True)
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    assert payload["heavy"] == []
    for cmd in COMMANDS:
        assert "Usage" in payload["outputs"][cmd]
