"""POST /admin/reload, behind `Authorization: Bearer <RAKUTEN_ADMIN_TOKEN>` (disabled without one)."""

import asyncio
import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import json_response
from api.schemas import ErrorResponse, ReloadResponse

RELOAD_WAIT_SECONDS = 15.0

bearer = HTTPBearer(auto_error=False, description="RAKUTEN_ADMIN_TOKEN")


async def require_admin(request: Request,
                        credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    token = request.app.state.settings.admin_token
    if not token:
        raise StarletteHTTPException(403, "admin endpoints are disabled: no admin token is "
                                     "configured (set RAKUTEN_ADMIN_TOKEN)")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StarletteHTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(credentials.credentials.encode("utf-8", "surrogatepass"),
                               token.encode("utf-8")):
        raise StarletteHTTPException(403, "invalid admin token")


ADMIN_ERRORS = {401: {"model": ErrorResponse, "description": "No bearer token."},
                403: {"model": ErrorResponse, "description": "Wrong token, or admin endpoints disabled."}}

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS)


@router.post("/admin/reload", response_model=ReloadResponse,
             summary="Check the registry now and load the champion if it moved")
async def admin_reload(request: Request):
    check = asyncio.ensure_future(asyncio.to_thread(request.app.state.service.holder.check, True))
    try:
        result = await asyncio.wait_for(asyncio.shield(check), RELOAD_WAIT_SECONDS)
    except TimeoutError:
        # A hung MLflow held this request for 40 s (issue 13); the check goes on in its thread.
        return json_response({"changed": False, "previous_version": None, "version": None,
                              "error": f"the registry did not answer within {RELOAD_WAIT_SECONDS:g} s; "
                                       "the check goes on in the background (see /model)"}, 202)
    return json_response({"changed": result.changed, "previous_version": result.previous_version,
                          "version": result.version, "error": result.error})
