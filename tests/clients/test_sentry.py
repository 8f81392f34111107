"""The Sentry API client: every request accepted by the official spec (Prism), failure paths with respx."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from bot.clients.sentry import SentryClient, SentryError

TOKEN = "sntrys_test-token-SECRET-987654"
BASE = "http://sentry.test"
ORG, PROJECT = "cgraph", "cgraph-api"
END = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
START = END - timedelta(minutes=15)
SERIES = "/api/0/organizations/cgraph/events-timeseries/"


def client(base: str = BASE, **kwargs) -> tuple[SentryClient, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    return SentryClient(base, TOKEN, ORG, PROJECT, **kwargs), sleeps


def answer(*values: float) -> dict:
    return {"meta": {"dataset": "errors", "start": 0, "end": 0},
            "timeSeries": [{"yAxis": "count()", "meta": {"interval": 60, "valueType": "integer", "valueUnit": None},
                            "values": [{"timestamp": 1741368281123 + i, "value": v, "incomplete": False}
                                       for i, v in enumerate(values)]}]}


@pytest.mark.prism
def test_error_count_request_is_accepted_by_the_official_spec(prism):
    sentry, _ = client(prism("sentry"), retries=0)
    with sentry:
        count = sentry.error_count("cgraph-api@42", START, END)
        assert isinstance(count, float)
        assert sentry.error_count(None, START, END) >= 0


def test_error_count_sums_the_series_and_asks_for_one_release_ungrouped():
    sentry, _ = client()
    with respx.mock(base_url=BASE) as mock:
        route = mock.get(SERIES).respond(200, json=answer(3, 4, 5))
        assert sentry.error_count("cgraph-api@42", START, END) == 12
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    params = request.url.params
    assert params["dataset"] == "errors" and params["query"] == "release:cgraph-api@42"
    assert params["project"] == PROJECT and params["yAxis"] == "count()"
    assert "groupBy" not in params and "topEvents" not in params
    assert params["start"].startswith("2026-12-05T08:15") and params["end"].startswith("2026-12-05T08:30")


def test_a_release_with_spaces_or_quotes_is_quoted_in_the_query():
    sentry, _ = client()
    with respx.mock(base_url=BASE) as mock:
        route = mock.get(SERIES).respond(200, json=answer(1))
        sentry.error_count('web "2" 1.0', START, END)
    assert route.calls.last.request.url.params["query"] == 'release:"web \\"2\\" 1.0"'


def test_429_and_5xx_are_retried_honouring_retry_after():
    sentry, sleeps = client()
    with respx.mock(base_url=BASE) as mock:
        mock.get(SERIES).side_effect = [httpx.Response(429, headers={"Retry-After": "7"}),
                                        httpx.Response(503), httpx.Response(200, json=answer(2))]
        assert sentry.error_count("r1", START, END) == 2
    assert sleeps[0] == 7 and len(sleeps) == 2


def test_persistent_5xx_becomes_an_error_in_words():
    sentry, sleeps = client(retries=2)
    with respx.mock(base_url=BASE) as mock:
        mock.get(SERIES).respond(500, json={"detail": "boom"})
        with pytest.raises(SentryError) as caught:
            sentry.error_count("r1", START, END)
    assert "Sentry" in str(caught.value) and "500" in str(caught.value) and len(sleeps) == 2


@pytest.mark.parametrize("status, words", [(401, "SENTRY_API_TOKEN"), (403, "org:read"), (404, "SENTRY_ORG")])
def test_refusals_say_what_to_fix_and_never_the_token(status, words, caplog):
    sentry, _ = client()
    caplog.set_level(logging.DEBUG)
    with respx.mock(base_url=BASE) as mock:
        mock.get(SERIES).respond(status, json={"detail": f"bad token {TOKEN}"})
        with pytest.raises(SentryError) as caught:
            sentry.error_count("r1", START, END)
    assert words in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text


def test_unreachable_and_timeouts_are_errors_in_words():
    sentry, _ = client(retries=0)
    with respx.mock(base_url=BASE) as mock:
        mock.get(SERIES).side_effect = httpx.ConnectError("refused")
        with pytest.raises(SentryError, match="Could not reach Sentry"):
            sentry.error_count("r1", START, END)
        mock.get(SERIES).side_effect = httpx.ReadTimeout("slow")
        with pytest.raises(SentryError, match="did not answer in time"):
            sentry.error_count("r1", START, END)


def test_an_answer_without_a_series_is_not_read_as_zero():
    sentry, _ = client()
    with respx.mock(base_url=BASE) as mock:
        mock.get(SERIES).respond(200, json={"meta": {}})
        with pytest.raises(SentryError, match="no time series"):
            sentry.error_count("r1", START, END)
        mock.get(SERIES).respond(200, text="<html>")
        with pytest.raises(SentryError, match="not JSON"):
            sentry.error_count("r1", START, END)
