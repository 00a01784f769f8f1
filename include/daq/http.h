/* daq/http.h - a small HTTP/1.1 server for the metrics endpoint
 * (libmicrohttpd underneath, its own thread pool).
 *
 * GET requests are passed to one handler with the path; anything else is
 * answered 405.  The handler runs on a server thread and fills a response;
 * it must be thread-safe against the rest of the program.
 *
 * Ownership: daq_http_start returns a server the caller stops with
 * daq_http_stop (which waits for running handlers).  A response body marked
 * free_body is freed by the server after sending.
 */
#ifndef DAQ_HTTP_H
#define DAQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_http daq_http;

typedef struct daq_http_response {
    int status;               /* default 200 */
    const char *content_type; /* default "text/plain; charset=utf-8" */
    char *body;               /* may be NULL (empty body) */
    size_t len;
    bool free_body; /* the server frees body after sending */
} daq_http_response;

typedef void (*daq_http_handler)(void *ctx, const char *path, daq_http_response *out);

/* Listens on bind_addr (IPv4 dotted quad, e.g. "127.0.0.1") and port (0:
 * ephemeral).  ctx is borrowed: it must outlive the server.  Returns a
 * server the caller owns (daq_http_stop), or NULL with a message such as
 * "127.0.0.1:9091: Address already in use" (the address, the port,
 * strerror). */
DAQ_API daq_http *daq_http_start(const char *bind_addr, uint16_t port, daq_http_handler handler,
                                 void *ctx, char *err, size_t err_len);

/* The port actually bound. */
DAQ_API uint16_t daq_http_port(const daq_http *h);

DAQ_API void daq_http_stop(daq_http *h); /* NULL ok */

#ifdef __cplusplus
}
#endif
#endif
