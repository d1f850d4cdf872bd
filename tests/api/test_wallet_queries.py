from __future__ import annotations

from tests.support import GraphQLClient

WALLET = """query($id: Long!, $first: Int, $after: String, $status: [EarnedPromotionStatus!]) {
  wallet(customerId: $id, first: $first, after: $after, status: $status) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id customerId status validTill promotion { id name } } } } }"""


async def test_a_new_customer_has_an_empty_wallet(gql: GraphQLClient) -> None:
    # given
    await gql.create_customers(5668819330)
    # when
    data = await gql.data(WALLET, {"id": 5668819330})
    # then
    assert data["wallet"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


async def test_customer_ids_beyond_32_bits_round_trip(gql: GraphQLClient) -> None:
    await gql.create_customers(5668819330, mobile="9876543210")
    data = await gql.data("{ customer(id: 5668819330) { id mobile } }")
    assert data["customer"] == {"id": 5668819330, "mobile": "9876543210"}
