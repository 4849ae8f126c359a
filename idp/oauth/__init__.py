"""OAuth 2.0 / OpenID Connect on top of Authlib. No Quart imports: the web layer adapts."""
