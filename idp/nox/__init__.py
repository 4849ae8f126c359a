"""Everything about NOX, without a web framework: the link sessions of flow 2 and their callback,
the device registry's rules, the HTTP clients, and the post-login hand-off (outbox)."""
