"""Installs the helper programs elements ship into the image's /usr/local/bin."""
