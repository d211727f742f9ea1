"""deployment.yaml: Prefect 2's layout, reading it back, Prefect 2 files, and the errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sluice.deployments import Deployment
from sluice.errors import ConfigurationError, UnknownSlugError

PREFECT_FILE = """###
### A complete description of a Prefect Deployment for flow 'say-hi'
###
name: marvin
description: null
version: 5c3a0b0e4e5a2c5dc7b0a8f0d6a5b7c2
# The work queue that will handle this deployment's runs
work_queue_name: test
work_pool_name: null
tags: []
parameters: {}
schedule:
  cron: 0 9 * * *
  timezone: null
  day_or: true
is_schedule_active: true
infra_overrides: {}
infrastructure:
  type: process
  env: {}
  labels: {}
  name: null
  command:
  - python
  - -m
  - prefect.engine
  stream_output: true
  working_dir: null
  _block_document_id: 8f0b5b8e-2a7c-4b2d-9c0a-0e8f2f7d6a11
  _block_document_name: anonymous-1f4b
  _is_anonymous: true
  block_type_slug: process
  _block_type_slug: process

###
### DO NOT EDIT BELOW THIS LINE
###
flow_name: say-hi
manifest_path: null
storage: null
path: /home/arthur/project
entrypoint: flows/marvin.py:say_hi
parameter_openapi_schema:
  title: Parameters
  type: object
  properties:
    name:
      title: name
      default: Marvin
      type: string
  required: null
  definitions: null
timestamp: '2023-02-01T10:00:00.000000+00:00'
"""


def write(tmp_path: Path, text: str, name: str = "deployment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_prefect_2_file_is_accepted_unchanged(tmp_path: Path) -> None:
    deployment = Deployment.from_yaml(write(tmp_path, PREFECT_FILE))
    assert deployment.full_name == "say-hi/marvin"
    assert deployment.work_queue_name == "test"
    assert deployment.entrypoint == "flows/marvin.py:say_hi"
    assert deployment.path == "/home/arthur/project"
    assert deployment.storage is None
    assert deployment.schedule is not None and deployment.schedule.type == "cron"
    assert deployment.infrastructure is not None
    assert deployment.infrastructure.block_type_slug == "process"
    assert deployment.infrastructure.command is None  # Prefect's engine command is replaced by Sluice's
    assert deployment.infrastructure.document_name is None  # an anonymous Prefect block is not a saved one


def test_yaml_has_prefect_layout_and_round_trips(tmp_path: Path) -> None:
    original = Deployment.from_yaml(write(tmp_path, PREFECT_FILE))
    text = original.to_yaml()
    lines = text.splitlines()
    assert lines[:3] == ["###", "### A complete description of a Sluice Deployment for flow 'say-hi'", "###"]
    assert "# The work queue that will handle this deployment's runs" in lines
    marker = text.index("###\n### DO NOT EDIT BELOW THIS LINE\n###\n")
    below = text[marker:]
    positions = [below.index(f"\n{key}:") for key in ("flow_name", "manifest_path", "storage", "path", "entrypoint")]
    assert positions == sorted(positions)
    assert below.index("\nentrypoint:") < below.index("\nparameter_openapi_schema:")
    assert text.index("\ninfrastructure:") < marker
    data = yaml.safe_load(text)
    assert data["infrastructure"]["type"] == "process"
    assert data["schedule"]["cron"] == "0 9 * * *"
    again = Deployment.from_yaml(write(tmp_path, text, "again.yaml"))
    assert again.to_data() == original.to_data()


def test_only_fields_in_the_file_count_as_set(tmp_path: Path) -> None:
    deployment = Deployment.from_yaml(write(tmp_path, "name: marvin\nflow_name: say-hi\ntags: []\n"))
    assert deployment.explicit_fields() == {"name", "flow_name", "tags"}
    deployment.description = "now set"
    assert "description" in deployment.explicit_fields()


def test_unknown_field_is_rejected_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "name: marvin\nflow_name: say-hi\nwork_queue: test\ncolour: red\n")
    with pytest.raises(ConfigurationError, match=r"unknown fields 'colour', 'work_queue' \(known fields: name, "):
        Deployment.from_yaml(path)


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: marvin\nflow_name: [say-hi\ntags: []\n")
    with pytest.raises(ConfigurationError, match=r"deployment.yaml, line \d+: invalid YAML"):
        Deployment.from_yaml(path)


def test_a_yaml_list_is_not_a_deployment(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="must be a YAML mapping"):
        Deployment.from_yaml(write(tmp_path, "- a\n- b\n"))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Deployment.from_yaml(tmp_path / "nope.yaml")


def test_unknown_infrastructure_slug_says_what_is_installed(tmp_path: Path) -> None:
    path = write(tmp_path, "name: m\nflow_name: f\ninfrastructure:\n  type: nomad-job\n")
    with pytest.raises(UnknownSlugError, match=r"nomad-job': no installed plugin provides it.*installed: .*process"):
        Deployment.from_yaml(path)


def test_invalid_schedule_in_a_file_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, "name: m\nflow_name: f\nschedule:\n  cron: '61 * * * *'\n")
    with pytest.raises(ConfigurationError, match="invalid cron schedule"):
        Deployment.from_yaml(path)


def test_a_deployment_name_with_a_slash_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"name: .*contain no '/'"):
        Deployment.from_yaml(write(tmp_path, "name: a/b\nflow_name: f\n"))


def test_null_is_schedule_active_and_catchup_are_left_unset(tmp_path: Path) -> None:
    text = "name: m\nflow_name: f\nis_schedule_active: null\ncatchup: null\n"
    deployment = Deployment.from_yaml(write(tmp_path, text))
    assert deployment.is_schedule_active is True and deployment.catchup is False
    assert deployment.explicit_fields() == {"name", "flow_name"}  # applying keeps the server's values


def test_job_variables_is_read_as_infra_overrides(tmp_path: Path) -> None:
    text = "name: m\nflow_name: f\njob_variables:\n  env.LOG_LEVEL: DEBUG\n"
    deployment = Deployment.from_yaml(write(tmp_path, text))
    assert deployment.infra_overrides == {"env.LOG_LEVEL": "DEBUG"}
    assert "infra_overrides" in deployment.explicit_fields()


def test_job_variables_and_different_infra_overrides_are_refused(tmp_path: Path) -> None:
    text = "name: m\nflow_name: f\njob_variables:\n  env.A: '1'\ninfra_overrides:\n  env.A: '2'\n"
    with pytest.raises(ConfigurationError, match="'job_variables' and 'infra_overrides' are two names"):
        Deployment.from_yaml(write(tmp_path, text))
