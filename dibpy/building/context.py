"""BuildContext: what every hook receives, typed; hooks never read os.environ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from dibpy.building.assembly import DiskSteps
from dibpy.config.settings import ElementSettings, read_settings
from dibpy.outputs.files import OutputFiles
from dibpy.phases import Phase

# Elements import BuildContext to annotate their hooks, and planning loads elements; the
# machinery a running build uses (chroot, HTTP, the workspace) is imported when used, so
# that planning loads none of it.
if TYPE_CHECKING:
    from dibpy.host.cache import ImageCache
    from dibpy.host.chroot import Chroot
    from dibpy.host.fetch import Fetcher, ProgressCallback
    from dibpy.host.mounts import TreeMounts
    from dibpy.host.run import Result, Runner
    from dibpy.host.workspace import Workspace

S = TypeVar("S", bound=ElementSettings)

PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy")


class BuildContext(BaseModel):
    """The build as a hook sees it (DIB's variables in brackets).

    - ``arch`` (ARCH), ``image_name`` (IMAGE_NAME), ``elements`` (IMAGE_ELEMENT)
    - ``build_dir`` (TMP_BUILD_DIR), ``target_root`` (TARGET_ROOT / TMP_MOUNT_PATH)
    - ``image_cache`` (DIB_IMAGE_CACHE; use it through ``cache``), ``offline`` (DIB_OFFLINE),
      ``debug_trace`` (DIB_DEBUG_TRACE)
    - ``packages``: the extra packages asked for with ``-p``
    - ``element_dirs``: where each element of the build lives (IMAGE_ELEMENT_YAML)
    - ``env``: the environment snapshot taken when the build started; read it through
      ``ctx.settings(YourSettings)`` rather than directly.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    arch: str
    image_name: str
    elements: tuple[str, ...]
    build_dir: Path
    image_cache: Path
    offline: bool = False
    debug_trace: int = 0
    packages: tuple[str, ...] = ()
    env: Mapping[str, str] = {}
    element_dirs: Mapping[str, Path] = {}

    _workspace: Workspace = PrivateAttr()
    _runner: Runner = PrivateAttr()
    _chroot: Chroot = PrivateAttr()
    _cache: ImageCache = PrivateAttr()
    _modules: dict[str, ModuleType] = PrivateAttr(default_factory=dict)
    _disk: DiskSteps = PrivateAttr(default_factory=DiskSteps)
    _outputs: OutputFiles = PrivateAttr(default_factory=OutputFiles)
    _settings: dict[type[ElementSettings], ElementSettings] = PrivateAttr(default_factory=dict)
    _on_download: ProgressCallback | None = PrivateAttr(default=None)

    @classmethod
    def create(
        cls,
        workspace: Workspace,
        modules: Mapping[str, ModuleType] | None = None,
        *,
        on_download: ProgressCallback | None = None,
        **fields: Any,
    ) -> BuildContext:
        from dibpy.host.cache import ImageCache
        from dibpy.host.chroot import Chroot

        ctx = cls(build_dir=workspace.build_dir, **fields)
        ctx._modules = dict(modules or {})
        ctx._on_download = on_download
        ctx._workspace = workspace
        ctx._runner = workspace.runner
        ctx._chroot = Chroot(
            ctx.target_root,
            workspace.runner,
            ctx.env,
            mounts=workspace.mounts,
        )
        ctx._cache = ImageCache(ctx.image_cache, fetcher=ctx.fetcher, mounts=workspace.mounts)
        return ctx

    @property
    def target_root(self) -> Path:
        """The tree being built."""
        return self._workspace.target_root

    @property
    def hooks_path(self) -> Path:
        """DIB's ``TMP_HOOKS_PATH``: the merged tree of every element's data folders
        (``bin/``, ``static/``, ``init-scripts/``, the legacy ``*.d/`` hook folders, ...),
        assembled before the root phase and seen read-only in the chroot at
        ``/tmp/in_target.d`` while a legacy hook runs there."""
        return self.build_dir / "hooks"

    @property
    def chroot(self) -> Chroot:
        """Run commands inside the tree: ``ctx.chroot.run(["apt-get", "update"])``."""
        return self._chroot

    @property
    def cache(self) -> ImageCache:
        """The image cache: ``ctx.cache.area("ccache")``, its locks, verified downloads and
        shared mounts into the tree (see ``dibpy.host.cache``)."""
        return self._cache

    @property
    def mounts(self) -> TreeMounts:
        """Mounts into the tree, released by the build: ``ctx.mounts.bind(src, "tmp/x")``
        (the target resolved inside the tree; see ``dibpy.host.mounts.TreeMounts``)."""
        return self._workspace.mounts

    @property
    def proxies(self) -> dict[str, str]:
        """``http_proxy``/``https_proxy``/``no_proxy`` (either case), as set at the start."""
        found = {}
        for name in PROXY_VARIABLES:
            value = self.env.get(name) or self.env.get(name.upper())
            if value:
                found[name] = value
        return found

    @property
    def disk(self) -> DiskSteps:
        """Register work that needs the final disk layout (see ``dibpy.building.assembly``)."""
        return self._disk

    @property
    def outputs(self) -> OutputFiles:
        """Files to write beside the image: ``ctx.outputs.add(".vmlinuz", path, 0o644)``
        (see ``dibpy.outputs.files``)."""
        return self._outputs

    @property
    def runner(self) -> Runner:
        """The build's command runner, for library functions that take one."""
        return self._runner

    @property
    def fetcher(self) -> Fetcher:
        """The download machinery, with the build's proxies and offline setting; its
        progress is reported as DownloadProgress events."""
        from dibpy.host.fetch import Fetcher

        proxies = self.proxies
        return Fetcher(
            proxies={
                scheme: proxies[f"{scheme}_proxy"]
                for scheme in ("http", "https")
                if f"{scheme}_proxy" in proxies
            },
            no_proxy=proxies.get("no_proxy", ""),
            offline=self.offline,
            on_progress=self._on_download,
        )

    def run(
        self,
        argv: Sequence[str | Path],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        capture: bool = False,
        check: bool = True,
    ) -> Result:
        """Run a command on the host (argument list; logged, timed, failures raised).

        ``env`` adds variables to the build's environment for this command.
        """
        full_env = {**self._runner.env, **env} if env else None
        return self._runner.run(
            argv, cwd=cwd, env=full_env, input=input, capture=capture, check=check
        )

    def element_data(self, attribute: str) -> dict[str, Any]:
        """``{element: value}`` of a module attribute (``PACKAGES``, ``PKG_MAP``, ...) for
        every element of the build that declares it, in resolution order."""
        return {
            name: getattr(module, attribute)
            for name, module in self._modules.items()
            if hasattr(module, attribute)
        }

    def shell_environment(self, phase: Phase) -> dict[str, str]:
        """The environment a legacy (DIB shell) hook of ``phase`` sees: the build's, DIB's
        exported variables, and what the elements' ``environment.d`` files export (sourced
        on the host). For Python code that must decide as DIB's shell would, such as a
        package's ``when`` condition. Without environment.d files it is ``env`` itself."""
        if not (self.hooks_path / "environment.d").is_dir():
            return dict(self.env)
        from dibpy.legacy.script import phase_environment

        return phase_environment(self, phase, on_host=True)

    def settings(self, cls: type[S]) -> S:
        """An element's typed settings, read from the build's environment snapshot."""
        if cls not in self._settings:
            self._settings[cls] = read_settings(cls, self.env)
        found = self._settings[cls]
        assert isinstance(found, cls)  # noqa: S101 (narrows for mypy)
        return found
