"""POST /oauth/token: OAuth2 client-credentials, the client's Basic credentials (or client_id and
client_secret in the form body) in exchange for an expiring Bearer token."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.auth.authenticator import AuthenticationFailed, Authenticator, TooManyFailures, parse_basic
from app.domain.errors import ResourceLocked

router = APIRouter()

WWW_AUTHENTICATE = 'Basic realm="promo-wallet", Bearer realm="promo-wallet"'


def unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_client", "error_description": message},
        status_code=401,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


@router.post("/oauth/token", tags=["auth"], summary="Exchange client credentials for a Bearer token")
async def issue_token(request: Request) -> JSONResponse:
    authenticator: Authenticator = request.app.state.authenticator
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
    if form.get("grant_type", "client_credentials") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    try:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            username, password = parse_basic(header[6:])
        elif form.get("client_id") and form.get("client_secret"):
            username, password = form["client_id"], form["client_secret"]
        else:
            raise AuthenticationFailed("Client credentials are required")
        principal = await authenticator.verify_client(
            username, password, address=request.client.host if request.client else None
        )
    except TooManyFailures as exc:
        return JSONResponse(
            {"error": "invalid_client", "error_description": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except AuthenticationFailed as exc:
        return unauthorized(str(exc))
    except ResourceLocked as exc:  # every pooled connection busy: retry shortly, never a 500
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": exc.message},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    token, expires_in = await authenticator.issue_token(principal)
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": " ".join(sorted(s.value for s in principal.scopes)),
        },
        headers={"Cache-Control": "no-store"},
    )
