"""The live faces' command-line options (``serve --publish/--metrics/--web``): checked into a
:class:`~meterkit.faces.runner.FacesConfig` before anything starts, a bad one is a usage error (exit 2)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..faces.runner import FacesConfig

__all__ = ["faces_config"]


def faces_config(
    publish: str | None,
    discovery_prefix: str,
    metrics: str | None,
    web: str | None,
    web_allow_remote: bool,
    web_token_file: Path | None,
) -> FacesConfig | None:
    """The faces asked for (None: none); :class:`typer.BadParameter` naming the option when one is wrong."""
    if publish is None and metrics is None and web is None:
        if web_allow_remote or web_token_file is not None:
            raise typer.BadParameter("--web-allow-remote and --web-token-file go with --web", param_hint="--web")
        return None
    from ..faces.runner import FacesConfig  # paho-mqtt and the faces only when asked for

    token = None
    if web_token_file is not None:
        try:
            token = web_token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {web_token_file}: {exc}", param_hint="--web-token-file") from None
    if not discovery_prefix.strip("/") or any(c in discovery_prefix for c in "#+"):
        raise typer.BadParameter(f"{discovery_prefix!r} is not a topic prefix", param_hint="--discovery-prefix")
    config = FacesConfig(
        publish=publish,
        discovery_prefix=discovery_prefix.strip("/"),
        metrics=metrics,
        web=web,
        web_allow_remote=web_allow_remote,
        web_token=token,
        node=f"meterkit-{socket.gethostname()}",
    )
    try:
        config.check()
    except ConfigError as exc:
        hint = "--web" if "--web" in str(exc) else "--metrics" if metrics and metrics in str(exc) else "--publish"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    return config
