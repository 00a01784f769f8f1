/* tests/unit/test_storage_paths.c - confinement of recordings to the root.
 *
 * Every case works in a fresh directory made by mkdtemp under /tmp:
 * <tmp>/root is the storage root, <tmp>/outside a directory next to it
 * that nothing may ever create anything in; the case removes <tmp> at the
 * end.  Escapes are checked by their whole message and by looking at the
 * file system afterwards: the target of every refused path must not exist.
 * A failing case leaves its directory behind for inspection.
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_main.h"

#include "storage/paths.h"

/* snprintf that fails the test instead of cutting the text. */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int r = vsnprintf(buf, n, f, ap);
    va_end(ap);
    assert_true(r >= 0 && (size_t)r < n);
}

typedef struct fx {
    char tmp[PATH_MAX];     /* canonical mkdtemp directory */
    char root[PATH_MAX];    /* <tmp>/root, canonical */
    char outside[PATH_MAX]; /* <tmp>/outside */
} fx;

static void fx_init(fx *f)
{
    char raw[] = "/tmp/daq_paths_XXXXXX";
    assert_non_null(mkdtemp(raw));
    assert_non_null(realpath(raw, f->tmp));
    char r[PATH_MAX + 8], err[256] = "";
    fmt(r, sizeof r, "%s/root", f->tmp);
    assert_int_equal(daq_path_make_root(r, f->root, sizeof f->root, err, sizeof err), 0);
    fmt(f->outside, sizeof f->outside, "%s/outside", f->tmp);
    assert_int_equal(mkdir(f->outside, 0755), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fx_fini(fx *f)
{
    assert_int_equal(nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Whether the path printf(pattern, a, b) exists (as anything, even a
 * dangling symlink). */
static bool exists(const char *pattern, const char *a, const char *b)
{
    char p[2 * PATH_MAX];
    fmt(p, sizeof p, pattern, a, b);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Resolves dir against f's root; returns the call's result, out/err filled. */
static int resolve(const fx *f, const char *dir, char *out, char *err)
{
    out[0] = err[0] = '\0';
    return daq_path_resolve_dir(f->root, dir, out, PATH_MAX, err, 512);
}

static void expect_outside(const fx *f, const char *dir)
{
    char out[PATH_MAX], err[512], want[3 * PATH_MAX];
    assert_int_equal(resolve(f, dir, out, err), -1);
    fmt(want, sizeof want, "Invalid output path: %s: outside the storage root %s", dir, f->root);
    assert_string_equal(err, want);
}

/* ---- the root ---------------------------------------------------------------------- */

static void make_root_creates_and_resolves(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX], out[PATH_MAX], want[2 * PATH_MAX], err[512];
    fmt(p, sizeof p, "%s/r1/r2/r3", f.tmp);
    assert_int_equal(daq_path_make_root(p, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* Through a symlink and a "..": the canonical directory comes back. */
    fmt(p, sizeof p, "%s/link", f.tmp);
    fmt(want, sizeof want, "%s/r1", f.tmp);
    assert_int_equal(symlink(want, p), 0);
    fmt(p, sizeof p, "%s/link/r2/../new", f.tmp);
    assert_int_equal(daq_path_make_root(p, out, sizeof out, err, sizeof err), 0);
    fmt(want, sizeof want, "%s/r1/new", f.tmp);
    assert_string_equal(out, want);

    /* A file in the way. */
    fmt(p, sizeof p, "%s/file", f.tmp);
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(daq_path_make_root(p, out, sizeof out, err, sizeof err), -1);
    fmt(want, sizeof want, "Failed to create output directory: %s: Not a directory", p);
    assert_string_equal(err, want);
    fx_fini(&f);
}

static void inside_is_per_component(void **state)
{
    assert_true(daq_path_inside("/data/root", "/data/root"));
    assert_true(daq_path_inside("/data/root", "/data/root/a"));
    assert_true(daq_path_inside("/data/root", "/data/root/a/b.h5"));
    assert_false(daq_path_inside("/data/root", "/data/rootx"));
    assert_false(daq_path_inside("/data/root", "/data/rootx/a"));
    assert_false(daq_path_inside("/data/root", "/data/roo"));
    assert_false(daq_path_inside("/data/root", "/data"));
    assert_false(daq_path_inside("/data/root", "/"));
    assert_true(daq_path_inside("/", "/"));
    assert_true(daq_path_inside("/", "/anything"));
}

/* ---- output directories -------------------------------------------------------------- */

static void relative_dir_created_below_root(void **state)
{
    fx f;
    fx_init(&f);
    mode_t old = umask(022);
    char out[PATH_MAX], err[512], want[2 * PATH_MAX];
    assert_int_equal(resolve(&f, "a/b/c", out, err), 0);
    fmt(want, sizeof want, "%s/a/b/c", f.root);
    assert_string_equal(out, want);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);

    /* Redundant slashes and "." collapse; the same directory again is fine. */
    assert_int_equal(resolve(&f, "./a//b/./c/", out, err), 0);
    assert_string_equal(out, want);

    /* "" is the root itself. */
    assert_int_equal(resolve(&f, "", out, err), 0);
    assert_string_equal(out, f.root);
    umask(old);
    fx_fini(&f);
}

static void dotdot_out_of_root_refused(void **state)
{
    fx f;
    fx_init(&f);
    expect_outside(&f, "../x");
    assert_false(exists("%s/x", f.tmp, ""));
    expect_outside(&f, "..");
    expect_outside(&f, "../outside/y");
    assert_false(exists("%s/y", f.outside, ""));

    /* Through an existing directory: realpath sees the escape. */
    char out[PATH_MAX], err[512];
    assert_int_equal(resolve(&f, "a", out, err), 0);
    expect_outside(&f, "a/../../x");
    assert_false(exists("%s/x", f.tmp, ""));
    fx_fini(&f);
}

static void dotdot_in_part_to_create_refused(void **state)
{
    fx f;
    fx_init(&f);
    char out[PATH_MAX], err[512];
    assert_int_equal(resolve(&f, "a/../../x", out, err), -1);
    assert_string_equal(
        err, "Invalid output path: a/../../x: '..' is not allowed in a directory to create");
    /* Checked before anything is created: not even "a" inside the root. */
    assert_false(exists("%s/a", f.root, ""));
    assert_false(exists("%s/x", f.tmp, ""));

    /* A ".." that stays inside is still refused where nothing exists yet... */
    assert_int_equal(resolve(&f, "n/../m", out, err), -1);
    assert_string_equal(
        err, "Invalid output path: n/../m: '..' is not allowed in a directory to create");
    assert_false(exists("%s/n", f.root, ""));
    assert_false(exists("%s/m", f.root, ""));
    /* ...and allowed through directories that exist (realpath resolves it). */
    assert_int_equal(resolve(&f, "e", out, err), 0);
    assert_int_equal(resolve(&f, "e/../m", out, err), 0);
    char want[2 * PATH_MAX];
    fmt(want, sizeof want, "%s/m", f.root);
    assert_string_equal(out, want);
    fx_fini(&f);
}

static void absolute_outside_refused(void **state)
{
    fx f;
    fx_init(&f);
    char dir[2 * PATH_MAX];
    fmt(dir, sizeof dir, "%s/new", f.outside);
    expect_outside(&f, dir);
    assert_false(exists("%s/new", f.outside, ""));
    fmt(dir, sizeof dir, "%s/deep/er", f.outside);
    expect_outside(&f, dir);
    assert_false(exists("%s/deep", f.outside, ""));
    expect_outside(&f, "/");
    expect_outside(&f, f.tmp);
    /* A sibling whose name starts with the root's. */
    fmt(dir, sizeof dir, "%sx/y", f.root);
    expect_outside(&f, dir);
    assert_false(exists("%sx", f.root, ""));
    fx_fini(&f);
}

static void absolute_inside_accepted(void **state)
{
    fx f;
    fx_init(&f);
    char dir[2 * PATH_MAX], out[PATH_MAX], err[512];
    fmt(dir, sizeof dir, "%s/abs/new", f.root);
    assert_int_equal(resolve(&f, dir, out, err), 0);
    assert_string_equal(out, dir);
    assert_true(exists("%s/abs/new", f.root, ""));
    assert_int_equal(resolve(&f, f.root, out, err), 0);
    assert_string_equal(out, f.root);
    /* The root spelt through "..": canonical, inside. */
    fmt(dir, sizeof dir, "%s/../root/abs", f.root);
    assert_int_equal(resolve(&f, dir, out, err), 0);
    fmt(dir, sizeof dir, "%s/abs", f.root);
    assert_string_equal(out, dir);
    fx_fini(&f);
}

static void symlink_out_of_root_refused(void **state)
{
    fx f;
    fx_init(&f);
    char link[2 * PATH_MAX], dir[3 * PATH_MAX];
    fmt(link, sizeof link, "%s/link", f.root);
    assert_int_equal(symlink(f.outside, link), 0);
    expect_outside(&f, "link");
    expect_outside(&f, "link/sub");
    expect_outside(&f, "link/sub/deeper");
    fmt(dir, sizeof dir, "%s/sub", link);
    expect_outside(&f, dir);
    assert_false(exists("%s/sub", f.outside, ""));
    fx_fini(&f);
}

static void dangling_symlink_creates_nothing(void **state)
{
    fx f;
    fx_init(&f);
    char link[2 * PATH_MAX], target[2 * PATH_MAX], out[PATH_MAX], err[512];
    fmt(link, sizeof link, "%s/dang", f.root);
    fmt(target, sizeof target, "%s/target", f.outside);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(resolve(&f, "dang", out, err), -1);
    assert_string_equal(err, "Failed to create output directory: dang: No such file or directory");
    assert_int_equal(resolve(&f, "dang/x", out, err), -1);
    assert_string_equal(err,
                        "Failed to create output directory: dang/x: No such file or directory");
    assert_false(exists("%s/target", f.outside, ""));
    fx_fini(&f);
}

static void symlink_inside_root_followed(void **state)
{
    fx f;
    fx_init(&f);
    char real[2 * PATH_MAX], link[2 * PATH_MAX], out[PATH_MAX], err[512], want[2 * PATH_MAX];
    fmt(real, sizeof real, "%s/real", f.root);
    fmt(link, sizeof link, "%s/in", f.root);
    assert_int_equal(mkdir(real, 0750), 0);
    assert_int_equal(symlink("real", link), 0);
    assert_int_equal(resolve(&f, "in/x", out, err), 0);
    fmt(want, sizeof want, "%s/real/x", f.root);
    assert_string_equal(out, want);
    fx_fini(&f);
}

static void file_in_the_way_refused(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX], out[PATH_MAX], err[512];
    fmt(p, sizeof p, "%s/f", f.root);
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(resolve(&f, "f", out, err), -1);
    assert_string_equal(err, "Failed to create output directory: f: Not a directory");
    assert_int_equal(resolve(&f, "f/x", out, err), -1);
    assert_string_equal(err, "Failed to create output directory: f/x: Not a directory");
    fx_fini(&f);
}

/* ---- names and patterns ---------------------------------------------------------------- */

static int sanitise(const char *name, size_t len, char *out, char *err)
{
    out[0] = err[0] = '\0';
    return daq_path_sanitise_name(name, len, out, 128, err, 256);
}

static void name_with_slash_refused(void **state)
{
    char out[128], err[256];
    assert_int_equal(sanitise("a/b", 3, out, err), -1);
    assert_string_equal(err, "Invalid name: a/b: '/' is not allowed");
    assert_int_equal(sanitise("../../etc/passwd", 16, out, err), -1);
    assert_string_equal(err, "Invalid name: ../../etc/passwd: '/' is not allowed");
    assert_int_equal(sanitise("/abs", 4, out, err), -1);
    assert_string_equal(out, "");
}

static void name_with_nul_refused(void **state)
{
    char out[128], err[256];
    /* As protobuf hands it over: 7 bytes, a NUL in the middle. */
    static const char name[] = {'a', 'b', '\0', '.', '.', '/', 'x'};
    assert_int_equal(sanitise(name, sizeof name, out, err), -1);
    assert_string_equal(err, "Invalid name: ab: a NUL byte is not allowed");
    static const char trailing[] = {'r', 'u', 'n', '\0'};
    assert_int_equal(sanitise(trailing, sizeof trailing, out, err), -1);
    assert_string_equal(err, "Invalid name: run: a NUL byte is not allowed");
    /* The C string up to the NUL alone is fine. */
    assert_int_equal(sanitise(trailing, 3, out, err), 0);
    assert_string_equal(out, "run");
}

static void name_dot_and_dotdot_refused(void **state)
{
    char out[128], err[256];
    assert_int_equal(sanitise(".", 1, out, err), -1);
    assert_string_equal(err, "Invalid name: .: '.' and '..' are not allowed");
    assert_int_equal(sanitise("..", 2, out, err), -1);
    assert_string_equal(err, "Invalid name: ..: '.' and '..' are not allowed");
    assert_int_equal(sanitise("...", 3, out, err), 0);
    assert_string_equal(out, "_..");
}

static void name_odd_bytes_sanitised(void **state)
{
    char out[128], err[256];
    const char *odd = "my run #1 (\xc3\xa9).h5";
    assert_int_equal(sanitise(odd, strlen(odd), out, err), 0);
    assert_string_equal(out, "my_run__1_____.h5");
    assert_int_equal(sanitise("a-b_c.D9", 8, out, err), 0);
    assert_string_equal(out, "a-b_c.D9");
    assert_int_equal(sanitise(".hidden", 7, out, err), 0);
    assert_string_equal(out, "_hidden");
    assert_int_equal(sanitise("tab\there\n", 9, out, err), 0);
    assert_string_equal(out, "tab_here_");
    assert_int_equal(sanitise("", 0, out, err), 0);
    assert_string_equal(out, "recording");
    assert_int_equal(daq_path_sanitise_name(NULL, 0, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "recording");
    char longname[200];
    memset(longname, 'a', sizeof longname);
    assert_int_equal(sanitise(longname, sizeof longname, out, err), 0);
    assert_int_equal(strlen(out), 64);
    assert_int_equal(strspn(out, "a"), 64);
    /* A small buffer truncates, never overflows. */
    char small[5];
    assert_int_equal(daq_path_sanitise_name("abcdefgh", 8, small, sizeof small, err, sizeof err),
                     0);
    assert_string_equal(small, "abcd");
}

#define T_NS 1733350800123456789ull /* 2024-12-04 22:20:00.123456789 UTC */

static int expand(const char *pattern, const char *name, char *out, char *err)
{
    out[0] = err[0] = '\0';
    return daq_path_expand_pattern(pattern, name, T_NS, out, 300, err, 512);
}

static void pattern_placeholders_expanded(void **state)
{
    char out[300], err[512];
    assert_int_equal(expand("{name}_{timestamp}.h5", "run 1", out, err), 0);
    assert_string_equal(out, "run_1_1733350800.h5");
    assert_int_equal(expand("{date}-{name}.h5", "run", out, err), 0);
    assert_string_equal(out, "2024-12-04-run.h5");
    assert_int_equal(expand("{datetime}_{name}.h5", "run", out, err), 0);
    assert_string_equal(out, "20241204_222000_run.h5");
    /* "" is rust-daq's default pattern. */
    assert_int_equal(expand("", "scan", out, err), 0);
    assert_string_equal(out, "scan_1733350800.h5");
    /* ".h5" is appended when missing, so the catalogue sees the file. */
    assert_int_equal(expand("{name}", "x", out, err), 0);
    assert_string_equal(out, "x.h5");
    assert_int_equal(expand("{name}.hdf5", "x", out, err), 0);
    assert_string_equal(out, "x.hdf5.h5");
    /* Text around placeholders is sanitised; a lone brace is text. */
    assert_int_equal(expand("exp 7 {name} {x.h5", "a", out, err), 0);
    assert_string_equal(out, "exp_7_a__x.h5");
    assert_int_equal(expand("{}.h5", "a", out, err), 0);
    assert_string_equal(out, "__.h5");
    assert_int_equal(expand(".{name}.h5", "a", out, err), 0);
    assert_string_equal(out, "_a.h5");
    /* A name of the longest length survives whole. */
    char name64[65], want[80];
    memset(name64, 'n', 64);
    name64[64] = '\0';
    assert_int_equal(expand("{name}.h5", name64, out, err), 0);
    fmt(want, sizeof want, "%s.h5", name64);
    assert_string_equal(out, want);
    /* {name} is the sanitised name. */
    assert_int_equal(expand("{name}.h5", ".. weird", out, err), 0);
    assert_string_equal(out, "_._weird.h5");
}

static void pattern_unknown_placeholder_refused(void **state)
{
    char out[300], err[512];
    assert_int_equal(expand("{name}_{foo}.h5", "run", out, err), -1);
    assert_string_equal(err, "Invalid filename pattern: {name}_{foo}.h5: unknown placeholder "
                             "{foo} (supported: {name}, {timestamp}, {date}, {datetime})");
    assert_int_equal(expand("{Name}.h5", "run", out, err), -1);
    assert_string_equal(err, "Invalid filename pattern: {Name}.h5: unknown placeholder {Name} "
                             "(supported: {name}, {timestamp}, {date}, {datetime})");
}

static void pattern_slash_refused(void **state)
{
    char out[300], err[512];
    assert_int_equal(expand("../{name}.h5", "run", out, err), -1);
    assert_string_equal(err, "Invalid filename pattern: ../{name}.h5: '/' is not allowed");
    assert_int_equal(expand("{name}.h5", "a/b", out, err), -1);
    assert_string_equal(err, "Invalid name: a/b: '/' is not allowed");
    assert_int_equal(expand("{name}.h5", "..", out, err), -1);
    assert_string_equal(err, "Invalid name: ..: '.' and '..' are not allowed");
}

static void pattern_too_long_refused(void **state)
{
    char pattern[300], out[300], err[512], want[1024];
    memset(pattern, 'p', 253);
    pattern[253] = '\0';
    assert_int_equal(expand(pattern, "x", out, err), -1); /* 253 + ".h5" > 255 */
    fmt(want, sizeof want,
        "Invalid filename pattern: %s: the file name would be longer than 255 bytes", pattern);
    assert_string_equal(err, want);
    pattern[252] = '\0';
    assert_int_equal(expand(pattern, "x", out, err), 0); /* exactly 255 */
    assert_int_equal(strlen(out), 255);
}

/* ---- exclusive creation ---------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void create_exclusive_never_overwrites(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX], out[PATH_MAX], err[512], want[2 * PATH_MAX];
    fmt(p, sizeof p, "%s/run.h5", f.root);
    write_file(p, "keep");
    assert_int_equal(daq_path_create_exclusive(f.root, "run.h5", out, sizeof out, err, sizeof err),
                     0);
    fmt(want, sizeof want, "%s/run_1.h5", f.root);
    assert_string_equal(out, want);
    assert_int_equal(daq_path_create_exclusive(f.root, "run.h5", out, sizeof out, err, sizeof err),
                     0);
    fmt(want, sizeof want, "%s/run_2.h5", f.root);
    assert_string_equal(out, want);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_size, 0);
    /* No extension: the suffix goes at the end; a leading dot is no extension. */
    assert_int_equal(daq_path_create_exclusive(f.root, "noext", out, sizeof out, err, sizeof err),
                     0);
    assert_int_equal(daq_path_create_exclusive(f.root, "noext", out, sizeof out, err, sizeof err),
                     0);
    fmt(want, sizeof want, "%s/noext_1", f.root);
    assert_string_equal(out, want);
    assert_int_equal(daq_path_create_exclusive(f.root, ".h5", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(daq_path_create_exclusive(f.root, ".h5", out, sizeof out, err, sizeof err), 0);
    fmt(want, sizeof want, "%s/.h5_1", f.root);
    assert_string_equal(out, want);
    fx_fini(&f);
}

static void create_exclusive_mode_is_0640(void **state)
{
    fx f;
    fx_init(&f);
    const mode_t masks[] = {077, 0, 022, 0277};
    char out[PATH_MAX], err[512];
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        mode_t old = umask(masks[i]);
        int rc = daq_path_create_exclusive(f.root, "m.h5", out, sizeof out, err, sizeof err);
        umask(old);
        assert_int_equal(rc, 0);
        struct stat st;
        assert_int_equal(stat(out, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0640);
    }
    fx_fini(&f);
}

static void create_exclusive_symlink_not_followed(void **state)
{
    fx f;
    fx_init(&f);
    char link[2 * PATH_MAX], target[2 * PATH_MAX], out[PATH_MAX], err[512], want[2 * PATH_MAX];
    fmt(link, sizeof link, "%s/evil.h5", f.root);
    fmt(target, sizeof target, "%s/target.h5", f.outside);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(daq_path_create_exclusive(f.root, "evil.h5", out, sizeof out, err, sizeof err),
                     0);
    fmt(want, sizeof want, "%s/evil_1.h5", f.root);
    assert_string_equal(out, want);
    assert_false(exists("%s/target.h5", f.outside, ""));
    fx_fini(&f);
}

static void create_exclusive_gives_up_after_100(void **state)
{
    fx f;
    fx_init(&f);
    char out[PATH_MAX], err[512], want[2 * PATH_MAX];
    for (int i = 0; i <= 100; i++) {
        assert_int_equal(
            daq_path_create_exclusive(f.root, "full.h5", out, sizeof out, err, sizeof err), 0);
        if (i)
            fmt(want, sizeof want, "%s/full_%d.h5", f.root, i);
        else
            fmt(want, sizeof want, "%s/full.h5", f.root);
        assert_string_equal(out, want);
    }
    assert_int_equal(daq_path_create_exclusive(f.root, "full.h5", out, sizeof out, err, sizeof err),
                     -1);
    fmt(want, sizeof want, "%s/full.h5: File exists (and with suffixes _1 to _100)", f.root);
    assert_string_equal(err, want);
    assert_false(exists("%s/full_101.h5", f.root, ""));
    fx_fini(&f);
}

static void create_exclusive_reports_os_error(void **state)
{
    fx f;
    fx_init(&f);
    char dir[2 * PATH_MAX], out[PATH_MAX], err[512], want[3 * PATH_MAX];
    fmt(dir, sizeof dir, "%s/missing", f.root);
    assert_int_equal(daq_path_create_exclusive(dir, "a.h5", out, sizeof out, err, sizeof err), -1);
    fmt(want, sizeof want, "%s/a.h5: No such file or directory", dir);
    assert_string_equal(err, want);
    fx_fini(&f);
}

static void disk_space_of_the_root(void **state)
{
    fx f;
    fx_init(&f);
    uint64_t avail = 0, used = 0;
    daq_path_disk_space(f.root, &avail, &used);
    assert_true(avail > 0);
    assert_true(used > 0);
    daq_path_disk_space("/nonexistent/daq/path", &avail, &used);
    assert_int_equal(avail, 0);
    assert_int_equal(used, 0);
    fx_fini(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(make_root_creates_and_resolves),
    cmocka_unit_test(inside_is_per_component),
    cmocka_unit_test(relative_dir_created_below_root),
    cmocka_unit_test(dotdot_out_of_root_refused),
    cmocka_unit_test(dotdot_in_part_to_create_refused),
    cmocka_unit_test(absolute_outside_refused),
    cmocka_unit_test(absolute_inside_accepted),
    cmocka_unit_test(symlink_out_of_root_refused),
    cmocka_unit_test(dangling_symlink_creates_nothing),
    cmocka_unit_test(symlink_inside_root_followed),
    cmocka_unit_test(file_in_the_way_refused),
    cmocka_unit_test(name_with_slash_refused),
    cmocka_unit_test(name_with_nul_refused),
    cmocka_unit_test(name_dot_and_dotdot_refused),
    cmocka_unit_test(name_odd_bytes_sanitised),
    cmocka_unit_test(pattern_placeholders_expanded),
    cmocka_unit_test(pattern_unknown_placeholder_refused),
    cmocka_unit_test(pattern_slash_refused),
    cmocka_unit_test(pattern_too_long_refused),
    cmocka_unit_test(create_exclusive_never_overwrites),
    cmocka_unit_test(create_exclusive_mode_is_0640),
    cmocka_unit_test(create_exclusive_symlink_not_followed),
    cmocka_unit_test(create_exclusive_gives_up_after_100),
    cmocka_unit_test(create_exclusive_reports_os_error),
    cmocka_unit_test(disk_space_of_the_root),
};

DAQ_TEST_MAIN("storage_paths", tests)
