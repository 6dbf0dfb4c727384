"""Built-in pickers."""
