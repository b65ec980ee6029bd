"""Frappe's errors, and the JSON bodies it answers them with (copied from recorded answers).

    FrappeError                     any refusal; carries the HTTP status, exc_type, message
    ├── ValidationError             417, a document or request failed a rule
    │   ├── MandatoryError          417, a mandatory field or child row field is empty
    │   ├── LinkValidationError     417, a Link field names a document that does not exist
    │   ├── DataError               417, a list query names a field the doctype lacks
    │   ├── UpdateAfterSubmitError  417, a submitted document was edited
    │   ├── LinkExistsError         417, a document to delete is still linked from another
    │   ├── PartialPaymentValidationError  417, a POS Invoice paid less than its total
    │   │   └── SalesInvoicePartialPaymentError  the same, raised as ERPNext 16 does
    │   ├── InvalidQtyError         417, a sale's row of quantity 0
    │   ├── UOMMustBeIntegerError   417, a fraction of a whole-number UOM
    │   ├── StockOverReturnError    417, a return gives back more than was sold
    │   ├── NegativeStockError      417, stock would go below zero when it is booked
    │   ├── BatchExpiredError       417, a sale from a batch past its expiry date
    │   ├── BundleError             417, a row's Serial and Batch Bundle refused:
    │   │   ├── BatchNegativeStockError     a sale of more than its batch holds
    │   │   └── SerialNoWarehouseError      a serial number not (or no longer) in the warehouse
    │   └── ItemPriceDuplicateItem  417, a second Item Price for the same item and list
    ├── DuplicateEntryError         409, a document with that name exists
    ├── DoesNotExistError           404, no such document or doctype
    │   └── NoRoute                 404, a path no API route matches (/api/v2 when off)
    ├── AuthenticationError         401, a token that matches no user
    ├── NotPermitted                403, a child table listed without parent, a method
    │   │                               not whitelisted
    │   └── GuestNotPermitted       403, no token
    ├── TooManyRequests             429, an injected rate limit
    ├── ServerError                 500, an injected fault (status chosen by the test)
    ├── JSONDecodeError             500, malformed JSON in a query parameter
    ├── ServerPythonError           500, a Python error inside ERPNext itself:
    │   ├── ServerTypeError             its TypeError on a POS Invoice without paid_amount
    │   └── ServerAttributeError        its AttributeError on a batch return row without
    │                                   use_serial_batch_fields
    └── UnhandledError              500, a bug in the simulator, answered as Frappe answers one

Bodies of ``/api/resource`` and ``/api/method`` have three shapes, as recorded: most carry
``exception``, ``exc_type``, ``exc`` (a JSON list holding a traceback) and
``_server_messages`` (a JSON list of JSON objects; left out when nothing was printed);
``DoesNotExistError`` carries only ``exc_type`` and ``_server_messages``; the 500s of Python
errors carry no ``_server_messages``. API v2 answers ``{"errors": [...], "messages": [...]}``
instead (:func:`error_body_v2`).
"""

from __future__ import annotations

import json
import secrets
import traceback
from collections.abc import Sequence
from typing import Any

from tillmesh.lab.erpnext_simulator._const import EXC_ID_HEX

ERPNEXT_SOURCE = "erpnext (app)"  # Frappe's `_exc_source` for errors raised in ERPNext code
_TRACEBACK_HEAD = (
    "Traceback (most recent call last):\n"
    '  File "apps/frappe/frappe/app.py", line 115, in application\n'
    "    response = frappe.api.handle(request)\n"
    "               ^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)


class FrappeError(Exception):
    status = 417
    exc_type = "ValidationError"
    module = "frappe.exceptions"
    title = "Message"
    erpnext = False  # raised in ERPNext code: the body names its source
    messages_only = False  # 404: no exception/exc keys
    traceback_shown = True  # False: no exception/exc keys (Frappe 16, to a non-system user)
    without_messages = False  # Python errors: no _server_messages
    raise_message = True  # False: Frappe raised without printing the error itself
    bare = False  # raised as a class, no text: `exception` names the class only
    error_message: str | None = None  # Frappe's `_error_message` (v1), when it sets one
    traceback: str | None = None  # a real one, else a short stand-in goes into `exc`

    def __init__(self, message: str | list[str], *, title: str | None = None,
                 notes: Sequence[str] = (), exception: str | None = None,
                 erpnext: bool | None = None) -> None:
        self.message = message
        self.lines = message if isinstance(message, list) else [message]
        super().__init__(self.lines[0])
        if title is not None:
            self.title = title
        if erpnext is not None:
            self.erpnext = erpnext
        self.notes = list(notes)  # non-fatal messages Frappe printed before the error
        self._exception = exception

    @property
    def exception(self) -> str:
        text = self._exception if self._exception is not None else str(self.message)
        prefix = f"{self.module}.{self.exc_type}" if self.module else self.exc_type
        return prefix if self.bare else f"{prefix}: {text}"

    def fatal_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"message": self.message, "title": self.title,
                                   "indicator": "red", "raise_exception": 1}
        if isinstance(self.message, list):
            message["as_list"] = 1
        message["__frappe_exc_id"] = secrets.token_hex(EXC_ID_HEX // 2)
        return message


class ValidationError(FrappeError):
    pass


class MandatoryError(ValidationError):
    """Frappe prints one message per missing field (the notes), then raises silently."""

    exc_type = "MandatoryError"
    raise_message = False


class LinkValidationError(ValidationError):
    exc_type = "LinkValidationError"


class DataError(ValidationError):
    exc_type = "DataError"


class UpdateAfterSubmitError(ValidationError):
    exc_type = "UpdateAfterSubmitError"


class LinkExistsError(ValidationError):
    exc_type = "LinkExistsError"


class PartialPaymentValidationError(ValidationError):
    exc_type = "PartialPaymentValidationError"
    module = "erpnext.accounts.doctype.pos_invoice.pos_invoice"
    erpnext = True


class SalesInvoicePartialPaymentError(PartialPaymentValidationError):
    """ERPNext 16 raises it from the Sales Invoice (a POS Invoice's check is the Sales
    Invoice's there)."""

    module = "erpnext.accounts.doctype.sales_invoice.sales_invoice"


class InvalidQtyError(ValidationError):
    exc_type = "InvalidQtyError"
    module = "erpnext.controllers.accounts_controller"
    erpnext = True


class UOMMustBeIntegerError(ValidationError):
    exc_type = "UOMMustBeIntegerError"
    module = "erpnext.utilities.transaction_base"
    erpnext = True


class UniqueValidationError(ValidationError):
    exc_type = "UniqueValidationError"
    module = "frappe.exceptions"


class StockOverReturnError(ValidationError):
    exc_type = "StockOverReturnError"
    module = "erpnext.controllers.sales_and_purchase_return"
    erpnext = True


class NegativeStockError(ValidationError):
    exc_type = "NegativeStockError"
    module = "erpnext.stock.stock_ledger"
    title = "Insufficient Stock"
    erpnext = True


class BatchExpiredError(ValidationError):
    exc_type = "BatchExpiredError"
    module = "erpnext.controllers.stock_controller"
    erpnext = True


class BundleError(ValidationError):
    """Raised by ERPNext's Serial and Batch Bundle of a row."""

    module = "erpnext.stock.doctype.serial_and_batch_bundle.serial_and_batch_bundle"
    erpnext = True


class BatchNegativeStockError(BundleError):
    exc_type = "BatchNegativeStockError"


class SerialNoWarehouseError(BundleError):
    exc_type = "SerialNoWarehouseError"


class ItemPriceDuplicateItem(ValidationError):
    exc_type = "ItemPriceDuplicateItem"
    module = "erpnext.stock.doctype.item_price.item_price"
    erpnext = True


class DuplicateEntryError(FrappeError):
    status = 409
    exc_type = "DuplicateEntryError"
    title = "Duplicate Name"

    def __init__(self, doctype: str, name: str) -> None:
        integrity = f"IntegrityError(1062, \"Duplicate entry '{name}' for key 'PRIMARY'\")"
        super().__init__(f"{doctype} <strong>{name}</strong> already exists",
                         exception=f"('{doctype}', '{name}', {integrity})")

    def fatal_message(self) -> dict[str, Any]:
        # Recorded: the duplicate message is red but carries no raise_exception.
        return {"message": self.message, "title": self.title, "indicator": "red"}


class DoesNotExistError(FrappeError):
    status = 404
    exc_type = "DoesNotExistError"
    messages_only = True

    @classmethod
    def document(cls, doctype: str, name: str) -> DoesNotExistError:
        return cls(f"{doctype} {name} not found")


class NoRoute(DoesNotExistError):
    """Recorded: a path no API route matches is raised bare, nothing printed."""

    raise_message = False
    bare = True

    def __init__(self) -> None:
        super().__init__("")


class AuthenticationError(FrappeError):
    """Recorded: a wrong token is raised bare, nothing printed."""

    status = 401
    exc_type = "AuthenticationError"
    raise_message = False
    bare = True

    def __init__(self) -> None:
        super().__init__("")


class NotPermitted(FrappeError):
    status = 403
    exc_type = "PermissionError"
    title = "Not Permitted"


class GuestNotPermitted(NotPermitted):
    """Recorded: a request without a token reads as the Guest user's, refused bare after
    printing why."""

    raise_message = False
    bare = True

    def __init__(self, doctype: str) -> None:
        super().__init__("", notes=[f"User <strong>Guest</strong> does not have doctype access "
                                    f"via role permission for document <strong>{doctype}"
                                    "</strong>"])
        self.error_message = f"No permission for {doctype}"


class TooManyRequests(FrappeError):
    status = 429
    exc_type = "TooManyRequestsError"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("You hit the rate limit because of too many requests. "
                         "Please try after sometime.")
        self.retry_after_s = retry_after_s


class ServerError(FrappeError):
    exc_type = "InternalServerError"

    def __init__(self, status: int) -> None:
        super().__init__(f"Injected server fault (HTTP {status}); nothing was committed.")
        self.status = status


class JSONDecodeError(FrappeError):
    status = 500
    exc_type = "JSONDecodeError"
    module = "json.decoder"
    without_messages = True


class ServerPythonError(FrappeError):
    status = 500
    module = ""  # a builtin exception: `exception` starts with its bare name
    erpnext = True
    without_messages = True


class ServerTypeError(ServerPythonError):
    exc_type = "TypeError"


class ServerAttributeError(ServerPythonError):
    exc_type = "AttributeError"


class UnhandledError(FrappeError):
    status = 500
    module = ""
    without_messages = True

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc_type = type(exc).__name__
        self.traceback = "".join(traceback.format_exception(exc))


def error_body(err: FrappeError) -> dict[str, Any]:
    """The JSON body Frappe answers ``err`` with."""
    body: dict[str, Any] = {}
    traced = err.traceback_shown and not err.messages_only
    if traced:
        body["exception"] = err.exception
    body["exc_type"] = err.exc_type
    if err.erpnext and traced:
        body["_exc_source"] = ERPNEXT_SOURCE
    if traced:
        body["exc"] = json.dumps([_traceback(err)])
    messages = printed(err)
    if messages:  # Frappe leaves the key out when nothing was printed
        body["_server_messages"] = server_messages(messages)
    if err.error_message:
        body["_error_message"] = err.error_message
    return body


def error_body_v2(err: FrappeError) -> dict[str, Any]:
    """The JSON body Frappe's API v2 answers ``err`` with (``report_error``): the error's
    type and traceback (none for a 404), merged with the first message printed under the
    error's id (a message printed without an id when the error has none), the rest as
    ``messages``."""
    error: dict[str, Any] = {"type": err.exc_type}
    if err.status != 404 and err.traceback_shown:
        error["exception"] = _traceback(err)
    messages = printed(err)
    exc_id = messages[-1].get("__frappe_exc_id") if err.raise_message and messages else None
    linked = next((m for m in messages if m.get("__frappe_exc_id") == exc_id), None)
    if linked is not None:
        messages.remove(linked)
        error.update({k: v for k, v in linked.items()
                      if k not in ("raise_exception", "__frappe_exc_id")})
    body: dict[str, Any] = {"errors": [error]}
    if messages:
        body["messages"] = messages
    return body


def printed(err: FrappeError) -> list[dict[str, Any]]:
    """Frappe's ``message_log`` when ``err`` was raised: its notes, then its own message."""
    if err.without_messages:
        return []
    notes = [{"message": note, "title": "Message"} for note in err.notes]
    return [*notes, err.fatal_message()] if err.raise_message else notes


def _traceback(err: FrappeError) -> str:
    return err.traceback or f"{_TRACEBACK_HEAD}{err.exception}\n"


def server_messages(messages: list[dict[str, Any]]) -> str:
    """Frappe's `_server_messages`: a JSON list of JSON-encoded message objects."""
    return json.dumps([json.dumps(m) for m in messages])
