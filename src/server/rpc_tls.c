/* server/rpc_tls.c - the gRPC port's TLS credentials from PEM files.  See
 * server/rpc_auth.h.
 *
 * Why check with OpenSSL first: gRPC takes the PEM text as it is and only
 * fails later, at the first handshake (a key that does not match the
 * certificate) or in grpc_server_add_http2_port with no reason given; the
 * operator would learn it from a client's UNAVAILABLE.  So the daemon calls
 * daq_rpc_tls_check before any device opens and gets "FILE: reason".
 * OpenSSL (libcrypto) is what gRPC links already.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/rpc_auth.h"
#include "util/err.h"

#define PEM_FILE_MAX (1u << 20) /* a chain or CA bundle is kilobytes */

/* The whole file, NUL-terminated, malloc'd; NULL with "FILE: reason". */
static char *read_pem(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        daq_err(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PEM_FILE_MAX) {
        fclose(f);
        daq_err(err, err_len, "%s: not a regular file of at most %u bytes", path, PEM_FILE_MAX);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        daq_err(err, err_len, "%s: cannot read it", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* OpenSSL's reason for the last failure, for the message. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "no PEM block found";
}

static int check_cert_key(const char *cert_path, const char *cert, const char *key_path,
                          const char *key, char *err, size_t err_len)
{
    ERR_clear_error();
    BIO *cb = BIO_new_mem_buf(cert, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    BIO_free(cb);
    if (!x)
        return daq_err(err, err_len, "%s: not a PEM certificate (%s)", cert_path, ssl_reason());
    int rc = 0;
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        rc = daq_err(err, err_len, "%s: the certificate has expired", cert_path);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        rc = daq_err(err, err_len, "%s: the certificate is not valid yet", cert_path);
    EVP_PKEY *k = NULL;
    if (rc == 0) {
        ERR_clear_error();
        BIO *kb = BIO_new_mem_buf(key, -1);
        k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
        BIO_free(kb);
        if (!k)
            rc = daq_err(err, err_len, "%s: not a PEM private key without a passphrase (%s)",
                         key_path, ssl_reason());
    }
    if (rc == 0 && X509_check_private_key(x, k) != 1)
        rc = daq_err(err, err_len, "%s: the key does not match the certificate in %s", key_path,
                     cert_path);
    EVP_PKEY_free(k);
    X509_free(x);
    ERR_clear_error();
    return rc;
}

static int check_ca(const char *path, const char *pem, char *err, size_t err_len)
{
    ERR_clear_error();
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    int rc = x ? 0 : daq_err(err, err_len, "%s: no PEM certificate (%s)", path, ssl_reason());
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* Reads and checks the files; the PEM texts are the caller's to free. */
static int load_all(const char *cert, const char *key, const char *ca, char **cert_pem,
                    char **key_pem, char **ca_pem, char *err, size_t err_len)
{
    *cert_pem = *key_pem = *ca_pem = NULL;
    if (!cert || !*cert || !key || !*key)
        return daq_err(err, err_len,
                       "TLS needs both a certificate and its key (tls_cert, "
                       "tls_key)");
    int rc = -1;
    if ((*cert_pem = read_pem(cert, err, err_len)) && (*key_pem = read_pem(key, err, err_len)))
        rc = check_cert_key(cert, *cert_pem, key, *key_pem, err, err_len);
    if (rc == 0 && ca && *ca)
        rc = (*ca_pem = read_pem(ca, err, err_len)) ? check_ca(ca, *ca_pem, err, err_len) : -1;
    return rc;
}

static void free_all(char *cert_pem, char *key_pem, char *ca_pem)
{
    free(cert_pem);
    if (key_pem) {
        explicit_bzero(key_pem, strlen(key_pem)); /* our copy of the secret */
        free(key_pem);
    }
    free(ca_pem);
}

int daq_rpc_tls_check(const char *cert, const char *key, const char *ca, char *err, size_t err_len)
{
    char *c, *k, *a;
    int rc = load_all(cert, key, ca, &c, &k, &a, err, err_len);
    free_all(c, k, a);
    return rc;
}

grpc_server_credentials *daq_rpc_tls_credentials(const char *cert, const char *key, const char *ca,
                                                 char *err, size_t err_len)
{
    char *c, *k, *a;
    grpc_server_credentials *creds = NULL;
    if (load_all(cert, key, ca, &c, &k, &a, err, err_len) == 0) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = k, .cert_chain = c};
        creds = grpc_ssl_server_credentials_create_ex(
            a, &pair, 1,
            a ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
              : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        if (!creds)
            daq_err(err, err_len, "%s: gRPC refused the TLS credentials", cert);
    }
    free_all(c, k, a);
    return creds;
}
