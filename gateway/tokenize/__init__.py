"""Tokenizer providers shared by the gateway and the engine simulator.

Both sides must count the same tokens, so the simulator imports these classes too.
"""

from gateway.tokenize.base import Tokenizer, TokenizerError
from gateway.tokenize.chat_template import ChatTemplate, get_chat_template
from gateway.tokenize.spec import DEFAULT_TOKENIZER, load_tokenizer

__all__ = [
    "DEFAULT_TOKENIZER",
    "ChatTemplate",
    "Tokenizer",
    "TokenizerError",
    "get_chat_template",
    "load_tokenizer",
]
