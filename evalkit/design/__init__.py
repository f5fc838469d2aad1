"""Designing the next collaborative: simulation power and the minimum detectable difference.

Simulated collaboratives are drawn from this one's own estimates (the modality model's
variance components and the changes it found, read from a fitted model or a project's
``results/``) or from stated ICCs and an effect size; each is fitted and tested as evalkit
fits and tests the real one (the modality model with Satterthwaite and Kenward-Roger degrees
of freedom, and the site-level randomization test). Checked against the closed-form power
of a cluster-randomised comparison and an R simulation with lmerTest
(``tests/reference/power``).

Examples
--------
>>> from evalkit.design import parameters_from_icc, power
>>> p = parameters_from_icc(icc_site=0.05, icc_participant=0.5, effect=0.4)
>>> res = power(p, sites_per_modality=[2, 4], participants=[10], n_simulations=20,
...             kenward_roger=False, workers=1, seed=3)
>>> sorted(res.power["method"].unique())
['permutation', 'satterthwaite']
>>> res.power.query("method == 'permutation' and contrast == 'joint'")["min_p"].round(3).tolist()
[0.333, 0.029]
"""

from evalkit.design._closed_form import cluster_trial_power, individual_trial_power
from evalkit.design._figure import default_contrast, power_figure
from evalkit.design._parameters import (
    PowerParameters,
    parameters_from_icc,
    parameters_from_model,
    parameters_from_results,
)
from evalkit.design._power import POWER_COLUMNS, PowerResult, power
from evalkit.design._report import DetectionSummary, detection_summary, to_json

__all__ = [
    "POWER_COLUMNS",
    "DetectionSummary",
    "PowerParameters",
    "PowerResult",
    "cluster_trial_power",
    "default_contrast",
    "detection_summary",
    "individual_trial_power",
    "parameters_from_icc",
    "parameters_from_model",
    "parameters_from_results",
    "power",
    "power_figure",
    "to_json",
]
