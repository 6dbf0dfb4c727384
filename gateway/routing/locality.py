"""The gateway's own prefix-locality source: what it routed where (approximate mode).

When an engine's first byte arrives for a request (the engine accepted it and will cache
its prompt), the prompt's block hashes are recorded for that engine, so the next request
with the same prefix finds it, even while this one is still running. In precise mode only
the engines' KV events feed the index, and nothing is recorded here.
"""

from __future__ import annotations

from gateway.openai.prompt import Prompt
from gateway.prefix.hashing import max_reusable_blocks
from gateway.prefix.interfaces import PrefixIndex
from gateway.routing.request import InferenceRequest
from gateway.types import EndpointId


class PrefixLocality:
    """`record` decides whether first bytes are recorded (approximate or both modes)."""

    def __init__(self, index: PrefixIndex, *, block_size: int, record: bool) -> None:
        self.index = index
        self.block_size = block_size
        self.records = record

    async def engine_accepted(
        self, engine: EndpointId, request: InferenceRequest, prompt: Prompt
    ) -> bool:
        """Record `prompt` on `engine`; False when nothing was recorded."""
        if not self.records or not prompt.block_hashes:
            return False
        await self.index.record(engine, prompt.base_model or request.model, prompt.block_hashes)
        return True

    def cached_tokens(self, blocks: int, prompt: Prompt) -> int:
        """Prompt tokens an engine holding `blocks` leading blocks can skip computing."""
        if blocks <= 0:
            return 0
        if prompt.token_count:
            blocks = min(blocks, max_reusable_blocks(prompt.token_count, self.block_size))
        return blocks * self.block_size
