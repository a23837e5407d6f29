"""Tests of src/feedpub/feeds/, one module per module there."""
