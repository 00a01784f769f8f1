/* server/rpc_auth.h - bearer tokens (who may call daqd) and the TLS
 * credentials of the gRPC port (that nobody can read or replay them).
 *
 * Tokens file: one "name token" per line, '#' starts a comment, blank lines
 * ignored.  Names say who called in the audit log (the token itself is
 * never logged); a token is 16..256 visible ASCII characters, so a guessed
 * or truncated one is not a risk.  The file must not be readable or
 * writable by others (mode & 007 == 0): it holds secrets.  Every error is
 * "FILE:LINE: ..." or "FILE: ...".
 *
 * The check is constant-time in the token's content: the presented token
 * is compared with every entry over DAQ_RPC_TOKEN_MAX bytes, without an
 * early exit, so its timing tells nothing about how much of it was right.
 *
 * TLS: a server certificate chain and its key (PEM), optionally a client CA
 * bundle that turns on mutual TLS (a client without a certificate signed by
 * it fails the handshake).  The files are checked with OpenSSL before gRPC
 * sees them (gRPC only fails the handshake later): the key must match the
 * certificate, the certificate must be valid now, the CA must hold at
 * least one certificate.
 *
 * Ownership: daq_rpc_tokens belongs to the caller of daq_rpc_tokens_load
 * (daq_rpc_tokens_free); names returned by daq_rpc_tokens_check are
 * borrowed from it.  Credentials returned by daq_rpc_tls_credentials are
 * the caller's (grpc_server_credentials_release).
 */
#ifndef DAQ_SERVER_RPC_AUTH_H
#define DAQ_SERVER_RPC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc_security.h>

#include "server/rpc.h"

#define DAQ_RPC_TOKEN_MIN      16
#define DAQ_RPC_TOKEN_MAX      256
#define DAQ_RPC_TOKEN_NAME_MAX 64
#define DAQ_RPC_TOKENS_MAX     256

/* Status details of a refused call (contracts: tests and clients match them). */
#define DAQ_RPC_AUTH_MISSING "missing bearer token (metadata 'authorization: Bearer <token>')"
#define DAQ_RPC_AUTH_UNKNOWN "unknown token"

/* Calls under this prefix need no token: load balancers and orchestrators
 * probe grpc.health.v1 without credentials, and health tells no secret. */
#define DAQ_RPC_AUTH_OPEN_PREFIX "/grpc.health.v1.Health/"

typedef struct daq_rpc_tokens daq_rpc_tokens;

/* Reads and checks the tokens file at path.  NULL with a message on error. */
daq_rpc_tokens *daq_rpc_tokens_load(const char *path, char *err, size_t err_len);

/* The same from text already read; where names it in messages. */
daq_rpc_tokens *daq_rpc_tokens_parse(const char *text, size_t len, const char *where, char *err,
                                     size_t err_len);

void daq_rpc_tokens_free(daq_rpc_tokens *t); /* NULL ok */

size_t daq_rpc_tokens_count(const daq_rpc_tokens *t);

/* authorization: the value of the "authorization" header or metadata, len
 * bytes (NULL: absent).  The name of the token it carries ("Bearer <token>",
 * the scheme case-insensitive), or NULL with *why DAQ_RPC_AUTH_MISSING or
 * DAQ_RPC_AUTH_UNKNOWN. */
const char *daq_rpc_tokens_check(const daq_rpc_tokens *t, const char *authorization, size_t len,
                                 const char **why);

/* On the completion-queue thread, before the handler: true if c may run
 * (t NULL: no tokens configured; a DAQ_RPC_AUTH_OPEN_PREFIX path; or a
 * known token, whose name is then kept on the call for the audit log).
 * Else answers the call UNAUTHENTICATED and returns false. */
bool daq_rpc_call_authorize(daq_rpc_call *c, const daq_rpc_tokens *t);

/* Logs a call of an audited method (daq_rpc_method.audit) once, as its
 * status is sent: "daq::audit" method, device (HardwareService requests),
 * peer, token (the name, "-" without tokens), status, details.  Never the
 * token. */
void daq_rpc_call_audit(const daq_rpc_call *c, int status, const char *details);

/* The audit line itself, for daq_rpc_call_audit and the HTTP bridge
 * (server/rpc_bridge.h): path, the request message req[0..len) (NULL: none;
 * only its device field is read), peer ("ipv4:127.0.0.1:5000",
 * "http:127.0.0.1:54321"), token_name (NULL: "-").  Never the token. */
void daq_rpc_audit_log(const char *path, const uint8_t *req, size_t len, const char *peer,
                       const char *token_name, int status, const char *details);

/* The "daq::auth" warning of a call refused for its token (why), rate-limited
 * across the process (the first 5, then every 100th). */
void daq_rpc_auth_refused_log(const char *peer, const char *path, const char *why);

/* Checks the PEM files (see the top); 0, or -1 with "FILE: reason".  ca may
 * be NULL or "" (no client certificates). */
int daq_rpc_tls_check(const char *cert, const char *key, const char *ca, char *err, size_t err_len);

/* daq_rpc_tls_check, then gRPC's SSL server credentials (mutual TLS when ca
 * is set).  NULL with a message on error. */
grpc_server_credentials *daq_rpc_tls_credentials(const char *cert, const char *key, const char *ca,
                                                 char *err, size_t err_len);

#endif
