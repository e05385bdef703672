"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s types`."""

import nox

nox.options.sessions = ["lint", "types", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, slow real builds included (needs root and the host packages)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run(
        "ruff", "format", "--check", "dibpy", "elements", "examples", "tests", "bench", "noxfile.py"
    )


@nox.session
def types(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("mypy", "--strict", "dibpy")
    session.run("lint-imports")  # the layers of docs/architecture.md


@nox.session
def bench(session: nox.Session) -> None:
    """Time dibpy's builds, and dibpy against DIB on tar (root, network, ~25 min): bench/."""
    session.install(".", "psutil")
    session.run("python", "bench/run.py", *session.posargs)
