"""Authentication: login lockout, the lockout-aware log-in view, and JWT for the REST API."""
