"""Passwords, CSRF, throttling, security headers and the clock."""
