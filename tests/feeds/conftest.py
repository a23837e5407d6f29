"""Fixtures of the feed tests: the test site's FeedsConfig (with a WebSub
hub) and the documents the sample articles give."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedpub.config import FeedsConfig
from feedpub.feeds.incremental import RenderedTree
from support.feedfactory import feeds_config, plan_for, render, sample_articles


@pytest.fixture
def cfg(tmp_path: Path) -> FeedsConfig:
    return feeds_config(tmp_path / "public", websub_hub="https://hub.example.org/")


@pytest.fixture
def tree(cfg: FeedsConfig) -> RenderedTree:
    return render(plan_for(sample_articles()), cfg)
