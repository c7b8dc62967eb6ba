"""What each metric evaluate reports means, in words a validator reads next to its value.

A module of its own, not evaluate's: the report shows these without importing scikit-learn
(1.2 s of the report stage's 2.5 s of imports).
"""

DEFINITIONS = {
    "auc": "Area under the ROC curve: the chance that a defaulter is scored riskier than a "
    "non-defaulter (0.5 is guessing, 1 is perfect).",
    "gini": "2 * AUC - 1, the accuracy ratio: 0 is guessing, 1 is perfect.",
    "ks": "Kolmogorov-Smirnov statistic: the largest gap between the cumulative score "
    "distributions of defaulters and non-defaulters (the ROC curve's furthest point from "
    "the diagonal).",
    "brier": "Mean squared difference between the predicted probability and the outcome "
    "(0 or 1); lower is better.",
    "log_loss": "Mean negative log-likelihood of the outcomes under the predicted "
    "probabilities; lower is better, and confident mistakes cost most.",
    "default_rate": "Share of the test applications that defaulted within 12 months.",
    "predicted_rate": "Mean predicted default probability; near the default rate when the "
    "model is calibrated on average.",
    "rows": "Applications in the out-of-time test set.",
}
