"""The entity's project system as a :class:`~sync_pipeline.connectors.project.ProjectSource`, from the resources.

Assets and sensors call :func:`project_source` and ask the source what it supports; they never branch on which
system it is (a test holds them to that: ``sync_pipeline_tests/defs/test_source_neutral.py``).
"""

from __future__ import annotations

from sync_pipeline.connectors.project import Connections, ProjectSource, open_source
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.defs.resources import HarvestResource, RedmineResource


def project_source(entity: EntityConfig, harvest: HarvestResource, redmine: RedmineResource) -> ProjectSource:
    return open_source(entity, Connections(harvest=harvest.client, redmine=redmine.client,
                                           harvest_health=harvest.health))
