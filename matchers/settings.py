"""Parser settings, read from ``TRIALMATCH_*`` environment variables.

:class:`MatcherSettings` is built once at the edge (the service, a CLI, a benchmark)
and passed to :func:`matchers.pipeline.build_nlp` and
:class:`matchers.parser.EligibilityParser`; nothing here reads the environment at
import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MatcherSettings(BaseSettings):
    """Options of the eligibility parser.

    * ``spacy_model`` (env ``TRIALMATCH_SPACY_MODEL``): name of an *installed* trained
      spaCy pipeline (e.g. ``en_core_sci_sm``) to start from instead of
      ``spacy.blank("en")``. ``None`` (default) uses the blank pipeline with scispaCy's
      tokenizer. A model is never downloaded; if the name is set but not installed,
      :func:`matchers.pipeline.build_nlp` raises
      :class:`matchers.errors.PipelineError`.
    * ``negation``: ``context`` (medspacy ConText with the project's rules, default)
      or ``negspacy`` (negspacy's NegEx with the same cue lists).
    * ``abbreviations``: run scispaCy's ``abbreviation_detector`` (default on; it
      costs a few percent of throughput).
    * ``batch_size``: default batch size of ``EligibilityParser.parse_many``.
    * ``max_text_chars``: criteria text beyond this length is not parsed (kept as one
      uninterpreted tail criterion) to bound the work per trial.
    """

    model_config = SettingsConfigDict(
        env_prefix="TRIALMATCH_", env_file=".env", extra="ignore", frozen=True
    )

    spacy_model: str | None = Field(
        default=None, description="Installed trained spaCy pipeline to start from."
    )
    negation: Literal["context", "negspacy"] = Field(
        default="context", description="Negation component: medspacy ConText or negspacy."
    )
    abbreviations: bool = Field(default=True, description="Run scispaCy's abbreviation detector.")
    batch_size: int = Field(default=64, ge=1, le=10_000, description="parse_many batch size.")
    max_text_chars: int = Field(
        default=60_000, ge=1_000, description="Criteria text parsed per trial, at most."
    )
