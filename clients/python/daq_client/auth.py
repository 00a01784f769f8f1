"""Channels to a daqd that wants TLS and/or a bearer token (docs/deploy.md).

  * TLS: ``tls_ca`` is the PEM file of the CA that signed daqd's certificate;
    for mutual TLS add ``tls_cert`` and ``tls_key`` (the client's certificate
    and key, signed by the CA daqd's ``tls_client_ca`` names).
  * Token: every call carries ``authorization: Bearer <token>``, set by a
    client interceptor so it works on plain channels too (loopback without
    TLS).  ``token_file`` holds the token alone on its first line, so it
    stays out of shell history and ``ps``.

Without any of them the channel is the plain one daqd on loopback expects.
"""
import grpc

__all__ = ["make_channel", "read_token"]


def read_token(path):
    """The token in path: its first line, stripped of whitespace."""
    with open(path, encoding="ascii") as f:
        token = f.readline().strip()
    if not token:
        raise ValueError("%s: no token on its first line" % path)
    return token


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the authorization metadata to every unary and server-streaming call."""

    def __init__(self, token):
        self._md = ("authorization", "Bearer " + token)

    def _details(self, d):
        md = list(d.metadata or []) + [self._md]
        return _Details(d.method, d.timeout, md, d.credentials, d.wait_for_ready,
                        d.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def make_channel(address, options=(), tls_ca=None, tls_cert=None, tls_key=None, token=None,
                 token_file=None, tls_server_name=None):
    """A grpc channel to address with TLS when tls_ca is given and the token
    (or token_file's) on every call when one is given."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together (mutual TLS)")
    if (tls_cert or tls_server_name) and not tls_ca:
        raise ValueError("tls_cert, tls_key and tls_server_name need tls_ca")
    if token and token_file:
        raise ValueError("token or token_file, not both")
    if token_file:
        token = read_token(token_file)
    options = list(options)
    if tls_ca:
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(tls_ca),
            private_key=_read(tls_key) if tls_key else None,
            certificate_chain=_read(tls_cert) if tls_cert else None)
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        channel = grpc.secure_channel(address, creds, options=options)
    else:
        channel = grpc.insecure_channel(address, options=options)
    if token:
        channel = grpc.intercept_channel(channel, _Bearer(token))
    return channel
