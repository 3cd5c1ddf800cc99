"""A YAML configuration file read into a pydantic model, every problem raised naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: str | Path, model: type[M], *, what: str, error: type[Exception], missing: str) -> M:
    """``path`` as ``model``: an empty file is an empty mapping. A missing file, bad YAML or a value the model
    refuses raises ``error`` starting with ``what`` and the path (``missing`` says how to point at the right
    file); validation problems are listed as ``key.path: message``, separated by ``; ``."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise error(f"{what} {p} not found: {missing}") from None
    except yaml.YAMLError as e:
        raise error(f"{what} {p} is not valid YAML: {e}") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or '(file)'}: {err['msg']}" for err in e.errors())
        raise error(f"{what} {p}: {problems}") from None
