"""Error shapes a client can rely on (issue #21): every top-level GraphQL error carries
`extensions.code` (parse, validation, variables, limits), also when the document's validation is
served from the cache; REST answers its own 404 and 405 in the REST error shape. The 401 body of
/graphql is checked by every case of tests/api/test_auth.py (`assert_unauthorized`)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import ClientCredentials, GraphQLClient

REST = "/api_gateway/v1/promotions"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        pytest.param("{ promotions { totalCount ", None, "GRAPHQL_PARSE_FAILED", id="syntax"),
        pytest.param("{ " + "__typename " * 2100 + "}", None, "GRAPHQL_PARSE_FAILED", id="token limit"),
        pytest.param("{ promotions { nope } }", None, "GRAPHQL_VALIDATION_FAILED", id="unknown field"),
        pytest.param(
            "{ wallet(customerId: 1.5) { totalCount } }", None, "GRAPHQL_VALIDATION_FAILED", id="bad literal"
        ),
        pytest.param(
            "{ wallet(customerId: 1) { edges { node { ...F0 } } } } "
            + "".join(
                f"fragment F{n} on EarnedPromotion {{ promotion {{ ...F{n + 1} }} }} " for n in range(11)
            ),
            None,
            "GRAPHQL_VALIDATION_FAILED",
            id="depth limit",
        ),
        pytest.param(
            "query($id: Long!) { wallet(customerId: $id) { totalCount } }",
            {"id": "not a number"},
            "BAD_USER_INPUT",
            id="bad variable",
        ),
        pytest.param(
            "query($id: Long!) { wallet(customerId: $id) { totalCount } }",
            {},
            "BAD_USER_INPUT",
            id="missing variable",
        ),
    ],
)
async def test_every_top_level_error_of_a_bad_document_carries_a_code(
    gql: GraphQLClient, query: str, variables: dict[str, object] | None, code: str
) -> None:
    for _ in range(2):  # the second time parse and validation come from the caches
        body = await gql(query, variables)
        assert body.get("data") is None, body
        assert body["errors"], body
        assert [error["extensions"]["code"] for error in body["errors"]] == [code] * len(body["errors"]), body


async def test_errors_that_carry_their_own_code_keep_it(
    gql: GraphQLClient, org_clients: dict[str, ClientCredentials]
) -> None:
    forbidden = await gql(
        'mutation { revokeEarnedPromotions(customerId: 1, earnedPromotionIds: ["x"]) { __typename } }',
        as_=org_clients["reader"],
    )
    bad_cursor = await gql('{ wallet(customerId: 1, after: "nope") { totalCount } }')
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("prefix", ["/api_gateway/v1/promotions", "/v1/promotions"])
async def test_an_unknown_rest_route_is_a_404_in_the_rest_error_shape(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], prefix: str
) -> None:
    response = await http.get(f"{prefix}/no/such/route", headers=org_clients["reader"].headers)
    assert response.status_code == 404
    assert response.json() == {"errors": [{"code": 404, "message": "Not Found"}]}


async def test_a_rest_route_called_with_the_wrong_method_is_a_405_with_allow_in_the_rest_shape(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    response = await http.get(f"{REST}/redemptions", headers=org_clients["reader"].headers)
    assert response.status_code == 405
    assert response.json() == {"errors": [{"code": 405, "message": "Method Not Allowed"}]}
    assert response.headers["allow"] == "POST"


async def test_paths_outside_the_rest_api_keep_the_frameworks_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/no-such-page")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
