"""The target tree, hostile by assumption: paths resolved inside it as a chroot would
(``paths``), archives checked and extracted into it (``extract``), files copied in
(``copying``), the driver's own tidying (``tidy``) and tree comparison (``diff``)."""
