"""Built-in views, each a plugin registered exactly like a third-party one."""
