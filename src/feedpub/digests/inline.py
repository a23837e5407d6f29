"""CSS inlining for email HTML: the only module that imports premailer/cssutils.

Mail clients drop or ignore <style> blocks (Gmail keeps them only in some apps,
Outlook.com rewrites them), so every rule is copied onto the elements' style
attributes. The <style> block is kept for the media queries that make the
600px layout narrow on phones; they only work with their ``!important``.

Inlining costs milliseconds per call: ``render`` inlines once per content
variant and recipient parts go into slots of the result afterwards.
"""

from __future__ import annotations

import logging
import warnings

import cssutils
from premailer import Premailer

# cssutils reports every property it does not know (mso-*, -webkit-*) as an
# error on its own logger; those are exactly the properties email needs.
cssutils.log.setLevel(logging.CRITICAL)


def inline_css(html: str) -> str:
    """``html`` with its <style> rules copied onto the elements.

    No network (no external stylesheets are fetched), ``!important`` kept (the
    phone overrides in media queries lose without it), the style block kept,
    no CSS validation (it rejects mso-* properties), URLs left untouched (no
    base_url, so an ASCII slot marker in an href passes through unchanged).
    """
    with warnings.catch_warnings():
        # cssutils marks some of its own API deprecated and premailer 3.10.0
        # (the last release) still calls it; those warnings are about the
        # libraries, not our input, and pytest runs with warnings as errors.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cssutils(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"premailer(\.|$)")
        result: str = Premailer(
            html,
            allow_network=False,
            strip_important=False,
            keep_style_tags=True,
            cssutils_logging_level=logging.CRITICAL,
            disable_validation=True,
            # premailer copies CSS widths and heights into attributes; an
            # image's "height: auto" would overwrite its pixel height (and
            # give one without a known size height="auto", which is no
            # number). Heights are written by the template where known.
            disable_basic_attributes=["height"],
        ).transform()
    return result
