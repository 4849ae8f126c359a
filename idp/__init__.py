"""The identity provider an energy supplier runs to link its customers to NOX Energy."""
