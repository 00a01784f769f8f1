/* daqd/plot.c - PNG plots for the diagnostics bundle, with no library.
 *
 * Why no zlib: daqd links zlib only through libdaq-storage (HDF5 gzip),
 * which a build may leave out; a bundle must still have its plots then.
 * So the encoder is its own: an 8-bit palette image (7 colours; 800 x 400
 * + 400 filter bytes = 320 KB raw) in one deflate block with the fixed
 * Huffman codes, greedy matches against the byte before (runs of
 * background) and the row before (repeated rows), its own CRC-32 and
 * Adler-32.  A plot comes out at 4-6 KB (320 KB with stored blocks), no
 * tables to build; zlib would gain little on images this plain.
 *
 * The font is a 5 x 7 bitmap drawn here: digits, A-Z (lower case letters
 * are drawn upper case) and the punctuation plots need; each glyph is
 * written as a picture so it can be read and fixed.
 *
 * Plots: ~800 x 400, white background, axes with 5 or 6 ticks, the title
 * at double size, axis labels, a legend for bar series.
 */
#include "daqd/plot.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- canvas ------------------------------------------------------------------------- */

daqd_canvas *daqd_canvas_new(unsigned w, unsigned h)
{
    daqd_canvas *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    c->w = w;
    c->h = h;
    c->px = calloc((size_t)w * h, 1); /* DAQD_C_WHITE = 0 */
    if (!c->px) {
        free(c);
        return NULL;
    }
    return c;
}

void daqd_canvas_free(daqd_canvas *c)
{
    if (c) {
        free(c->px);
        free(c);
    }
}

void daqd_canvas_set(daqd_canvas *c, int x, int y, uint8_t color)
{
    if (x >= 0 && y >= 0 && (unsigned)x < c->w && (unsigned)y < c->h)
        c->px[(size_t)y * c->w + (unsigned)x] = color;
}

void daqd_canvas_line(daqd_canvas *c, int x0, int y0, int x1, int y1, uint8_t color)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) { /* Bresenham */
        daqd_canvas_set(c, x0, y0, color);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void daqd_canvas_rect(daqd_canvas *c, int x0, int y0, int x1, int y1, uint8_t color)
{
    for (int y = y0 < y1 ? y0 : y1; y <= (y0 < y1 ? y1 : y0); y++)
        for (int x = x0 < x1 ? x0 : x1; x <= (x0 < x1 ? x1 : x0); x++)
            daqd_canvas_set(c, x, y, color);
}

/* ---- font ----------------------------------------------------------------------------- */

typedef struct glyph_pic {
    char c;
    const char rows[DAQD_FONT_H][DAQD_FONT_W + 1];
} glyph_pic;

static const glyph_pic glyph_pics[] = {
    {' ', {"     ", "     ", "     ", "     ", "     ", "     ", "     "}},
    {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
    {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
    {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
    {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
    {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
    {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
    {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
    {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
    {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
    {'A', {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
    {'B', {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "}},
    {'C', {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "}},
    {'D', {"###  ", "#  # ", "#   #", "#   #", "#   #", "#  # ", "###  "}},
    {'E', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"}},
    {'F', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "}},
    {'G', {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"}},
    {'H', {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
    {'I', {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'J', {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "}},
    {'K', {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"}},
    {'L', {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"}},
    {'M', {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"}},
    {'N', {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"}},
    {'O', {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
    {'P', {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "}},
    {'Q', {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"}},
    {'R', {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"}},
    {'S', {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "}},
    {'T', {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "}},
    {'U', {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
    {'V', {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "}},
    {'W', {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "}},
    {'X', {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"}},
    {'Y', {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "}},
    {'Z', {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"}},
    {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
    {',', {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "}},
    {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
    {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
    {'_', {"     ", "     ", "     ", "     ", "     ", "     ", "#####"}},
    {'+', {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "}},
    {'=', {"     ", "     ", "#####", "     ", "#####", "     ", "     "}},
    {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
    {'%', {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"}},
    {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
    {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
    {'<', {"   # ", "  #  ", " #   ", "#    ", " #   ", "  #  ", "   # "}},
    {'>', {" #   ", "  #  ", "   # ", "    #", "   # ", "  #  ", " #   "}},
    {'?', {" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "}},
    {'#', {" # # ", " # # ", "#####", " # # ", "#####", " # # ", " # # "}},
    {'\'', {"  #  ", "  #  ", " #   ", "     ", "     ", "     ", "     "}},
};

#define N_GLYPHS (sizeof glyph_pics / sizeof glyph_pics[0])

static uint8_t glyph_bits[N_GLYPHS][DAQD_FONT_H];
static pthread_once_t glyphs_once = PTHREAD_ONCE_INIT;

static void glyphs_build(void)
{
    for (size_t g = 0; g < N_GLYPHS; g++)
        for (int r = 0; r < DAQD_FONT_H; r++) {
            uint8_t bits = 0;
            for (int col = 0; col < DAQD_FONT_W; col++)
                bits = (uint8_t)(bits << 1 | (glyph_pics[g].rows[r][col] == '#'));
            glyph_bits[g][r] = bits;
        }
}

const uint8_t *daqd_font_glyph(char c)
{
    pthread_once(&glyphs_once, glyphs_build);
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    size_t unknown = 0;
    for (size_t g = 0; g < N_GLYPHS; g++) {
        if (glyph_pics[g].c == c)
            return glyph_bits[g];
        if (glyph_pics[g].c == '?')
            unknown = g;
    }
    return glyph_bits[unknown];
}

int daqd_text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)n * (DAQD_FONT_W + 1) * scale - scale : 0;
}

int daqd_canvas_text(daqd_canvas *c, int x, int y, const char *s, int scale, uint8_t color)
{
    for (const char *p = s; *p; p++) {
        const uint8_t *g = daqd_font_glyph(*p);
        int gx = x + (int)(p - s) * (DAQD_FONT_W + 1) * scale;
        for (int r = 0; r < DAQD_FONT_H; r++)
            for (int col = 0; col < DAQD_FONT_W; col++)
                if (g[r] >> (DAQD_FONT_W - 1 - col) & 1)
                    daqd_canvas_rect(c, gx + col * scale, y + r * scale,
                                     gx + col * scale + scale - 1, y + r * scale + scale - 1,
                                     color);
    }
    return daqd_text_width(s, scale);
}

/* ---- PNG ------------------------------------------------------------------------------- */

static const uint8_t palette[DAQD_C_COUNT][3] = {
    {255, 255, 255}, {0, 0, 0},     {220, 220, 220}, {31, 119, 180},
    {255, 127, 14},  {44, 160, 44}, {214, 39, 40},
};

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc >> 1 ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

typedef struct out_buf {
    uint8_t *p;
    size_t n, cap;
} out_buf;

static uint8_t *out_reserve(out_buf *o, size_t n)
{
    if (o->n + n > o->cap)
        return NULL; /* sized up front: never grows */
    uint8_t *at = o->p + o->n;
    o->n += n;
    return at;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A chunk: length, type, data (already at out after the 8-byte header),
 * CRC over type and data. */
static uint8_t *chunk_begin(out_buf *o, const char *type, size_t len)
{
    uint8_t *h = out_reserve(o, 8 + len + 4);
    put_be32(h, (uint32_t)len);
    memcpy(h + 4, type, 4);
    return h + 8;
}

static void chunk_end(uint8_t *data, size_t len)
{
    put_be32(data + len, crc32_update(0, data - 4, len + 4));
}

/* ---- deflate: one fixed-Huffman block (RFC 1951 3.2.6) ---------------------------- */

typedef struct bit_out {
    uint8_t *p;
    uint32_t acc; /* bits not yet written, LSB first */
    int n;
} bit_out;

static void bits_put(bit_out *b, uint32_t v, int n)
{
    b->acc |= v << b->n;
    b->n += n;
    while (b->n >= 8) {
        *b->p++ = (uint8_t)b->acc;
        b->acc >>= 8;
        b->n -= 8;
    }
}

/* A Huffman code goes most significant bit first. */
static void code_put(bit_out *b, uint32_t code, int n)
{
    uint32_t r = 0;
    for (int i = 0; i < n; i++)
        r |= (code >> i & 1) << (n - 1 - i);
    bits_put(b, r, n);
}

static void symbol_put(bit_out *b, unsigned sym)
{
    if (sym < 144)
        code_put(b, 0x30 + sym, 8);
    else if (sym < 256)
        code_put(b, 0x190 + sym - 144, 9);
    else if (sym < 280)
        code_put(b, sym - 256, 7);
    else
        code_put(b, 0xC0 + sym - 280, 8);
}

static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                      15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void match_put(bit_out *b, unsigned len, unsigned dist)
{
    unsigned l = 28, d = 29;
    while (len_base[l] > len)
        l--;
    symbol_put(b, 257 + l);
    bits_put(b, len - len_base[l], len_extra[l]);
    while (dist_base[d] > dist)
        d--;
    code_put(b, d, 5);
    bits_put(b, dist - dist_base[d], dist_extra[d]);
}

static size_t match_len(const uint8_t *in, size_t n, size_t i, size_t dist)
{
    size_t k = 0;
    if (dist == 0 || dist > i || dist > 32768)
        return 0;
    while (k < 258 && i + k < n && in[i + k] == in[i + k - dist])
        k++;
    return k;
}

/* Compresses in[0..n) into out, which has room for n * 9 / 8 + 8 bytes
 * (a literal is at most 9 bits and a match never costs more than its
 * bytes as literals); returns the bytes written.  Greedy matches against
 * the byte before (runs) and the row before (stride): a plot is runs of
 * background and rows that repeat. */
static size_t deflate_fixed(const uint8_t *in, size_t n, size_t stride, uint8_t *out)
{
    bit_out b = {.p = out};
    bits_put(&b, 1, 1); /* BFINAL */
    bits_put(&b, 1, 2); /* BTYPE 01: fixed Huffman codes */
    for (size_t i = 0; i < n;) {
        size_t run = match_len(in, n, i, 1), up = match_len(in, n, i, stride);
        size_t len = up > run ? up : run, dist = up > run ? stride : 1;
        if (len >= 3) {
            match_put(&b, (unsigned)len, (unsigned)dist);
            i += len;
        } else {
            symbol_put(&b, in[i++]);
        }
    }
    symbol_put(&b, 256); /* end of block */
    bits_put(&b, 0, 7);  /* flush the last byte */
    return (size_t)(b.p - out);
}

static uint32_t adler32_of(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return b << 16 | a;
}

uint8_t *daqd_png_encode(const daqd_canvas *c, size_t *len)
{
    size_t stride = (size_t)c->w + 1; /* a filter byte (0, None) per row */
    size_t raw_n = c->h * stride;
    size_t zcap = 2 + raw_n * 9 / 8 + 8 + 4; /* header, the block, Adler-32 */
    out_buf o = {.cap = 8 + 25 + 12 + sizeof palette + 12 + zcap + 12};
    uint8_t *raw = malloc(raw_n);
    o.p = raw ? malloc(o.cap) : NULL;
    if (!o.p) {
        free(raw);
        return NULL;
    }
    for (size_t y = 0; y < c->h; y++) {
        raw[y * stride] = 0;
        memcpy(raw + y * stride + 1, c->px + y * c->w, c->w);
    }
    memcpy(out_reserve(&o, 8), "\x89PNG\r\n\x1a\n", 8);

    uint8_t *d = chunk_begin(&o, "IHDR", 13);
    put_be32(d, c->w);
    put_be32(d + 4, c->h);
    memcpy(d + 8, "\x08\x03\x00\x00\x00", 5); /* 8 bits, palette, deflate, filter 0, no interlace */
    chunk_end(d, 13);

    d = chunk_begin(&o, "PLTE", sizeof palette);
    memcpy(d, palette, sizeof palette);
    chunk_end(d, sizeof palette);

    d = chunk_begin(&o, "IDAT", zcap);
    d[0] = 0x78; /* deflate, 32K window */
    d[1] = 0x01; /* (0x78 << 8 | 0x01) % 31 == 0 */
    size_t used = 2 + deflate_fixed(raw, raw_n, stride, d + 2);
    put_be32(d + used, adler32_of(raw, raw_n));
    used += 4;
    free(raw);
    o.n -= zcap - used;
    put_be32(d - 8, (uint32_t)used);
    chunk_end(d, used);

    d = chunk_begin(&o, "IEND", 0);
    chunk_end(d, 0);
    *len = o.n;
    return o.p;
}

int daqd_png_write(const daqd_canvas *c, const char *path)
{
    size_t n;
    uint8_t *png = daqd_png_encode(c, &n);
    if (!png)
        return -1;
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(png, 1, n, f) == n ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(png);
    return rc;
}

/* ---- plots ----------------------------------------------------------------------------- */

enum { M_LEFT = 80, M_RIGHT = 20, M_TOP = 44, M_BOTTOM = 56 };

typedef struct frame {
    daqd_canvas *c;
    int x0, y0, x1, y1; /* plot area: left, top, right, bottom */
} frame;

static void fmt_num(char *out, size_t n, double v)
{
    double a = fabs(v);
    if (a >= 1e9)
        snprintf(out, n, "%.3gG", v / 1e9);
    else if (a >= 1e6)
        snprintf(out, n, "%.3gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(out, n, "%.3gK", v / 1e3);
    else
        snprintf(out, n, "%.4g", v);
}

/* Canvas, title, axis labels, the axes and the y ticks (0..ymax). */
static int frame_new(frame *f, const char *title, const char *xlabel, const char *ylabel,
                     double ymax)
{
    f->c = daqd_canvas_new(DAQD_PLOT_W, DAQD_PLOT_H);
    if (!f->c)
        return -1;
    f->x0 = M_LEFT;
    f->y0 = M_TOP;
    f->x1 = DAQD_PLOT_W - M_RIGHT;
    f->y1 = DAQD_PLOT_H - M_BOTTOM;
    daqd_canvas_text(f->c, (DAQD_PLOT_W - daqd_text_width(title, 2)) / 2, 10, title, 2,
                     DAQD_C_BLACK);
    daqd_canvas_text(f->c, (f->x0 + f->x1 - daqd_text_width(xlabel, 1)) / 2, DAQD_PLOT_H - 14,
                     xlabel, 1, DAQD_C_BLACK);
    daqd_canvas_text(f->c, 8, f->y0 - 14, ylabel, 1, DAQD_C_BLACK);
    for (int t = 0; t <= 5; t++) { /* 5 steps of a 1, 2 or 5 top: round labels */
        int y = f->y1 - (f->y1 - f->y0) * t / 5;
        char lab[32];
        fmt_num(lab, sizeof lab, ymax * t / 5);
        if (t > 0)
            daqd_canvas_line(f->c, f->x0 + 1, y, f->x1, y, DAQD_C_GRID);
        daqd_canvas_line(f->c, f->x0 - 4, y, f->x0, y, DAQD_C_BLACK);
        daqd_canvas_text(f->c, f->x0 - 8 - daqd_text_width(lab, 1), y - 3, lab, 1, DAQD_C_BLACK);
    }
    daqd_canvas_line(f->c, f->x0, f->y0, f->x0, f->y1, DAQD_C_BLACK);
    daqd_canvas_line(f->c, f->x0, f->y1, f->x1, f->y1, DAQD_C_BLACK);
    return 0;
}

static int y_pixel(const frame *f, double v, double ymax)
{
    return f->y1 - (int)lround((f->y1 - f->y0) * (ymax > 0 ? v / ymax : 0));
}

/* A round-ish top for the y axis: 1, 2 or 5 times a power of ten. */
static double nice_max(double v)
{
    if (!(v > 0))
        return 1;
    double p = pow(10, floor(log10(v)));
    return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

daqd_canvas *daqd_plot_line(const char *title, const char *xlabel, const char *ylabel,
                            const double *x, const double *y, size_t n)
{
    double ymax = 0, xmin = n ? x[0] : 0, xmax = n ? x[n - 1] : 1;
    for (size_t i = 0; i < n; i++)
        ymax = y[i] > ymax ? y[i] : ymax;
    ymax = nice_max(ymax);
    if (xmax <= xmin)
        xmax = xmin + 1;
    frame f;
    if (frame_new(&f, title, xlabel, ylabel, ymax) != 0)
        return NULL;
    int w = f.x1 - f.x0;
    for (int t = 0; t <= 4; t++) {
        int px = f.x0 + w * t / 4;
        char lab[32];
        fmt_num(lab, sizeof lab, xmin + (xmax - xmin) * t / 4);
        daqd_canvas_line(f.c, px, f.y1, px, f.y1 + 4, DAQD_C_BLACK);
        daqd_canvas_text(f.c, px - daqd_text_width(lab, 1) / 2, f.y1 + 8, lab, 1, DAQD_C_BLACK);
    }
    int px0 = 0, py0 = 0;
    for (size_t i = 0; i < n; i++) {
        int px = f.x0 + (int)lround(w * (x[i] - xmin) / (xmax - xmin));
        int py = y_pixel(&f, y[i], ymax);
        if (i > 0) { /* two pixels thick */
            daqd_canvas_line(f.c, px0, py0, px, py, DAQD_C_BLUE);
            daqd_canvas_line(f.c, px0, py0 - 1, px, py - 1, DAQD_C_BLUE);
        } else {
            daqd_canvas_rect(f.c, px - 1, py - 1, px + 1, py + 1, DAQD_C_BLUE);
        }
        px0 = px;
        py0 = py;
    }
    return f.c;
}

daqd_canvas *daqd_plot_bars(const char *title, const char *xlabel, const char *ylabel,
                            const char *const *labels, size_t ncat, const char *const *names,
                            const double *values, size_t nseries)
{
    static const uint8_t colors[] = {DAQD_C_BLUE, DAQD_C_ORANGE, DAQD_C_GREEN, DAQD_C_RED};
    double ymax = 0;
    for (size_t i = 0; i < ncat * nseries; i++)
        ymax = values[i] > ymax ? values[i] : ymax;
    ymax = nice_max(ymax);
    frame f;
    if (frame_new(&f, title, xlabel, ylabel, ymax) != 0)
        return NULL;
    double cw = ncat ? (double)(f.x1 - f.x0) / (double)ncat : 0;
    int lab_w = 0;
    for (size_t i = 0; i < ncat; i++) {
        int lw = daqd_text_width(labels[i], 1);
        lab_w = lw > lab_w ? lw : lab_w;
    }
    size_t every = cw > 0 ? (size_t)((lab_w + 6) / cw) + 1 : 1; /* labels that do not overlap */
    for (size_t i = 0; i < ncat; i++) {
        int cx0 = f.x0 + (int)lround(cw * (double)i);
        double bw = cw * 0.8 / (double)(nseries ? nseries : 1);
        for (size_t s = 0; s < nseries; s++) {
            double v = values[s * ncat + i];
            if (!(v > 0))
                continue;
            int bx0 = cx0 + (int)lround(cw * 0.1 + bw * (double)s);
            int bx1 = cx0 + (int)lround(cw * 0.1 + bw * (double)(s + 1)) - 1;
            int top = y_pixel(&f, v, ymax);
            if (top >= f.y1)
                top = f.y1 - 1; /* a non-zero count stays visible */
            daqd_canvas_rect(f.c, bx0, top, bx1 > bx0 ? bx1 : bx0, f.y1 - 1,
                             colors[s % sizeof colors]);
        }
        if (i % every == 0) {
            int mid = cx0 + (int)lround(cw / 2);
            daqd_canvas_line(f.c, mid, f.y1, mid, f.y1 + 3, DAQD_C_BLACK);
            daqd_canvas_text(f.c, mid - daqd_text_width(labels[i], 1) / 2, f.y1 + 8, labels[i], 1,
                             DAQD_C_BLACK);
        }
    }
    int lx = f.x1 - 10; /* legend, top right, right-aligned */
    for (size_t s = nseries; s-- > 0;) {
        lx -= daqd_text_width(names[s], 1);
        daqd_canvas_text(f.c, lx, f.y0 - 14, names[s], 1, DAQD_C_BLACK);
        lx -= 14;
        daqd_canvas_rect(f.c, lx, f.y0 - 14, lx + 8, f.y0 - 8, colors[s % sizeof colors]);
        lx -= 16;
    }
    return f.c;
}
