// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Helpers shared by the command-line tools: parsing and printing UUIDs,
 * reading SOURCE_DATE_EPOCH, a progress bar.  Sizes are parsed by the
 * image library (img_parse_size()), which the daemon shares.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

int tool_parse_uuid(const char *s, uint8_t uuid[16])
{
	unsigned n = 0;

	for (; *s && n < 32; s++) {
		int v;

		if (*s == '-')
			continue;
		if (!isxdigit((unsigned char)*s))
			return -EINVAL;
		v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
		if (n % 2 == 0)
			uuid[n / 2] = (uint8_t)(v << 4);
		else
			uuid[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 32 && !*s ? 0 : -EINVAL;
}

void tool_uuid_str(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
		 u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

uint64_t tool_source_date(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");

	return s ? strtoull(s, NULL, 10) : 0;
}

/**
 * tool_progress() - a one-line progress bar on a terminal, nothing otherwise
 * @what: what is being done
 * @done: units done
 * @total: units in all; the bar ends its line when @done reaches it
 */
void tool_progress(const char *what, uint64_t done, uint64_t total)
{
	static const char bar[] = "##################################################";
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;

	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r%-10s [%-50.*s] %3u%%", what, (int)(pct / 2), bar, pct);
	if (done >= total)
		fputc('\n', stderr);
}
