"""HTTP surface: the OpenAI routes and the admin routes."""
