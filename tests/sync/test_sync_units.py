"""The agent's small parts without a server: error classification, Retry-After, backoff."""

from __future__ import annotations

import email.utils
import json

import pytest
import requests
import tenacity

from kiosk.i18n import translation
from kiosk.sync.agent import WaitRetryAfter, backoff_policy
from kiosk.sync.client import (
    PermanentError,
    TransientError,
    classify,
    parse_batch_answer,
    retry_after_s,
)


def response(status: int, body: object = None, headers: dict | None = None):
    r = requests.Response()
    r.status_code = status
    r._content = (json.dumps(body) if body is not None else "").encode()
    r.headers.update(headers or {})
    return r


@pytest.mark.parametrize("value, expected", [
    ("1", 1.0), ("0", 0.0), ("2.5", 2.5), ("-3", 0.0), ("99999999", 3600.0),
    (None, None), ("", None), ("soon", None), ("nan", None),
])
def test_retry_after_seconds(value, expected):
    assert retry_after_s(value) == expected


def test_retry_after_http_date():
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_s(when, now=1_000_000) == pytest.approx(30)


@pytest.mark.parametrize("status, kind, words", [
    (500, TransientError, "internal error"), (503, TransientError, "internal error"),
    (429, TransientError, "busy"), (401, PermanentError, "token"),
    (403, PermanentError, "another terminal"), (413, PermanentError, "batch_size"),
    (422, PermanentError, "the votes are wrong"),
])
def test_classify_statuses(status, kind, words):
    body = {"error": "x", "message": "the votes are wrong"}
    with pytest.raises(kind) as caught:
        classify(response(status, body, {"Retry-After": "7"}))
    assert words in caught.value.explain(translation("kiosk_sync", "en").gettext)
    if status == 429:
        assert caught.value.retry_after == 7


def test_garbled_200_is_transient():
    r = response(200)
    r._content = b"<html>captive portal</html>"
    with pytest.raises(TransientError):
        classify(r)


def test_batch_answer_trusts_only_ids_sent():
    answer = parse_batch_answer({
        "accepted": ["a", "zzz"], "duplicate": ["b"],
        "rejected": [{"id": "c", "error": "level: too big"}, {"id": None, "error": "?"}],
        "server_time": "2025-01-01T00:00:00Z"}, {"a", "b", "c", "d"})
    assert answer.synced == ["a", "b"]
    assert answer.rejected == [("c", "level: too big")]
    assert (answer.accepted, answer.duplicate) == (1, 1)  # "d" stays unsettled: resent


def test_batch_answer_without_our_votes_is_garbled():
    with pytest.raises(TransientError):
        parse_batch_answer({"accepted": [], "duplicate": [], "rejected": []}, {"a"})
    with pytest.raises(TransientError):
        parse_batch_answer({"accepted": "a"}, {"a"})


def _state(attempt: int, error: BaseException) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = attempt
    future = tenacity.Future(attempt)
    future.set_exception(error)
    state.outcome = future
    return state


def test_backoff_grows_is_capped_and_jittered():
    wait = backoff_policy(60)
    network = TransientError("x")
    firsts = {round(wait(_state(1, network)), 3) for _ in range(50)}
    assert all(0.25 <= w <= 1.25 for w in firsts) and len(firsts) > 5  # jitter
    late = [wait(_state(30, network)) for _ in range(200)]
    assert max(late) <= 60.25 and max(late) > 20


def test_backoff_honours_retry_after_and_waits_the_cap_after_a_refusal():
    wait = backoff_policy(5)
    assert wait(_state(1, TransientError("busy", retry_after=30))) >= 30
    assert isinstance(wait, WaitRetryAfter)
    assert wait(_state(1, PermanentError("token"))) == 5
    once = backoff_policy(5, hint_cap_s=10)
    assert once(_state(1, TransientError("busy", retry_after=3000))) == 10


def test_every_technician_message_has_a_vietnamese_translation():
    from kiosk.sync import agent, client

    vi = translation("kiosk_sync", "vi").gettext
    messages = [value for module in (agent, client) for name, value in vars(module).items()
                if name.startswith("MSG_")]
    assert len(messages) >= 12
    for message in messages:
        assert vi(message) != message, message
    assert "mã truy cập" in PermanentError(client.MSG_TOKEN, status=401).explain(vi)


def test_fast_wire_form_is_exactly_to_wire():
    import json as _json

    from kiosk import clock
    from kiosk.sync.client import _WIRE_FAST, wire
    from kiosk.vote import Flag, Reason, Source, new_vote

    vote = new_vote(2, 5, Source.SERIAL, clock.now(), flags=(Flag.TEST,), counter="Quầy 2",
                    officer="Nguyễn Văn A", dossier_code="000.00.19.H26-250101-0001")
    vote = type(vote)(**{**vote.__dict__, "seq": 42, "reasons": (Reason.OFFICER_ATTITUDE,)})
    assert _WIRE_FAST
    assert _json.dumps(wire(vote)) == _json.dumps(vote.to_wire())
