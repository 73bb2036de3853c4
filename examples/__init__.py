"""The example serverless app and the local services it talks to."""
