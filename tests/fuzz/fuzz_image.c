// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness for whole images: the input becomes the first 32 blocks
 * of a 4 MiB image in memory (the rest zeros; checksums fixed up), which is then opened and loaded
 * as the daemon would (img_open + img_load) and checked and repaired as
 * fsck.foliofs -y would (img_check), so superblock selection, the metadata
 * chain, extent validation, the allocator, every fsck pass and the repair
 * commit all see hostile bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixup.h"
#include "foliofs/img.h"

#define IMAGE_SIZE	(4u << 20)

static void quiet(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_check_opts o = { .repair = true, .verify_data = true, .report = quiet };
	struct img_check_result res;
	struct img *img = NULL;
	char path[64];
	int fd;

	static uint8_t buf[32 * FOFS_BLOCK_SIZE];

	fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
		return 0;
	if (size > sizeof(buf))
		size = sizeof(buf);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, size);
	fx_fix_image(buf, sizeof(buf) / FOFS_BLOCK_SIZE);
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (img_open(path, IMG_O_RDONLY | IMG_O_NOLOCK, &img) == 0)
		img_load(img, NULL, NULL);
	img_close(img);
	img_check(path, &o, &res);
	close(fd);
	return 0;
}
