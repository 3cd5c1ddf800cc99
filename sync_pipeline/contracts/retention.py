"""The retention policy file (``SYNC_PIPELINE_RETENTION``, default ``docs/retention.example.yaml``).

Validated with pydantic so a bad file names the key and the fix; the rules themselves are
``sync_pipeline.domain.retention``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync_pipeline.contracts.config_file import load_yaml_model
from sync_pipeline.domain.retention import DEFAULT_TAX_YEARS, FALLBACK_TAX_YEARS, RecordClass, RetentionPolicy


class RetentionConfigError(ValueError):
    pass


class ClassModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    personal_years: int | None = Field(None, ge=0, le=100)
    keep_years: int | None = Field(None, ge=0, le=100)
    tax: bool = False
    description: str = ""


class RetentionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: dict[str, ClassModel]
    assets: dict[str, str] = Field(default_factory=dict)
    store_tables: dict[str, str] = Field(default_factory=dict)  # operational-store table → class
    tax_years: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TAX_YEARS))
    fallback_tax_years: int = Field(FALLBACK_TAX_YEARS, ge=0, le=100)
    entities: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _assets_name_classes(self) -> RetentionConfig:
        for key, named in (("assets", self.assets), ("store_tables", self.store_tables)):
            bad = {a: c for a, c in named.items() if c not in self.classes}
            if bad:
                raise ValueError(f"{key} name classes that are not under classes: {bad}; add them or use one of "
                                 f"{sorted(self.classes)}")
        for cls_name, c in self.classes.items():
            if c.personal_years is not None and c.keep_years is not None and c.personal_years > c.keep_years:
                raise ValueError(f"classes.{cls_name}: personal_years ({c.personal_years}) after keep_years "
                                 f"({c.keep_years}): a deleted record cannot be anonymized later")
        return self

    def policy(self, mapping_jurisdictions: dict[str, str] | None = None) -> RetentionPolicy:
        return RetentionPolicy(
            classes={n: RecordClass(n, c.personal_years, c.keep_years, c.tax, c.description)
                     for n, c in self.classes.items()},
            tax_years={k.upper(): v for k, v in self.tax_years.items()},
            fallback_tax_years=self.fallback_tax_years,
            entity_jurisdictions={**(mapping_jurisdictions or {}), **self.entities},
        )


def load_retention_config(path: str | Path) -> RetentionConfig:
    return load_yaml_model(path, RetentionConfig, what="retention file", error=RetentionConfigError,
                           missing="set SYNC_PIPELINE_RETENTION to your policy "
                                   "(docs/retention.example.yaml is the documented default)")
