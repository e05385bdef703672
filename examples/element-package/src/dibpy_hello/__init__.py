"""dibpy-hello: an example element package (the hello-motd element)."""
