"""Text metrics (BLEU, chrF, ROUGE, BERTScore) and the summary statistics used to aggregate them.

Importing this package is cheap: sacrebleu, rouge-score, bert-score, torch and transformers are only
imported when a metric is computed.
"""

from evalkit.metrics.stats import bootstrap_stderr, mean, mean_stderr, sample_stddev
from evalkit.metrics.text import (
    BERTSCORE_KEYS,
    METRIC_GROUPS,
    ROUGE_KEYS,
    TEXT_METRICS,
    TextMetricScores,
    bertscore,
    bleu_corpus,
    bleu_item,
    chrf_corpus,
    chrf_item,
    default_bertscore_model,
    expand_metric_names,
    rouge_item,
    score_text_metrics,
)

__all__ = [
    "BERTSCORE_KEYS",
    "METRIC_GROUPS",
    "ROUGE_KEYS",
    "TEXT_METRICS",
    "TextMetricScores",
    "bertscore",
    "bleu_corpus",
    "bleu_item",
    "bootstrap_stderr",
    "chrf_corpus",
    "chrf_item",
    "default_bertscore_model",
    "expand_metric_names",
    "mean",
    "mean_stderr",
    "rouge_item",
    "sample_stddev",
    "score_text_metrics",
]
