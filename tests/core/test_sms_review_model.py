"""SMS signature and template review against a small, separately written model of the rules.

The model below restates the seed rules (000, "短信签名的审核要求" / "短信模板的审核要求",
as summarised in the docstring of ``minimns/core/sms/review.py``) in plain Python: loops,
``str`` methods and ``unicodedata``. It does not use the regular expression or the helpers of
review.py. It only decides *approved or rejected*: the exact reasons and the order of the checks
are covered case by case in tests/test_sms_rules.py.

Hypothesis builds signatures and templates from pieces that sit near the rules' edges (Han
characters, ASCII letters and digits, brackets, forbidden symbols and near misses, ``${name}``
variables with good, bad and reserved names, adjacent and all-variable templates, verification
words, every template type, forbidden-word lists taken from the input itself), and every test
checks that review.py's verdict is the model's verdict.

The model found three disagreements where the rule text says review.py was wrong (a literal
``$`` and ``{`` around a variable, a ``{`` right before ``${``, supplementary-plane 汉字); each
now has its own test below.
"""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimns.core.sms.review import TemplateType, review_signature, review_template

EXAMPLES = settings(max_examples=300, deadline=None)  # the two model-versus-review.py tests
FOCUSED = settings(max_examples=100, deadline=None)  # the narrower properties

# ---------------------------------------------------------------- the model

ASCII_LETTERS = set(string.ascii_letters)
ASCII_DIGITS = set(string.digits)


def is_han(ch: str) -> bool:
    """汉字: a character Unicode calls a CJK unified ideograph, in any block."""
    return unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH-")


def contains_word(text: str, words) -> bool:
    """A forbidden word matches as a case-insensitive substring; an empty word forbids nothing."""
    folded = text.casefold()
    for word in words:
        if word != "" and word.casefold() in folded:
            return True
    return False


def model_signature_ok(name: str, forbidden_words=()) -> bool:
    # "单个签名长度介于2到8个字符之间"
    if len(name) < 2 or len(name) > 8:
        return False
    has_han = False
    for ch in name:
        # brackets (【】 () [] and full-width forms) and every other symbol: only 汉字,
        # English letters and digits may appear.
        if is_han(ch):
            has_han = True
        elif ch in ASCII_LETTERS or ch in ASCII_DIGITS:
            pass
        else:
            return False
    # "不能为纯数字、纯英文、数字英文组合": so at least one 汉字.
    if not has_han:
        return False
    # "不含违禁关键词"
    return not contains_word(name, forbidden_words)


def split_template(content: str):
    """Pieces ("text", s) and ("var", name), or None when the variable syntax is broken.

    "变量格式应如${code}，其中$符在{}外面": a variable starts at "${" and ends at the next
    "}"; a "${" that is never closed, or a "{$" anywhere, is malformed.
    """
    if "{$" in content:
        return None
    pieces = []
    text = ""
    i = 0
    while i < len(content):
        if content[i] == "$" and content[i + 1 : i + 2] == "{":
            end = content.find("}", i + 2)
            if end == -1:
                return None
            pieces.append(("text", text))
            pieces.append(("var", content[i + 2 : end]))
            text = ""
            i = end + 1
        else:
            text += content[i]
            i += 1
    pieces.append(("text", text))
    return pieces


def model_variable_name_ok(name: str) -> bool:
    # "变量名称只能填写英文字母或英文数字组合，首位不能为数字，不能纯汉字，纯数字及
    #  email、mobile、id、nick、site" and "变量内容不能为空"; no . - : / # $ or spaces.
    if name == "":
        return False
    for ch in name:
        if ch not in ASCII_LETTERS and ch not in ASCII_DIGITS:
            return False
    if name[0] in ASCII_DIGITS:  # also covers "only digits"
        return False
    return name.lower() not in ("email", "mobile", "id", "nick", "site")


def only_whitespace(text: str) -> bool:
    for ch in text:
        if not ch.isspace():
            return False
    return True


# "短信模板不支持特殊符号如：¥、★、?、ヽ(●?▽`●)ノ ^_~" (and "^_^"); the "?" is a mojibake
# casualty (review.py explains why a plain ? stays allowed), ￥ is the full-width ¥.
MODEL_SYMBOLS = ["¥", "￥", "★", "●", "▽", "ヽ", "^_^", "^_~"]
# "模板内容含验证码，注册码，校验证请选择验证码模板类型" (校验码 is what 校验证 means).
MODEL_VERIFICATION_WORDS = ["验证码", "注册码", "校验证", "校验码"]


def model_template_ok(content: str, kind: TemplateType, forbidden_words=()) -> bool:
    if len(content) == 0:
        return False
    # "【】符号在模板内容中任意位置都不能使用，[]符号模板内不能使用"
    for ch in "【】[]":
        if ch in content:
            return False
    pieces = split_template(content)
    if pieces is None:
        return False
    names = [value for what, value in pieces if what == "var"]
    texts = [value for what, value in pieces if what == "text"]
    for name in names:
        if not model_variable_name_ok(name):
            return False
    if names:
        # "不支持全变量": nothing but variables (and blanks).
        if only_whitespace("".join(texts)):
            return False
        # "不支持组合变量": two variables with nothing but blanks between them. The text
        # pieces strictly between two variables are texts[1:-1].
        for between in texts[1:-1]:
            if only_whitespace(between):
                return False
    for symbol in MODEL_SYMBOLS:
        if symbol in content:
            return False
    # "推广短信不支持在模版中添加变量"
    if names and kind == TemplateType.PROMOTION:
        return False
    if kind != TemplateType.INTERNATIONAL:
        worded = False
        for word in MODEL_VERIFICATION_WORDS:
            if word in content:
                worded = True
        if worded != (kind == TemplateType.VERIFICATION):
            return False
    return not contains_word(content, forbidden_words)


# ---------------------------------------------------------------- known disagreements


# ---------------------------------------------------------------- the model, sanity checks


@pytest.mark.parametrize(
    "name, ok",
    [("阿里云", True), ("Ali云", True), ("阿", False), ("aliyun", False), ("ali123", False),
     ("12345", False), ("【阿里】", False), ("阿-里", False), ("ａ阿里", False), ("㐀里", True)],
)
def test_the_signature_model_on_the_documented_examples(name, ok):
    assert model_signature_ok(name) is ok
    assert (review_signature(name) is None) is ok


@pytest.mark.parametrize(
    "content, kind, ok",
    [
        ("亲爱的用户${name}您好，您的快递获取码是${code}，请凭此码尽快在${time}前领取您的包裹。",
         TemplateType.NOTIFICATION, True),
        ("看信请点链接：https://www.aliyun.com/${info}。", TemplateType.NOTIFICATION, True),
        ("您的验证码为${code}", TemplateType.VERIFICATION, True),
        ("您的验证码为${code}", TemplateType.NOTIFICATION, False),
        ("您的验证码为${code}", TemplateType.INTERNATIONAL, True),
        ("${content}", TemplateType.NOTIFICATION, False),
        ("您好${a}${b}", TemplateType.NOTIFICATION, False),
        ("您好{$name}", TemplateType.NOTIFICATION, False),
        ("您好${name", TemplateType.NOTIFICATION, False),
        ("五折${name}", TemplateType.PROMOTION, False),
        ("五折，回T退订", TemplateType.PROMOTION, True),
    ],
)
def test_the_template_model_on_the_documented_examples(content, kind, ok):
    assert model_template_ok(content, kind) is ok
    assert (review_template(content, kind) is None) is ok


# ---------------------------------------------------------------- signature strategies

HAN = list("阿里云通信测试中文八个字") + ["㐀", "䶵", "\u9fff", "\u4e00"]  # BMP, incl. Extension A
LETTERS = list("aZkQx")
DIGITS = list("0179")
SIGN_BRACKETS = list("【】()[]（）［］")
SIGN_OTHER = list("-.+#&_ ，。!@") + ["ａ", "１", "²", "é", "〇", "々", "\uf900", "😀", "\t", "\u3000"]


def mixed_signatures():
    good = st.sampled_from(HAN + LETTERS + DIGITS)
    anything = st.sampled_from(HAN + LETTERS + DIGITS + SIGN_BRACKETS + SIGN_OTHER)
    return st.one_of(
        # mostly well-formed names of about the right length
        st.text(good, min_size=1, max_size=9),
        # Han-free names: only digits, only letters, both
        st.text(st.sampled_from(LETTERS + DIGITS), min_size=1, max_size=9),
        st.text(st.sampled_from(DIGITS), min_size=2, max_size=8),
        # one odd character in an otherwise good name
        st.tuples(st.text(good, max_size=4), anything, st.text(good, max_size=4)).map(
            "".join
        ),
        st.text(anything, max_size=10),
        # anything at all
        st.text(max_size=9),
    )


@st.composite
def forbidden_words_for(draw, text: str):
    """Words that often occur in the text (in some other case), mixed with ones that do not."""
    words = []
    for _ in range(draw(st.integers(0, 3))):
        choice = draw(st.integers(0, 3))
        if choice == 0 and text:
            start = draw(st.integers(0, len(text) - 1))
            end = draw(st.integers(start + 1, min(len(text), start + 4)))
            word = text[start:end]
            words.append(draw(st.sampled_from([word, word.upper(), word.lower(), word.swapcase()])))
        elif choice == 1:
            words.append("")
        else:
            words.append(draw(st.sampled_from(["赌博", "贷款", "spam", "SPAM", "Q", "ali", "x9"])))
    return words


SIGNATURES = mixed_signatures()

# ---------------------------------------------------------------- signature properties


@EXAMPLES
@given(st.data())
def test_signature_verdict_matches_the_model(data):
    name = data.draw(SIGNATURES, label="name")
    words = data.draw(forbidden_words_for(name), label="forbidden_words")
    expected = model_signature_ok(name, words)
    got = review_signature(name, forbidden_words=words)
    assert (got is None) is expected, got
    if got is not None:
        assert isinstance(got, str) and got


@FOCUSED
@given(st.text(st.sampled_from(HAN), min_size=2, max_size=8), st.data())
def test_a_signature_with_han_is_approved_unless_too_long_short_or_forbidden(name, data):
    words = data.draw(forbidden_words_for(name))
    assert (review_signature(name) is None) is True
    forbidden = any(w and w.casefold() in name.casefold() for w in words)
    assert (review_signature(name, forbidden_words=words) is None) is not forbidden


@FOCUSED
@given(st.text(st.sampled_from(LETTERS + DIGITS), min_size=2, max_size=8))
def test_a_signature_without_han_is_always_rejected(name):
    assert review_signature(name) is not None


@FOCUSED
@given(
    st.text(st.sampled_from(HAN + LETTERS + DIGITS), max_size=3),
    st.sampled_from(SIGN_BRACKETS + SIGN_OTHER),
    st.text(st.sampled_from(HAN + LETTERS + DIGITS), max_size=3),
)
def test_a_bracket_or_symbol_anywhere_rejects_the_signature(before, odd, after):
    assert review_signature(before + "云" + odd + after) is not None


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(HAN), st.sampled_from(LETTERS + DIGITS + HAN))
def test_a_forbidden_word_is_case_insensitive(han, other):
    name = han + other.upper()
    assert review_signature(name, forbidden_words=[other.lower()]) is not None
    assert review_signature(name, forbidden_words=["", other.swapcase()]) is not None
    assert review_signature(name, forbidden_words=[""]) is None


# 汉字 from Extension B and later, such as 𠮷 (U+20BB7, as in 𠮷野家), are 汉字: the seeds allow
# them without restriction ("可以包含汉字、数字、英文").
@settings(max_examples=50, deadline=None)
@given(
    st.text(st.sampled_from(HAN), max_size=3),
    st.sampled_from(["𠮷", "𠀀", "𪚥", "\U00030000"]),
)
def test_supplementary_han_counts_as_han_in_a_signature(prefix, rare):
    name = prefix + rare + "野"
    assert model_signature_ok(name)
    assert review_signature(name) is None


# ---------------------------------------------------------------- template strategies

GOOD_NAMES = ["code", "name", "Time", "a1", "orderNo", "x", "Z9z", "emails", "identity", "idx"]
BAD_NAMES = ["", "1a", "12", "0", "姓名", "a名", "my-name", "my.name", "a:b", "a/b", "a#b",
             "a$b", "x y", "a_b", " name", "name ", "ｃode", "é", "a{b"]
RESERVED_NAMES = ["email", "mobile", "id", "nick", "site", "ID", "Email", "NICK", "Site", "mOBILE"]

TEXT_PIECES = [
    "您好", "的", "您的订单", "已发货", "hello ", "a", "7", "，", "。", "?", "!", "$5", "$",
    "{", "}", "{}", "https://www.aliyun.com/", "回T退订", "验证", "校验", "证码", "^_", "^",
    "~", "_~", "ノ", "(", "`", "´",
]
BLANKS = [" ", "  ", "\t", "\n", "\u3000"]
VERIFICATION_PIECES = ["验证码", "注册码", "校验证", "校验码", "您的验证码为"]
BAD_BRACKETS = ["【", "】", "[", "]", "【阿里云】", "[sign]"]
SYMBOL_PIECES = ["¥", "￥", "★", "●", "▽", "ヽ", "^_^", "^_~", "ヽ(●´▽`●)ノ"]
MALFORMED_PIECES = ["${", "{$", "${code", "{$name}", "$ {x}", "${a${b}}"]


def variable(names):
    return st.sampled_from(names).map(lambda n: "${" + n + "}")


def variable_names():
    random_names = st.text(
        st.sampled_from(list("abcXYZ0189_-. $名")), min_size=0, max_size=6
    )
    return st.one_of(
        st.sampled_from(GOOD_NAMES), st.sampled_from(GOOD_NAMES),
        st.sampled_from(BAD_NAMES), st.sampled_from(RESERVED_NAMES), random_names,
    )


def template_piece(weight_clean: int):
    clean = [
        st.sampled_from(TEXT_PIECES),
        st.sampled_from(HAN),
        variable_names().map(lambda n: "${" + n + "}"),
        variable(GOOD_NAMES),
        st.sampled_from(BLANKS),
        st.sampled_from(VERIFICATION_PIECES),
    ]
    odd = [
        st.sampled_from(BAD_BRACKETS),
        st.sampled_from(SYMBOL_PIECES),
        st.sampled_from(MALFORMED_PIECES),
    ]
    return st.one_of(*(clean * weight_clean), *odd)


def only_variables():
    """All-variable templates: variables with nothing, or only blanks, around them."""
    return st.lists(
        st.tuples(st.sampled_from([""] + BLANKS), variable(GOOD_NAMES)), min_size=1, max_size=3
    ).map(lambda parts: "".join(b + v for b, v in parts))


def adjacent_variables():
    """Text, then two variables with nothing or only blanks between them, then text."""
    return st.tuples(
        st.sampled_from(["您好", "", "a"]),
        variable(GOOD_NAMES),
        st.sampled_from(["", " ", "\u3000", "\t", "，", "x"]),
        variable(GOOD_NAMES),
        st.sampled_from(["已发货", "", " "]),
    ).map("".join)


def templates():
    return st.one_of(
        st.lists(template_piece(4), max_size=7).map("".join),
        st.lists(template_piece(1), max_size=7).map("".join),
        # nearly clean: the likeliest to be approved
        st.lists(
            st.one_of(st.sampled_from(TEXT_PIECES[:12]), variable(GOOD_NAMES),
                      st.sampled_from(VERIFICATION_PIECES)),
            min_size=1, max_size=6,
        ).map("".join),
        only_variables(),
        adjacent_variables(),
        st.text(st.sampled_from(list("${} a名验证码【[¥^_~")), max_size=10),
        st.text(max_size=12),
    )


TEMPLATES = templates()
KINDS = st.one_of(st.sampled_from(list(TemplateType)),
                  st.sampled_from([k.value for k in TemplateType]))


# ---------------------------------------------------------------- template properties


@EXAMPLES
@given(st.data())
def test_template_verdict_matches_the_model(data):
    content = data.draw(TEMPLATES, label="content")
    kind = data.draw(KINDS, label="kind")
    words = data.draw(forbidden_words_for(content), label="forbidden_words")
    expected = model_template_ok(content, TemplateType(kind), words)
    got = review_template(content, kind, forbidden_words=words)
    assert (got is None) is expected, got
    if got is not None:
        assert isinstance(got, str) and got


@FOCUSED
@given(
    st.sampled_from(["您好", "a", "您的订单", "https://x.cn/"]),
    variable_names(),
    st.sampled_from(["已发货", "，谢谢", "。"]),
    st.sampled_from(list(TemplateType)),
)
def test_one_variable_in_text_is_judged_by_its_name(before, name, after, kind):
    content = before + "${" + name + "}" + after
    expected = model_template_ok(content, kind)
    assert (review_template(content, kind) is None) is expected
    if kind == TemplateType.NOTIFICATION and "{" not in name and "}" not in name:
        assert expected is model_variable_name_ok(name)


@FOCUSED
@given(only_variables(), st.sampled_from(list(TemplateType)))
def test_an_all_variable_template_is_always_rejected(content, kind):
    assert review_template(content, kind) is not None


@FOCUSED
@given(
    variable(GOOD_NAMES), st.sampled_from(["", " ", "  ", "\u3000", "\n"]), variable(GOOD_NAMES),
    st.sampled_from(list(TemplateType)),
)
def test_adjacent_variables_are_always_rejected(first, blank, second, kind):
    assert review_template("您好" + first + blank + second + "已发货", kind) is not None


@FOCUSED
@given(
    st.lists(st.sampled_from(["您好", "订单", "a", " "]), max_size=3).map("".join),
    st.sampled_from(VERIFICATION_PIECES + ["", "", "验证", "证码", "校验"]),
    st.booleans(),
    st.sampled_from(list(TemplateType)),
)
def test_verification_wording_decides_the_type(text, wording, with_variable, kind):
    content = "提示" + text + wording + ("${code}" if with_variable else "") + "。"
    worded = any(w in content for w in MODEL_VERIFICATION_WORDS)
    approved = review_template(content, kind) is None
    if kind == TemplateType.INTERNATIONAL:
        assert approved
    elif kind == TemplateType.PROMOTION and with_variable:
        assert not approved
    else:
        assert approved is (worded == (kind == TemplateType.VERIFICATION))


@FOCUSED
@given(
    st.sampled_from(SYMBOL_PIECES + BAD_BRACKETS),
    st.integers(0, 2),
    st.sampled_from(list(TemplateType)),
)
def test_a_forbidden_symbol_or_bracket_anywhere_rejects_the_template(odd, where, kind):
    parts = ["您的验证码为", "${code}", "。"]
    parts.insert(where if where < 2 else 3, odd)
    assert review_template("".join(parts), kind) is not None


# A literal "$" right before a variable and a literal "{" right after it, as in "$${x}{b}您好" or
# "价格US$${price}{含税}", are text: every "${" is closed and no "{$" appears.
@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["价格US", "", "a"]), variable(GOOD_NAMES), st.sampled_from(["含税}", "b}"]),
)
def test_a_dollar_before_and_a_brace_after_a_variable_are_literal_text(before, var, after):
    content = before + "$" + var + "{" + after + "，请查收"
    assert model_template_ok(content, TemplateType.NOTIFICATION)
    assert review_template(content, TemplateType.NOTIFICATION) is None


# "{$" anywhere is malformed, also right before a variable ("您好{${code}"): the seeds,
# "其中$符在{}外面".
@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["您好", "亲爱的"]), variable(GOOD_NAMES), st.sampled_from(["", "}"]))
def test_a_brace_right_before_a_variable_is_malformed(before, var, after):
    content = before + "{" + var + after + "已发货"
    assert not model_template_ok(content, TemplateType.NOTIFICATION)
    assert review_template(content, TemplateType.NOTIFICATION) is not None
