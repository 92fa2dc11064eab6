"""Database plumbing: engine construction, error translation, schema-revision checks."""
