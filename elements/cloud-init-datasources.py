"""Restricts cloud-init to the datasources in DIB_CLOUD_INIT_DATASOURCES."""
