// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Numbers given on command lines and mount options, for the tools and the
 * daemon alike: sizes with binary suffixes and bounded counts.  Both refuse
 * signs, overflow and trailing text, so "-5" or "1Q" never turns into a
 * huge or a silently different value.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "foliofs/img.h"

/* Digits only: strtoull() would accept "-5" as 2^64 - 5. */
static int parse_digits(const char *s, unsigned long long *v, char **end)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -EINVAL : 0;
}

/**
 * img_parse_size() - parse "123", "64M", "4G", "1T", "8GiB" (powers of 1024)
 * @s: the text
 * @out: bytes
 *
 * Return: 0; -EINVAL for anything else, a sign or an overflow.
 */
int img_parse_size(const char *s, uint64_t *out)
{
	unsigned shift = 0;
	unsigned long long v;
	char *end;

	if (parse_digits(s, &v, &end))
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/**
 * img_parse_uint() - parse a decimal count in [0, @max]
 * @s: the text
 * @max: the largest value allowed
 * @out: the value
 *
 * Return: 0; -EINVAL for anything but digits; -ERANGE above @max.
 */
int img_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (parse_digits(s, &v, &end) || *end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
