// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE over io_uring on libfuse 3.14.  Linux 6.14 and later can carry FUSE
 * requests on io_uring instead of read(2) and write(2) on /dev/fuse
 * (protocol 7.42, fs/fuse/dev_uring.c): the daemon registers ring entries,
 * each a header buffer and a payload buffer, with a uring command on the
 * /dev/fuse descriptor; the kernel fills an entry with a request and
 * completes the command; the daemon writes the reply into the same
 * buffers and sends COMMIT_AND_FETCH, which hands the reply back and waits
 * for the next request, one system call per request.  There is one queue
 * per possible CPU (the kernel queues a request on the queue of the CPU
 * its caller runs on), served here by RING_SERVERS threads pinned to that
 * CPU, each with its own io_uring and entries (the kernel hands a queue's
 * requests to whichever of its entries is free).
 *
 * libfuse 3.14 knows nothing of this, so it is carried through the same
 * seam as passthrough (passthrough.c): the INIT reply is patched to ask
 * for FUSE_OVER_IO_URING, a request from the ring is laid out as libfuse
 * expects one from read(2) and delivered to the session hooks above this
 * module (passthrough.c sets fsd_ring.deliver), which note it and hand it
 * to fuse_session_process_buf(); its reply, which libfuse sends through the
 * session's custom writev, comes back down to ring_commit(), is recognised
 * by its unique id and committed to the ring instead of written to
 * /dev/fuse.  INIT, FORGET, INTERRUPT and notifications keep the classic
 * path, whose read loop runs as before; if the ring cannot be set up or
 * registered, the kernel falls back to it for everything.
 *
 * The ring is only asked for when the kernel offers it, which it does when
 * the fuse module's enable_uring parameter is on.  The rings, buffers and
 * threads are made before the INIT reply asks for it: once asked, the
 * kernel holds every request until each queue has an entry, so nothing
 * that can fail may come after.  io_uring is used through its system calls
 * (linux/io_uring.h), without liburing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "fsop.h"

#define RING_DEPTH	 2    /* entries per server */
#define RING_SERVERS	 2    /* servers (threads, io_urings) per kernel queue */
#define RING_HDR_ROOM	 4096 /* before the payload: the request's headers */
#define RING_STOP_TAG	 0    /* user_data of the eventfd poll */
#define RING_SQE_SIZE	 128  /* IORING_SETUP_SQE128: the command needs 80 bytes */
#define RING_SQE_CMD_OFF 48   /* the command area of a 128-byte SQE */

_Static_assert(sizeof(struct io_uring_sqe) == 64, "io_uring_sqe");
_Static_assert(offsetof(struct io_uring_sqe, cmd_op) == 8, "io_uring_sqe.cmd_op");
_Static_assert(offsetof(struct io_uring_sqe, user_data) == 32, "io_uring_sqe.user_data");
_Static_assert(offsetof(struct io_uring_sqe, cmd) == RING_SQE_CMD_OFF, "io_uring_sqe.cmd");
_Static_assert(RING_SQE_CMD_OFF + sizeof(struct fk_uring_cmd_req) <= RING_SQE_SIZE,
	       "the FUSE command fits a 128-byte SQE");
_Static_assert(sizeof(struct io_uring_cqe) == 16, "io_uring_cqe");

/* One ring entry: its two registered buffers and the request it holds. */
struct ring_ent {
	struct ring_queue *q;
	struct fk_uring_req_header *hdr;
	uint8_t *buf;	     /* RING_HDR_ROOM, then the payload */
	struct iovec iov[2]; /* what REGISTER hands the kernel */
	uint64_t commit_id;  /* q->lock: the request being served */
	bool busy;	     /* q->lock: handed to libfuse, not answered */
	bool dead;	     /* the owner thread only: the kernel ended it */
};

/*
 * One server of a kernel queue: its io_uring, its entries and its thread,
 * pinned to the queue's CPU.  A queue has RING_SERVERS of them, so that a
 * request that waits (an fsync for the disk, a create for the lock) does
 * not hold up every other request from that CPU.
 */
struct ring_queue {
	struct fsd *d;
	unsigned qid;
	int fd; /* the io_uring */
	void *sq_ring, *cq_ring;
	size_t sq_ring_len, cq_ring_len;
	uint8_t *sqes;
	size_t sqes_len;
	uint32_t *sq_head, *sq_tail, *sq_mask, *sq_array;
	uint32_t *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	struct fs_mutex lock; /* SQ producers (the owner and repliers) */
	pthread_t thread;
	bool started;
	struct ring_ent ent[RING_DEPTH];
};

static int sys_io_uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_io_uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

/* The first failure is why the ring is not in use: "WHAT: ERROR". */
static void ring_why(struct fsd *d, const char *what, int err)
{
	fs_mutex_lock(&d->ring.lock);
	if (!d->ring.why[0])
		snprintf(d->ring.why, sizeof(d->ring.why), "%s: %s", what, strerror(err));
	fs_mutex_unlock(&d->ring.lock);
	fs_log(LOG_NOTICE, "FUSE over io_uring: %s: %s", what, strerror(err));
}

/* The kernel's queues: one per possible CPU (/sys/.../cpu/possible). */
static unsigned ring_nr_queues(void)
{
	char buf[128], *p;
	unsigned long hi = 0;
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return (unsigned)sysconf(_SC_NPROCESSORS_CONF);
	buf[n] = '\0';
	for (p = buf; *p;) { /* "0-3" or "0,2-5": the highest number, plus one */
		unsigned long v = strtoul(p, &p, 10);

		hi = v > hi ? v : hi;
		while (*p && (*p < '0' || *p > '9'))
			p++;
	}
	return (unsigned)hi + 1;
}

static int ring_map(struct ring_queue *q, const struct io_uring_params *p)
{
	q->sq_ring_len = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
	q->cq_ring_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	q->sqes_len = p->sq_entries * RING_SQE_SIZE;
	q->sq_ring = mmap(NULL, q->sq_ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			  q->fd, IORING_OFF_SQ_RING);
	q->cq_ring = mmap(NULL, q->cq_ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			  q->fd, IORING_OFF_CQ_RING);
	q->sqes = mmap(NULL, q->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd,
		       IORING_OFF_SQES);
	if (q->sq_ring == MAP_FAILED || q->cq_ring == MAP_FAILED || q->sqes == MAP_FAILED)
		return -errno;
	q->sq_head = (uint32_t *)((uint8_t *)q->sq_ring + p->sq_off.head);
	q->sq_tail = (uint32_t *)((uint8_t *)q->sq_ring + p->sq_off.tail);
	q->sq_mask = (uint32_t *)((uint8_t *)q->sq_ring + p->sq_off.ring_mask);
	q->sq_array = (uint32_t *)((uint8_t *)q->sq_ring + p->sq_off.array);
	q->cq_head = (uint32_t *)((uint8_t *)q->cq_ring + p->cq_off.head);
	q->cq_tail = (uint32_t *)((uint8_t *)q->cq_ring + p->cq_off.tail);
	q->cq_mask = (uint32_t *)((uint8_t *)q->cq_ring + p->cq_off.ring_mask);
	q->cqes = (struct io_uring_cqe *)((uint8_t *)q->cq_ring + p->cq_off.cqes);
	return 0;
}

/* A queue's io_uring and the buffers of its entries. */
static int ring_queue_setup(struct ring_queue *q, size_t payload)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE,
				     .cq_entries = 2 * (RING_DEPTH + 1) };
	int ret;

	q->fd = sys_io_uring_setup(RING_DEPTH + 1, &p);
	if (q->fd < 0)
		return -errno;
	ret = ring_map(q, &p);
	if (ret)
		return ret;
	for (unsigned i = 0; i < RING_DEPTH; i++) {
		struct ring_ent *e = &q->ent[i];

		e->q = q;
		/* aligned_alloc() wants sizes that are multiples of the alignment */
		e->hdr = aligned_alloc(64, (sizeof(*e->hdr) + 63) & ~(size_t)63);
		e->buf = aligned_alloc(4096, (RING_HDR_ROOM + payload + 4095) & ~(size_t)4095);
		if (!e->hdr || !e->buf)
			return -ENOMEM;
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->buf + RING_HDR_ROOM, payload };
	}
	return 0;
}

/* The next SQE, zeroed; q->lock held. */
static struct io_uring_sqe *ring_sqe_locked(struct ring_queue *q)
{
	uint32_t idx = *q->sq_tail & *q->sq_mask;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)(q->sqes + idx * RING_SQE_SIZE);

	fs_assert_held(&q->lock);
	memset(sqe, 0, RING_SQE_SIZE);
	q->sq_array[idx] = idx;
	return sqe;
}

/* Publish the SQE ring_sqe_locked() handed out; q->lock held. */
static void ring_sqe_push_locked(struct ring_queue *q)
{
	fs_assert_held(&q->lock);
	__atomic_store_n(q->sq_tail, *q->sq_tail + 1, __ATOMIC_RELEASE);
}

/* REGISTER (first time) or COMMIT_AND_FETCH (after a reply) for @e. */
static void ring_cmd_locked(struct ring_ent *e, enum fk_uring_cmd cmd)
{
	struct ring_queue *q = e->q;
	struct io_uring_sqe *sqe = ring_sqe_locked(q);
	struct fk_uring_cmd_req *req =
		(struct fk_uring_cmd_req *)((uint8_t *)sqe + RING_SQE_CMD_OFF);

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->d->devfd;
	sqe->cmd_op = cmd;
	sqe->user_data = (uint64_t)(uintptr_t)e;
	if (cmd == FK_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	}
	req->qid = (uint16_t)q->qid;
	req->commit_id = cmd == FK_IO_URING_CMD_COMMIT_AND_FETCH ? e->commit_id : 0;
	ring_sqe_push_locked(q);
}

static unsigned ring_unsubmitted(struct ring_queue *q)
{
	unsigned n;

	fs_mutex_lock(&q->lock);
	n = *q->sq_tail - __atomic_load_n(q->sq_head, __ATOMIC_ACQUIRE);
	fs_mutex_unlock(&q->lock);
	return n;
}

/* A reply to a request the kernel sent malformed: an error, no payload. */
static void ring_reply_error(struct ring_ent *e, int err)
{
	struct fk_out_header h = { .len = sizeof(h), .error = -err, .unique = e->commit_id };
	struct iovec iov = { &h, sizeof(h) };
	ssize_t n;

	ring_commit(e->q->d, &iov, 1, &n); /* e is busy with this id: found */
}

/*
 * A request has arrived in @e: lay it out as read(2) would have delivered
 * it (header, first argument, payload) right before the payload, which
 * therefore is not copied, and hand it to libfuse.  Its reply comes back
 * through ring_commit().
 */
static void ring_serve(struct ring_ent *e)
{
	struct fsd *d = e->q->d;
	struct fk_uring_ent_in_out io = e->hdr->ring_ent_in_out;
	struct fk_in_header in;
	uint8_t *req;
	size_t oplen;

	memcpy(&in, e->hdr->in_out, sizeof(in));
	fs_mutex_lock(&e->q->lock);
	e->commit_id = io.commit_id;
	e->busy = true;
	fs_mutex_unlock(&e->q->lock);
	if (in.len < sizeof(in) + io.payload_sz ||
	    in.len - sizeof(in) - io.payload_sz > FK_URING_OP_IN_OUT_SZ ||
	    io.payload_sz > e->iov[1].iov_len) {
		ring_reply_error(e, EIO);
		return;
	}
	oplen = in.len - sizeof(in) - io.payload_sz;
	req = e->buf + RING_HDR_ROOM - oplen - sizeof(in);
	memcpy(req, &in, sizeof(in));
	memcpy(req + sizeof(in), e->hdr->op_in, oplen);
	atomic_fetch_add(&d->ring.requests, 1);
	d->ring.deliver(d, req, in.len);
}

/* One completion: a request, the end of an entry, or the stop signal. */
static bool ring_complete(struct ring_queue *q, const struct io_uring_cqe *cqe, unsigned *live)
{
	struct ring_ent *e = (struct ring_ent *)(uintptr_t)cqe->user_data;

	if (cqe->user_data == RING_STOP_TAG)
		return false;
	if (cqe->res < 0) {
		/* torn down (ENOTCONN at unmount) or refused (REGISTER) */
		if (cqe->res != -ENOTCONN && cqe->res != -ECANCELED) {
			ring_why(q->d, "the kernel refused the ring", -cqe->res);
			if (q->d->ring.state == FSD_RING_STARTING)
				q->d->ring.state = FSD_RING_FAILED;
		}
		e->dead = true;
		return --*live > 0;
	}
	q->d->ring.state = FSD_RING_ON;
	ring_serve(e);
	return true;
}

static void ring_pin(struct ring_queue *q)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(q->qid, &set);
	/* a cpuset may not include it: then the queue is served unpinned */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void ring_wait_go(struct fsd *d)
{
	while (sem_wait(&d->ring.go) && errno == EINTR)
		;
}

/* Register the entries and the stop poll; the first enter submits them. */
static void ring_register(struct ring_queue *q)
{
	struct io_uring_sqe *sqe;

	fs_mutex_lock(&q->lock);
	for (unsigned i = 0; i < RING_DEPTH; i++)
		ring_cmd_locked(&q->ent[i], FK_IO_URING_CMD_REGISTER);
	sqe = ring_sqe_locked(q);
	sqe->opcode = IORING_OP_POLL_ADD;
	sqe->fd = q->d->ring.evfd;
	sqe->poll32_events = POLLIN;
	sqe->user_data = RING_STOP_TAG;
	ring_sqe_push_locked(q);
	fs_mutex_unlock(&q->lock);
}

/* The thread of one queue: submit, wait, serve what completed. */
static void *ring_thread(void *arg)
{
	struct ring_queue *q = arg;
	unsigned live = RING_DEPTH;
	bool run = true;

	ring_pin(q);
	ring_wait_go(q->d);
	if (q->d->ring.state == FSD_RING_OFF)
		return NULL;
	ring_register(q);
	while (run) {
		uint32_t head, tail;

		if (sys_io_uring_enter(q->fd, ring_unsubmitted(q), 1, IORING_ENTER_GETEVENTS) < 0 &&
		    errno != EINTR && errno != EAGAIN && errno != EBUSY) {
			ring_why(q->d, "io_uring_enter", errno);
			break;
		}
		head = *q->cq_head;
		tail = __atomic_load_n(q->cq_tail, __ATOMIC_ACQUIRE);
		for (; head != tail && run; head++)
			run = ring_complete(q, &q->cqes[head & *q->cq_mask], &live);
		__atomic_store_n(q->cq_head, head, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* The busy entry of @q answering @unique, or NULL. */
static struct ring_ent *ring_find_in(struct ring_queue *q, uint64_t unique)
{
	struct ring_ent *found = NULL;

	fs_mutex_lock(&q->lock);
	for (unsigned j = 0; j < RING_DEPTH && !found; j++)
		if (q->ent[j].busy && q->ent[j].commit_id == unique)
			found = &q->ent[j];
	fs_mutex_unlock(&q->lock);
	return found;
}

/*
 * The entry answering @unique: most often one of the replying thread's own
 * server (the request was handed to libfuse by it), else any busy one.
 */
static struct ring_ent *ring_find(struct fsd *d, uint64_t unique)
{
	struct ring_ent *e;

	for (unsigned i = 0; i < d->ring.nq; i++)
		if (pthread_equal(d->ring.q[i].thread, pthread_self()))
			return ring_find_in(&d->ring.q[i], unique);
	for (unsigned i = 0; i < d->ring.nq; i++) {
		e = ring_find_in(&d->ring.q[i], unique);
		if (e)
			return e;
	}
	return NULL;
}

/**
 * ring_commit() - send a reply through the ring if its request came that way
 * @d: the daemon
 * @iov: the reply as libfuse writes it: fuse_out_header, then arguments
 * @count: its parts
 * @len: set to the bytes "written", as writev(2) would return
 *
 * Called by the session's writev hook for every reply.  The reply goes
 * into its entry's buffers and a COMMIT_AND_FETCH is queued (the queue's
 * own thread submits it with its next wait; another thread submits it at
 * once).
 *
 * Return: true if the reply went to the ring, false if it belongs to
 * /dev/fuse.
 */
bool ring_commit(struct fsd *d, const struct iovec *iov, int count, ssize_t *len)
{
	struct fk_out_header h;
	struct ring_ent *e;
	size_t off = 0;

	if (d->ring.state == FSD_RING_OFF || count < 1 || iov[0].iov_len < sizeof(h))
		return false;
	memcpy(&h, iov[0].iov_base, sizeof(h));
	e = h.unique ? ring_find(d, h.unique) : NULL;
	if (!e)
		return false;
	for (int i = 1; i < count; i++) {
		if (off + iov[i].iov_len > e->iov[1].iov_len) {
			h.error = -EIO; /* cannot happen: the kernel sized it */
			off = 0;
			break;
		}
		memcpy(e->buf + RING_HDR_ROOM + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	h.len = (uint32_t)(sizeof(h) + off);
	memcpy(e->hdr->in_out, &h, sizeof(h));
	e->hdr->ring_ent_in_out.payload_sz = (uint32_t)off;
	fs_mutex_lock(&e->q->lock);
	e->busy = false;
	ring_cmd_locked(e, FK_IO_URING_CMD_COMMIT_AND_FETCH);
	if (!pthread_equal(e->q->thread, pthread_self()))
		sys_io_uring_enter(e->q->fd, 1, 0, 0); /* its server may be asleep */
	fs_mutex_unlock(&e->q->lock);
	*len = (ssize_t)h.len;
	return true;
}

/**
 * ring_configure() - decide whether the ring may be asked for
 * @d: the daemon, before the session serves
 * @want: -1 where available (the default), 0 off (-o noio_uring), 1 on
 *
 * The fuse module offers the ring only with its enable_uring parameter
 * on; say so now rather than leave a user guessing.
 */
void ring_configure(struct fsd *d, int want)
{
	char v = 'N';
	int fd;

	fs_mutex_init(&d->ring.lock, "ring", FS_RANK_FRONT);
	sem_init(&d->ring.go, 0, 0);
	d->ring.evfd = -1;
	d->ring.state = FSD_RING_OFF;
	d->ring.want = want != 0;
	if (!want) {
		snprintf(d->ring.why, sizeof(d->ring.why), "disabled by -o noio_uring");
		return;
	}
	fd = open("/sys/module/fuse/parameters/enable_uring", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &v, 1) != 1 || (v != 'Y' && v != '1')) {
		snprintf(d->ring.why, sizeof(d->ring.why), "%s",
			 fd < 0 ? "the kernel has no FUSE over io_uring (needs Linux >= 6.14 "
				  "with CONFIG_FUSE_IO_URING)" :
				  "the fuse module's enable_uring parameter is off (echo 1 > "
				  "/sys/module/fuse/parameters/enable_uring)");
		d->ring.want = false;
	}
	if (fd >= 0)
		close(fd);
}

/* Make every queue and start its thread (it waits for ring_init_sent()). */
static int ring_setup(struct fsd *d, size_t payload)
{
	char name[32];
	int ret;

	d->ring.nq = ring_nr_queues() * RING_SERVERS;
	d->ring.q = calloc(d->ring.nq, sizeof(*d->ring.q));
	d->ring.evfd = eventfd(0, EFD_CLOEXEC);
	if (!d->ring.q || d->ring.evfd < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < d->ring.nq; i++) {
		struct ring_queue *q = &d->ring.q[i];

		q->d = d;
		q->qid = i / RING_SERVERS;
		q->fd = -1;
		fs_mutex_init(&q->lock, "ring queue", FS_RANK_LEAF);
		ret = ring_queue_setup(q, payload);
		if (ret)
			return ret;
		ret = -pthread_create(&q->thread, NULL, ring_thread, q);
		if (ret)
			return ret;
		q->started = true;
		snprintf(name, sizeof(name), "foliofs-ring%u", q->qid);
		name[15] = '\0';		     /* the kernel keeps 15 bytes */
		pthread_setname_np(q->thread, name); /* for ps -L and the tests */
	}
	return 0;
}

/**
 * ring_patch_init() - ask for the ring in the INIT reply, if it can be had
 * @d: the daemon
 * @out: the INIT reply libfuse is about to send
 * @offered: the kernel offered FUSE_OVER_IO_URING in its INIT
 *
 * Everything that can fail happens here, before the reply asks for it.
 */
void ring_patch_init(struct fsd *d, struct fk_init_out *out, bool offered)
{
	size_t payload = out->max_write, pages = (size_t)out->max_pages * 4096;
	int ret;

	if (!d->ring.want)
		return;
	if (!offered || !(out->flags & FK_INIT_EXT)) {
		snprintf(d->ring.why, sizeof(d->ring.why),
			 "the kernel did not offer FUSE over io_uring in INIT");
		return;
	}
	payload = payload > pages ? payload : pages;
	payload = payload > 8192 ? payload : 8192;
	ret = ring_setup(d, payload);
	if (ret) {
		snprintf(d->ring.why, sizeof(d->ring.why), "setting up the rings failed: %s",
			 strerror(-ret));
		return; /* the threads see state OFF and return */
	}
	out->flags2 |= FK_INIT2_OVER_IO_URING;
	d->ring.state = FSD_RING_STARTING;
}

/**
 * ring_init_sent() - the INIT reply is out: let the queues register
 * @d: the daemon
 *
 * The kernel refuses REGISTER before it has processed the INIT reply.
 */
void ring_init_sent(struct fsd *d)
{
	if (!d->ring.q)
		return;
	for (unsigned i = 0; i < d->ring.nq; i++)
		sem_post(&d->ring.go);
}

/**
 * ring_stop() - end the queue threads and free the rings
 * @d: the daemon, after the session loop has returned
 *
 * Before the final commit: a queue thread may still be serving a request.
 */
void ring_stop(struct fsd *d)
{
	uint64_t one = 1;

	if (d->ring.q) {
		ring_init_sent(d); /* threads still waiting to start */
		if (write(d->ring.evfd, &one, sizeof(one)) < 0)
			fs_log(LOG_ERR, "ring stop: %s", strerror(errno));
		for (unsigned i = 0; i < d->ring.nq; i++) {
			struct ring_queue *q = &d->ring.q[i];

			if (q->started)
				pthread_join(q->thread, NULL);
			if (q->sq_ring && q->sq_ring != MAP_FAILED)
				munmap(q->sq_ring, q->sq_ring_len);
			if (q->cq_ring && q->cq_ring != MAP_FAILED)
				munmap(q->cq_ring, q->cq_ring_len);
			if (q->sqes && q->sqes != MAP_FAILED)
				munmap(q->sqes, q->sqes_len);
			if (q->fd >= 0)
				close(q->fd);
			for (unsigned j = 0; j < RING_DEPTH; j++) {
				free(q->ent[j].hdr);
				free(q->ent[j].buf);
			}
			fs_mutex_destroy(&q->lock);
		}
		free(d->ring.q);
		d->ring.q = NULL;
	}
	d->ring.state = FSD_RING_OFF;
}

/**
 * ring_release() - what ring_configure() set up
 * @d: the daemon, its queues stopped
 */
void ring_release(struct fsd *d)
{
	if (d->ring.evfd >= 0)
		close(d->ring.evfd);
	sem_destroy(&d->ring.go);
	fs_mutex_destroy(&d->ring.lock);
}

/**
 * ring_describe() - the transport in use and why, for the status
 * @d: the daemon
 * @why: set to why the ring is not in use, or "-"
 *
 * Return: "io_uring" or "classic".
 */
const char *ring_describe(struct fsd *d, const char **why)
{
	bool on = d->ring.state == FSD_RING_ON;

	*why = on || !d->ring.why[0] ? "-" : d->ring.why;
	return on ? "io_uring" : "classic";
}
