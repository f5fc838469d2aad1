"""The modality mixed model: does the change over waves differ between modalities?

``outcome ~ wave * modality (+ covariates)`` with random intercepts for sites and for
participants within sites, fitted by REML (or ML) with a fast nested-block algorithm and
checked against lme4/lmerTest, emmeans, pbkrtest and clubSandwich (see
``tests/reference/models``). Alongside the model: Satterthwaite or Kenward-Roger degrees of
freedom, estimated marginal means, difference-in-change contrasts, a site-level randomization
test and CR2 cluster-robust tests.

Examples
--------
>>> from evalkit.models import modality_model
>>> from evalkit.models._toy import toy_collaborative
>>> res = modality_model(toy_collaborative(), outcome="score", time="wave",
...     time_order=["baseline", "midline", "endline"], group="modality", cluster="site",
...     subject="participant", seed=1)
>>> res.fit.n_groups
{'site': 6, 'participant': 72}
>>> list(res.fixed_effects.columns)
['term', 'estimate', 'se', 'df', 't', 'p']
"""

from typing import TYPE_CHECKING, Any

from evalkit.models._api import (
    FitInfo,
    ModalityModelFit,
    ModalityModelResult,
    fit_modality_model,
    modality_model,
    summarize,
    to_json,
)

if TYPE_CHECKING:
    from evalkit.models._ordinal import OrdinalFitInfo, OrdinalModelResult, ordinal_model
    from evalkit.models._ordinal_report import ordinal_agrees, ordinal_to_json

# The ordinal model loads scipy.stats (about a second): import it on first use only, so that
# the modality model (``evalkit model``) does not pay for it.
_LAZY = {"OrdinalFitInfo": "_ordinal", "OrdinalModelResult": "_ordinal",
         "ordinal_model": "_ordinal", "ordinal_agrees": "_ordinal_report",
         "ordinal_to_json": "_ordinal_report"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"evalkit.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'evalkit.models' has no attribute {name!r}")


__all__ = [
    "FitInfo",
    "ModalityModelFit",
    "ModalityModelResult",
    "fit_modality_model",
    "modality_model",
    "OrdinalFitInfo",
    "OrdinalModelResult",
    "ordinal_agrees",
    "ordinal_model",
    "ordinal_to_json",
    "summarize",
    "to_json",
]
