"""Built-in producers."""
