"""pytest fixtures that start the real dev-stack servers a test needs (filled in by the dev-stack work)."""
