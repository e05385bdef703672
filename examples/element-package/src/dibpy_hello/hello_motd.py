"""Writes a greeting to /etc/motd, from a template shipped with the element.

An add-on element: combine it with an operating-system element (`tiny-busybox hello-motd`).
"""

from pathlib import Path

from dibpy import BuildContext, ElementSettings, finalise_hook, setting
from dibpy.author import write_file

TEMPLATE = Path(__file__).with_name("motd.template")


class HelloSettings(ElementSettings):
    text: str = setting("HELLO_TEXT", "Hello from dibpy-hello!", "the first line of /etc/motd")


@finalise_hook(order=60)
def write_motd(ctx: BuildContext) -> None:
    """Write /etc/motd from motd.template and HELLO_TEXT."""
    motd = TEMPLATE.read_text().format(
        text=ctx.settings(HelloSettings).text, elements=" ".join(ctx.elements)
    )
    write_file(ctx.target_root, "etc/motd", motd)
