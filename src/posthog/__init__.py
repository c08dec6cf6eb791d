"""PostHog-compatible analytics and feature flags SDK."""
