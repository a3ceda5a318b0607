"""The Jupyter server's login for ``k2l serve``: the token, and the site's origin only.

Jupyter's default identity provider skips the cross-origin check for requests
that carry the token, so a page from another site holding the token could use
the kernels (the browser would only keep the answers from it). ``k2l serve``
allows the site's own origin alone, with or without the token; requests with
no ``Origin`` header (not from a web page: ``curl``, Python) still need the
token. Loaded by the Jupyter server through
``--ServerApp.identity_provider_class``.
"""

from jupyter_server.auth.identity import PasswordIdentityProvider


class SiteOriginIdentityProvider(PasswordIdentityProvider):
    """Token login; the origin is checked on every request, token or not."""

    def should_check_origin(self, handler):
        """Always: only ``ServerApp.allow_origin`` (the site) may call the server from a page."""
        return True
