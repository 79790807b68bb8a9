/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers shared by the command-line tools: size and UUID parsing and
 * printing, and SOURCE_DATE_EPOCH for reproducible output.
 */
#ifndef FOLIOFS_TOOL_H
#define FOLIOFS_TOOL_H

#include <stdint.h>

int tool_parse_uuid(const char *s, uint8_t uuid[16]);
void tool_uuid_str(const uint8_t uuid[16], char out[37]);
uint64_t tool_source_date(void);
void tool_progress(const char *what, uint64_t done, uint64_t total);

#endif /* FOLIOFS_TOOL_H */
