"""Stage 5 of the pipeline: what a build leaves behind. The image files in each format
(``formats``), their checksums, and the JSON manifest (``manifest``)."""
