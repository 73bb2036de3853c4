"""X-Ray segment documents (the translation from OpenTelemetry spans)."""
