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

from evalkit.models._api import (
    FitInfo,
    ModalityModelFit,
    ModalityModelResult,
    fit_modality_model,
    modality_model,
    summarize,
    to_json,
)
from evalkit.models._ordinal import OrdinalFitInfo, OrdinalModelResult, ordinal_model
from evalkit.models._ordinal_report import ordinal_agrees, ordinal_to_json

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
