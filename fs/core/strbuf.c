// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Growing text buffers (see strbuf.h).  vsnprintf() tells how long an
 * append is; the buffer doubles until it fits, and an append that cannot
 * get memory is dropped and remembered, so callers format without checking
 * each step and learn of a failure once, at the end.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "strbuf.h"

void strbuf_init(struct strbuf *sb)
{
	*sb = (struct strbuf){ 0 };
}

static int grow(struct strbuf *sb, size_t need)
{
	size_t cap = sb->cap ? sb->cap : 256;
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap == sb->cap)
		return 0;
	p = realloc(sb->buf, cap);
	if (!p)
		return -ENOMEM;
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

/**
 * strbuf_printf() - append formatted text
 * @sb: the buffer
 * @fmt: printf format
 *
 * A failure to grow leaves the text as it was and is reported by
 * strbuf_finish().
 */
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(sb, sb->len + (size_t)n + 1)) {
		sb->err = -ENOMEM;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/**
 * strbuf_finish() - hand over the text
 * @sb: the buffer; empty afterwards
 * @out: the NUL-terminated text, for the caller to free()
 *
 * Return: 0; -ENOMEM if any append failed (nothing is handed over).
 */
int strbuf_finish(struct strbuf *sb, char **out)
{
	int ret = sb->err ? sb->err : grow(sb, sb->len + 1);

	if (ret) {
		free(sb->buf);
	} else {
		sb->buf[sb->len] = '\0';
		*out = sb->buf;
	}
	strbuf_init(sb);
	return ret;
}
