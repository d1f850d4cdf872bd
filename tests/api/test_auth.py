"""Authentication, scopes and org isolation over HTTP (DESIGN §2)."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy import func, select, update

from app.domain.clock import now_ms
from app.ide.assets import ensure_assets
from app.main import create_app
from app.persistence.database import Database
from app.persistence.tables import access_token_table, customer_table, org_table, promotion_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings
from tests.conftest import ORG_ID
from tests.integration.wallet_rows import add_wallet_entry
from tests.support import ClientCredentials, GraphQLClient, basic_auth

PROMOTIONS = "{ promotions { totalCount } }"


async def post_graphql(
    http: httpx.AsyncClient, headers: dict[str, str], query: str = PROMOTIONS
) -> httpx.Response:
    return await http.post("/graphql", json={"query": query}, headers=headers)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert "Basic" in response.headers.get("www-authenticate", "")
    assert "Bearer" in response.headers.get("www-authenticate", "")
    if response.request.url.path == "/graphql":
        # a GraphQL errors body, as every other refusal of /graphql (issue #21)
        body = response.json()
        assert body["data"] is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body


async def count_rows(database: Database, table: object) -> int:
    async with SqlUnitOfWork(database) as uow:
        return int((await uow.session.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


# --- Basic ---------------------------------------------------------------------------------------


async def test_basic_credentials_of_a_client_answer_a_query(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # when
    response = await post_graphql(http, org_clients["reader"].headers)
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"promotions": {"totalCount": 0}}}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param(basic_auth("reader-100737", "wrong-secret"), id="wrong password"),
        pytest.param(basic_auth("nobody", "reader-secret"), id="unknown user"),
        pytest.param({"Authorization": "Basic not-base64!!"}, id="not base64"),
        pytest.param({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, id="no colon"),
        pytest.param({"Authorization": "Basic "}, id="empty basic"),
        pytest.param({"Authorization": "Bearer "}, id="empty bearer"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="unknown bearer token"),
        pytest.param({"Authorization": "Digest abc"}, id="unsupported scheme"),
        pytest.param({"Authorization": "reader-100737:reader-secret"}, id="no scheme"),
    ],
)
async def test_missing_or_bad_credentials_are_an_http_401_with_www_authenticate(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], headers: dict[str, str]
) -> None:
    # when
    response = await post_graphql(http, headers)
    # then
    assert_unauthorized(response)


async def test_a_get_query_without_credentials_is_a_401_too(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    response = await http.get("/graphql", params={"query": PROMOTIONS}, headers={"Accept": "text/html"})
    assert_unauthorized(response)


async def test_the_graphiql_page_loads_without_credentials(settings: Settings) -> None:
    # given a service with the IDE switched on and its assets fetched (`serve` fetches them, the app
    # only serves them)
    ensure_assets()
    with_ide = settings.model_copy(update={"graphql_ide": True})
    application = create_app(with_ide)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            # when a browser opens /graphql
            response = await http.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml"})
    # then it gets the IDE page
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_healthz_answers_without_credentials(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


# --- Bearer tokens -------------------------------------------------------------------------------


async def test_a_token_from_basic_credentials_works_as_a_bearer(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=org_clients["reader"].headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["scope"] == "wallet:read"
    # when
    answer = await post_graphql(http, {"Authorization": f"Bearer {body['access_token']}"})
    # then
    assert answer.status_code == 200
    assert answer.json() == {"data": {"promotions": {"totalCount": 0}}}


async def test_a_token_from_client_id_and_secret_form_fields_works_as_a_bearer(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    admin_client = org_clients["admin"]
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": admin_client.username,
            "client_secret": admin_client.password,
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    # when
    answer = await post_graphql(http, {"Authorization": f"Bearer {token}"})
    # then
    assert answer.json() == {"data": {"promotions": {"totalCount": 0}}}


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        pytest.param({"grant_type": "client_credentials"}, {}, id="no credentials"),
        pytest.param({}, basic_auth("reader-100737", "wrong"), id="wrong basic"),
        pytest.param({"client_id": "reader-100737", "client_secret": "wrong"}, {}, id="wrong form secret"),
        pytest.param({"client_id": "reader-100737"}, {}, id="form id without secret"),
    ],
)
async def test_the_token_endpoint_refuses_bad_client_credentials_with_a_401(
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
    data: dict[str, str],
    headers: dict[str, str],
) -> None:
    response = await http.post("/oauth/token", data=data, headers=headers)
    assert_unauthorized(response)
    assert "access_token" not in response.json()


async def test_the_token_endpoint_refuses_other_grant_types(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    response = await http.post(
        "/oauth/token", data={"grant_type": "password"}, headers=org_clients["reader"].headers
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_an_expired_token_is_a_401(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    # given a token whose expiry has passed
    response = await http.post("/oauth/token", headers=org_clients["reader"].headers)
    token = response.json()["access_token"]
    assert (await post_graphql(http, {"Authorization": f"Bearer {token}"})).status_code == 200
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.session.execute(update(access_token_table).values(expires_at=now_ms() - 1))
        await uow.commit()
    # when
    answer = await post_graphql(http, {"Authorization": f"Bearer {token}"})
    # then
    assert_unauthorized(answer)


async def test_only_a_hash_of_the_token_is_stored(
    http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials], database: Database
) -> None:
    response = await http.post("/oauth/token", headers=org_clients["reader"].headers)
    token = response.json()["access_token"]
    async with SqlUnitOfWork(database) as uow:
        stored = list((await uow.session.execute(select(access_token_table.c.token_hash))).scalars())
    assert len(stored) == 1 and token not in stored[0]


# --- scopes --------------------------------------------------------------------------------------

CREATE_PROMOTION = """mutation { createPromotion(input: {name: "P", type: CUSTOMER, startDate: 0,
  endDate: 4102444800000}) { __typename } }"""
CREATE_CUSTOMER = "mutation { createCustomer(input: {id: 77}) { __typename } }"
IMPORT_CUSTOMERS = "mutation { importCustomers(customers: [{id: 78}]) { __typename } }"
UPDATE_SETTINGS = "mutation { updateOrgSettings(input: {maxActivePromotions: 1}) { __typename } }"


def assert_forbidden(body: dict[str, object]) -> None:
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    assert body["data"] is None


async def test_a_reader_cannot_create_a_promotion(gql: GraphQLClient, database: Database) -> None:
    # when
    body = await gql(CREATE_PROMOTION, as_=gql.clients["reader"])
    # then
    assert_forbidden(body)
    assert await count_rows(database, promotion_table) == 0


@pytest.mark.parametrize("mutation", [CREATE_PROMOTION, CREATE_CUSTOMER, IMPORT_CUSTOMERS, UPDATE_SETTINGS])
async def test_a_writer_cannot_call_admin_mutations(
    gql: GraphQLClient, database: Database, mutation: str
) -> None:
    # when
    body = await gql(mutation, as_=gql.clients["writer"])
    # then nothing was written
    assert_forbidden(body)
    assert await count_rows(database, promotion_table) == 0
    assert await count_rows(database, customer_table) == 0
    async with SqlUnitOfWork(database) as uow:
        cap = (await uow.session.execute(select(org_table.c.max_active_promotions))).scalars().all()
    assert set(cap) == {250}


@pytest.mark.parametrize(
    "query",
    [
        "{ wallet(customerId: 1) { totalCount } }",
        "{ customer(id: 1) { id } }",
        '{ promotion(id: "aaaaaaaaaaaaaaaaaaaaaaaa") { id } }',
        "{ promotions { totalCount } }",
        "{ redemptions { totalCount } }",
    ],
)
async def test_a_client_with_only_the_admin_scope_cannot_read_wallets(
    gql: GraphQLClient, database: Database, query: str
) -> None:
    # given a client of the org holding just "admin"
    made = await admin.create_client(
        SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="only-admin", scopes=["admin"]
    )
    only_admin = ClientCredentials(made.username, made.password)
    # when
    body = await gql(query, as_=only_admin)
    # then
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_client_with_only_the_admin_scope_can_administer(
    gql: GraphQLClient, database: Database
) -> None:
    made = await admin.create_client(
        SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="only-admin", scopes=["admin"]
    )
    data = await gql.data(CREATE_CUSTOMER, as_=ClientCredentials(made.username, made.password))
    assert data == {"createCustomer": {"__typename": "CreateCustomerSuccess"}}


# --- org isolation -------------------------------------------------------------------------------


async def test_another_orgs_client_cannot_see_this_orgs_customer_wallet_or_promotion(
    gql: GraphQLClient, database: Database, other_org_clients: dict[str, ClientCredentials]
) -> None:
    # given a customer of org 100737 with a wallet entry
    await gql.create_customers(5668819330, mobile="9876543210", email="asha@example.com")
    promotion = await gql.create_promotion()
    await add_wallet_entry(database, org_id=ORG_ID, promotion_id=promotion["id"], customer_id=5668819330)
    mine = await gql.data("{ wallet(customerId: 5668819330) { totalCount } }")
    assert mine == {"wallet": {"totalCount": 1}}
    outsider = other_org_clients["admin"]
    # when org 200001 looks for them
    body = await gql(
        """query($pid: String!) {
             byId: customer(id: 5668819330) { id }
             byMobile: customer(identifierType: MOBILE, identifierValue: "9876543210") { id }
             byEmail: customer(identifierType: EMAIL, identifierValue: "asha@example.com") { id }
             wallet(customerId: 5668819330) { totalCount edges { node { id } } }
             promotion(id: $pid) { id }
             promotions { totalCount }
           }""",
        {"pid": promotion["id"]},
        as_=outsider,
    )
    # then it is "not found", never "forbidden"
    assert "errors" not in body, body
    assert body["data"] == {
        "byId": None,
        "byMobile": None,
        "byEmail": None,
        "wallet": {"totalCount": 0, "edges": []},
        "promotion": None,
        "promotions": {"totalCount": 0},
    }


async def test_two_orgs_may_each_have_a_customer_with_the_same_id_and_identifiers(
    gql: GraphQLClient, other_org_clients: dict[str, ClientCredentials]
) -> None:
    # given
    await gql.create_customers(5668819330, mobile="9876543210")
    # when the other org creates the same customer
    data = await gql.data(
        """mutation { createCustomer(input: {id: 5668819330, mobile: "9876543210"}) {
             __typename ... on Error { code message } } }""",
        as_=other_org_clients["admin"],
    )
    # then
    assert data == {"createCustomer": {"__typename": "CreateCustomerSuccess"}}
