// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * folioctl map --svg/--png: a picture of a file's folios.  One cell per
 * 2 MiB region, coloured by state (huge, small, keep-off, failed, not
 * resident), with a legend that counts each state and names the results
 * that failed, and the file's huge share in the title.  A big file would
 * need more cells than anyone can look at, so above SVG_MAX_CELLS regions a
 * cell stands for several: it takes the colour of most of those that hold
 * data, paler when few do, an outline shows a failed or keep-off region
 * among them, and its tooltip counts them all.  The table
 * comes from the daemon, which keeps state only for regions that hold
 * data, so the work follows the data, not the file's size.  PNG goes
 * through rsvg-convert (librsvg2-bin) or ImageMagick when one is there.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "foliofs/clp.h"
#include "folioctl.h"

#define SVG_MAX_CELLS 4096
#define SVG_COLS      64
#define SVG_PITCH     13 /* a 12-pixel cell and a gap */
#define SVG_MARGIN    16
#define SVG_RESULTS   16 /* distinct failure results named in the legend */

enum svg_class { SVG_HUGE, SVG_SMALL, SVG_KEEP, SVG_FAILED, SVG_ABSENT, SVG_NR };

static const char *const svg_colour[SVG_NR] = { "#2e7d32", "#f9a825", "#6a1b9a", "#c62828",
						"#e0e0e0" };
static const char *const svg_label[SVG_NR] = { "huge (one 2 MiB folio)", "small pages",
					       "keep-off (hole punched)", "collapse failed",
					       "not resident" };

struct svg_map {
	uint64_t regions; /* in the file */
	uint64_t per;	  /* regions per cell */
	uint64_t ncells;
	uint64_t (*cell)[SVG_NR]; /* per cell: regions of each class */
	uint64_t total[SVG_NR];	  /* listed regions of each class */
	struct {
		char name[32];
		uint64_t n;
	} failed[SVG_RESULTS];
	size_t nfailed;
};

static enum svg_class svg_classify(const struct fctl_region *r)
{
	if (!strcmp(r->state, "huge"))
		return SVG_HUGE;
	if (!strcmp(r->state, "keep-off"))
		return SVG_KEEP;
	if (!strcmp(r->state, "failed"))
		return SVG_FAILED;
	return SVG_SMALL; /* listed: it holds data, counted or not yet */
}

static void svg_count_failure(struct svg_map *m, const char *result)
{
	size_t i;

	for (i = 0; i < m->nfailed && strcmp(m->failed[i].name, result); i++)
		;
	if (i == m->nfailed) {
		if (m->nfailed == SVG_RESULTS)
			return;
		snprintf(m->failed[i].name, sizeof(m->failed[i].name), "%s", result);
		m->nfailed++;
	}
	m->failed[i].n++;
}

/* Fill @m from the region table; regions not listed hold nothing. */
static int svg_build(struct svg_map *m, char *text, uint64_t size)
{
	char *line, *save = NULL;
	uint64_t listed = 0;

	m->regions = size ? (size + CLP_REGION_SIZE - 1) / CLP_REGION_SIZE : 1;
	m->per = (m->regions + SVG_MAX_CELLS - 1) / SVG_MAX_CELLS;
	m->ncells = (m->regions + m->per - 1) / m->per;
	m->cell = calloc(m->ncells, sizeof(*m->cell));
	if (!m->cell)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct fctl_region r;
		enum svg_class c;
		uint64_t idx;

		if (!fctl_region_parse(line, &r) || r.off / CLP_REGION_SIZE >= m->regions)
			continue;
		c = svg_classify(&r);
		idx = r.off / CLP_REGION_SIZE / m->per;
		m->cell[idx][c]++;
		m->total[c]++;
		listed++;
		if (c == SVG_FAILED)
			svg_count_failure(m, r.last);
	}
	/* everything not listed is not resident */
	m->total[SVG_ABSENT] += m->regions - listed;
	for (uint64_t i = 0; i < m->ncells; i++) {
		uint64_t in = i + 1 < m->ncells ? m->per : m->regions - i * m->per, seen = 0;

		for (int c = 0; c < SVG_NR; c++)
			seen += m->cell[i][c];
		m->cell[i][SVG_ABSENT] += in - seen;
	}
	return 0;
}

static void svg_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static void svg_size(char *out, size_t len, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/*
 * A cell's colour is that of most of its regions that hold data (grey only
 * when none does), paler the fewer of them hold data; an outline shows a
 * failed or keep-off region that the colour hides.
 */
static void svg_cell(FILE *f, const struct svg_map *m, uint64_t i)
{
	const uint64_t *n = m->cell[i];
	uint64_t data = 0, all = n[SVG_ABSENT];
	int best = SVG_ABSENT;

	for (int c = 0; c < SVG_ABSENT; c++) {
		data += n[c];
		if (n[c] && (best == SVG_ABSENT || n[c] > n[best]))
			best = c;
	}
	all += data;
	fprintf(f, "<rect x=\"%llu\" y=\"%llu\" width=\"12\" height=\"12\" fill=\"%s\"",
		(unsigned long long)(SVG_MARGIN + i % SVG_COLS * SVG_PITCH),
		(unsigned long long)(SVG_MARGIN + 48 + i / SVG_COLS * SVG_PITCH), svg_colour[best]);
	if (data && data < all)
		fprintf(f, " fill-opacity=\"%.2f\"", 0.4 + 0.6 * (double)data / (double)all);
	for (int c = SVG_FAILED; c >= SVG_KEEP; c--) {
		if (n[c] && best != c) {
			fprintf(f, " stroke=\"%s\" stroke-width=\"2\"", svg_colour[c]);
			break;
		}
	}
	fprintf(f, "><title>offset %llu MiB:", (unsigned long long)(i * m->per * 2));
	for (int c = 0; c < SVG_NR; c++)
		if (n[c])
			fprintf(f, " %llu %s", (unsigned long long)n[c], svg_label[c]);
	fprintf(f, "</title></rect>\n");
}

static void svg_legend(FILE *f, const struct svg_map *m, uint64_t y)
{
	for (int c = 0; c < SVG_NR; c++, y += 18) {
		fprintf(f, "<rect x=\"%d\" y=\"%llu\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
			SVG_MARGIN, (unsigned long long)y, svg_colour[c]);
		fprintf(f, "<text x=\"%d\" y=\"%llu\">%s: %llu region%s", SVG_MARGIN + 18,
			(unsigned long long)y + 11, svg_label[c], (unsigned long long)m->total[c],
			m->total[c] == 1 ? "" : "s");
		for (size_t i = 0; c == SVG_FAILED && i < m->nfailed; i++) {
			fprintf(f, "%s", i ? ", " : " (");
			svg_text(f, m->failed[i].name);
			fprintf(f, " %llu", (unsigned long long)m->failed[i].n);
		}
		fprintf(f, "%s</text>\n", c == SVG_FAILED && m->nfailed ? ")" : "");
	}
}

static void svg_write(FILE *f, const struct svg_map *m, const char *path, uint64_t size)
{
	uint64_t rows = (m->ncells + SVG_COLS - 1) / SVG_COLS;
	uint64_t grid_end = SVG_MARGIN + 48 + rows * SVG_PITCH;
	uint64_t data = m->regions - m->total[SVG_ABSENT];
	char sz[32], cell[32];

	svg_size(sz, sizeof(sz), size);
	svg_size(cell, sizeof(cell), m->per * CLP_REGION_SIZE);
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%llu\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		2 * SVG_MARGIN + SVG_COLS * SVG_PITCH, (unsigned long long)grid_end + 120);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">", SVG_MARGIN,
		SVG_MARGIN + 4);
	svg_text(f, path);
	fprintf(f,
		"</text>\n<text x=\"%d\" y=\"%d\">%s in %llu regions of 2 MiB; one cell: %s. "
		"Huge share: %.1f%% of the %llu regions that hold data</text>\n",
		SVG_MARGIN, SVG_MARGIN + 24, sz, (unsigned long long)m->regions, cell,
		data ? 100.0 * (double)m->total[SVG_HUGE] / (double)data : 0.0,
		(unsigned long long)data);
	for (uint64_t i = 0; i < m->ncells; i++)
		svg_cell(f, m, i);
	svg_legend(f, m, grid_end + 8);
	fprintf(f, "</svg>\n");
}

/* Render @svg into @png with whichever converter is installed. */
static int svg_to_png(const char *svg, const char *png)
{
	/* rsvg-convert -o PNG SVG, else ImageMagick's convert SVG PNG */
	const char *const argv[][5] = { { "rsvg-convert", "-o", png, svg, NULL },
					{ "convert", svg, png, NULL, NULL } };

	for (size_t t = 0; t < 2; t++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return -errno;
		if (pid == 0) {
			execvp(argv[t][0], (char *const *)argv[t]);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			return -errno;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			continue; /* not installed */
		return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
	}
	return -ENOENT;
}

static int svg_output(const struct svg_map *m, const char *path, uint64_t size, const char *out,
		      bool png)
{
	char tmp[] = "/tmp/folioctl-map.XXXXXX.svg";
	FILE *f;
	int fd, ret;

	fd = png ? mkstemps(tmp, 4) : -1;
	f = png ? (fd >= 0 ? fdopen(fd, "w") : NULL) : fopen(out, "w");
	if (!f) {
		fprintf(stderr, "folioctl: %s: %s\n", png ? tmp : out, strerror(errno));
		return 1;
	}
	svg_write(f, m, path, size);
	if (fclose(f)) {
		fprintf(stderr, "folioctl: %s: %s\n", png ? tmp : out, strerror(errno));
		return 1;
	}
	if (!png)
		return 0;
	ret = svg_to_png(tmp, out);
	unlink(tmp);
	if (ret == -ENOENT)
		fprintf(stderr, "folioctl: no SVG renderer for --png (install librsvg2-bin "
				"or imagemagick), or use --svg\n");
	else if (ret)
		fprintf(stderr, "folioctl: %s: rendering the picture failed\n", out);
	return ret ? 1 : 0;
}

/**
 * fctl_map_svg() - draw a file's regions
 * @path: a file on a foliofs mount
 * @out: the picture's file
 * @png: render to PNG rather than write SVG
 *
 * Return: the exit status: 0; 1 when @path is not on foliofs, @out cannot
 * be written or no renderer is installed for --png.
 */
int fctl_map_svg(const char *path, const char *out, bool png)
{
	char *text, *name, fdpath[FCTL_FDPATH_LEN];
	struct svg_map m = { 0 };
	struct stat st;
	int ret;

	if (fctl_require_foliofs(path, fdpath, sizeof(fdpath)))
		return 1;
	text = fctl_get_map(fdpath);
	if (!text || stat(fdpath, &st) < 0)
		return fctl_not_foliofs(path, errno);
	ret = svg_build(&m, text, (uint64_t)st.st_size);
	free(text);
	if (ret) {
		fprintf(stderr, "folioctl: %s: %s\n", path, strerror(-ret));
		return 1;
	}
	name = realpath(path, NULL);
	ret = svg_output(&m, name ? name : path, (uint64_t)st.st_size, out, png);
	free(name);
	free(m.cell);
	return ret;
}
