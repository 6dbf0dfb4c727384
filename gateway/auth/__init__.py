"""Who is calling: API keys → tenants."""
