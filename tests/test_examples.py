"""The examples run as documented (each in a fresh interpreter, on the real clock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "script, expected",
    [
        ("producer_consumer.py", "late order"),
        ("topic_push.py", "signature ok=True"),
        ("sms_verification.py", "codes sent to the number: 1"),
    ],
)
def test_example_runs(script: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
