"""Everything that talks to NOX: the post-login hand-off (outbox), later the link sessions."""
