"""Project configuration: the template validates, and every error names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evalkit._assets import asset_path
from evalkit.config import load_config
from evalkit.errors import ConfigError

TEMPLATE = asset_path("templates") / "evalkit.yml"


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "evalkit.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def test_template_is_valid_and_resolves_paths(tmp_path):
    cfg = load_config(_write(tmp_path, _template()))
    assert [s.id for s in cfg.sites] == ["S01", "S02", "S03"]
    assert cfg.reports.suppression_threshold == 11
    assert cfg.store_path == tmp_path.resolve() / "evalkit.duckdb"
    assert cfg.site_modality()["S02"] == "peer"


def test_folder_is_accepted_in_place_of_file(tmp_path):
    _write(tmp_path, _template())
    assert load_config(tmp_path).collaborative.name.startswith("My Complex Care")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"evalkit\.yml"):
        load_config(tmp_path / "evalkit.yml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["sites"][0].update(modalities=["yoga"]),
         r"sites\[0\]\.modalities: modality 'yoga' \(site S01\) is not one of"),
        (lambda d: d["sites"].append(dict(d["sites"][0])), r"duplicate site id 'S01'"),
        (lambda d: d["instruments"]["network"].update(waves=["final"]),
         r"instruments\.network\.waves: wave 'final' is not one of the waves"),
        (lambda d: d["reports"].update(suppression_threshold=0),
         r"reports\.suppression_threshold: .*greater than or equal to 1"),
        (lambda d: d["collaborative"]["period"].update(end="2020-01-01"),
         r"collaborative\.period: end 2020-01-01 is before start"),
        (lambda d: d.update(colaborative="typo"), r"colaborative: Extra inputs"),
        (lambda d: d["waves"][0].pop("id"), r"waves\[0\]\.id: Field required"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path, change, message):
    data = _template()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_not_yaml_mapping(tmp_path):
    path = tmp_path / "evalkit.yml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="evalkit.yml"):
        load_config(path)


def test_privacy_settings_are_checked(tmp_path):
    from evalkit.project import create_project

    cfg = create_project(tmp_path / "p")
    assert cfg.privacy.default_region == "US"
    path = tmp_path / "p" / "evalkit.yml"
    path.write_text(path.read_text().replace("default_region: US", "default_region: XX"))
    with pytest.raises(ConfigError, match=r"privacy.default_region: .*two-letter region"):
        load_config(path)
    path.write_text(path.read_text().replace("default_region: XX", "default_region: gb")
                    .replace("national_ids: []", "national_ids: ['[']"))
    with pytest.raises(ConfigError, match=r"privacy.national_ids.*not a regular expression"):
        load_config(path)


@pytest.mark.parametrize("url, allow, ok", [
    ("https://surveys.example.org/index.php/admin/remotecontrol", False, True),
    ("http://127.0.0.1:8080/index.php/admin/remotecontrol", False, True),
    ("http://localhost/index.php/admin/remotecontrol", False, True),
    ("http://surveys.example.org/index.php/admin/remotecontrol", False, False),
    ("http://surveys.example.org/index.php/admin/remotecontrol", True, True),
])
def test_a_plain_http_limesurvey_url_is_refused_unless_allowed(tmp_path, url, allow, ok):
    from evalkit.project import create_project

    create_project(tmp_path / "p")
    path = tmp_path / "p" / "evalkit.yml"
    flag = ", allow_http: true" if allow else ""
    extra = f"\nlimesurvey: {{url: '{url}', user: me{flag}}}\n"
    path.write_text(path.read_text() + extra)
    if ok:
        assert load_config(path).limesurvey.url == url
    else:
        with pytest.raises(ConfigError, match=r"limesurvey.*plain http.*unencrypted"):
            load_config(path)
