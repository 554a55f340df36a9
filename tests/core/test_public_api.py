"""The curated public names, and the layering rule that the core imports no trio."""

import ast
import pathlib
import subprocess
import sys

import minimns
from minimns import errors

CORE = pathlib.Path(minimns.__file__).parent / "core"


def test_public_names():
    assert {
        "open_broker",
        "Broker",
        "Queue",
        "Message",
        "SentMessage",
        "PeekedMessage",
        "ReceivedMessage",
        "ChangedVisibility",
        "QueueAttributes",
        "QueueMeta",
        "MNSError",
        "QueueNotExist",
        "QueueAlreadyExist",
        "MessageNotExist",
        "ReceiptHandleError",
        "InvalidArgument",
        "BatchSendFail",
        "BatchDeleteFail",
    } <= set(minimns.__all__)
    for name in minimns.__all__:
        assert hasattr(minimns, name), name


def test_every_error_code_has_its_class_and_status():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.MNSError) and cls is not errors.MNSError:
            assert cls.code == name
            assert errors.error_class(name) is cls
            assert cls.status in (400, 403, 404, 408, 409, 500)
    assert errors.error_class("NoSuchCode") is errors.InternalError
    assert errors.QueueNotExist.status == 404
    assert errors.QueueAlreadyExist.status == 409
    assert errors.ReceiptHandleError.status == 400


PACKAGE = CORE.parent
EDGES = {"minimns.server", "minimns.journal", "minimns.push", "minimns.testing",
         "minimns.opening", "minimns.cli", "minimns.config", "minimns.__main__"}


def imports_of(path: pathlib.Path) -> set[str]:
    """Every module a file imports, relative imports resolved against its package
    (``from ..broker import x`` in minimns/core/queue.py is minimns.broker)."""
    package = ".".join(("minimns", *path.relative_to(PACKAGE).parent.parts))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _under(module: str, roots: set[str]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def test_the_core_imports_no_trio_no_io_and_nothing_above_it():
    forbidden = {"trio", "socket", "asyncio", "os", "time", "random", "threading"}
    above = {"minimns.broker"} | EDGES
    for path in CORE.rglob("*.py"):
        for module in imports_of(path):
            assert module.split(".")[0] not in forbidden, f"{path.name} imports {module}"
            assert not _under(module, above), f"core/{path.name} imports {module}"


def test_the_broker_imports_no_edge():
    for path in (PACKAGE / "broker").rglob("*.py"):
        for module in imports_of(path):
            assert not _under(module, EDGES), f"broker/{path.name} imports {module}"


def test_the_layer_check_sees_relative_imports():
    sneaky = CORE / "_sneaky_check.py"
    sneaky.write_text("from ..broker import broker\n")
    try:
        assert "minimns.broker" in imports_of(sneaky)
    finally:
        sneaky.unlink()


def test_import_minimns_loads_neither_the_server_nor_cryptography():
    code = ("import sys, minimns; print(sorted(m for m in sys.modules if m.startswith("
            "('minimns.server', 'minimns.testing', 'minimns.journal', 'cryptography', 'h11'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_two_brokers_share_nothing():
    import trio

    async def main():
        async with minimns.open_broker() as a, minimns.open_broker() as b:
            await a.create_queue("q")
            assert await b.list_queue() == ([], "")

    trio.run(main)
