"""CloudFormation resource types moto lacks, for deploying the synthesized templates on the local AWS (see models.py)."""

from .models import REGISTERED  # noqa: F401  (importing registers the models with moto)
