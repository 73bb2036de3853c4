"""Lambda integration: the handler wrapper, event readers and the invocation flush."""
