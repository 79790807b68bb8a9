/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Growing text buffers for the daemon's generated xattr values (status,
 * region maps): every append is measured and the buffer grows to fit, so
 * no path length or table size can run past the end.  The first allocation
 * failure is remembered and reported once, by strbuf_finish().
 */
#ifndef FOLIOFS_STRBUF_H
#define FOLIOFS_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, cap;
	int err;		/* 0 or -ENOMEM from a failed append */
};

void strbuf_init(struct strbuf *sb);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int strbuf_finish(struct strbuf *sb, char **out);

#endif /* FOLIOFS_STRBUF_H */
