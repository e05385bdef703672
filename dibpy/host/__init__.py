"""The host machinery a build runs on: one runner for programs (``run``), mounts, the chroot,
the namespaces and the process a build runs in (``namespaces``, ``isolation``), the build
directory (``workspace``), downloads (``fetch``) and the host tools a build needs
(``tools``)."""
