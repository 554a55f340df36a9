"""A Node.js process driving the npm MNS clients (tests/node/driver.js), for the
tests of @alicloud/mns and ali-mns: one JSON call per line, one JSON answer back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
ACCOUNT_ID = "1234567890"
KEY_ID, KEY_SECRET = "node-id", "node-secret"

NODE_MISSING = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="Node.js (node and npm) is not installed: the Node.js SDK cannot run",
)


class NodeError(Exception):
    """What the Node client threw: ``.name`` as it names it (MNSQueueNotExistError ...)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['name']}: {error['message']}")
        self.name = error["name"]
        self.message = error["message"]
        self.code = error.get("code")


class Node:
    """One Node process driving the clients; ``call`` is one method call, awaited."""

    def __init__(self, endpoint: str, key_id: str = KEY_ID, key_secret: str = KEY_SECRET,
                 proxy: str | None = None) -> None:
        self.install()
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "driver.js"), endpoint, ACCOUNT_ID, key_id, key_secret],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=NODE_DIR,
            env=_environment(proxy),
        )

    @staticmethod
    def install() -> None:
        """The npm clients into tests/node/node_modules, if ``.ci/run`` has not."""
        if not (NODE_DIR / "node_modules" / "@alicloud" / "mns").is_dir():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                           capture_output=True, timeout=300)

    def call(self, method: str, *args: Any, client: str = "alicloud",
             target: list[str] | None = None) -> Any:
        """``client.method(*args)``; for ali-mns (``client="ali"``), ``target`` names the
        object the method belongs to, e.g. ``["MQ", "jobs"]``."""
        assert self.process.stdin and self.process.stdout
        request = {"client": client, "method": method, "args": args, "object": target}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the Node driver exited"
        answer = json.loads(line)
        if "error" in answer:
            raise NodeError(answer["error"])
        return answer["ok"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(10)


def _environment(proxy: str | None) -> dict[str, str]:
    """The driver's environment: only ``proxy`` (if given) as its HTTP proxy."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in (
        "http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    if proxy is not None:
        env["HTTP_PROXY"] = proxy
    return env
