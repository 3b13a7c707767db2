"""The control plane's options and wiring: defaults, --admin, the admin listener in the ready file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

from zoo.admin.service import AdminGroup, add_admin
from zoo.events import Observatory, hub
from zoo.tap import all as runner
from zoo.tap import echo, registry
from zoo.tap._service import ZooRoot, _groups


@pytest.fixture
def restore_hub() -> Any:
    saved = (hub.enabled, hub.max_events, hub.max_bytes, hub.transcripts)
    yield hub
    hub.enabled, hub.max_events, hub.max_bytes, hub.transcripts = saved


def test_runner_serves_the_control_plane_on_loopback_by_default() -> None:
    """`twistd zoo` defaults to --admin tcp:8900 on 127.0.0.1; --admin off disables it."""
    options = runner.Options()
    options.parseOptions([])
    assert options["admin"] == "tcp:8900:interface=127.0.0.1"
    assert options["transcripts"] is True
    off = runner.Options()
    off.parseOptions(["--admin", "off"])
    assert off["admin"] is None


def test_plugins_accept_admin_and_default_to_off() -> None:
    """A single plugin serves no control plane unless --admin names an endpoint (on loopback)."""
    plain = echo.Options()
    plain.parseOptions([])
    assert plain["admin"] is None
    given = echo.Options()
    given.parseOptions(["--admin", "9000", "--events-max", "50", "--transcripts", "off"])
    assert given["admin"] == "tcp:9000:interface=127.0.0.1"
    assert (given["events-max"], given["transcripts"]) == (50, False)
    wide = echo.Options()
    wide.parseOptions(["--admin", "tcp:9000:interface=0.0.0.0"])
    assert wide["admin"] == "tcp:9000:interface=0.0.0.0"


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--admin", "bogus:1"], "--admin"),
        (["--admin", "70000"], "--admin"),
        (["--events-max", "0"], "--events-max"),
        (["--transcripts", "maybe"], "--transcripts"),
    ],
)
def test_bad_admin_options(args: list[str], word: str) -> None:
    """Bad control-plane options are usage errors naming the option."""
    with pytest.raises(usage.UsageError, match=word):
        echo.Options().parseOptions(args)


def test_plugin_with_admin_adds_the_admin_group_and_enables_the_hub(
    tmp_path: Path, restore_hub: Observatory
) -> None:
    """makeService with --admin adds an 'admin' group and turns the hub on with the retention."""
    hub.enabled = False
    options = echo.Options()
    options.parseOptions(
        ["--port", "0", "--admin", "0", "--state-dir", str(tmp_path), "--events-max", "7"]
    )
    root = echo.makeService(options)
    groups = [s for s in root if isinstance(s, AdminGroup)]
    assert len(groups) == 1 and groups[0].name == "admin"
    assert hub.enabled and hub.max_events == 7 and hub.transcripts is True
    assert (tmp_path / "admin-token").read_text().strip() == groups[0].token


def test_plugin_without_admin_leaves_the_hub_off(tmp_path: Path, restore_hub: Observatory) -> None:
    """Without --admin a plugin adds no admin group and does not turn the hub on."""
    hub.enabled = False
    options = echo.Options()
    options.parseOptions(["--port", "0", "--state-dir", str(tmp_path)])
    root = echo.makeService(options)
    assert not [s for s in root if isinstance(s, AdminGroup)]
    assert not hub.enabled and not (tmp_path / "admin-token").exists()


def test_admin_listener_is_in_the_ready_file_and_the_api(tmp_path: Path) -> None:
    """The admin listener is bound like any other: in the ready file and in /api/services."""
    observatory = Observatory(enabled=False, node="t")
    root = ZooRoot(ready_file=str(tmp_path / "ready.json"))
    group = add_admin(
        root, "tcp:0:interface=127.0.0.1", tmp_path, observatory=observatory,
        reactor=MemoryReactor(),
    )  # fmt: skip
    assert observatory.enabled
    assert group.plane.pending() == ["admin tcp:0:interface=127.0.0.1"]
    root.startService()
    ready = json.loads((tmp_path / "ready.json").read_text())
    assert [entry["service"] for entry in ready["listeners"]] == ["admin"]
    assert group.plane.pending() == []
    assert [b.service for b in group.plane.listeners()] == ["admin"]


def test_runner_config_file_sets_admin(tmp_path: Path) -> None:
    """A [zoo] table's admin key moves or disables the control plane."""
    for value, want in (('"off"', None), ("false", None), ("9100", "tcp:9100:interface=127.0.0.1")):
        config = tmp_path / "zoo.toml"
        config.write_text(f"[zoo]\nadmin = {value}\n[echo]\nport = 0\n")
        options = runner.Options()
        options.parseOptions(["--config", str(config)])
        assert options["admin"] == want, value


def test_events_redis_needs_the_control_plane_and_a_redis_url() -> None:
    """--events-redis needs --admin, and a redis://host[:port] URL."""
    with pytest.raises(usage.UsageError, match="needs the control plane"):
        echo.Options().parseOptions(["--events-redis", "redis://127.0.0.1"])
    with pytest.raises(usage.UsageError, match="--events-redis"):
        echo.Options().parseOptions(["--admin", "0", "--events-redis", "http://x"])
    options = runner.Options()
    options.parseOptions(["--events-redis", "redis://127.0.0.1:6390"])
    assert options["events-redis"] == "redis://127.0.0.1:6390"


@pytest.mark.parametrize("name", registry.names())
def test_every_plugin_serves_the_control_plane_with_admin(
    name: str, tmp_path: Path, restore_hub: Observatory
) -> None:
    """Every plugin accepts --admin and then holds an 'admin' listener group."""
    module = registry.load(name)
    options = module.Options()
    options.parseOptions(["--port", "0", "--admin", "0", "--state-dir", str(tmp_path)])
    root = module.makeService(options)
    assert [g.name for g in _groups(root) if isinstance(g, AdminGroup)] == ["admin"]
