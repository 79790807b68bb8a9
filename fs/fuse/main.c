// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The foliofs daemon: `foliofs [options] IMAGE MOUNTPOINT`.  Parses options
 * the way other FUSE daemons do (so mount -t fuse.foliofs and /etc/fstab work
 * through mount.fuse3), opens and loads the image, mounts with
 * default_permissions, serves requests on libfuse's multi-threaded loop, and
 * on unmount or SIGTERM/SIGINT writes everything back and marks the image
 * clean.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "fsop.h"

struct cli {
	char *image;
	char *commit;
	char *huge;
	char *cache_size;
	int nopassthrough;
	int io_uring; /* -1 where available, 0 off, 1 on */
	char *scan_sleep_ms;
	char *max_ptes_none;
	int ro;
	int remount;
	int help;
	int version;
	uint64_t max_loaded;	/* from RLIMIT_NOFILE, not an option */
};

enum { KEY_RO, KEY_RW, KEY_REMOUNT, KEY_HELP, KEY_VERSION, KEY_IO_URING, KEY_NOIO_URING };

#define CLI_OPT(t, p) { t, offsetof(struct cli, p), 1 }
/* clang-format off */
static const struct fuse_opt cli_opts[] = {
	CLI_OPT("commit=%s", commit),
	CLI_OPT("huge=%s", huge),
	CLI_OPT("cache_size=%s", cache_size),
	CLI_OPT("nopassthrough", nopassthrough),
	FUSE_OPT_KEY("io_uring", KEY_IO_URING),
	FUSE_OPT_KEY("noio_uring", KEY_NOIO_URING),
	CLI_OPT("scan_sleep_ms=%s", scan_sleep_ms),
	CLI_OPT("max_ptes_none=%s", max_ptes_none),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("remount", KEY_REMOUNT),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};
/* clang-format on */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [options] IMAGE MOUNTPOINT\n"
"\n"
"Mount the foliofs image IMAGE (made by mkfs.foliofs) on MOUNTPOINT.\n"
"Also usable as: mount -t fuse.foliofs IMAGE MOUNTPOINT [-o options]\n"
"\n"
"foliofs options:\n"
"    -o commit=SECS         write dirty data back every SECS seconds\n"
"                           (default 5; 0 disables periodic writeback)\n"
"    -o huge=POLICY         default folio policy for files: never, small,\n"
"                           madvise, always, auto (default always)\n"
"    -o cache_size=SIZE     memory kept for clean, closed files (K/M/G;\n"
"                           default a quarter of RAM); least recently\n"
"                           used files are dropped first\n"
"    -o nopassthrough       serve read/write/mmap from the daemon instead\n"
"                           of passing them through to its memory\n"
"    -o io_uring            carry requests over io_uring, one queue per CPU\n"
"                           (the default where the kernel offers it)\n"
"    -o noio_uring          read requests from /dev/fuse only\n"
"    -o scan_sleep_ms=MS    background collapser period (default 1000;\n"
"                           0 turns it off)\n"
"    -o max_ptes_none=N     empty 4 KiB pages a 2 MiB region may have and\n"
"                           still be collapsed in the background (0..511,\n"
"                           default 64); collapsing fills them with zeros\n"
"    -o ro                  mount read-only; the image is not written\n"
"\n"
"FUSE options:\n"
"    -f                     stay in the foreground\n"
"    -d                     debug output (implies -f)\n"
"    -s                     single-threaded\n"
"    -o allow_other         let other users access the mount\n"
"    -o max_idle_threads=N  idle worker threads kept (default 10)\n"
"    -h, --help             this text\n"
"    -V, --version          version\n", prog);
}

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct cli *cli = data;

	(void)out;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!cli->image) {
			cli->image = strdup(arg);
			return 0;
		}
		return 1;	/* the mountpoint: for fuse_parse_cmdline */
	case KEY_RO:
		cli->ro = 1;
		return 1;	/* the kernel needs it too */
	case KEY_RW:
		cli->ro = 0;
		return 1;
	case KEY_REMOUNT:
		cli->remount = 1;
		return 0;
	case KEY_IO_URING:
	case KEY_NOIO_URING:
		cli->io_uring = key == KEY_IO_URING;
		return 0;
	case KEY_HELP:
		cli->help = 1;
		return 0;
	case KEY_VERSION:
		cli->version = 1;
		return 0;
	}
	return 1;
}

static void fs_ops(struct fuse_lowlevel_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	fsop_dir_ops(ops);
	fsop_file_ops(ops);
	fsop_attr_ops(ops);
	fsop_xattr_ops(ops);
}

static void fs_init_conn(void *userdata, struct fuse_conn_info *conn)
{
	struct fsd *d = userdata;

	/* Passthrough is refused with a writeback cache. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = 1u << 20;
	/* name_to_handle_at()/open_by_handle_at(): lookups of "." and ".." */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	pt_init(d, conn);
	pt_report(d);
}

/* A count option in [0, @max]; unset keeps @dflt.  One line on error. */
static int opt_uint(const char *name, const char *val, uint64_t max, unsigned dflt,
		    unsigned *out)
{
	uint64_t v = dflt;

	if (val && img_parse_uint(val, max, &v)) {
		fs_log(LOG_ERR, "bad %s '%s' (a whole number from 0 to %llu)",
			name, val, (unsigned long long)max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/*
 * mount -o remount,ro|rw (mount.fuse3 runs the daemon again with
 * "remount"): the running daemon keeps serving; this process commits what
 * is dirty (an fsync of the mount's root reaches the daemon) and flips the
 * mount's read-only flag.  A daemon that opened its image read-only cannot
 * start writing it.
 */
static int remount(const char *mnt, bool ro)
{
	char *status = NULL, mode[8];
	ssize_t n;
	int fd;

	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fs_log(LOG_ERR, "%s: %s", mnt, strerror(errno));
		return 1;
	}
	/* the status is generated, and grows by the request that reads it
	 * (ring_requests): room to spare, not the size asked a moment ago */
	n = fgetxattr(fd, FOFS_XATTR_STATUS, NULL, 0);
	status = n > 0 ? calloc(1, (size_t)n + 4097) : NULL;
	if (status && fgetxattr(fd, FOFS_XATTR_STATUS, status, (size_t)n + 4096) < 0)
		status[0] = '\0';
	if (!status || !fofs_status_value(status, FOFS_ST_IMAGE, mode, sizeof(mode))) {
		fs_log(LOG_ERR, "%s: not a foliofs mount", mnt);
		goto out_fail;
	}
	if (!ro && fofs_status_value(status, FOFS_ST_IMAGE_MODE, mode, sizeof(mode)) &&
	    !strcmp(mode, "ro")) {
		fs_log(LOG_ERR, "%s: the daemon opened its image read-only; "
			"unmount and mount it read-write", mnt);
		goto out_fail;
	}
	if (ro && fsync(fd) < 0) {
		fs_log(LOG_ERR, "%s: cannot commit before going read-only: "
			"%s", mnt, strerror(errno));
		goto out_fail;
	}
	if (mount(NULL, mnt, NULL, MS_REMOUNT | (ro ? MS_RDONLY : 0), NULL) < 0) {
		fs_log(LOG_ERR, "%s: remount: %s", mnt, strerror(errno));
		goto out_fail;
	}
	free(status);
	close(fd);
	return 0;
out_fail:
	free(status);
	close(fd);
	return 1;
}

/*
 * Every loaded file holds a memory-file descriptor: allow as many as we may,
 * and keep clean closed files below that, with room for the session, the
 * image and the workers (the rest are given back, see fs_data_trim()).
 */
static uint64_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 512 ? rl.rlim_cur / 4 * 3 : rl.rlim_cur / 2;
}

/*
 * Said once at mount: image I/O that cannot bypass the page cache, and a
 * superblock found damaged (the mount goes on from its copy).
 */
/*
 * An image others may read gives them every file's bytes, whatever the
 * files' own modes; one others may write lets them change any file.
 */
static void report_access(const char *image)
{
	struct stat st;

	if (stat(image, &st) < 0 || !(st.st_mode & (S_IRWXG | S_IRWXO)))
		return;
	fs_log(LOG_WARNING,
	       "%s: the image is %s by other users (mode %04o): they can %s every "
	       "file on it whatever its mode; chmod go-rwx %s",
	       image, st.st_mode & (S_IWGRP | S_IWOTH) ? "writable" : "readable",
	       (unsigned)(st.st_mode & 07777), st.st_mode & (S_IWGRP | S_IWOTH) ? "change" : "read",
	       image);
}

static void report_super(struct img *img, const char *image)
{
	const char *note;

	report_access(image);

	if (!img_direct_io(img, &note))
		fs_log(LOG_NOTICE, "%s: image I/O goes through the host page cache (%s)", image,
		       note);
	switch (img_super_state(img, &note)) {
	case IMG_SB_RECOVERED:
		fs_log(LOG_WARNING, "%s: %s; mounting it (fsck.foliofs -y writes it "
		       "back)", image, note);
		break;
	case IMG_SB_TORN:
		fs_log(LOG_NOTICE, "%s: %s", image, note);
		break;
	default:
		break;
	}
}

/* A read-only mount of an image whose log is corrupt serves what replayed. */
static void report_log(struct img *img, const char *image)
{
	struct img_log_stat st;

	img_log_stat(img, &st);
	if (st.corrupt)
		fs_log(LOG_WARNING,
		       "%s: intent log: %s; serving the batches before it "
		       "read-only: run fsck.foliofs",
		       image, st.stop);
}

/* Mount options into @opts; one line for a bad one. */
static int opts_from_cli(const struct cli *cli, struct fs_opts *opts)
{
	uint64_t cglimit;
	int ret;

	*opts = (struct fs_opts){ .ro = cli->ro,
				  .huge = CLP_POLICY_ALWAYS,
				  .passthrough = !cli->nopassthrough,
				  .max_loaded = cli->max_loaded,
				  .cache_size = (uint64_t)sysconf(_SC_PHYS_PAGES) *
						(uint64_t)sysconf(_SC_PAGESIZE) / 4 };
	ret = opt_uint("commit", cli->commit, 86400, 5, &opts->commit_interval);
	if (!ret)
		ret = opt_uint("scan_sleep_ms", cli->scan_sleep_ms, 3600000, 1000,
			       &opts->scan_sleep_ms);
	if (!ret)
		ret = opt_uint("max_ptes_none", cli->max_ptes_none, 511, 64, &opts->max_ptes_none);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (cli->cache_size && img_parse_size(cli->cache_size, &opts->cache_size)) {
		fs_log(LOG_ERR, "bad cache_size '%s' (bytes, or with a K, M, "
			"G or T suffix)", cli->cache_size);
		return ret;
	}
	if (cli->huge && clp_policy_parse(cli->huge, &opts->huge)) {
		fs_log(LOG_ERR,
		       "unknown huge policy '%s' (never, small, "
		       "madvise, always, auto)",
		       cli->huge);
		return ret;
	}
	/* file data is charged to the daemon's memory cgroup: cache less */
	cglimit = shm_memory_limit();
	opts->mem_cap = fs_space_mem_cap(cglimit);
	if (!cli->cache_size && cglimit && cglimit / 4 < opts->cache_size) {
		opts->cache_size = cglimit / 4;
		fs_log(LOG_INFO,
		       "memory cgroup limit %llu MiB: cache_size "
		       "%llu MiB",
		       (unsigned long long)(cglimit >> 20),
		       (unsigned long long)(opts->cache_size >> 20));
	}
	return 0;
}

/* Open the image and build the filesystem from it; the reason in img_errmsg(). */
static int load_fs(struct fs *fs, const struct cli *cli, const struct fs_opts *opts,
		   struct img **img)
{
	int ret;

	ret = img_open(cli->image, cli->ro ? IMG_O_RDONLY : IMG_O_RDWR, img);
	if (!ret)
		report_super(*img, cli->image);
	if (!ret) {
		ret = fs_init(fs, *img, opts);
		fs->image_path = cli->image;
		if (ret)
			img_set_error(*img, "%s", strerror(-ret));
	}
	if (!ret)
		ret = fs_load_image(fs);
	if (!ret)
		report_log(*img, cli->image);
	return ret;
}

static int open_fs(struct fs *fs, const struct cli *cli)
{
	struct img *img = NULL;
	struct fs_opts opts;
	int ret;

	ret = opts_from_cli(cli, &opts);
	if (ret)
		return ret;
	ret = load_fs(fs, cli, &opts, &img);
	if (ret) {
		fs_log(LOG_ERR, "%s: %s%s", cli->image, img ? img_errmsg(img) : strerror(-ret),
		       ret == -EUCLEAN || ret == -EBADMSG ? "; run fsck.foliofs" : "");
		if (fs->itab)
			fs_destroy(fs);
		img_close(img);
		fs->img = NULL;
		return ret;
	}
	/* Mark the image in use now: a later crash then shows as unclean. */
	fs_lock(fs);
	fs_meta_dirty(fs, NULL);
	fs_unlock(fs);
	ret = fs_commit(fs, false);
	if (ret)
		fs_log(LOG_ERR, "%s: cannot write the image: %s",
			cli->image, strerror(-ret));
	return ret;
}

/*
 * The last commit, after the kernel let go of the mount.  A failing image
 * (EIO, a full host filesystem) may recover, so try a few times before
 * saying what is lost: the image still holds the last good generation.
 */
static int final_commit(struct fs *fs)
{
	int ret = 0;

	for (int i = 0; i < 5; i++) {
		if (i)
			sleep(1);
		ret = fs_commit(fs, true);
		if (!ret || ret == -ENOMEM)
			break;
		fs_log(LOG_WARNING, "final writeback failed: %s%s",
			strerror(-ret), i < 4 ? "; retrying" : "");
	}
	if (ret)
		fs_log(LOG_ERR, "%s still holds generation %llu; "
			"changes made after it are lost", fs->image_path,
			(unsigned long long)img_sb(fs->img)->s_generation);
	return ret;
}

/*
 * Mark the mount helper=foliofs in libmount's utab, so util-linux umount
 * runs umount.foliofs, which waits for the final commit.  Root only (utab
 * is root's); a failure costs only that wait.
 */
static void mark_umount_helper(const char *image, const char *mnt)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		return;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("mount", "mount", "--fake", "--internal-only", "--no-canonicalize",
		       "-t", "fuse.foliofs", "-o", "helper=foliofs", image, mnt, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		fs_log(LOG_INFO, "%s: not marked for umount.foliofs; umount will not "
		       "wait for the final commit", mnt);
}

/* Serve requests until unmount or a signal; 0 for a clean stop. */
static int run_loop(struct fuse_session *se, const struct fuse_cmdline_opts *o)
{
	struct fuse_loop_config *cfg;
	int ret;

	if (o->singlethread) {
		ret = fuse_session_loop(se);
	} else {
		cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, o->clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, 64);
		if (o->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(cfg, o->max_idle_threads);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* libfuse reports the signal that ended the loop; that is a clean stop */
	return ret == SIGTERM || ret == SIGINT || ret == SIGHUP ? 0 : ret;
}

static int serve(struct fsd *d, struct fuse_args *args,
		 struct fuse_cmdline_opts *o)
{
	struct fs *fs = &d->fs;
	struct fuse_lowlevel_ops ops;
	struct fuse_session *se;
	int ret = 1;

	fs_ops(&ops);
	ops.init = fs_init_conn;
	se = fuse_session_new(args, &ops, sizeof(ops), d);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, o->mountpoint))
		goto out_signals;
	if (pt_install(d, se)) {
		fs_log(LOG_ERR, "cannot hook the FUSE session");
		goto out_unmount;
	}
	mark_umount_helper(fs->image_path, o->mountpoint);
	pt_report(d);		/* before detaching, where already known */
	fuse_daemonize(o->foreground);
	ret = fs_drop_privileges();
	if (ret)
		goto out_unmount;
	ret = fs_wb_start(fs);
	if (ret)
		fs_log(LOG_ERR, "cannot start the writeback thread: %s", strerror(-ret));
	ret = fsclp_start(fs);
	if (ret)
		fs_log(LOG_ERR, "cannot start the background collapser: %s", strerror(-ret));
	ret = run_loop(se, o);
	ring_stop(d);
	fsclp_stop(fs);
	fs_wb_stop(fs);
	if (final_commit(fs))
		ret = 1;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}

/* A mount point must be a directory: a file mounted over answers EIO. */
static int check_mountpoint(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) < 0) {
		fprintf(stderr, "foliofs: %s: %s\n", mnt, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "foliofs: %s: not a directory\n", mnt);
		return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cli cli = { .io_uring = -1 };
	struct fuse_cmdline_opts o = { 0 };
	char opt[PATH_MAX + 32], *abs;
	struct fsd d;
	int ret;

	ret = 2;
	if (fuse_opt_parse(&args, &cli, cli_opts, cli_proc) == -1)
		goto out_free;
	if (cli.help || cli.version) {
		if (cli.help)
			usage(stdout, argv[0]);
		else
			printf("foliofs %s (libfuse %s)\n", FOLIOFS_VERSION,
			       fuse_pkgversion());
		ret = 0;
		goto out_free;
	}
	if (fuse_parse_cmdline(&args, &o)) {
		/* libfuse said what is wrong with the mount point */
		fprintf(stderr, "foliofs: see foliofs --help\n");
		goto out_free;
	}
	if (!cli.image || !o.mountpoint) {
		fprintf(stderr,
			"foliofs: no %s given; usage: foliofs [options] IMAGE "
			"MOUNTPOINT (foliofs --help lists the options)\n",
			cli.image ? "mount point" : "image");
		goto out_free;
	}
	if (check_mountpoint(o.mountpoint))
		goto out_free;
	if (cli.remount) {
		ret = remount(o.mountpoint, cli.ro);
		goto out_free;
	}
	ret = 1;
	/* the mount table and the status name the image absolutely */
	abs = realpath(cli.image, NULL);
	if (abs) {
		free(cli.image);
		cli.image = abs;
	}
	snprintf(opt, sizeof(opt), "-ofsname=%s,subtype=foliofs,default_permissions",
		 cli.image);
	if (fuse_opt_add_arg(&args, opt))
		goto out_free;
	memset(&d, 0, sizeof(d));
	ring_configure(&d, cli.io_uring);
	cli.max_loaded = raise_nofile();
	pthread_mutex_init(&d.pt.lock, NULL);
	d.devfd = -1;
	if (open_fs(&d.fs, &cli) == 0)
		ret = serve(&d, &args, &o);
	if (d.fs.img) {
		fs_destroy(&d.fs);
		img_close(d.fs.img);
	}
	pthread_mutex_destroy(&d.pt.lock);
	ring_release(&d);
out_free:
	free(o.mountpoint);
	free(cli.image);
	free(cli.huge);
	free(cli.cache_size);
	free(cli.commit);
	free(cli.scan_sleep_ms);
	free(cli.max_ptes_none);
	fuse_opt_free_args(&args);
	return ret;
}
