"""What every stage shares: the configs, the one error type, crash-safe files."""
