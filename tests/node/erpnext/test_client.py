"""The ERPNext HTTP client: retries, Retry-After, Frappe's errors, TLS, no httpx leaks.

Every test runs on ``httpx.MockTransport`` with a fake sleep; the error answers are the
ones recorded from a real ERPNext 15.71 (../shared/erpnext/recorded/).
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from tests.paths import LAB_RECORDED
from tests.paths import RECORDED as RECORDINGS
from tillmesh.node.erpnext import _rest as client_mod
from tillmesh.node.erpnext import const
from tillmesh.node.erpnext._limits import Limits
from tillmesh.node.erpnext._rest import (
    ErpNextClient,
    backoff_s,
    error_from_answer,
    frappe_message,
    retry_after_s,
    tls_verify,
)
from tillmesh.node.errors import (
    ConfigError,
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextNameNotKept,
    ErpNextNotFound,
    ErpNextServerError,
    ErpNextUnreachable,
    ErpNextValidation,
    TillmeshError,
    from_wire,
)

RECORDED = RECORDINGS / "erpnext-15.71-requests.jsonl"
NOW = datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)


def recorded() -> list[dict]:
    return [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]


def by_label(label: str) -> dict:
    return next(r for r in recorded() if r.get("label") == label)


class Fake:
    """A scripted server: each request takes the next answer (a Response or an exception)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **kw) -> ErpNextClient:
        kw.setdefault("jitter", lambda: 1.0)
        kw.setdefault("sleep", self.sleeps.append)
        return ErpNextClient("https://erp.example.com", "key", "secret",
                             transport=httpx.MockTransport(self.handler), now=lambda: NOW,
                             **kw)


def ok(payload: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)


def answer(record: dict) -> httpx.Response:
    return httpx.Response(record["status"], content=json.dumps(record["resp"]).encode())


# --- requests -------------------------------------------------------------------------


def test_token_header_list_params_and_decimal_numbers():
    fake = Fake(ok({"data": [{"name": "P1", "price_list_rate": 12.5, "qty": 3}]}))
    with fake.client() as c:
        rows = c.get_list("Item Price", ["name", "price_list_rate"],
                          [["price_list", "=", "Standard Selling"]], "modified asc", start=0,
                          page_length=2000)
    assert rows == [{"name": "P1", "price_list_rate": Decimal("12.5"), "qty": 3}]
    assert isinstance(rows[0]["price_list_rate"], Decimal)
    request = fake.requests[0]
    assert request.headers["Authorization"] == "token key:secret"
    assert request.url.path == "/api/resource/Item Price"
    params = request.url.params
    assert json.loads(params["fields"]) == ["name", "price_list_rate"]
    assert json.loads(params["filters"]) == [["price_list", "=", "Standard Selling"]]
    assert params["order_by"] == "modified asc"
    assert params["limit_page_length"] == "2000"
    assert "parent" not in params


def test_child_list_names_its_parent_doctype():
    fake = Fake(ok({"data": []}))
    fake.client().get_list("Item Barcode", ["parent", "barcode"], parent="Item")
    assert fake.requests[0].url.params["parent"] == "Item"


def test_names_are_quoted_into_the_path():
    fake = Fake(ok({"data": {"name": "A/B 1?"}}))
    assert fake.client().get_doc("Item", "A/B 1?") == {"name": "A/B 1?"}
    assert fake.requests[0].url.raw_path == b"/api/resource/Item/A%2FB%201%3F"


def v2_here() -> httpx.Response:  # the answer to the API v2 probe on a site that has it
    return ok({"data": "tillmesh@example.com"})


def v2_absent() -> httpx.Response:  # Frappe's answer to an /api path it does not know
    return ok({"exc_type": "DoesNotExistError"}, 404)


def test_insert_sends_decimals_as_exact_json_numbers():
    fake = Fake(v2_here(), ok({"data": {"name": "X"}}))
    fake.client().insert("POS Invoice", {"name": "X", "paid_amount": Decimal("12.50"),
                                         "qty": Decimal("3"), "odd": Decimal("0.1")})
    body = json.loads(fake.requests[1].content)
    assert body == {"name": "X", "paid_amount": 12.5, "qty": 3, "odd": 0.1}
    assert fake.requests[1].method == "POST"
    assert fake.requests[1].headers["Content-Type"] == "application/json"


def test_documents_are_created_through_api_v2_which_is_asked_about_once():
    fake = Fake(v2_here(), ok({"data": {"name": "A"}}), ok({"data": {"name": "B"}}))
    with fake.client() as c:
        assert c.insert("POS Invoice", {"name": "A"})["name"] == "A"
        assert c.insert("POS Invoice", {"name": "B"})["name"] == "B"
    assert [(r.method, r.url.raw_path) for r in fake.requests] == [
        ("GET", b"/api/v2/method/frappe.auth.get_logged_user"),
        ("POST", b"/api/v2/document/POS%20Invoice"), ("POST", b"/api/v2/document/POS%20Invoice")]


def test_without_api_v2_documents_go_through_api_resource():
    fake = Fake(v2_absent(), ok({"data": {"name": "A"}}))
    with fake.client() as c:
        assert c.insert("Customer", {"name": "A"}) == {"name": "A"}
        assert not c.api_v2()
    assert [r.url.path for r in fake.requests] == [
        "/api/v2/method/frappe.auth.get_logged_user", "/api/resource/Customer"]


def test_a_name_erpnext_did_not_keep_is_an_error_not_a_document():
    fake = Fake(v2_absent(), ok({"data": {"name": "ACC-PSINV-2026-00001"}}))
    with pytest.raises(ErpNextNameNotKept) as err:
        fake.client().insert("POS Invoice", {"name": "C01-2026-000042"})
    assert err.value.erpnext_name == "ACC-PSINV-2026-00001"
    assert "booked POS Invoice C01-2026-000042 as ACC-PSINV-2026-00001" in err.value.message
    assert "no API v2" in err.value.message
    unnamed = Fake(v2_absent(), ok({"data": {"name": "Customer-x"}}))  # no name sent: none to keep
    assert unnamed.client().insert("Custom Field", {"dt": "Customer"})["name"] == "Customer-x"


def test_update_and_call_method():
    fake = Fake(ok({"data": {"name": "X", "docstatus": 1}}), ok({"message": [3.0, 1]}))
    c = fake.client()
    assert c.update("POS Closing Entry", "X", {"docstatus": 1})["docstatus"] == 1
    stock = c.call_method("erpnext.accounts.doctype.pos_invoice.pos_invoice."
                          "get_stock_availability", {"item_code": "A", "warehouse": "W"})
    assert stock == [Decimal("3.0"), 1]
    assert [r.method for r in fake.requests] == ["PUT", "GET"]
    assert fake.requests[1].url.path.startswith("/api/method/erpnext.accounts.")


def test_get_doc_missing_and_exists():
    missing = answer(by_label("missing doc"))
    fake = Fake(missing)
    assert fake.client().get_doc("Item", "NOPE", missing_ok=True) is None
    with pytest.raises(ErpNextNotFound, match="Item NOPE not found"):
        fake.client().get_doc("Item", "NOPE")
    assert Fake(ok({"data": [{"name": "A"}]})).client().exists("Item", "A")
    assert not Fake(ok({"data": []})).client().exists("Item", "A")


# --- retries --------------------------------------------------------------------------


def test_5xx_is_retried_with_exponential_backoff_and_full_jitter():
    fake = Fake(httpx.Response(503), httpx.Response(502), httpx.Response(500),
                ok({"data": []}))
    assert fake.client().get_list("Item") == []
    assert len(fake.requests) == 4
    assert fake.sleeps == [0.5, 1.0, 2.0]  # jitter 1.0: the cap of each wait


def test_backoff_is_uniform_below_a_growing_capped_bound():
    assert backoff_s(1, 0.5) == pytest.approx(0.25)
    assert backoff_s(3, 0.999) == pytest.approx(0.999 * 2.0)
    assert backoff_s(30, 1.0) == const.BACKOFF_CAP_S
    assert backoff_s(4, 0.0) == 0.0


def test_attempts_are_bounded_and_the_last_error_is_typed():
    record = by_label("bad json")  # a real 500 with exc_type JSONDecodeError
    fake = Fake(answer(record))
    with pytest.raises(ErpNextServerError) as err:
        fake.client().get_list("Item")
    assert len(fake.requests) == const.MAX_ATTEMPTS
    assert len(fake.sleeps) == const.MAX_ATTEMPTS - 1
    assert err.value.status == 500
    assert err.value.exc_type == "JSONDecodeError"
    assert err.value.message.startswith("JSONDecodeError: Expecting value")


def test_network_errors_are_retried_then_unreachable():
    fake = Fake(httpx.ConnectError("connection refused"))
    with pytest.raises(ErpNextUnreachable, match="unreachable: ConnectError") as err:
        fake.client(max_attempts=3).get_list("Item")
    assert len(fake.requests) == 3
    assert not isinstance(err.value, httpx.HTTPError)
    assert isinstance(err.value.__cause__, httpx.ConnectError)  # kept for the log only


def test_a_timed_out_post_is_retried_and_a_409_says_it_was_delivered():
    dup = answer(by_label("exact duplicate POST"))
    fake = Fake(v2_here(), httpx.ReadTimeout("read timed out"), dup)
    with pytest.raises(ErpNextDuplicate) as err:
        fake.client().insert("POS Invoice", {"name": "TILL1-000042"})
    assert [r.method for r in fake.requests] == ["GET", "POST", "POST"]
    assert err.value.status == 409 and err.value.exc_type == "DuplicateEntryError"


def test_client_errors_are_not_retried():
    for status, cls in ((401, ErpNextAuthError), (403, ErpNextAuthError),
                        (404, ErpNextNotFound), (409, ErpNextDuplicate),
                        (417, ErpNextValidation), (400, ErpNextValidation)):
        fake = Fake(ok({"exc_type": "X"}, status))
        with pytest.raises(cls):
            fake.client().get_list("Item")
        assert len(fake.requests) == 1 and fake.sleeps == []


def test_a_document_saved_by_two_requests_at_once_is_tried_again():
    # Recorded on ERPNext 15.71: two sales naming one coupon, submitted side by side, both
    # save the coupon's count; the later save is refused (rolled back) and goes through
    # when tried again.
    race = json.loads((LAB_RECORDED / "coupon-cases.json").read_text())["concurrent"]
    body = {k: race[k] for k in ("exc_type", "exception", "_server_messages")}
    fake = Fake(v2_here(), ok(body, race["status"]), ok({"data": {"name": "TILL1-000042"}}))
    assert fake.client().insert("POS Invoice", {"name": "TILL1-000042"})["name"] == \
        "TILL1-000042"
    assert [r.method for r in fake.requests] == ["GET", "POST", "POST"]
    assert fake.sleeps == [0.5]


def test_retry_after_in_seconds_is_honoured():
    fake = Fake(ok({}, 429, **{"Retry-After": "3"}), ok({"data": []}))
    fake.client().get_list("Item")
    assert fake.sleeps == [3.0]


def test_retry_after_as_http_date_is_honoured():
    fake = Fake(ok({}, 503, **{"Retry-After": "Thu, 26 Nov 2026 16:00:07 GMT"}),
                ok({"data": []}))
    fake.client().get_list("Item")
    assert fake.sleeps == [7.0]


def test_a_retry_after_beyond_the_bound_is_left_to_the_caller():
    fake = Fake(ok({}, 429, **{"Retry-After": "3600"}))
    with pytest.raises(ErpNextServerError) as err:
        fake.client().get_list("Item")
    assert len(fake.requests) == 1
    assert err.value.details["retry_after"] == 3600.0


def test_retry_after_parsing():
    assert retry_after_s("5", NOW) == 5.0
    assert retry_after_s(" 0 ", NOW) == 0.0
    assert retry_after_s("Thu, 26 Nov 2026 15:59:00 GMT", NOW) == 0.0  # in the past
    assert retry_after_s("soon", NOW) is None
    assert retry_after_s(None, NOW) is None


# --- what an answer may cost: bytes and time --------------------------------------------


class Clock:
    """A monotonic clock the fake sleeps move, so deadlines are tested without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_an_answer_is_read_only_up_to_the_cap_and_the_error_names_it():
    cap, chunk, given = 1000, b"x" * 300, []

    def endless():  # a server that would never stop sending
        while True:
            given.append(len(chunk))
            yield chunk

    fake = Fake(httpx.Response(200, content=endless()))
    with pytest.raises(ErpNextServerError, match="larger than 1,000 bytes") as err:
        fake.client(limits=Limits(max_answer_bytes=cap)).get_list("Item")
    assert sum(given) == 1200  # the chunk that crossed the cap was the last one taken
    assert len(fake.requests) == 1  # never asked again: it would send the same
    assert err.value.details["max_answer_bytes"] == cap


def test_a_declared_length_over_the_cap_is_refused_before_reading():
    given = []

    def body():
        given.append(1)
        yield b"{}"

    fake = Fake(httpx.Response(200, content=body(), headers={"Content-Length": "1001"}))
    with pytest.raises(ErpNextServerError, match="larger than 1,000 bytes"):
        fake.client(limits=Limits(max_answer_bytes=1000)).get_list("Item")
    assert given == []


def test_a_retry_that_would_end_after_the_deadline_is_not_waited_for():
    clock = Clock()
    fake = Fake(httpx.Response(503), ok({"data": []}))
    client = fake.client(monotonic=clock, sleep=clock.sleep,
                         limits=Limits(request_deadline_s=0.4))
    with pytest.raises(ErpNextServerError) as err:
        client.get_list("Item")  # its first retry waits 0.5 s
    assert err.value.status == 503 and len(fake.requests) == 1 and clock.now == 0.0


def test_within_a_pulls_deadline_later_calls_fail_without_being_sent():
    clock = Clock()
    fake = Fake(ok({"data": []}))
    client = fake.client(monotonic=clock)
    with client.within(10, "the pull"):
        client.get_list("Item")
        clock.now = 10.0
        with pytest.raises(ErpNextUnreachable,
                           match=r"deadline of the pull \(10 s\) passed before ERPNext"
                                 r" answered GET /api/resource/Item"):
            client.get_list("Item")
    assert len(fake.requests) == 1
    client.get_list("Item")  # after the block, a call has its own deadline again
    assert len(fake.requests) == 2


def test_limits_must_be_positive_numbers():
    for bad in ({"max_answer_bytes": 0}, {"max_answer_bytes": 1.5},
                {"request_deadline_s": -1}, {"pull_deadline_s": True},
                {"pull_deadline_s": "60"}):
        with pytest.raises(ConfigError, match="must be a positive"):
            Limits(**bad)


# --- errors ---------------------------------------------------------------------------


def test_every_recorded_error_answer_decodes_to_a_typed_error_with_erpnexts_message():
    expected = {
        "bad filter field": (ErpNextValidation, "Field not permitted in query: nonexistent"),
        "missing doc": (ErpNextNotFound, "Item NOPE not found"),
        "invoice without opening entry": (
            ErpNextValidation, "No open POS Opening Entry found for POS Profile Lab POS."),
        "would-go-negative (tea qty 5, stock 3)": (
            ErpNextValidation, "Row #1: Stock quantity not enough for Item Code: LAB-TEA under"
            " warehouse POS Store - PLG. Available quantity 3.0."),
        "minimal pos invoice submit": (
            ErpNextServerError, "TypeError: '<' not supported between instances of"
            " 'NoneType' and 'float'"),
    }
    errors = [r for r in recorded() if r["status"] >= 400]
    assert len(errors) >= 10
    for record in errors:
        err = error_from_answer(record["status"], json.dumps(record["resp"]).encode(),
                                method=record["method"], path=record["path"])
        assert isinstance(err, ErpNextError) and err.status == record["status"]
        assert err.exc_type == record["resp"].get("exc_type")
        assert "<" not in err.message.replace("'<'", "")  # HTML tags stripped
        if record["label"] in expected:
            cls, message = expected[record["label"]]
            assert type(err) is cls and err.message == message, record["label"]
        if record["status"] == 409:
            assert type(err) is ErpNextDuplicate


def test_every_recorded_api_v2_error_decodes_like_v1():
    """``{"errors": [{"type", "message", "exception"}], "messages"}``, as ERPNext 16.12
    answered: the type is ``exc_type``, the message ERPNext printed with it is the
    message (else the exception's last line), and the status picks the class."""
    expected = {
        "A v2 error: no such document": (ErpNextNotFound, "POS Invoice NOPE-404 not found"),
        "B same POST again (v2, same client name)": (
            ErpNextDuplicate, "POS Invoice TILL1-000002 already exists"),
        "S SI over-return 5 (1 left) with sales_invoice_item": (
            ErpNextValidation, "Row # 1: Cannot return more than 1.0 for Item LAB-COFFEE"),
    }
    v16 = RECORDINGS / "erpnext-16.12-requests.jsonl"
    errors = [r for r in map(json.loads, v16.read_text().splitlines())
              if "/api/v2/" in r["path"] and r["status"] >= 400]
    assert {r["label"] for r in errors} >= set(expected)
    for record in errors:
        err = error_from_answer(record["status"], json.dumps(record["resp"]).encode(),
                                method=record["method"], path=record["path"])
        assert err.exc_type == record["resp"]["errors"][0]["type"]
        assert err.message and "<" not in err.message and "Traceback" not in err.message
        if record["label"] in expected:
            cls, message = expected[record["label"]]
            assert (type(err), err.message) == (cls, message), record["label"]


def test_api_v2_messages_without_a_printed_one():
    traceback = "Traceback …\nfrappe.exceptions.UniqueValidationError: ('POS Invoice', 'X')"
    assert frappe_message({"errors": [{"type": "UniqueValidationError",
                                       "exception": traceback}]}) == \
        "UniqueValidationError: ('POS Invoice', 'X')"
    assert frappe_message({"errors": [{"type": "TypeError"}]}) == "TypeError"
    assert frappe_message({"errors": [{"type": "ValidationError", "message": "<b>One</b>"}],
                           "messages": [{"message": "Two"}]}) == "One; Two"


def test_server_messages_are_decoded_twice_and_joined():
    inner = [json.dumps({"message": "<b>First</b> &amp; one"}), json.dumps({"message": "Two"})]
    assert frappe_message({"_server_messages": json.dumps(inner)}) == "First & one; Two"
    assert frappe_message({"exception": "frappe.exceptions.ValidationError: Bad"}) == \
        "ValidationError: Bad"
    assert frappe_message({"exc_type": "PermissionError"}) == "PermissionError"
    assert frappe_message({"_server_messages": "not json"}) == "not json"
    assert frappe_message("text") is None


def test_a_proxy_error_page_is_retried_and_reported_readably():
    page = httpx.Response(502, content=b"<html><body><h1>502 Bad Gateway</h1>nginx</body>"
                          b"</html>", headers={"Content-Type": "text/html"})
    fake = Fake(page)
    with pytest.raises(ErpNextServerError, match=r"HTTP 502 from ERPNext: 502 Bad Gateway"):
        fake.client(max_attempts=2).get_list("Item")
    assert len(fake.requests) == 2


def test_a_success_that_is_not_json_is_an_error():
    fake = Fake(httpx.Response(200, content=b"<html>login</html>"))
    with pytest.raises(ErpNextServerError, match="other than JSON"):
        fake.client().get_list("Item")


def test_redirects_are_not_followed():
    fake = Fake(httpx.Response(301, headers={"Location": "https://erp2.example.com/x"}))
    with pytest.raises(ErpNextError, match="redirects .* to https://erp2.example.com/x"):
        fake.client().get_list("Item")
    assert len(fake.requests) == 1


def test_errors_cross_the_local_api_with_their_type_and_details():
    err = error_from_answer(417, json.dumps(by_label("bad filter field")["resp"]).encode(),
                            method="GET", path="/api/resource/Item")
    again = from_wire(err.to_wire())
    assert type(again) is ErpNextValidation and again.exc_type == "DataError"
    assert again.message == err.message


def test_no_httpx_type_leaks_from_any_failure():
    failures = [httpx.ConnectError("x"), httpx.ReadTimeout("x"), httpx.RemoteProtocolError("x"),
                httpx.Response(500), httpx.Response(404), httpx.Response(200, content=b"{")]
    for failure in failures:
        with pytest.raises(TillmeshError) as err:
            Fake(failure).client(max_attempts=2).get_list("Item")
        assert not isinstance(err.value, httpx.HTTPError)
        assert type(err.value).__module__ == "tillmesh.node.errors"


def test_a_closed_client_refuses():
    c = Fake(ok({"data": []})).client()
    c.close()
    with pytest.raises(ErpNextError, match="closed"):
        c.get_list("Item")
    assert "secret" not in repr(c)


# --- configuration and TLS ------------------------------------------------------------


def test_tls_is_verified_by_default(monkeypatch):
    seen = {}
    client, transport = httpx.Client, httpx.HTTPTransport

    def spy(real):
        def made(**kw):
            seen.update(kw)
            return real(**kw)
        return made

    monkeypatch.setattr(client_mod.httpx, "Client", spy(client))
    monkeypatch.setattr(client_mod.httpx, "HTTPTransport", spy(transport))
    ErpNextClient("https://erp.example.com", "k", "s").close()
    assert seen["verify"] is True
    assert seen["follow_redirects"] is False
    timeout = seen["timeout"]
    assert all(v is not None and v > 0 for v in (timeout.connect, timeout.read,
                                                 timeout.write, timeout.pool))
    ErpNextClient("https://erp.example.com", "k", "s", verify=False).close()
    assert seen["verify"] is False


def test_a_private_ca_path_makes_a_verifying_context(tmp_path):
    import certifi

    context = tls_verify(certifi.where())
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises(ConfigError, match="cannot load the CA"):
        tls_verify(str(tmp_path / "missing.pem"))


def test_bad_urls_and_missing_credentials_are_config_errors():
    for url in ("erp.example.com", "ftp://erp", "https://", "https://erp/?x=1"):
        with pytest.raises(ConfigError):
            ErpNextClient(url, "k", "s")
    with pytest.raises(ConfigError):
        ErpNextClient("https://erp.example.com", "k", "")
    assert ErpNextClient("https://erp.example.com/", "k", "s").url == "https://erp.example.com"


def test_the_package_exports_its_public_api_sorted():
    import tillmesh.node.erpnext as package

    assert {"ErpNextClient", "ErpNextSettings", "pull", "setup", "Direct",
            "ErpNextError", "CUSTOM_FIELDS"} <= set(package.__all__)
    for name in package.__all__:
        assert getattr(package, name) is not None
