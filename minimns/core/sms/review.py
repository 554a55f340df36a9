"""Review of SMS signatures (签名) and templates (模板), as the seeds' review rules state them.

Review is pure and deterministic: a name or a template content in, ``None``
(approved) or the rejection reason out. A reason is a short English sentence
naming the rule, followed by the seeds' own Chinese wording in parentheses.
Only the first failing rule is reported, so the order of the checks is part of
the contract:

Signatures (``review_signature``):

1. length: 2-8 characters;
2. brackets: 【】, () and [] (and their full-width forms （） ［］);
3. special symbols: any character that is not a Chinese character (汉字), an
   ASCII digit or an ASCII letter;
4. composition: not only digits, not only letters, not only digits and letters;
5. forbidden words (case-insensitive substrings, in the order given).

Templates (``review_template``):

1. not empty;
2. no 【 or 】 anywhere;
3. no [ or ];
4. variable syntax: every ``${`` is closed and no ``{$`` appears;
5. variable names, each variable in order of appearance: not empty, only
   ASCII letters and digits (Chinese characters, then other symbols), not only
   digits, not starting with a digit, not a forbidden name;
6. not all variables;
7. no adjacent variables (only whitespace between them counts as adjacent);
8. no forbidden symbol (``FORBIDDEN_TEMPLATE_SYMBOLS``, in that order);
9. no variables in a promotion template;
10. verification wording (验证码 / 注册码 / 校验证 / 校验码) if and only if the
    template is a verification code template (international templates exempt);
11. forbidden words (case-insensitive substrings, in the order given).

The seeds (docs/sms.md) give no length limit for template content, so there is none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache

__all__ = [
    "FORBIDDEN_TEMPLATE_SYMBOLS",
    "FORBIDDEN_VARIABLE_NAMES",
    "SIGNATURE_BRACKETS",
    "SIGNATURE_MAX_LENGTH",
    "SIGNATURE_MIN_LENGTH",
    "VARIABLE_PATTERN",
    "VERIFICATION_WORDS",
    "TemplateType",
    "review_signature",
    "review_template",
    "template_variables",
]

SIGNATURE_MIN_LENGTH = 2
SIGNATURE_MAX_LENGTH = 8
# 000: "无效添加【】、()、[]符号"; the full-width forms are the same brackets in Chinese text.
SIGNATURE_BRACKETS = "【】()[]（）［］"
# 000: "变量名称只能填写英文字母或英文数字组合，首位不能为数字，不能纯汉字，纯数字及email、mobile、id、nick、site"
FORBIDDEN_VARIABLE_NAMES = ("email", "mobile", "id", "nick", "site")
# 000: "短信模板不支持特殊符号如：¥、★、?、ヽ(●?▽`●)ノ ^_~" (and "^_^" in the second copy).
# The "?" there is an encoding casualty (it also stands inside the emoticon), so a plain
# question mark stays allowed; the full-width ￥ is the same currency sign.
FORBIDDEN_TEMPLATE_SYMBOLS = ("¥", "￥", "★", "●", "▽", "ヽ", "^_^", "^_~")
# 000: "模板内容含验证码，注册码，校验证请选择验证码模板类型"; 校验码 is what 校验证 means.
VERIFICATION_WORDS = ("验证码", "注册码", "校验证", "校验码")
# Anything between "${" and "}" is a variable, so that review can reject a bad name by name.
VARIABLE_PATTERN = re.compile(r"\$\{([^{}]*)\}")

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class TemplateType(Enum):
    """The four template kinds (002: "验证码、短信通知、推广短信、国际/港澳台消息四种模式")."""

    VERIFICATION = "verification"
    NOTIFICATION = "notification"
    PROMOTION = "promotion"
    INTERNATIONAL = "international"


def _is_han(ch: str) -> bool:
    """CJK Unified Ideographs, Extension A and the supplementary extensions
    (B to H, as in 𠮷野家): what the seeds call 汉字."""
    return (
        "\u4e00" <= ch <= "\u9fff"
        or "\u3400" <= ch <= "\u4dbf"
        or "\U00020000" <= ch <= "\U0003134f"
    )


def _forbidden_word(text: str, forbidden_words: Iterable[str]) -> str | None:
    folded = text.casefold()
    for word in forbidden_words:
        if word and word.casefold() in folded:
            return word
    return None


def review_signature(name: str, *, forbidden_words: Iterable[str] = ()) -> str | None:
    """None if the signature passes review, else why not (the first failing rule)."""
    if not SIGNATURE_MIN_LENGTH <= len(name) <= SIGNATURE_MAX_LENGTH:
        return "signature must be 2-8 characters (单个签名长度介于2到8个字符之间)"
    if any(ch in SIGNATURE_BRACKETS for ch in name):
        return (
            "signature must not contain 【】, () or [] brackets; sending adds them "
            "(无效添加【】、()、[]符号)"
        )
    if any(not (_is_han(ch) or ch in _DIGITS or ch in _LETTERS) for ch in name):
        return "signature must not contain special symbols such as - . + # & (不能有其他特殊符号)"
    if not any(_is_han(ch) for ch in name):
        if all(ch in _DIGITS for ch in name):
            return "signature must not be only digits (不能为纯数字)"
        if all(ch in _LETTERS for ch in name):
            return "signature must not be only English letters (不能为纯英文)"
        return "signature must not be only digits and English letters (不能为数字英文组合)"
    word = _forbidden_word(name, forbidden_words)
    if word is not None:
        return f"signature contains the forbidden word {word!r} (不含违禁关键词)"
    return None


def template_variables(content: str) -> list[str]:
    """The names of the ``${name}`` variables, each once, in order of first appearance."""
    return list(_variables(content))


@lru_cache(maxsize=1024)
def _variables(content: str) -> tuple[str, ...]:
    """Cached: every send reads its template's variables."""
    return tuple(dict.fromkeys(VARIABLE_PATTERN.findall(content)))


def _review_variable_name(name: str) -> str | None:
    if not name:
        return "variable name must not be empty (变量内容不能为空)"
    if any(_is_han(ch) for ch in name):
        return (
            f"variable name {name!r} may only use English letters and digits "
            "(变量名称只能填写英文字母或英文数字组合)"
        )
    if any(not (ch in _DIGITS or ch in _LETTERS) for ch in name):
        return (
            f"variable name {name!r} must not contain special symbols such as . - : / # $ "
            "or spaces (变量名称不能带有特殊符号)"
        )
    if all(ch in _DIGITS for ch in name):
        return f"variable name {name!r} must not be only digits (不能纯数字)"
    if name[0] in _DIGITS:
        return f"variable name {name!r} must not start with a digit (首位不能为数字)"
    if name.casefold() in FORBIDDEN_VARIABLE_NAMES:
        return (
            f"variable name {name!r} is forbidden: email, mobile, id, nick and site are "
            "reserved (不能为email、mobile、id、nick、site)"
        )
    return None


def review_template(
    content: str, kind: TemplateType | str, *, forbidden_words: Iterable[str] = ()
) -> str | None:
    """None if the template passes review, else why not (the first failing rule)."""
    kind = TemplateType(kind)
    if not content:
        return "template content must not be empty"
    if "【" in content or "】" in content:
        return "template must not contain 【】 anywhere (【】符号在模板内容中任意位置都不能使用)"
    if "[" in content or "]" in content:
        return "template must not contain [] (the system reads them as a signature) ([]符号模板内不能使用)"
    matches = list(VARIABLE_PATTERN.finditer(content))
    rest = VARIABLE_PATTERN.sub("", content)
    # Variables become a mark that joins nothing, so "$${x}{b}" stays legal text
    # while a "{$" written anywhere (as in "{${code}") is still seen.
    if "${" in VARIABLE_PATTERN.sub("\x00", content) or "{$" in content:
        return (
            "variables must be written as ${name}, with $ outside the braces "
            "(变量格式应如${code}，其中$符在{}外面)"
        )
    for match in matches:
        reason = _review_variable_name(match.group(1))
        if reason is not None:
            return reason
    if matches and not rest.strip():
        return "template must not consist only of variables (不支持全变量短信模板)"
    for before, after in zip(matches, matches[1:]):
        if not content[before.end() : after.start()].strip():
            return "variables must be separated by text (不支持组合变量短信模板)"
    for symbol in FORBIDDEN_TEMPLATE_SYMBOLS:
        if symbol in content:
            return f"template must not contain the special symbol {symbol!r} (短信模板不支持特殊符号)"
    if matches and kind is TemplateType.PROMOTION:
        return "promotion templates must not contain variables (推广短信不支持在模版中添加变量)"
    if kind is not TemplateType.INTERNATIONAL:
        worded = any(word in content for word in VERIFICATION_WORDS)
        if worded and kind is not TemplateType.VERIFICATION:
            return (
                "templates about verification codes must be of the verification code type "
                "(模板内容含验证码，注册码，校验证请选择验证码模板类型)"
            )
        if not worded and kind is TemplateType.VERIFICATION:
            return (
                "verification code templates must mention a verification code; choose the "
                "notification type otherwise (反之请选择通知类型)"
            )
    word = _forbidden_word(content, forbidden_words)
    if word is not None:
        return (
            f"template contains the forbidden word {word!r} "
            "(短信内容不能含有政治敏感字眼和“黄赌毒”等低俗敏感字样)"
        )
    return None
