"""Local PostHog-compatible server."""
