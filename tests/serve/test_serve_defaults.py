"""The service's defaults live in ServeConfig: the command line and docs/serve.md agree."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from anime_detector.cli import app
from anime_detector.serve.config import ServeConfig

ROOT = Path(__file__).resolve().parents[2]
# option -> ServeConfig field, where the names differ by more than dashes
FIELDS = {"--timeout": "timeout_s", "--header-timeout": "header_timeout_s",
          "--min-body-rate": "min_body_rate_kbs", "--grace": "grace_s"}
OPTIONS = ("--max-pixels", "--max-decode-mb", "--max-batch", "--max-wait-ms", "--max-queue",
           "--max-body-mb", "--max-inflight-mb", "--max-files", "--timeout", "--min-body-rate",
           "--max-connections", "--header-timeout", "--grace", "--log-format")


def config_default(option: str) -> object:
    return getattr(ServeConfig(), FIELDS.get(option, option[2:].replace("-", "_")))


def test_the_command_line_takes_its_defaults_from_serve_config() -> None:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    defaults = {opt: param.default for param in serve.params for opt in param.opts}
    for option in OPTIONS:
        default = getattr(defaults[option], "value", defaults[option])  # an Enum's value
        assert default == config_default(option), (option, default)


def test_the_docs_table_states_serve_configs_defaults() -> None:
    text = (ROOT / "docs" / "serve.md").read_text()
    documented = dict(re.findall(r"^\| `(--[a-z-]+)` \| `([^`]+)` \|", text, re.M))
    for option in OPTIONS:
        assert option in documented, f"docs/serve.md has no row for {option}"
        value = config_default(option)
        shown = documented[option]
        if isinstance(value, (int, float)):
            assert float(shown) == float(value), (option, shown, value)
        else:
            assert shown == str(value), (option, shown, value)
