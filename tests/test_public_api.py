"""The curated public names, and the layering rule that the core imports no trio."""

import ast
import pathlib

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


def test_the_core_imports_no_trio_and_no_io():
    forbidden = {"trio", "socket", "asyncio", "os", "time", "random", "threading"}
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            assert not forbidden & set(names), f"{path.name} imports {names}"


def test_two_brokers_share_nothing():
    import trio

    async def main():
        async with minimns.open_broker() as a, minimns.open_broker() as b:
            await a.create_queue("q")
            assert await b.list_queue() == ([], "")

    trio.run(main)
