"""Invite codes and the join handshake (in process, on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from tests.nodekit import Till, make_node
from tillmesh.node.api.cluster import enrol
from tillmesh.node.errors import PermissionDenied, ValidationError
from tillmesh.node.membership import invite
from tillmesh.node.membership.join import REFUSED, Enrolment, JoinListener, request_join
from tillmesh.node.membership.keys import create_keypair_file
from tillmesh.node.projections import counters
from tillmesh.replication.transport import fingerprint


@pytest.fixture
def issuer(tmp_path):
    return make_node(tmp_path / "a", "C01", join_listen="tcp://127.0.0.1:7611",
                     listen="tcp://127.0.0.1:7610")


def _code(node, **kw):
    return invite.decode(Till(node, "admin")("invite_create", **kw)["code"])


def test_a_code_round_trips_and_a_typo_is_caught(issuer):
    code = _code(issuer)
    text = code.encode()
    assert invite.decode(text.lower()) == code and code.cluster == issuer.config.cluster
    broken = text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]
    with pytest.raises(ValidationError, match="mistyped|damaged"):
        invite.decode(broken)
    with pytest.raises(ValidationError, match="not a Tillmesh invite"):
        invite.decode("hello")


def test_only_admins_invite(issuer):
    with pytest.raises(PermissionDenied):
        Till(issuer, "ann")("invite_create")


def test_enrol_once_with_a_fresh_code(issuer, tmp_path):
    code = _code(issuer)
    pair = create_keypair_file(tmp_path / "k")
    request = Enrolment(code.secret, "C04", pair.public.decode(), code.cluster, pair.signer.public)
    answer = enrol(issuer, request)
    assert {m["node"] for m in answer["members"]} == {"C01", "C04"}
    assert answer["endpoint"] == "tcp://127.0.0.1:7610"
    with pytest.raises(Exception, match="used already"):  # a stolen code, after use
        enrol(issuer, replace(request, node="C05"))
    with issuer.log.reading() as s:
        assert counters.is_member(s, "C04")


def test_expired_wrong_cluster_and_taken_ids_get_nothing(issuer, tmp_path):
    pair = create_keypair_file(tmp_path / "k")
    code = _code(issuer, minutes=1)
    base = Enrolment(code.secret, "C04", pair.public.decode(), code.cluster, pair.signer.public)
    with pytest.raises(Exception, match="another store"):
        enrol(issuer, replace(base, cluster="feedfeedfeed"))
    with pytest.raises(ValidationError, match="taken"):
        enrol(issuer, replace(base, node="C01"))
    issuer.clock.advance(minutes=2)  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="expired"):
        enrol(issuer, base)
    with issuer.log.reading() as s:
        assert not counters.is_member(s, "C04")


def test_join_over_curvezmq(issuer, tmp_path):
    loop = asyncio.new_event_loop()
    listener = JoinListener("tcp://127.0.0.1:0", issuer.keypair,
                            lambda req: enrol(issuer, req))
    loop.run_until_complete(listener.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        code = _code(issuer)
        code = invite.InviteCode(code.cluster, code.issuer, listener.endpoint, code.issuer_key,
                                 code.secret, code.expires_at)
        pair = create_keypair_file(tmp_path / "k")
        answer = request_join(code, "C04", pair, timeout=5)
        assert answer["issuer"] == "C01" and answer["cluster"] == issuer.config.cluster
        with pytest.raises(ValidationError) as refused:  # used already: said in the log only
            request_join(code, "C05", create_keypair_file(tmp_path / "k2"), timeout=5)
        assert refused.value.message == f"counter C01 refused: {REFUSED}"
    finally:
        asyncio.run_coroutine_threadsafe(listener.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_revoke_removes_a_member(issuer, tmp_path):
    pair = create_keypair_file(tmp_path / "k")
    code = _code(issuer)
    enrol(issuer, Enrolment(code.secret, "C04", pair.public.decode(), code.cluster,
                            pair.signer.public))
    admin = Till(issuer, "admin")
    admin("node_revoke", node_id="C04")
    assert [m["revoked"] for m in admin("members") if m["node"] == "C04"] == [True]
    # keys as IT compares them with mDNS and the logs: the fingerprint, in hex
    assert {m["node"]: m["key"] for m in admin("members")}["C04"] == fingerprint(pair.public)
    with pytest.raises(ValidationError):
        admin("node_revoke", node_id="C01")
