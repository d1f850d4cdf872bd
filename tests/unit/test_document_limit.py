"""The pre-decoding check of the document size (app/graphql/limits.py): it only ever says "too
large" for a `query` string that is too large however it is spelled."""

from __future__ import annotations

import json

from app.graphql.limits import raw_query_certainly_exceeds

LIMIT = 1024


def test_a_padded_query_many_times_the_limit_is_caught_from_its_raw_bytes() -> None:
    body = json.dumps({"query": "{ __typename" + " " * (10 * LIMIT) + "}"}).encode()
    assert raw_query_certainly_exceeds(body, LIMIT) == 10 * LIMIT + len("{ __typename}")


def test_long_variables_with_a_short_query_are_left_to_the_decoder() -> None:
    body = json.dumps({"variables": {"ids": list(range(5000))}, "query": "{ __typename }"}).encode()
    assert len(body) > 6 * LIMIT
    assert raw_query_certainly_exceeds(body, LIMIT) is None


def test_escaped_quotes_inside_the_query_do_not_end_it_early() -> None:
    body = json.dumps({"query": '{ promotion(id: "\\"") { id } }' + " " * (7 * LIMIT)}).encode()
    assert raw_query_certainly_exceeds(body, LIMIT) is not None


def test_a_query_that_could_be_under_the_limit_once_unescaped_is_left_to_the_decoder() -> None:
    # 5 x the limit in raw bytes, all \\u escapes: under the limit once decoded is possible
    body = b'{"query": "' + b"\\u0041" * (5 * LIMIT // 6) + b'"}'
    assert raw_query_certainly_exceeds(body, LIMIT) is None
