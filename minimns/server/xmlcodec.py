"""MNS XML documents: parsing untrusted request bodies, writing responses.

Requests are parsed with defusedxml (no entity expansion, no external
entities, no DTD tricks). Responses are written as text: the shapes are
fixed and small, and writing them directly keeps the bytes exactly as the
official SDK expects (see mns-protocol.md 1.5): the namespace on the root,
every required child present and non-empty, and ``\\r`` escaped so XML
parsers do not fold it into ``\\n``.
"""

from __future__ import annotations

import re
from typing import Iterable
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from ..core.notification import escape_xml
from ..errors import InvalidArgument, MalformedXML

__all__ = [
    "NAMESPACE",
    "child_texts",
    "document",
    "element",
    "parse",
    "parse_properties",
    "to_int",
]

NAMESPACE = "http://mns.aliyuncs.com/doc/v1/"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def parse(body: bytes, *roots: str) -> Element:
    """The root element of an MNS request document whose root is one of ``roots``."""
    try:
        root = SafeET.fromstring(body)
    except (SafeET.ParseError, DefusedXmlException, ValueError, LookupError):
        # LookupError: a declared encoding Python does not know
        raise MalformedXML() from None
    if local(root.tag) not in roots:
        raise MalformedXML(
            f"The root element should be {' or '.join(roots)}, not {local(root.tag)}."
        )
    return root


def child_texts(node: Element) -> dict[str, str]:
    """Direct children with text, by local name (the SDK writes each at most once)."""
    return {local(child.tag): (child.text or "") for child in node}


def parse_properties(node: Element, entry_tag: str) -> list[tuple[str, str, str]]:
    """SDK 1.3.0 message properties: (Name, Value, Type) of each ``entry_tag`` child."""
    out = []
    for entry in node:
        if local(entry.tag) != entry_tag:
            continue
        fields = child_texts(entry)
        if "Name" not in fields:
            raise InvalidArgument(f"A {entry_tag} needs a Name.")
        out.append((fields["Name"], fields.get("Value", ""), fields.get("Type", "STRING")))
    return out


def to_int(fields: dict[str, str], name: str) -> int | None:
    """An integer field, None when absent; InvalidArgument when not an integer."""
    text = fields.get(name)
    if text is None:
        return None
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidArgument(f"The value of {name} should be an integer, not {text!r}.")
    return int(text)


escape = escape_xml


def element(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "True" if value else "False"
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, inner: str | Iterable[str]) -> bytes:
    """A whole response document with the MNS namespace on its root."""
    if not isinstance(inner, str):
        inner = "".join(inner)
    return f'{_DECLARATION}<{root} xmlns="{NAMESPACE}">{inner}</{root}>'.encode("utf-8")
