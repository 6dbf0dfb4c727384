"""The OpenAI routes: raw ASGI apps, so bodies stream through with no framework in between."""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.asgi_writer import AsgiResponseWriter
from gateway.api.body import ClientDisconnected, read_body
from gateway.api.disconnect import DisconnectWatch
from gateway.api.request_id import request_id_for
from gateway.errors import GatewayError
from gateway.openai.errors import write_error
from gateway.state import gateway_state
from gateway.types import ClientCall, RequestKind

logger = logging.getLogger(__name__)


class ProxyRoute:
    """`POST` of one OpenAI operation, proxied to an engine by the director."""

    def __init__(self, kind: RequestKind) -> None:
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        received_at = asyncio.get_running_loop().time()
        state = gateway_state(scope)
        headers = scope["headers"]
        request_id = request_id_for(headers)
        writer = AsgiResponseWriter(send)
        try:
            body = await read_body(headers, receive, limit=state.settings.max_body_bytes)
        except ClientDisconnected:
            state.director.abandoned(ClientCall(self.kind, request_id, headers, b"", received_at))
            return
        except GatewayError as error:
            call = ClientCall(self.kind, request_id, headers, b"", received_at)
            await state.director.refuse(call, writer, error)
            return
        call = ClientCall(self.kind, request_id, headers, body, received_at)
        try:
            async with DisconnectWatch(receive, writer):
                await state.director.serve(call, writer)
        except Exception:  # the ASGI boundary: nothing below may take the process down
            logger.exception("request %s failed", request_id)
            if writer.started:
                raise  # the status line is out; dropping the connection is all that is left
            await write_error(writer, GatewayError("The gateway failed."), request_id)


async def list_models(request: Request) -> Response:
    """The union of the models (and LoRA adapters) that ready engines serve."""
    state = gateway_state(request.scope)
    headers = request.scope["headers"]
    request_id = request_id_for(headers)
    authorization = next((value for name, value in headers if name == b"authorization"), None)
    try:
        state.director.authenticate(authorization)
    except GatewayError as error:
        return _error_response(error, request_id)
    cards = [card.raw for card in state.datastore.model_cards()]
    body = orjson.dumps({"object": "list", "data": cards})
    return Response(body, media_type="application/json", headers={"x-request-id": request_id})


def _error_response(error: GatewayError, request_id: str) -> Response:
    return Response(
        error.to_json(),
        status_code=error.status_code,
        media_type="application/json",
        headers={"x-request-id": request_id},
    )
