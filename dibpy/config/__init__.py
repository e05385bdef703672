"""Stage 1 of the pipeline: what a build is asked to do. The build's options, read once from
the command line, the API and the ``DIB_*`` environment (``model``), and the typed settings
each element declares (``settings``, ``distro``)."""
