// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mkfs.foliofs: format a regular file or block device as a foliofs image.
 * Parses options, refuses to overwrite an existing filesystem without -f
 * (saying what is there), and calls img_format().  SOURCE_DATE_EPOCH pins
 * the recorded time, so the golden tests get reproducible images.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "foliofs/img.h"
#include "tool.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: mkfs.foliofs [options] TARGET\n"
		   "\n"
		   "Create a foliofs filesystem on TARGET, a regular file (created or grown to\n"
		   "--size) or a block device.\n"
		   "\n"
		   "  -s, --size SIZE    size of the filesystem: bytes, or with a K, M, G or T\n"
		   "                     suffix (required for a new file; default: the whole\n"
		   "                     device or the file's current size)\n"
		   "  -L, --label LABEL  volume label, at most 63 bytes\n"
		   "  -U, --uuid UUID    use this UUID instead of a random one\n"
		   "  -f, --force        overwrite an existing filesystem\n"
		   "  -S, --sparse       do not reserve a file target's space on its host\n"
		   "                     filesystem now (default: reserve it, so that a full\n"
		   "                     host cannot fail a later commit)\n"
		   "  -O ^log            no intent log: every fsync commits a whole generation,\n"
		   "                     and foliofs releases without the log can mount it\n"
		   "  -E root_owner[=UID:GID]\n"
		   "                     owner of the root directory (default: the user\n"
		   "                     running mkfs.foliofs)\n"
		   "  -q, --quiet        print nothing on success\n"
		   "  -h, --help         this text\n"
		   "  -V, --version      version\n"
		   "\n"
		   "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n");
}

/* Signatures of other filesystems worth refusing to overwrite silently. */
static const char *other_fs(int fd)
{
	static const struct { uint64_t off; const char *magic; size_t len;
			      const char *name; } sigs[] = {
		{ 1080, "\x53\xef", 2, "an ext2/3/4 filesystem" },
		{ 0, "XFSB", 4, "an XFS filesystem" },
		{ 65600, "_BHRfS_M", 8, "a btrfs filesystem" },
		{ 0, "hsqs", 4, "a squashfs image" },
		{ 4086, "SWAPSPACE2", 10, "swap space" },
		{ 510, "\x55\xaa", 2, "a partition table or boot sector" },
	};
	char buf[16];

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (pread(fd, buf, sigs[i].len, (off_t)sigs[i].off) == (ssize_t)sigs[i].len &&
		    !memcmp(buf, sigs[i].magic, sigs[i].len))
			return sigs[i].name;
	return NULL;
}

/* Refuse to overwrite what TARGET holds unless forced. */
static int check_target(const char *path, bool force, uint64_t size)
{
	struct fofs_super sb;
	const char *what = NULL;
	struct stat st;
	char uuid[40];
	int fd;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT) {
			fprintf(stderr, "mkfs.foliofs: %s: %s\n", path, strerror(errno));
			return -errno;
		}
		if (!size) {
			fprintf(stderr, "mkfs.foliofs: %s does not exist; give --size "
				"to create it\n", path);
			return -EINVAL;
		}
		return 0;
	}
	if (force)
		return 0;
	if (img_probe(path, &sb) == 0) {
		tool_uuid_str(sb.s_uuid, uuid);
		fprintf(stderr, "mkfs.foliofs: %s already holds a foliofs filesystem "
			"(label '%s', UUID %s, %llu inodes); use -f to overwrite it\n",
			path, sb.s_label, uuid, (unsigned long long)sb.s_inodes);
		return -EEXIST;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		what = other_fs(fd);
		close(fd);
	}
	if (what) {
		fprintf(stderr, "mkfs.foliofs: %s appears to contain %s; use -f to "
			"overwrite it\n", path, what);
		return -EEXIST;
	}
	return 0;
}

/*
 * -E options, as mke2fs takes them: root_owner[=UID:GID] owns the root
 * directory by UID:GID (without a value: the caller, the default).
 */
static int parse_extended(const char *arg, struct img_mkfs_opts *o)
{
	uint64_t uid, gid;
	char *colon;

	if (!strcmp(arg, "root_owner")) {
		o->root_owner = false;
		return 0;
	}
	colon = strncmp(arg, "root_owner=", 11) ? NULL : strchr(arg + 11, ':');
	if (colon) {
		*colon = '\0';
		if (!img_parse_uint(arg + 11, UINT32_MAX, &uid) &&
		    !img_parse_uint(colon + 1, UINT32_MAX, &gid)) {
			o->root_owner = true;
			o->root_uid = (uint32_t)uid;
			o->root_gid = (uint32_t)gid;
			return 0;
		}
		*colon = ':';
	}
	fprintf(stderr, "mkfs.foliofs: bad extended option '%s' (root_owner[=UID:GID])\n",
		arg);
	return -EINVAL;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = { { "size", required_argument, NULL, 's' },
						  { "label", required_argument, NULL, 'L' },
						  { "uuid", required_argument, NULL, 'U' },
						  { "force", no_argument, NULL, 'f' },
						  { "sparse", no_argument, NULL, 'S' },
						  { "extended", required_argument, NULL, 'E' },
						  { "features", required_argument, NULL, 'O' },
						  { "quiet", no_argument, NULL, 'q' },
						  { "help", no_argument, NULL, 'h' },
						  { "version", no_argument, NULL, 'V' },
						  { NULL, 0, NULL, 0 } };
	struct img_mkfs_opts o = { 0 };
	bool force = false, quiet = false;
	uint8_t uuid[16];
	char msg[256] = "", ustr[40];
	struct fofs_super sb;
	int c, ret;

	while ((c = getopt_long(argc, argv, "s:L:U:E:O:fSqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (img_parse_size(optarg, &o.size)) {
				fprintf(stderr, "mkfs.foliofs: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'L':
			o.label = optarg;
			break;
		case 'U':
			if (tool_parse_uuid(optarg, uuid)) {
				fprintf(stderr, "mkfs.foliofs: bad UUID '%s'\n", optarg);
				return 2;
			}
			o.uuid = uuid;
			break;
		case 'f':
			force = true;
			break;
		case 'S':
			o.sparse = true;
			break;
		case 'E':
			if (parse_extended(optarg, &o))
				return 2;
			break;
		case 'O':
			if (strcmp(optarg, "^log") && strcmp(optarg, "log")) {
				fprintf(stderr,
					"mkfs.foliofs: unknown feature '%s' (known: log, ^log)\n",
					optarg);
				return 2;
			}
			o.no_log = optarg[0] == '^';
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mkfs.foliofs %s\n", FOLIOFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	o.time = tool_source_date();
	if (check_target(argv[optind], force, o.size))
		return 1;
	ret = img_format(argv[optind], &o, msg, sizeof(msg));
	if (ret) {
		fprintf(stderr, "mkfs.foliofs: %s: %s\n", argv[optind],
			msg[0] ? msg : strerror(-ret));
		return 1;
	}
	if (quiet || img_probe(argv[optind], &sb))
		return 0;
	tool_uuid_str(sb.s_uuid, ustr);
	printf("Created foliofs on %s\n"
	       "  size      %llu blocks of %u bytes (%.1f MiB)\n"
	       "  label     %s\n"
	       "  uuid      %s\n"
	       "  overhead  %llu blocks (superblocks, metadata, log)\n",
	       argv[optind], (unsigned long long)sb.s_blocks, FOFS_BLOCK_SIZE,
	       (double)sb.s_blocks * FOFS_BLOCK_SIZE / (1 << 20),
	       sb.s_label[0] ? sb.s_label : "(none)", ustr,
	       (unsigned long long)sb.s_used_blocks);
	return 0;
}
