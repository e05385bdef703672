"""Maps generic package names to distribution-specific names."""
