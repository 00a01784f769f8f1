/* daqd/plot.h - PNG plots for the diagnostics bundle: a canvas, a 5x7
 * bitmap font, a line plot and a bar plot, and a self-contained PNG
 * encoder (plot.c says why no zlib).
 *
 * Ownership: a canvas owns its pixels (daqd_canvas_free); strings and
 * arrays passed in are borrowed for the call.
 */
#ifndef DAQD_PLOT_INCLUDED
#define DAQD_PLOT_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define DAQD_PLOT_W 800
#define DAQD_PLOT_H 400

/* Palette indices (the PNG is palette-coloured). */
enum {
    DAQD_C_WHITE = 0,
    DAQD_C_BLACK,
    DAQD_C_GRID,
    DAQD_C_BLUE,
    DAQD_C_ORANGE,
    DAQD_C_GREEN,
    DAQD_C_RED,
    DAQD_C_COUNT
};

typedef struct daqd_canvas {
    unsigned w, h;
    uint8_t *px; /* w * h palette indices, row-major */
} daqd_canvas;

/* A white canvas; NULL if out of memory. */
daqd_canvas *daqd_canvas_new(unsigned w, unsigned h);
void daqd_canvas_free(daqd_canvas *c);
void daqd_canvas_set(daqd_canvas *c, int x, int y, uint8_t color); /* clipped */
void daqd_canvas_line(daqd_canvas *c, int x0, int y0, int x1, int y1, uint8_t color);
void daqd_canvas_rect(daqd_canvas *c, int x0, int y0, int x1, int y1, uint8_t color); /* filled */

/* The font: 5 x 7 pixels, one cell 6 x 8 at scale 1.  Letters are drawn
 * upper case; a character the font lacks is drawn as '?'.  Returns the
 * 7 rows of c's glyph, bit 4 = leftmost column. */
#define DAQD_FONT_W 5
#define DAQD_FONT_H 7
const uint8_t *daqd_font_glyph(char c);
/* Text with its top-left corner at (x, y); returns its width in pixels. */
int daqd_canvas_text(daqd_canvas *c, int x, int y, const char *s, int scale, uint8_t color);
int daqd_text_width(const char *s, int scale);

/* The canvas as a PNG (8-bit palette) in a malloc'd buffer; NULL if out
 * of memory. */
uint8_t *daqd_png_encode(const daqd_canvas *c, size_t *len);
/* Writes the canvas to path as a PNG; 0, or -1 with errno set. */
int daqd_png_write(const daqd_canvas *c, const char *path);

/* Plots on a DAQD_PLOT_W x DAQD_PLOT_H canvas.  A line plot of y over x
 * (n points, x increasing): */
daqd_canvas *daqd_plot_line(const char *title, const char *xlabel, const char *ylabel,
                            const double *x, const double *y, size_t n);

/* Grouped bars: ncat categories (labels[i] under each), nseries bars side
 * by side in each, values[s * ncat + i]; names[s] in the legend. */
daqd_canvas *daqd_plot_bars(const char *title, const char *xlabel, const char *ylabel,
                            const char *const *labels, size_t ncat, const char *const *names,
                            const double *values, size_t nseries);

#endif
