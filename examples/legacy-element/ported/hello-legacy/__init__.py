"""Greets whoever logs in: writes /etc/motd and a small /etc/hello configuration.

A DIB element written the DIB way, as an example for ``dibpy port``. ``static/`` holds
the files ``install.d/50-hello-files`` copies into the image (the element does not
depend on install-static).

Environment variables
---------------------

DIB_HELLO_GREETING
  :Required: No
  :Default: ``Hello from hello-legacy``
  :Description: The first line of /etc/motd.

DIB_HELLO_MOTD_MODE
  :Required: No
  :Default: ``0644``
  :Description: The mode of /etc/motd.

Ported from a DIB element by ``dibpy port``. TODO:

- Each hook below runs the element's kept script with DIB's environment. Translate them
  to Python one at a time (docs/migrating.md), then delete the kept script a hook no
  longer runs.
- ``environment.d/20-hello-arch.bash`` is kept and still sourced, as under DIB: line 3
  is not a plain default: `if [[ "arm64 aarch64" =~ ${ARCH} ]]; ...`. Move its logic
  into the element's ENVIRONMENT, settings or hooks.
"""

from dibpy import (
    BuildContext,
    Phase,
    cleanup_hook,
    extra_data_hook,
    install_hook,
    post_install_hook,
    root_hook,
    run_kept_script,
)

DEPENDS = ["modprobe"]
ENVIRONMENT = {
    "DIB_HELLO_GREETING": "Hello from hello-legacy",
    "DIB_HELLO_MOTD_MODE": "0644",
}


@root_hook(order=10)
def root_10_hello_build_info(ctx: BuildContext) -> None:
    """TODO: translate the kept script root.d/10-hello-build-info to Python."""
    run_kept_script(ctx, "hello-legacy", Phase.ROOT, "10-hello-build-info")


@extra_data_hook(order=20)
def extra_data_20_hello_greeting(ctx: BuildContext) -> None:
    """TODO: translate the kept script extra-data.d/20-hello-greeting to Python."""
    run_kept_script(ctx, "hello-legacy", Phase.EXTRA_DATA, "20-hello-greeting")


@install_hook(order=50)
def install_50_hello_files(ctx: BuildContext) -> None:
    """TODO: translate the kept script install.d/50-hello-files to Python."""
    run_kept_script(ctx, "hello-legacy", Phase.INSTALL, "50-hello-files")


@post_install_hook(order=60)
def post_install_60_hello_state(ctx: BuildContext) -> None:
    """TODO: translate the kept script post-install.d/60-hello-state to Python."""
    run_kept_script(ctx, "hello-legacy", Phase.POST_INSTALL, "60-hello-state")


@cleanup_hook(order=90)
def cleanup_90_hello_done(ctx: BuildContext) -> None:
    """TODO: translate the kept script cleanup.d/90-hello-done to Python."""
    run_kept_script(ctx, "hello-legacy", Phase.CLEANUP, "90-hello-done")
