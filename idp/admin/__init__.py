"""Supplier administration: the actions behind the console and the `idp` command."""
