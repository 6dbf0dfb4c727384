"""OpenAI wire formats: request views, prompts, SSE framing, model lists."""
