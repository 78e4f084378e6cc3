"""Cross-cutting security: response headers, rate limits, input limits (see docs/security.md)."""
