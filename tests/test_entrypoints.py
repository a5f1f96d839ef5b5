"""The entry-point reader finds what importlib.metadata finds, without its import cost."""
from __future__ import annotations

import sys
from importlib.metadata import entry_points as standard

from agybatch.entrypoints import entry_points


def test_it_finds_what_importlib_metadata_finds():
    ours = {(ep.name, ep.value) for ep in entry_points("agybatch")}
    theirs = {(ep.name, ep.value) for ep in standard(group="agybatch")}
    assert ours == theirs and ours  # the plugin distributions of the test install are there
    scripts = {(ep.name, ep.value) for ep in entry_points("console_scripts")}
    assert ("agybatch", "agybatch.cli.main:main") in scripts


def test_it_loads_and_names_the_distribution():
    ray = next(ep for ep in entry_points("agybatch") if ep.name == "ray")
    assert ray.load().__name__ == "agybatch_ray.plugin"
    assert (ray.dist.name, ray.dist.version) == ("agybatch-ray", "0.1.0")


def test_a_zip_on_the_path_hands_over_to_importlib_metadata(tmp_path, monkeypatch):
    archive = tmp_path / "plugins.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    monkeypatch.setattr(sys, "path", [str(archive), *sys.path])
    assert {ep.name for ep in entry_points("agybatch")} == {ep.name for ep in standard(group="agybatch")}
