"""Infrastructure: settings, exception types and the one error-to-HTTP mapping."""
