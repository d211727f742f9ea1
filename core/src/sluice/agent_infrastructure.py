"""What the agent starts for one flow run: the deployment's infrastructure, overridden and prepared.

The infrastructure is the deployment's saved block (``infrastructure_document_id``), else its
anonymous ``infrastructure`` data, else an anonymous block of the default type
(``SLUICE_DEFAULT_INFRASTRUCTURE``). The deployment's ``infra_overrides`` are applied (dot paths,
``env.KEY``), then ``prepare_for_flow_run`` sets the run's id, the API to report to and labels. The
API masks secret overrides (``env.AWS_SECRET_ACCESS_KEY``); the agent asks for their values
explicitly, as it does for the secrets of saved blocks.
"""

from __future__ import annotations

from typing import Any

from sluice.blocks import MASK, InfrastructureBlock
from sluice.errors import ConfigurationError
from sluice.settings import Settings


def load_infrastructure(client: Any, deployment: Any) -> InfrastructureBlock:
    """The deployment's infrastructure block, with its ``infra_overrides`` applied."""
    from sluice.deployments import block_from_data, default_infrastructure
    from sluice.plugins import get_registry

    if deployment.infrastructure_document_id is not None:
        document = client.read_block_document(deployment.infrastructure_document_id, include_secrets=True)
        block = get_registry("infrastructure").get(document.block_type_slug).from_data(document.data)
        block._block_document_id = document.id
        block._block_document_name = document.name
    elif deployment.infrastructure:
        block = block_from_data("infrastructure", dict(deployment.infrastructure), "the deployment's infrastructure")
    else:
        block = default_infrastructure()
    if not isinstance(block, InfrastructureBlock):
        raise ConfigurationError(f"{type(block).__name__} is not an infrastructure block")
    overrides = deployment.infra_overrides
    if overrides and _holds_mask(overrides):
        overrides = client.read_deployment(deployment.id, include_secrets=True).infra_overrides
    if overrides:
        block = block.with_overrides(overrides)
    return block


def _holds_mask(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_mask(item) for item in value.values())
    return value == MASK


def prepare_for_run(
    block: InfrastructureBlock, flow_run: Any, deployment: Any, client: Any, settings: Settings
) -> InfrastructureBlock:
    """A copy of ``block`` set up for ``flow_run``, reporting to the API the agent uses.

    An agent on the embedded API (no ``SLUICE_API_URL``) hands its database to the child instead:
    ``SLUICE_HOME`` and ``SLUICE_DATABASE_URL``, so the engine opens the same SQLite file.
    """
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    prepared = block.prepare_for_flow_run(
        flow_run.id,
        flow_run_name=flow_run.name,
        deployment_id=deployment.id,
        flow_id=deployment.flow_id,
        flow_name=deployment.flow_name,
        api_url=None if client.is_embedded else client.api_url,
        api_key=api_key or None,
    )
    if client.is_embedded:
        shared = {"SLUICE_HOME": str(settings.home), "SLUICE_DATABASE_URL": settings.effective_database_url}
        prepared = prepared.model_copy(update={"env": {**shared, **prepared.env}})
    return prepared
