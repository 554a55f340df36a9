"""Template substitution and message billing: how many SMS a text costs.

The seeds (docs/sms.md 000 and 001, 短信内容长度计算规则):
"短信字数 = 短信模板内容字数 + 签名字数",
"短信字数<=70个字数，按照70个字数一条短信计算", "短信字数>70个字数，即为长短信，按照67个字数记为一条短信计算",
and every character counts as one ("小数点、字母、汉字以及其他符号均按照一个字符位进行统计"),
so length is in code points. The signature is counted as sent, inside 【】.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from .review import VARIABLE_PATTERN

__all__ = [
    "LONG_MESSAGE_PART",
    "SINGLE_MESSAGE_LIMIT",
    "message_count",
    "message_length",
    "render",
]

SINGLE_MESSAGE_LIMIT = 70
LONG_MESSAGE_PART = 67


def render(content: str, params: Mapping[str, object]) -> str:
    """The template with each ``${name}`` replaced by ``str(params[name])``, in one pass
    (a value that itself looks like a variable is not expanded again)."""
    pieces = _pieces(content)  # literal, name, literal, name, ..., literal
    out = [pieces[0]]
    for i in range(1, len(pieces), 2):
        name = pieces[i]
        if name not in params:
            raise ValueError(f"missing template parameter {name!r}")
        value = params[name]
        out.append(value if isinstance(value, str) else str(value))
        out.append(pieces[i + 1])
    return "".join(out)


@lru_cache(maxsize=1024)
def _pieces(content: str) -> tuple[str, ...]:
    """A template split once into its literals and variable names (every send renders one)."""
    return tuple(VARIABLE_PATTERN.split(content))


def message_length(content: str, sign_name: str) -> int:
    """Characters of the message as sent: the rendered content plus 【sign_name】."""
    return len(content) + len(sign_name) + 2


def message_count(content: str, sign_name: str) -> int:
    """Billed messages: one up to 70 characters, else one per 67 characters (rounded up)."""
    length = message_length(content, sign_name)
    if length <= SINGLE_MESSAGE_LIMIT:
        return 1
    return -(-length // LONG_MESSAGE_PART)
