/* daqd/facts.c - versions, config digest and machine facts for reports.
 *
 * Why: a pilot that is 4 % slower than a baseline taken on another host, a
 * RelWithDebInfo build or a config with twice the pool means nothing.  The
 * facts are cheap (one uname, two /proc files, one SHA-256 of a config of a
 * few KiB: well under 1 ms) and read once per report, never on a hot path.
 */
#define _GNU_SOURCE
#include "daqd/facts.h"

#include <ctype.h>
#include <grpc/grpc.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifdef DAQ_WITH_STORAGE
#include <hdf5.h>
#endif

#ifndef DAQ_VERSION
#define DAQ_VERSION "unknown"
#endif
#ifndef DAQ_GIT
#define DAQ_GIT "unknown"
#endif
#ifndef DAQ_BUILD_TYPE
#define DAQ_BUILD_TYPE "unknown"
#endif
#if defined(DAQ_FRAME_POOL) && DAQ_FRAME_POOL == 0
#define FACTS_FRAME_POOL false
#else
#define FACTS_FRAME_POOL true
#endif

int daqd_facts_config_digest(const char *config_path, char *out, size_t out_len)
{
    if (out_len)
        *out = '\0';
    FILE *f = config_path ? fopen(config_path, "rb") : NULL;
    if (!f || out_len < 72) {
        if (f)
            fclose(f);
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[8192], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (!ok)
        return -1;
    int w = snprintf(out, out_len, "sha256:");
    for (unsigned i = 0; i < mdlen; i++)
        w += snprintf(out + w, out_len - (size_t)w, "%02x", md[i]);
    return 0;
}

/* The value after "key<spaces>:" of the first line of a /proc file that
 * starts with key, trimmed, into out; false if absent. */
static bool proc_field(const char *path, const char *key, char *out, size_t out_len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0 ||
            (line[klen] != ':' && !isspace((unsigned char)line[klen])))
            continue;
        char *v = strchr(line + klen, ':');
        if (!v)
            continue;
        for (v++; isspace((unsigned char)*v); v++)
            ;
        size_t len = strcspn(v, "\n");
        while (len && isspace((unsigned char)v[len - 1]))
            len--;
        snprintf(out, out_len, "%.*s", (int)len, v);
        found = true;
    }
    fclose(f);
    return found;
}

static unsigned long long proc_number(const char *key)
{
    char v[64];
    return proc_field("/proc/meminfo", key, v, sizeof v) ? strtoull(v, NULL, 10) : 0;
}

void daqd_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int daqd_facts_json(FILE *f, const char *indent, const char *config_path)
{
    char hdf5[32] = "none";
#ifdef DAQ_WITH_STORAGE
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) >= 0)
        snprintf(hdf5, sizeof hdf5, "%u.%u.%u", maj, min, rel);
#endif
    fprintf(f, "%s\"versions\": {\"daqd\": ", indent);
    daqd_json_str(f, DAQ_VERSION);
    fprintf(f, ", \"git\": ");
    daqd_json_str(f, DAQ_GIT);
    fprintf(f, ", \"build_type\": ");
    daqd_json_str(f, DAQ_BUILD_TYPE);
    fprintf(f, ", \"frame_pool\": %s, \"grpc\": ", FACTS_FRAME_POOL ? "true" : "false");
    daqd_json_str(f, grpc_version_string());
    fprintf(f, ", \"hdf5\": ");
    daqd_json_str(f, hdf5);
    fprintf(f, "},\n%s\"config_digest\": ", indent);
    char digest[80];
    if (daqd_facts_config_digest(config_path, digest, sizeof digest) == 0)
        daqd_json_str(f, digest);
    else
        fputs("null", f);

    struct utsname u;
    bool un = uname(&u) == 0;
    char cpu[256] = "unknown";
    if (!proc_field("/proc/cpuinfo", "model name", cpu, sizeof cpu))
        proc_field("/proc/cpuinfo", "Model", cpu, sizeof cpu); /* arm */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(f, ",\n%s\"machine\": {\"hostname\": ", indent);
    daqd_json_str(f, un ? u.nodename : "unknown");
    fprintf(f, ", \"kernel\": ");
    daqd_json_str(f, un ? u.release : "unknown");
    fprintf(f, ", \"cpu_model\": ");
    daqd_json_str(f, cpu);
    fprintf(f, ", \"cpus\": %ld, \"mem_total_mib\": %llu, \"hugepages_total\": %llu}\n",
            cpus > 0 ? cpus : 0, proc_number("MemTotal") / 1024, proc_number("HugePages_Total"));
    return ferror(f) ? -1 : 0;
}
