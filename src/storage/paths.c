/* storage/paths.c - confinement of recordings to the storage root.
 *
 * A client chooses output_directory (ConfigureStorage) and name
 * (StartRecording); both reach the file system, so both are checked here
 * and nowhere else.
 *
 * Directories.  The client's directory is made absolute (relative: under
 * root), then the longest prefix that exists is resolved with realpath():
 * that resolves every symlink and '..' in it, and the result must be inside
 * root.  The part still to create may not contain '..' (realpath cannot
 * resolve what does not exist yet) and is checked as a whole before
 * anything is created, so a refused path creates nothing anywhere.  Then
 * each missing component is created with mkdir(0750), resolved again and
 * checked: mkdir never follows a symlink in its last component, so a
 * symlink that appears in the way (or a dangling one) cannot make us create
 * a directory outside root, and the next component is only created below a
 * directory that was verified.  Messages (whole texts, <dir> as the client
 * gave it):
 *
 *   Invalid output path: <dir>: outside the storage root <root>
 *   Invalid output path: <dir>: '..' is not allowed in a directory to create
 *   Failed to create output directory: <dir>: <OS message>
 *
 * Names.  Refused: a '/' or a NUL byte anywhere within name_len (protobuf
 * strings may carry NULs that a C string would silently cut), and the names
 * "." and "..":
 *
 *   Invalid name: <name>: '/' is not allowed
 *   Invalid name: <name up to the NUL>: a NUL byte is not allowed
 *   Invalid name: <name>: '.' and '..' are not allowed
 *
 * Patterns.  {name} {timestamp} {date} {datetime} are replaced ({name} by
 * the sanitised name); any other {word} (letters, digits, '_', at most 16)
 * is refused rather than left in the file name, so a typo shows at once; a
 * '{' that does not open such a word is ordinary text.  The result obeys
 * the name rules with NAME_MAX (255 bytes) instead of 64 and always ends in
 * ".h5" (appended when the pattern lacks it), so the catalogue, which lists
 * only *.h5, finds every recording.  "" means rust-daq's default
 * "{name}_{timestamp}.h5".
 *
 *   Invalid filename pattern: <pattern>: unknown placeholder {<word>} (supported: {name},
 *       {timestamp}, {date}, {datetime})
 *   Invalid filename pattern: <pattern>: '/' is not allowed
 *   Invalid filename pattern: <pattern>: the file name would be longer than 255 bytes
 *
 * Files are created with O_CREAT | O_EXCL | O_NOFOLLOW: an existing file or
 * symlink is never opened, let alone truncated.  The mode is forced to 0640
 * with fchmod, whatever the daemon's umask.
 */
#include "storage/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

#define DIR_MODE          0750 /* group may read recordings, others nothing */
#define FILE_MODE         0640
#define NAME_MAX_BYTES    64  /* a sanitised recording name */
#define FILE_NAME_MAX     255 /* NAME_MAX of ext4/xfs/tmpfs */
#define EXCLUSIVE_RETRIES 100 /* "_1" .. "_100" */
#define DEFAULT_PATTERN   "{name}_{timestamp}.h5"
#define PLACEHOLDER_MAX   16 /* longest {word} looked at */

static const char *const placeholder_list = "{name}, {timestamp}, {date}, {datetime}";

bool daq_path_inside(const char *root, const char *path)
{
    size_t n = strlen(root);
    /* "/" contains every absolute path; no other root ends with '/'. */
    if (n == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(root, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int copy_out(const char *src, char *out, size_t out_len)
{
    size_t n = strlen(src);
    if (n >= out_len)
        return -1;
    memcpy(out, src, n + 1);
    return 0;
}

int daq_path_make_root(const char *dir, char *out, size_t out_len, char *err, size_t err_len)
{
    char buf[PATH_MAX];
    if (!dir || !*dir)
        return daq_err(err, err_len, "Failed to create output directory: : %s", strerror(ENOENT));
    if (strlen(dir) >= sizeof buf)
        return daq_err(err, err_len, "Failed to create output directory: %s: %s", dir,
                       strerror(ENAMETOOLONG));
    strcpy(buf, dir);
    /* mkdir -p: each prefix in turn, existing ones are fine. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        /* EROFS or EACCES on a parent that exists is no failure. */
        if (mkdir(buf, DIR_MODE) != 0) {
            int e = errno;
            if (e != EEXIST && !(stat(buf, &st) == 0 && S_ISDIR(st.st_mode)))
                return daq_err(err, err_len, "Failed to create output directory: %s: %s", dir,
                               strerror(e));
        }
        *p = c;
        if (c == '\0')
            break;
    }
    char canon[PATH_MAX];
    struct stat st;
    if (!realpath(dir, canon) || stat(canon, &st) != 0)
        return daq_err(err, err_len, "Failed to create output directory: %s: %s", dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return daq_err(err, err_len, "Failed to create output directory: %s: %s", dir,
                       strerror(ENOTDIR));
    if (copy_out(canon, out, out_len) != 0)
        return daq_err(err, err_len, "Failed to create output directory: %s: %s", dir,
                       strerror(ENAMETOOLONG));
    return 0;
}

/* The next component of *p (slashes skipped); its length, 0 at the end. */
static size_t next_component(const char **p)
{
    while (**p == '/')
        (*p)++;
    size_t n = 0;
    while ((*p)[n] && (*p)[n] != '/')
        n++;
    return n;
}

static bool is_dot(const char *c, size_t n)
{
    return n == 1 && c[0] == '.';
}

static bool is_dotdot(const char *c, size_t n)
{
    return n == 2 && c[0] == '.' && c[1] == '.';
}

int daq_path_resolve_dir(const char *root, const char *dir, char *out, size_t out_len, char *err,
                         size_t err_len)
{
    const char *fail = "Failed to create output directory";
    if (!dir || !*dir) {
        if (copy_out(root, out, out_len) != 0)
            return daq_err(err, err_len, "%s: %s: %s", fail, root, strerror(ENAMETOOLONG));
        return 0;
    }
    char full[PATH_MAX];
    int n = dir[0] == '/' ? snprintf(full, sizeof full, "%s", dir)
                          : snprintf(full, sizeof full, "%s/%s", root, dir);
    if (n < 0 || (size_t)n >= sizeof full)
        return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(ENAMETOOLONG));

    /* Longest existing prefix: drop trailing components until realpath
     * succeeds ("/" always does).  Anything but ENOENT is an answer. */
    char cur[PATH_MAX];
    size_t cut = (size_t)n;
    for (;;) {
        char saved = full[cut];
        full[cut] = '\0';
        const char *r = realpath(cut ? full : "/", cur);
        int e = errno;
        full[cut] = saved;
        if (r)
            break;
        if (e != ENOENT)
            return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(e));
        while (cut > 0 && full[cut - 1] != '/')
            cut--;
        while (cut > 0 && full[cut - 1] == '/')
            cut--;
    }
    if (!daq_path_inside(root, cur))
        return daq_err(err, err_len, "Invalid output path: %s: outside the storage root %s", dir,
                       root);

    /* The rest is created: check all of it before creating any of it. */
    const char *rest = full + cut;
    for (const char *p = rest;;) {
        size_t len = next_component(&p);
        if (len == 0)
            break;
        if (is_dotdot(p, len))
            return daq_err(err, err_len,
                           "Invalid output path: %s: '..' is not allowed in a directory to create",
                           dir);
        p += len;
    }
    for (const char *p = rest;;) {
        size_t len = next_component(&p);
        if (len == 0)
            break;
        if (is_dot(p, len)) {
            p += len;
            continue;
        }
        size_t cl = strlen(cur);
        bool slash = !(cl == 1 && cur[0] == '/');
        if (cl + slash + len >= sizeof cur)
            return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(ENAMETOOLONG));
        if (slash)
            cur[cl++] = '/';
        memcpy(cur + cl, p, len);
        cur[cl + len] = '\0';
        p += len;
        if (mkdir(cur, DIR_MODE) != 0 && errno != EEXIST)
            return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(errno));
        /* EEXIST may be a symlink (raced in, or dangling): resolve and
         * check before anything is created below it. */
        char canon[PATH_MAX];
        if (!realpath(cur, canon))
            return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(errno));
        if (!daq_path_inside(root, canon))
            return daq_err(err, err_len, "Invalid output path: %s: outside the storage root %s",
                           dir, root);
        strcpy(cur, canon);
    }
    struct stat st;
    if (stat(cur, &st) != 0)
        return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(ENOTDIR));
    if (copy_out(cur, out, out_len) != 0)
        return daq_err(err, err_len, "%s: %s: %s", fail, dir, strerror(ENAMETOOLONG));
    return 0;
}

static bool name_byte_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int daq_path_sanitise_name(const char *name, size_t name_len, char *out, size_t out_len, char *err,
                           size_t err_len)
{
    if (!name)
        name_len = 0;
    for (size_t i = 0; i < name_len; i++) {
        if (name[i] == '/')
            return daq_err(err, err_len, "Invalid name: %.*s: '/' is not allowed", (int)name_len,
                           name);
        if (name[i] == '\0')
            return daq_err(err, err_len, "Invalid name: %s: a NUL byte is not allowed", name);
    }
    if (is_dot(name, name_len) || is_dotdot(name, name_len))
        return daq_err(err, err_len, "Invalid name: %.*s: '.' and '..' are not allowed",
                       (int)name_len, name);
    if (out_len == 0)
        return -1;
    size_t cap = out_len - 1 < NAME_MAX_BYTES ? out_len - 1 : NAME_MAX_BYTES;
    size_t n = name_len < cap ? name_len : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = name_byte_ok((unsigned char)name[i]) ? name[i] : '_';
    out[n] = '\0';
    if (n == 0)
        snprintf(out, out_len, "recording");
    else if (out[0] == '.')
        out[0] = '_'; /* no hidden files */
    return 0;
}

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends n bytes of s to out (length *len, capacity FILE_NAME_MAX + 1);
 * false when it would not fit. */
static bool append(char *out, size_t *len, const char *s, size_t n)
{
    if (*len + n > FILE_NAME_MAX)
        return false;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return true;
}

int daq_path_expand_pattern(const char *pattern, const char *name, uint64_t realtime_ns, char *out,
                            size_t out_len, char *err, size_t err_len)
{
    if (!pattern || !*pattern)
        pattern = DEFAULT_PATTERN;
    char sname[NAME_MAX_BYTES + 1];
    if (daq_path_sanitise_name(name, name ? strlen(name) : 0, sname, sizeof sname, err, err_len) !=
        0)
        return -1;
    time_t secs = (time_t)(realtime_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);

    char res[FILE_NAME_MAX + 1] = "";
    size_t len = 0;
    bool fits = true;
    for (const char *p = pattern; *p && fits;) {
        if (*p == '/')
            return daq_err(err, err_len, "Invalid filename pattern: %s: '/' is not allowed",
                           pattern);
        size_t w = 0;
        if (*p == '{')
            while (w < PLACEHOLDER_MAX && word_byte((unsigned char)p[1 + w]))
                w++;
        if (*p != '{' || w == 0 || p[1 + w] != '}') {
            char c = name_byte_ok((unsigned char)*p) ? *p : '_';
            fits = append(res, &len, &c, 1);
            p++;
            continue;
        }
        const char *word = p + 1;
        char val[NAME_MAX_BYTES + 32]; /* the name, or a number or date */
        if (w == 4 && memcmp(word, "name", 4) == 0)
            snprintf(val, sizeof val, "%s", sname);
        else if (w == 9 && memcmp(word, "timestamp", 9) == 0)
            snprintf(val, sizeof val, "%llu", (unsigned long long)secs);
        else if (w == 4 && memcmp(word, "date", 4) == 0)
            strftime(val, sizeof val, "%Y-%m-%d", &tm);
        else if (w == 8 && memcmp(word, "datetime", 8) == 0)
            strftime(val, sizeof val, "%Y%m%d_%H%M%S", &tm);
        else
            return daq_err(err, err_len,
                           "Invalid filename pattern: %s: unknown placeholder {%.*s} "
                           "(supported: %s)",
                           pattern, (int)w, word, placeholder_list);
        fits = append(res, &len, val, strlen(val));
        p += w + 2;
    }
    if (fits && (len < 3 || strcmp(res + len - 3, ".h5") != 0))
        fits = append(res, &len, ".h5", 3);
    if (!fits)
        return daq_err(err, err_len,
                       "Invalid filename pattern: %s: the file name would be longer than %d bytes",
                       pattern, FILE_NAME_MAX);
    if (res[0] == '.')
        res[0] = '_';
    if (copy_out(res, out, out_len) != 0)
        return daq_err(err, err_len,
                       "Invalid filename pattern: %s: the file name would be longer than %zu bytes",
                       pattern, out_len ? out_len - 1 : 0);
    return 0;
}

int daq_path_create_exclusive(const char *dir, const char *file, char *out, size_t out_len,
                              char *err, size_t err_len)
{
    if (strchr(file, '/'))
        return daq_err(err, err_len, "%s/%s: '/' is not allowed in a file name", dir, file);
    /* The suffix goes before the extension: run.h5 -> run_1.h5. */
    const char *dot = strrchr(file, '.');
    size_t stem = dot && dot != file ? (size_t)(dot - file) : strlen(file);
    char path[PATH_MAX];
    for (int i = 0; i <= EXCLUSIVE_RETRIES; i++) {
        int n = i == 0 ? snprintf(path, sizeof path, "%s/%s", dir, file)
                       : snprintf(path, sizeof path, "%s/%.*s_%d%s", dir, (int)stem, file, i,
                                  file + stem);
        if (n < 0 || (size_t)n >= sizeof path || (size_t)n >= out_len)
            return daq_err(err, err_len, "%s/%s: %s", dir, file, strerror(ENAMETOOLONG));
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FILE_MODE);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return daq_err(err, err_len, "%s: %s", path, strerror(errno));
        }
        /* The umask may have taken bits away: the mode is a contract. */
        if (fchmod(fd, FILE_MODE) != 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return daq_err(err, err_len, "%s: %s", path, strerror(e));
        }
        close(fd);
        memcpy(out, path, (size_t)n + 1);
        return 0;
    }
    return daq_err(err, err_len, "%s/%s: %s (and with suffixes _1 to _%d)", dir, file,
                   strerror(EEXIST), EXCLUSIVE_RETRIES);
}

void daq_path_disk_space(const char *path, uint64_t *avail, uint64_t *used)
{
    struct statvfs v;
    if (statvfs(path, &v) != 0) {
        *avail = *used = 0;
        return;
    }
    *avail = (uint64_t)v.f_bavail * v.f_frsize;
    *used = (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
}
