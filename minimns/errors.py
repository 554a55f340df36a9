"""MNS errors as values: one exception class per MNS error code.

The core raises these; the HTTP edge renders them once as the ``<Error>``
document. Each class carries the HTTP status and the message real MNS sends,
so in-process users and SDK users see the same code for the same mistake.
"""

from __future__ import annotations

_BY_CODE: dict[str, type["MNSError"]] = {}


class MNSError(Exception):
    """Base of every MNS error; ``code`` is the MNS error code string."""

    code: str = "MNSError"
    status: int = 400
    default_message: str = ""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__
        _BY_CODE[cls.code] = cls

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def error_class(code: str) -> type[MNSError]:
    """The exception class for an MNS error code (unknown codes map to InternalError)."""
    return _BY_CODE.get(code, InternalError)


# --- 400: request content -------------------------------------------------------------
class InvalidArgument(MNSError):
    default_message = "The value of the argument is not valid."


class MalformedXML(MNSError):
    default_message = "The XML you provided was not well-formed."


class InvalidDigest(MNSError):
    default_message = "The Content-MD5 you specified is not valid."


class InvalidRequestURL(MNSError):
    default_message = "The request url you provided is not valid."


class InvalidQueryString(MNSError):
    default_message = "The query string you provided is not valid."


class InvalidAuthorizationHeader(MNSError):
    default_message = "The Authorization header you provided is not valid."


class MissingAuthorizationHeader(MNSError):
    default_message = "The Authorization header is missing."


class InvalidDateHeader(MNSError):
    default_message = "The Date header you provided is not valid."


class MissingDateHeader(MNSError):
    default_message = "The Date header is missing."


class MissingVersionHeader(MNSError):
    default_message = "The x-mns-version header is missing."


class InvalidVersionHeader(MNSError):
    default_message = "The x-mns-version header you provided is not valid."


class InvalidContentType(MNSError):
    default_message = "The Content-Type header you provided is not valid."


class MissingReceiptHandle(MNSError):
    default_message = "The receipt handle is missing."


class MissingVisibilityTimeout(MNSError):
    default_message = "The visibility timeout is missing."


class ReceiptHandleError(MNSError):
    default_message = "The receipt handle you provide is not valid."


class InvalidQueueName(MNSError):
    default_message = "QueueName should start with alpha or digit and contain only alpha, digit or -."


class QueueNameLengthError(MNSError):
    default_message = "Queue name length should between 1 and 120."


class QueueDeletedRecently(MNSError):
    default_message = "The queue you want to create was deleted recently."


class QueueNumExceeded(MNSError):
    default_message = "The number of queues exceeds the limit of this account."


class TopicNumExceeded(MNSError):
    default_message = "The number of topics exceeds the limit of this account."


class SubscriptionNumExceeded(MNSError):
    default_message = "The number of subscriptions exceeds the limit of this topic."


class TopicNameInvalid(MNSError):
    default_message = "TopicName should start with alpha or digit and contain only alpha, digit or -."


class TopicNameLengthError(MNSError):
    default_message = "Topic name length should between 1 and 120."


class SubscriptionNameInvalid(MNSError):
    default_message = "SubscriptionName should start with alpha or digit and contain only alpha, digit or -."


class SubscriptionNameLengthError(MNSError):
    default_message = "Subscription name length should between 1 and 255."


class EndpointInvalid(MNSError):
    default_message = "The endpoint you provided is not valid."


class QpsLimitExceeded(MNSError):
    default_message = "The request rate exceeds the limit."


# --- 403: identity ----------------------------------------------------------------------
class AccessDenied(MNSError):
    status = 403
    default_message = (
        "The OwnerId that your Access Key Id associated to is forbidden for this operation."
    )


class InvalidAccessKeyId(MNSError):
    status = 403
    default_message = "The AccessKey Id you provided is not exist."


class SecurityTokenExpired(MNSError):
    """A temporary key (QueryTokenForMnsQueue) used after its ExpireTime; the
    code is the one Alibaba Cloud services give for an expired STS token."""

    status = 403
    default_message = "The security token you provided has expired."


class SignatureDoesNotMatch(MNSError):
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


# --- 404: missing things ----------------------------------------------------------------
class QueueNotExist(MNSError):
    status = 404
    default_message = "The queue name you provided is not exist."


class MessageNotExist(MNSError):
    status = 404
    default_message = "Message not exist."


class TopicNotExist(MNSError):
    status = 404
    default_message = "The topic you provided does not exist."


class SubscriptionNotExist(MNSError):
    status = 404
    default_message = "The subscription you provided does not exist."


# --- 408 / 409 / 500 --------------------------------------------------------------------
class TimeExpired(MNSError):
    status = 408
    default_message = "The http request you sent is expired."


class QueueAlreadyExist(MNSError):
    status = 409
    default_message = "The queue you want to create is already exist."


class TopicAlreadyExist(MNSError):
    status = 409
    default_message = "The topic you want to create is already exist."


class SubscriptionAlreadyExist(MNSError):
    status = 409
    default_message = "The subscription you want to create is already exist."


class InternalError(MNSError):
    status = 500
    default_message = "Interal error."  # sic: MNS spells it so


# --- batch partial failures ---------------------------------------------------------------
class BatchSendFail(MNSError):
    """Some entries of a batch send failed; ``results`` holds, in request order,
    a ``SentMessage`` or an ``MNSError`` per entry. ``code`` and ``message``
    are those of the first failed entry, as the official SDK reports them."""

    status = 500

    def __init__(self, results: list) -> None:
        self.results = results
        first = next(r for r in results if isinstance(r, MNSError))
        super().__init__(first.message)
        self.code = first.code


class BatchDeleteFail(MNSError):
    """Some receipt handles of a batch delete failed; ``errors`` maps each
    failed handle to its ``MNSError`` (the others were deleted)."""

    status = 404

    def __init__(self, errors: dict[str, MNSError]) -> None:
        self.errors = errors
        first = next(iter(errors.values()))
        super().__init__(first.message)
        self.code = first.code


__all__ = ["MNSError", "error_class", *_BY_CODE]
