/* Unit tests of daqd's PNG plots (src/daqd/plot.c): the PNG container
 * (signature, IHDR, chunk CRCs checked with zlib's crc32), the zlib
 * stream (zlib's uncompress must give back the filtered rows, over many
 * stored blocks too), that a bar and a line plot draw something in the
 * plot area, and that the built-in font tells the digits apart. */
#include <unistd.h>
#include <zlib.h>

#include "daqd/plot.h"
#include "test_main.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A canvas that exercises the encoder: noise rows (literals), rows equal
 * to the one before (row matches) and rows of short and long runs. */
static daqd_canvas *pattern(unsigned w, unsigned h)
{
    daqd_canvas *c = daqd_canvas_new(w, h);
    assert_non_null(c);
    uint32_t seed = 12345;
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            uint8_t *p = &c->px[y * w + x];
            seed = seed * 1103515245u + 12345u;
            if (y % 3 == 0)
                *p = (uint8_t)((seed >> 16) % DAQD_C_COUNT);
            else if (y % 3 == 1)
                *p = c->px[(y - 1) * w + x];
            else
                *p = (uint8_t)((x / (1 + y % 300)) % DAQD_C_COUNT);
        }
    return c;
}

/* Walks the chunks: every CRC right, IHDR first, IEND last; the IDAT
 * data concatenated into *idat (malloc'd). */
static void png_walk(const uint8_t *png, size_t n, uint32_t *w, uint32_t *h, uint8_t **idat,
                     size_t *idat_n)
{
    assert_true(n > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    size_t at = 8, chunks = 0;
    *idat = NULL;
    *idat_n = 0;
    bool end = false;
    while (at < n) {
        assert_true(at + 12 <= n);
        uint32_t len = be32(png + at);
        assert_true(at + 12 + len <= n);
        const uint8_t *type = png + at + 4;
        uint32_t crc = (uint32_t)crc32(0, type, len + 4);
        assert_int_equal(crc, be32(png + at + 8 + len));
        if (chunks == 0) {
            assert_memory_equal(type, "IHDR", 4);
            assert_int_equal(len, 13);
            *w = be32(type + 4);
            *h = be32(type + 8);
            assert_int_equal(type[12], 8); /* bit depth */
            assert_int_equal(type[13], 3); /* palette */
        }
        if (memcmp(type, "IDAT", 4) == 0) {
            *idat = realloc(*idat, *idat_n + len);
            memcpy(*idat + *idat_n, type + 4, len);
            *idat_n += len;
        }
        end = memcmp(type, "IEND", 4) == 0;
        at += 12 + len;
        chunks++;
    }
    assert_true(end);
    assert_int_equal(at, n);
}

static void check_round_trip(unsigned w, unsigned h)
{
    daqd_canvas *c = pattern(w, h);
    size_t n;
    uint8_t *png = daqd_png_encode(c, &n);
    assert_non_null(png);
    uint32_t pw, ph;
    uint8_t *idat;
    size_t idat_n;
    png_walk(png, n, &pw, &ph, &idat, &idat_n);
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
    uLongf raw_n = (uLongf)(w + 1) * h;
    uint8_t *raw = malloc(raw_n);
    assert_int_equal(uncompress(raw, &raw_n, idat, idat_n), Z_OK);
    assert_int_equal(raw_n, (uLongf)(w + 1) * h);
    for (unsigned y = 0; y < h; y++) {
        assert_int_equal(raw[y * (w + 1)], 0); /* filter None */
        assert_memory_equal(raw + y * (w + 1) + 1, c->px + y * w, w);
    }
    free(raw);
    free(idat);
    free(png);
    daqd_canvas_free(c);
}

static void png_signature_ihdr_crcs(void **state)
{
    (void)state;
    check_round_trip(37, 23);
    check_round_trip(1, 1);
}

static void png_zlib_decodes_large(void **state)
{
    (void)state;
    check_round_trip(DAQD_PLOT_W, DAQD_PLOT_H); /* matches a row back (801 bytes) */
    check_round_trip(40000, 2); /* a row back is beyond the 32 KiB window: runs only */
}

static void png_write_file(void **state)
{
    (void)state;
    daqd_canvas *c = pattern(10, 10);
    char path[] = "/tmp/test_plot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(daqd_png_write(c, path), 0);
    FILE *f = fopen(path, "rb");
    uint8_t buf[8];
    assert_int_equal(fread(buf, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
    unlink(path);
    assert_int_equal(daqd_png_write(c, "/nonexistent-dir/x.png"), -1);
    daqd_canvas_free(c);
}

/* Pixels of colour col (or, col < 0, not white) inside the plot area
 * (inside the axes: x 81..779, y 44..343). */
static size_t area_count(const daqd_canvas *c, int col)
{
    size_t n = 0;
    for (unsigned y = 44; y < DAQD_PLOT_H - 57; y++)
        for (unsigned x = 81; x < DAQD_PLOT_W - 20; x++) {
            uint8_t v = c->px[y * c->w + x];
            n += col < 0 ? v != DAQD_C_WHITE && v != DAQD_C_GRID : v == col;
        }
    return n;
}

static void bar_plot_not_blank(void **state)
{
    (void)state;
    const char *labels[] = {"1us", "2us", "4us", "8us"};
    const char *names[] = {"alloc_pool", "alloc_heap"};
    double v[] = {10, 200, 30, 0, /* pool */ 0, 5, 50, 1};
    daqd_canvas *c =
        daqd_plot_bars("cam0: alloc latency", "bucket", "count", labels, 4, names, v, 2);
    assert_non_null(c);
    assert_int_equal(c->w, DAQD_PLOT_W);
    assert_int_equal(c->h, DAQD_PLOT_H);
    size_t blue = area_count(c, DAQD_C_BLUE), orange = area_count(c, DAQD_C_ORANGE);
    assert_true(blue > 1000);
    assert_true(orange > 100);
    assert_true(blue > orange); /* pool counts are bigger */
    daqd_canvas_free(c);

    /* All zero: axes and text only, no bars. */
    double zero[4] = {0};
    c = daqd_plot_bars("empty", "x", "y", labels, 4, names, zero, 1);
    assert_int_equal(area_count(c, DAQD_C_BLUE), 0);
    daqd_canvas_free(c);
}

static void line_plot_draws(void **state)
{
    (void)state;
    double x[] = {0, 1, 2, 3, 4}, y[] = {100, 110, 105, 130, 120};
    daqd_canvas *c = daqd_plot_line("Process RSS", "t (s)", "MiB", x, y, 5);
    assert_non_null(c);
    assert_true(area_count(c, DAQD_C_BLUE) > 500);
    daqd_canvas_free(c);
    c = daqd_plot_line("none", "t", "y", x, y, 0);
    assert_non_null(c);
    assert_int_equal(area_count(c, DAQD_C_BLUE), 0);
    daqd_canvas_free(c);
}

static void font_digits_distinct(void **state)
{
    (void)state;
    for (char a = '0'; a <= '9'; a++) {
        const uint8_t *ga = daqd_font_glyph(a);
        int lit = 0;
        for (int r = 0; r < DAQD_FONT_H; r++)
            lit += __builtin_popcount(ga[r]);
        assert_true(lit >= 7);
        for (char b = (char)(a + 1); b <= '9'; b++)
            assert_memory_not_equal(ga, daqd_font_glyph(b), DAQD_FONT_H);
    }
    assert_memory_equal(daqd_font_glyph('a'), daqd_font_glyph('A'), DAQD_FONT_H);
    assert_memory_equal(daqd_font_glyph('~'), daqd_font_glyph('?'), DAQD_FONT_H);
    assert_memory_not_equal(daqd_font_glyph('O'), daqd_font_glyph('0'), DAQD_FONT_H);

    /* Drawn text: width 6 px per character less the last gap; "8" lights
     * more pixels than "1"; scale 2 lights 4 times as many. */
    daqd_canvas *c = daqd_canvas_new(100, 20);
    assert_int_equal(daqd_canvas_text(c, 0, 0, "0123", 1, DAQD_C_BLACK), 23);
    daqd_canvas_free(c);
    size_t lit[3];
    const char *s[3] = {"1", "8", "8"};
    for (int i = 0; i < 3; i++) {
        c = daqd_canvas_new(20, 20);
        daqd_canvas_text(c, 0, 0, s[i], i == 2 ? 2 : 1, DAQD_C_BLACK);
        lit[i] = 0;
        for (size_t k = 0; k < 400; k++)
            lit[i] += c->px[k] == DAQD_C_BLACK;
        daqd_canvas_free(c);
    }
    assert_true(lit[1] > lit[0]);
    assert_int_equal(lit[2], 4 * lit[1]);
}

static const struct CMUnitTest tests[] = {
    /* one per line: tests/CMakeLists.txt finds the cases line by line */
    // clang-format off
    cmocka_unit_test(png_signature_ihdr_crcs),
    cmocka_unit_test(png_zlib_decodes_large),
    cmocka_unit_test(png_write_file),
    cmocka_unit_test(bar_plot_not_blank),
    cmocka_unit_test(line_plot_draws),
    cmocka_unit_test(font_digits_distinct),
    // clang-format on
};

DAQ_TEST_MAIN("plot", tests)
