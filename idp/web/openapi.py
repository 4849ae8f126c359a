"""The OpenAPI 3.1 description of the supplier API (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Supplier API of the NOX link identity provider",
        "version": "1.0.0",
        "description": "Start NOX link sessions for customers and read their linked devices. "
        "Authenticate with a Bearer access token from the client_credentials grant. "
        "Only client tokens are accepted: a token issued to a customer (authorization_code or "
        "refresh_token grant), whatever its scopes, gets 403 insufficient_scope.",
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/link-sessions": {
            "post": {
                "operationId": "createLinkSession",
                "summary": "Start linking a customer's device to NOX",
                "security": [{"bearer": ["links:write"]}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/LinkRequest"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "Send the customer's browser to link_url before expires_at",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LinkSession"}
                            }
                        },
                    },
                    "400": _error("invalid_request or invalid_return_url"),
                    "401": _error("invalid_token"),
                    "403": _error(
                        "insufficient_scope: the token lacks links:write, or is a customer's "
                        "token (only client_credentials tokens are accepted)"
                    ),
                    "404": _error("unknown_customer"),
                    "502": _error("nox_unavailable: NOX did not create the link session"),
                },
            }
        },
        "/api/v1/users/{supplier_user_id}/devices": {
            "get": {
                "operationId": "listDevices",
                "summary": "The devices linked to a customer",
                "security": [{"bearer": ["links:read"]}],
                "parameters": [
                    {
                        "name": "supplier_user_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The customer's devices",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Devices"}}
                        },
                    },
                    "401": _error("invalid_token"),
                    "403": _error(
                        "insufficient_scope: the token lacks links:read, or is a customer's "
                        "token (only client_credentials tokens are accepted)"
                    ),
                    "404": _error("unknown_customer"),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "oauth2",
                "description": "An access token from the client_credentials grant; "
                "customers' tokens are refused (403 insufficient_scope).",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "/token",
                        "scopes": {
                            "links:read": "Read customers' linked devices",
                            "links:write": "Start link sessions",
                        },
                    }
                },
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "error_description": {"type": "string"},
                },
            },
            "LinkRequest": {
                "type": "object",
                "required": ["supplier_user_id", "asset_type"],
                "additionalProperties": False,
                "properties": {
                    "supplier_user_id": {"type": "string", "minLength": 1},
                    "asset_type": {"type": "string", "enum": ["hp", "pv"]},
                    "language": {"type": "string", "enum": ["nl", "en", "fr", "es"]},
                    "brand": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
                    "return_url": {
                        "type": "string",
                        "format": "uri",
                        "description": "One of the calling client's registered redirect URIs; "
                        "the browser goes there after the callback, with status=linked.",
                    },
                },
            },
            "LinkSession": {
                "type": "object",
                "required": ["link_url", "expires_at"],
                "properties": {
                    "link_url": {"type": "string", "format": "uri"},
                    "expires_at": {"type": "integer", "description": "Unix seconds"},
                },
            },
            "Device": {
                "type": "object",
                "required": ["device_id", "brand", "asset_type", "nox_user_id", "linked_at"],
                "properties": {
                    "device_id": {"type": "string"},
                    "brand": {"type": "string"},
                    "asset_type": {"type": "string", "enum": ["hp", "pv"]},
                    "nox_user_id": {"type": "string"},
                    "connected_at": {"type": "integer"},
                    "linked_at": {"type": "integer"},
                    "steerable_from": {
                        "type": "string",
                        "format": "date",
                        "description": "About 30 days after linking NOX can steer well",
                    },
                },
            },
            "Devices": {
                "type": "object",
                "required": ["supplier_user_id", "devices"],
                "properties": {
                    "supplier_user_id": {"type": "string"},
                    "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}},
                },
            },
        },
    },
}
