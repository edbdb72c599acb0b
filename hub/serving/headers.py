"""Headers of the pages where people paste API keys (the dashboard, the operators' console,
GraphiQL): nothing but the hub's own files may run or be loaded there, no other site may
frame them, and no URL of theirs leaves as a referrer."""

from __future__ import annotations


def page_headers(*, inline_styles: bool = False) -> dict[str, str]:
    """`inline_styles`: GraphiQL's editor sets style attributes from its scripts."""
    styles = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'; style-src {styles}; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
