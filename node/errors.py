"""The one exception tree of Tillmesh.

Every error a caller of the node (CLI, local API client, UI) can see is a
``TillmeshError``. Library errors (SQLAlchemy, sqlcipher, zmq, msgpack, argon2)
are translated where they are caught, ``raise ... from exc``, and never leak.

    TillmeshError                 base; ``code`` is a stable machine-readable name
    ├── ConfigError               config file missing, unreadable or inconsistent
    ├── StoreError                the local database cannot be opened or written
    │   ├── WrongKeyError         the database key is wrong or the file is not a database
    │   └── DiskFull              the counter's disk is full: nothing was recorded
    ├── ValidationError           bad input from a cashier or a caller (clear message)
    │   ├── BarcodeError          unknown barcode or bad check digit
    │   ├── NotFoundError         no such item, customer, invoice, cart, shift, user
    │   ├── TotalsError           the cart cannot be priced as ERPNext would (ERPNext 417)
    │   ├── PaymentError          paid less than due, unknown mode of payment
    │   ├── ReturnError           return beyond what was sold, wrong invoice
    │   │   └── ReturnUnconfirmed the counter that made the sale cannot be asked (cut off,
    │   │                         silent, an older release): refunding risks a double
    │   │                         refund; ``owner`` and ``reason`` say why, and the same
    │   │                         call with ``unconfirmed`` and a supervisor goes ahead
    │   ├── CashOutBeyondDrawer   cash out of more than the drawer should hold
    │   │                         (``expected``, ``amount``, ``mode_of_payment``); the same
    │   │                         call with ``beyond_drawer`` and a supervisor goes ahead
    │   └── ShiftError            no open shift, shift already open or closed
    │       └── UncountedModes    a closing leaves modes of payment uncounted (``modes``):
    │                             blank is not 0, nothing is recorded
    ├── AuthError                 login and authorisation
    │   ├── LoginFailed           wrong user or PIN
    │   ├── LockedOut             too many failed tries; ``until`` says when it lifts
    │   ├── SessionExpired        token unknown, expired or idle-locked
    │   └── PermissionDenied      role lacks the permission and no valid supervisor PIN
    ├── InternalError             a bug in the node; the request failed, the node runs on
    ├── PrinterError              the receipt printer or cash drawer cannot be reached or
    │                             refused a job (off, unplugged, out of paper, time-out)
    ├── ApiError                  local API transport and protocol
    │   ├── MalformedRequest      undecodable or ill-typed request
    │   ├── UnknownMethod         the method does not exist
    │   └── NodeUnavailable       the node did not answer in time
    └── ErpNextError              a request to ERPNext failed (``status``, ``exc_type``)
        ├── ErpNextUnreachable    network error or timeout on every attempt (node.erpnext)
        ├── ErpNextAuthError      401/403: API key or secret wrong, or a permission missing
        ├── ErpNextValidation     417 (or another 4xx): ERPNext refused the document; its
        │                         message and ``exc_type`` are carried as ERPNext gave them
        ├── ErpNextDuplicate      409: a document of that name exists (for Tillmesh's
        │                         client-chosen names: already delivered)
        ├── ErpNextNameNotKept    ERPNext stored a document under a name of its own, not
        │                         the one sent (``erpnext_name`` says which); never an ack
        ├── ErpNextNotFound       404: no such document, doctype or method
        └── ErpNextServerError    5xx or 429 on every attempt, or an unreadable answer
"""

from __future__ import annotations

from typing import Any


class TillmeshError(Exception):
    """Base of every error Tillmesh raises to its callers."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def _text(self, key: str) -> str | None:
        """A detail that is text, or None (details cross the local API as given)."""
        value = self.details.get(key)
        return value if isinstance(value, str) else None

    def to_wire(self) -> dict[str, Any]:
        """The error as the local API sends it."""
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(TillmeshError):
    code = "config"


class StoreError(TillmeshError):
    code = "store"


class WrongKeyError(StoreError):
    code = "wrong_key"


class DiskFull(StoreError):
    code = "disk_full"


class ValidationError(TillmeshError):
    code = "invalid"


class BarcodeError(ValidationError):
    code = "barcode"


class NotFoundError(ValidationError):
    code = "not_found"


class TotalsError(ValidationError):
    code = "totals"


class PaymentError(ValidationError):
    code = "payment"


class BatchError(ValidationError):
    """A batch or serial number a sale cannot take (``domain.batches``); the message says
    what to do."""

    code = "batch_refused"


class SerialNeeded(ValidationError):
    """A serial-tracked item was scanned or added without its serial number: the till
    asks for it (``item_code`` and ``item_name`` in the details)."""

    code = "serial_needed"


class ReturnError(ValidationError):
    code = "return"


class ReturnUnconfirmed(ReturnError):
    code = "return_unconfirmed"

    @property
    def owner(self) -> str | None:
        """The counter that made the sale and could not be asked."""
        return self._text("owner")


class CashOutBeyondDrawer(ValidationError):
    code = "cash_out_beyond_drawer"

    @property
    def expected(self) -> str | None:
        """What the drawer should hold in the mode paid out (a decimal string)."""
        return self._text("expected")

    @property
    def amount(self) -> str | None:
        """The amount asked to be paid out (a decimal string)."""
        return self._text("amount")


class ShiftError(ValidationError):
    code = "shift"


class UncountedModes(ShiftError):
    code = "uncounted_modes"

    @property
    def modes(self) -> list[str]:
        """The modes of payment the closing left without a count."""
        value = self.details.get("modes")
        return [str(m) for m in value] if isinstance(value, list) else []


class AuthError(TillmeshError):
    code = "auth"


class LoginFailed(AuthError):
    code = "login_failed"


class LockedOut(AuthError):
    code = "locked_out"


class SessionExpired(AuthError):
    code = "session_expired"


class PermissionDenied(AuthError):
    code = "permission_denied"


class InternalError(TillmeshError):
    code = "internal"


class PrinterError(TillmeshError):
    code = "printer"


class ApiError(TillmeshError):
    code = "api"


class MalformedRequest(ApiError):
    code = "malformed_request"


class UnknownMethod(ApiError):
    code = "unknown_method"


class NodeUnavailable(ApiError):
    code = "node_unavailable"


class ErpNextError(TillmeshError):
    code = "erpnext"

    @property
    def status(self) -> int | None:
        """The HTTP status ERPNext answered (None when it never answered)."""
        value = self.details.get("status")
        return value if isinstance(value, int) else None

    @property
    def exc_type(self) -> str | None:
        """Frappe's exception class name (``ValidationError``, ``MandatoryError`` …)."""
        return self._text("exc_type")


class ErpNextUnreachable(ErpNextError):
    code = "erpnext_unreachable"


class ErpNextAuthError(ErpNextError):
    code = "erpnext_auth"


class ErpNextValidation(ErpNextError):
    code = "erpnext_validation"


class ErpNextDuplicate(ErpNextError):
    code = "erpnext_duplicate"


class ErpNextNameNotKept(ErpNextError):
    code = "erpnext_name_not_kept"

    @property
    def erpnext_name(self) -> str | None:
        """The name ERPNext gave the document instead of the one sent."""
        return self._text("erpnext_name")


class ErpNextNotFound(ErpNextError):
    code = "erpnext_not_found"


class ErpNextServerError(ErpNextError):
    code = "erpnext_server"


_BY_CODE: dict[str, type[TillmeshError]] = {}


def _index(cls: type[TillmeshError]) -> None:
    _BY_CODE[cls.code] = cls
    for sub in cls.__subclasses__():
        _index(sub)


_index(TillmeshError)


def from_wire(payload: dict[str, Any]) -> TillmeshError:
    """Rebuild an error sent by the node (the client side of ``to_wire``)."""
    cls = _BY_CODE.get(str(payload.get("code")), TillmeshError)
    details = payload.get("details") or {}
    return cls(str(payload.get("message", "unknown error")), **details)
