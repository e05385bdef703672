"""Collects build manifests in the image and copies them beside the output."""
