"""Prepares the image to be a template: clears the machine id and other per-host state."""
