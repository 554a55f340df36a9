"""SMS rules the seeds (docs/sms.md) fix: the account and its signatures and templates,
their review, substitution and billing, frequency limits and send thresholds (pure)."""

from __future__ import annotations

from .billing import (
    LONG_MESSAGE_PART,
    SINGLE_MESSAGE_LIMIT,
    message_count,
    message_length,
    render,
)
from .account import (
    AccountStatus,
    AccountType,
    ReviewState,
    Signature,
    SmsAccount,
    SmsError,
    Template,
)
from .frequency import FrequencyLimits, FrequencyWindows, LimitHit
from .thresholds import SendThresholds, ThresholdHit
from .review import (
    FORBIDDEN_TEMPLATE_SYMBOLS,
    FORBIDDEN_VARIABLE_NAMES,
    SIGNATURE_BRACKETS,
    SIGNATURE_MAX_LENGTH,
    SIGNATURE_MIN_LENGTH,
    VARIABLE_PATTERN,
    VERIFICATION_WORDS,
    TemplateType,
    review_signature,
    review_template,
    template_variables,
)

__all__ = [
    "AccountStatus",
    "AccountType",
    "ReviewState",
    "Signature",
    "SmsAccount",
    "SmsError",
    "Template",
    "FrequencyLimits",
    "FrequencyWindows",
    "LimitHit",
    "SendThresholds",
    "ThresholdHit",
    "FORBIDDEN_TEMPLATE_SYMBOLS",
    "FORBIDDEN_VARIABLE_NAMES",
    "LONG_MESSAGE_PART",
    "SIGNATURE_BRACKETS",
    "SIGNATURE_MAX_LENGTH",
    "SIGNATURE_MIN_LENGTH",
    "SINGLE_MESSAGE_LIMIT",
    "VARIABLE_PATTERN",
    "VERIFICATION_WORDS",
    "TemplateType",
    "message_count",
    "message_length",
    "render",
    "review_signature",
    "review_template",
    "template_variables",
]
