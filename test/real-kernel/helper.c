/*
 * lockline-real-helper: runs one Lockline scenario (profile linux-modern) against the running
 * kernel and reports, per step, the errno (or the killing signal) and VmLck/VmSize afterwards.
 *
 * Built and driven by realKernel.ts; see the protocol description there and in README.md.
 *
 *   lockline-real-helper [timeout_ms]       controller: reads the program on stdin, writes results
 *   lockline-real-helper --probe            checks the capability/limit calls the harness relies on
 *   lockline-real-helper worker ...         internal: one scenario process (started by execve)
 *
 * Processes. The controller creates every command/reply pipe up front, at fixed descriptor numbers,
 * before it starts the first worker, so every worker and every descendant inherits all of them and
 * a worker forked at "fork K" just starts serving pipe K. Initial scenario processes are fork+execve
 * of this binary (a fresh image, like the model's "just exec'd" starting process). A scenario fork
 * is clone(CLONE_PARENT|SIGCHLD) in the acting worker: a genuine fork of that worker (dup_mmap of its
 * mm, exactly as fork(2)), whose parent is the controller, so the controller can waitpid() every
 * worker and report a death by signal. A scenario exec re-executes this binary (/proc/self/exe);
 * the new image reports its fresh /proc/self/maps.
 *
 * Exact deltas. Under mlockall(MCL_FUTURE) any new mapping of the worker would be locked, and any
 * growth of its own heap or stack would change VmSize, so once a worker has captured its initial
 * maps it never allocates: no malloc, no stdio (its buffers are malloc'd), only static buffers and
 * read()/write(); and ~256 KiB of stack is touched at start so [stack] never grows by itself.
 * The static buffers are kept small because they are part of every worker's VmSize (the spec's
 * scenarios assume a ~3.4 MiB process that fits in the 8 MiB RLIMIT_MEMLOCK hard limit).
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08 /* Linux 6.11; older headers lack it */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define PAGE 4096UL
#define MAX_SLOTS 48
/* Worker ends of the pipes of slot s: command read end WFD_BASE+2s, reply write end WFD_BASE+2s+1.
 * Fixed numbers, so an exec'd worker finds them from its slot number alone. */
#define WFD_BASE 100
/* Controller ends: command write end CFD_BASE+2s, reply read end CFD_BASE+2s+1. */
#define CFD_BASE 300
#define STACK_PRETOUCH (256 * 1024)

/* ------------------------------------------------------------------------------------------- */
/* Output without stdio.                                                                        */

static char obuf[16384];
static size_t olen;
static int ofd = 1;

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void out_flush(void)
{
	write_all(ofd, obuf, olen);
	olen = 0;
}

static void out_c(char c)
{
	if (olen == sizeof obuf)
		out_flush();
	obuf[olen++] = c;
}

static void out_n(const char *s, size_t n)
{
	while (n-- > 0)
		out_c(*s++);
}

static void out_s(const char *s)
{
	while (*s)
		out_c(*s++);
}

static void out_u(unsigned long long v)
{
	char t[24];
	int i = 0;
	do {
		t[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		out_c(t[--i]);
}

static void out_x(unsigned long long v)
{
	char t[20];
	int i = 0;
	do {
		t[i++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	out_s("0x");
	while (i)
		out_c(t[--i]);
}

static void out_rlim(rlim_t v)
{
	if (v == RLIM_INFINITY)
		out_s("inf");
	else
		out_u((unsigned long long)v);
}

/* ------------------------------------------------------------------------------------------- */
/* Small parsing helpers (strtoull/strtoll do not allocate).                                    */

static int tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return -1;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

static int parse_u64(const char *s, unsigned long long *v)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || *end) ? -1 : 0;
}

static int parse_i64(const char *s, long long *v)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 0);
	return (errno || *end) ? -1 : 0;
}

static int parse_rlim(const char *s, rlim_t *v)
{
	unsigned long long u;
	if (strcmp(s, "inf") == 0) {
		*v = RLIM_INFINITY;
		return 0;
	}
	if (parse_u64(s, &u))
		return -1;
	*v = (rlim_t)u;
	return 0;
}

struct flagname {
	const char *name;
	long value;
};

/*
 * MCL_INHERIT and MCL_RECURSIVE do not exist on linux-modern; the scenario format says such a name
 * makes the call fail with EINVAL "as the kernel would for an unknown bit". So they are sent as
 * bits the kernel does not know (the next two above MCL_ONFAULT), and the kernel gives its real
 * EINVAL. (The patch's own value 4 would be MCL_ONFAULT today: spec A.3.)
 */
static const struct flagname mcl_names[] = {
	{ "MCL_CURRENT", MCL_CURRENT },
	{ "MCL_FUTURE", MCL_FUTURE },
	{ "MCL_ONFAULT", MCL_ONFAULT },
	{ "MCL_INHERIT", (long)MCL_ONFAULT << 1 },
	{ "MCL_RECURSIVE", (long)MCL_ONFAULT << 2 },
	{ 0, 0 },
};
static const struct flagname mlock2_names[] = { { "MLOCK_ONFAULT", MLOCK_ONFAULT }, { 0, 0 } };
static const struct flagname map_names[] = {
	{ "MAP_PRIVATE", MAP_PRIVATE },
	{ "MAP_SHARED", MAP_SHARED },
	{ "MAP_ANONYMOUS", MAP_ANONYMOUS },
	{ "MAP_FIXED", MAP_FIXED },
	{ "MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE },
	{ "MAP_LOCKED", MAP_LOCKED },
	{ "MAP_GROWSDOWN", MAP_GROWSDOWN },
	{ "MAP_POPULATE", MAP_POPULATE },
	{ "MAP_NORESERVE", MAP_NORESERVE },
	{ "MAP_DROPPABLE", MAP_DROPPABLE },
	{ 0, 0 },
};
static const struct flagname madv_names[] = {
	{ "MADV_DONTFORK", MADV_DONTFORK },
	{ "MADV_DOFORK", MADV_DOFORK },
	{ 0, 0 },
};

/* "A|B|C" -> OR of the values; "0" -> 0; a leading digit or '-' -> that raw number (lets a probe
 * pass values no name spells, such as 0x2000 or -1). Returns -1 for an unknown name. */
static int parse_flags(char *s, const struct flagname *tab, long *out)
{
	long v = 0;
	if ((*s >= '0' && *s <= '9') || *s == '-') {
		long long n;
		if (parse_i64(s, &n))
			return -1;
		*out = (long)n;
		return 0;
	}
	while (*s) {
		char *bar = strchr(s, '|');
		size_t len = bar ? (size_t)(bar - s) : strlen(s);
		const struct flagname *f;
		for (f = tab; f->name; f++)
			if (strlen(f->name) == len && strncmp(f->name, s, len) == 0)
				break;
		if (!f->name)
			return -1;
		v |= f->value;
		s += len;
		if (*s == '|')
			s++;
	}
	*out = v;
	return 0;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case EFBIG: return "EFBIG";
	case ENOSYS: return "ENOSYS";
	case EOVERFLOW: return "EOVERFLOW";
	default: return "EUNKNOWN";
	}
}

static const char *signal_name(int s)
{
	switch (s) {
	case SIGKILL: return "SIGKILL";
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGABRT: return "SIGABRT";
	case SIGTERM: return "SIGTERM";
	case SIGPIPE: return "SIGPIPE";
	case SIGXCPU: return "SIGXCPU";
	case SIGALRM: return "SIGALRM";
	default: return "SIGOTHER";
	}
}

/* ------------------------------------------------------------------------------------------- */
/* /proc readers (static buffers, plain open/read).                                             */

static char mapsbuf[65536];
static char statbuf[4096];

static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == cap - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static long status_kb(const char *key)
{
	size_t klen = strlen(key);
	const char *p = statbuf;
	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtol(p + klen + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static void read_vm(long *lck, long *size)
{
	if (read_file("/proc/self/status", statbuf, sizeof statbuf) <= 0) {
		*lck = *size = -1;
		return;
	}
	*lck = status_kb("VmLck");
	*size = status_kb("VmSize");
}

/* Emits "M start end perms name" for every line of /proc/self/maps. */
static void out_maps(void)
{
	char *p = mapsbuf, *nl;
	if (read_file("/proc/self/maps", mapsbuf, sizeof mapsbuf) <= 0)
		return;
	for (; *p; p = nl + 1) {
		char *t[6], *dash, *name;
		int i;
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		/* "start-end perms offset dev inode    name" (the name may contain spaces) */
		name = p;
		for (i = 0; i < 5; i++) {
			while (*name == ' ')
				name++;
			t[i] = name;
			while (*name && *name != ' ')
				name++;
		}
		while (*name == ' ')
			name++;
		dash = strchr(t[0], '-');
		if (!dash)
			continue;
		out_s("M 0x");
		out_n(t[0], (size_t)(dash - t[0]));
		out_s(" 0x");
		out_n(dash + 1, (size_t)(t[1] - 1 - (dash + 1)));
		out_c(' ');
		out_n(t[1], 4);
		if (*name) {
			out_c(' ');
			out_s(name);
		}
		out_c('\n');
	}
}

/* Start of the [stack] VMA, or 0. */
static unsigned long stack_start(void)
{
	char *p;
	if (read_file("/proc/self/maps", mapsbuf, sizeof mapsbuf) <= 0)
		return 0;
	p = strstr(mapsbuf, "[stack]");
	if (!p)
		return 0;
	while (p > mapsbuf && p[-1] != '\n')
		p--;
	return strtoul(p, NULL, 16);
}

/* ------------------------------------------------------------------------------------------- */
/* Capabilities via capget/capset directly (no libcap).                                         */

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capget, &h, d);
}

static int caps_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capset, &h, d);
}

static int cap_effective(int cap)
{
	struct __user_cap_data_struct d[2];
	if (caps_get(d))
		return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* Turns `cap` on or off in the effective set. Returns 0, an errno, or -1 when asked to raise a
 * capability that is not in the permitted set (which capset(2) cannot do: unsupported, not EPERM). */
static int cap_set_effective(int cap, int on)
{
	struct __user_cap_data_struct d[2];
	unsigned bit = 1u << (cap % 32);
	if (caps_get(d))
		return errno;
	if (on && !(d[cap / 32].permitted & bit))
		return -1;
	if (on)
		d[cap / 32].effective |= bit;
	else
		d[cap / 32].effective &= ~bit;
	return caps_set(d) ? errno : 0;
}

/* ------------------------------------------------------------------------------------------- */
/* The worker.                                                                                  */

static int my_slot;
static int ctl_pid;
static char cmdbuf[4096];
static size_t cmdlen;
static char *argv_exec[8];
static char slotstr[16], nslotstr[16], ctlstr[16];
static char *const empty_env[] = { 0 };

static void utoa(unsigned long v, char *buf)
{
	char t[24];
	int i = 0, j = 0;
	do {
		t[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		buf[j++] = t[--i];
	buf[j] = '\0';
}

static int cmd_fd(int slot) { return WFD_BASE + 2 * slot; }
static int rep_fd(int slot) { return WFD_BASE + 2 * slot + 1; }

/* Grows the stack VMA by touching ~256 KiB below the current frame, so normal operation never
 * needs a stack page the VMA does not already have. */
static __attribute__((noinline)) void pretouch_stack(void)
{
	volatile char *p = alloca(STACK_PRETOUCH);
	size_t i;
	for (i = STACK_PRETOUCH; i >= PAGE; i -= PAGE)
		p[i - PAGE] = 0;
	p[0] = 0;
}

/* growstack: the stack VMA must reach down to (current [stack] start - length). The frame is moved
 * down with alloca (so the pages are genuinely below the stack pointer in use, as deep recursion
 * would leave them), then pages are touched from the top down, one at a time, as recursion would,
 * ending exactly at the target so the VMA grows by exactly ceil(length / 4096) pages. When the
 * kernel refuses a growth (RLIMIT_MEMLOCK for a VM_LOCKED stack, RLIMIT_STACK, the guard gap) the
 * fault becomes SIGSEGV and the controller reports the death. */
static __attribute__((noinline)) void grow_stack_to(unsigned long start, unsigned long target)
{
	volatile char here = 0;
	unsigned long sp = (unsigned long)&here;
	unsigned long a;
	if (sp > target + 1024) {
		/* Only moves the stack pointer; the pages are touched below, top down. */
		char *blk = alloca(sp - target - 1024);
		__asm__ volatile("" : : "r"(blk) : "memory");
	}
	for (a = start; a > target + PAGE; a -= PAGE)
		*(volatile char *)(a - PAGE) = 1;
	*(volatile char *)target = 1;
	(void)here;
}

static void reply_status(const char *err)
{
	long lck, size;
	read_vm(&lck, &size);
	out_s("R ");
	out_s(err);
	out_c(' ');
	out_u((unsigned long long)lck);
	out_c(' ');
	out_u((unsigned long long)size);
}

static void reply_end(void)
{
	out_s("\n.\n");
	out_flush();
}

static void reply_unsupported(const char *why)
{
	out_s("U ");
	out_s(why);
	reply_end();
}

/* Everything the model needs about a fresh image: VmLck/VmSize, maps, brk, rlimit, capability. */
static void reply_layout(void)
{
	struct rlimit rl;
	unsigned long brk = (unsigned long)syscall(SYS_brk, 0);
	getrlimit(RLIMIT_MEMLOCK, &rl);
	reply_status("OK");
	out_s(" pid=");
	out_u((unsigned long long)getpid());
	out_s(" brk=");
	out_x(brk);
	out_s(" rlim=");
	out_rlim(rl.rlim_cur);
	out_c(',');
	out_rlim(rl.rlim_max);
	out_s(" capipc=");
	out_u((unsigned long long)cap_effective(CAP_IPC_LOCK));
	out_c('\n');
	out_maps();
	out_c('.');
	out_c('\n');
	out_flush();
}

/* Reads one command line into cmdbuf (NUL-terminated). Exits on EOF: the controller is gone. */
static char *read_command(void)
{
	for (;;) {
		char *nl = memchr(cmdbuf, '\n', cmdlen);
		ssize_t r;
		if (nl) {
			static char line[sizeof cmdbuf];
			size_t n = (size_t)(nl - cmdbuf);
			memcpy(line, cmdbuf, n);
			line[n] = '\0';
			memmove(cmdbuf, nl + 1, cmdlen - n - 1);
			cmdlen -= n + 1;
			return line;
		}
		if (cmdlen == sizeof cmdbuf)
			_exit(2);
		r = read(cmd_fd(my_slot), cmdbuf + cmdlen, sizeof cmdbuf - cmdlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0);
		cmdlen += (size_t)r;
	}
}

static void become_slot(int slot)
{
	my_slot = slot;
	ofd = rep_fd(slot);
	cmdlen = 0;
	/* The controller is every worker's parent (CLONE_PARENT); die with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ctl_pid)
		_exit(0);
}

static int prot_of(const char *s)
{
	int p = 0;
	if (strchr(s, 'r'))
		p |= PROT_READ;
	if (strchr(s, 'w'))
		p |= PROT_WRITE;
	if (strchr(s, 'x'))
		p |= PROT_EXEC;
	return p;
}

#define BAD_ARGS()                                  \
	do {                                        \
		out_s("E bad arguments for ");      \
		out_s(t[0]);                        \
		reply_end();                        \
		return;                             \
	} while (0)

static void do_exec(void)
{
	/* Root regains every bounding-set capability at execve; a scenario process without
	 * CAP_IPC_LOCK (or CAP_SYS_RESOURCE) must stay without it, so drop it from the bounding set
	 * first. A process that has it keeps it across exec, as the model says. */
	if (!cap_effective(CAP_IPC_LOCK))
		prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0);
	if (!cap_effective(CAP_SYS_RESOURCE))
		prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
	utoa((unsigned long)my_slot, slotstr);
	argv_exec[0] = "lockline-real-helper";
	argv_exec[1] = "worker";
	argv_exec[2] = slotstr;
	argv_exec[3] = nslotstr;
	argv_exec[4] = ctlstr;
	argv_exec[5] = "exec";
	argv_exec[6] = 0;
	execve("/proc/self/exe", argv_exec, empty_env);
	reply_status(errno_name(errno));
	reply_end();
}

static void serve_one(char *line)
{
	char *t[12];
	int n = tokenize(line, t, 12);
	unsigned long long a, b, c;
	long flags;
	int err = 0;

	if (n <= 0) {
		out_s("E empty command");
		reply_end();
		return;
	}
	if (strcmp(t[0], "check") == 0) {
		reply_status("OK");
	} else if (strcmp(t[0], "exit") == 0) {
		_exit(0); /* no reply: the controller reaps us */
	} else if (strcmp(t[0], "fork") == 0) {
		/* fork <child slot>: a real fork of this worker whose parent is the controller. */
		long r;
		unsigned long long child;
		if (n != 2 || parse_u64(t[1], &child))
			BAD_ARGS();
		r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
		if (r == 0) {
			become_slot((int)child);
			reply_status("OK");
			out_s(" pid=");
			out_u((unsigned long long)getpid());
			reply_end();
			return;
		}
		if (r < 0) {
			reply_status(errno_name(errno));
		} else {
			reply_status("OK");
			out_s(" child=");
			out_u((unsigned long long)r);
		}
	} else if (strcmp(t[0], "exec") == 0) {
		do_exec();
		return;
	} else if (strcmp(t[0], "mmap") == 0) {
		/* mmap <addr|-> <length> <prot> <flags> */
		void *addr = NULL, *r;
		if (n != 5 || parse_u64(t[2], &b) || parse_flags(t[4], map_names, &flags))
			BAD_ARGS();
		if (strcmp(t[1], "-") != 0) {
			if (parse_u64(t[1], &a))
				BAD_ARGS();
			addr = (void *)(uintptr_t)a;
			/* A hint must not land elsewhere (the model places it exactly or not at all). */
			if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
				flags |= MAP_FIXED_NOREPLACE;
		}
		if (!(flags & MAP_ANONYMOUS)) {
			reply_unsupported("file-backed mmap (no MAP_ANONYMOUS)");
			return;
		}
		r = mmap(addr, (size_t)b, prot_of(t[3]), (int)flags, -1, 0);
		if (r == MAP_FAILED) {
			reply_status(errno_name(errno));
		} else {
			reply_status("OK");
			out_s(" addr=");
			out_x((unsigned long long)(uintptr_t)r);
		}
	} else if (strcmp(t[0], "munmap") == 0 || strcmp(t[0], "mlock") == 0 ||
		   strcmp(t[0], "munlock") == 0) {
		long r;
		if (n != 3 || parse_u64(t[1], &a) || parse_u64(t[2], &b))
			BAD_ARGS();
		if (strcmp(t[0], "munmap") == 0)
			r = syscall(SYS_munmap, a, b);
		else if (strcmp(t[0], "mlock") == 0)
			r = syscall(SYS_mlock, a, b);
		else
			r = syscall(SYS_munlock, a, b);
		reply_status(errno_name(r ? errno : 0));
	} else if (strcmp(t[0], "mlock2") == 0) {
		if (n != 4 || parse_u64(t[1], &a) || parse_u64(t[2], &b) ||
		    parse_flags(t[3], mlock2_names, &flags))
			BAD_ARGS();
		err = syscall(SYS_mlock2, a, b, flags) ? errno : 0;
		reply_status(errno_name(err));
	} else if (strcmp(t[0], "mlockall") == 0) {
		if (n != 2 || parse_flags(t[1], mcl_names, &flags))
			BAD_ARGS();
		err = syscall(SYS_mlockall, flags) ? errno : 0;
		reply_status(errno_name(err));
	} else if (strcmp(t[0], "munlockall") == 0) {
		err = syscall(SYS_munlockall) ? errno : 0;
		reply_status(errno_name(err));
	} else if (strcmp(t[0], "madvise") == 0) {
		if (n != 4 || parse_u64(t[1], &a) || parse_u64(t[2], &b) ||
		    parse_flags(t[3], madv_names, &flags))
			BAD_ARGS();
		err = syscall(SYS_madvise, a, b, flags) ? errno : 0;
		reply_status(errno_name(err));
	} else if (strcmp(t[0], "mremap") == 0) {
		/* No MREMAP_MAYMOVE: the model resizes in place or fails. */
		long r;
		if (n != 4 || parse_u64(t[1], &a) || parse_u64(t[2], &b) || parse_u64(t[3], &c))
			BAD_ARGS();
		r = syscall(SYS_mremap, a, b, c, 0, 0);
		reply_status(errno_name(r == -1 ? errno : 0));
	} else if (strcmp(t[0], "brk") == 0) {
		/* brk abs <addr> | brk inc <increment>, with glibc's brk()/sbrk() semantics: the raw
		 * syscall returns the new break, or the old one on failure, which glibc turns into
		 * -1/ENOMEM. */
		unsigned long cur = (unsigned long)syscall(SYS_brk, 0), want, got;
		long long inc;
		if (n != 3)
			BAD_ARGS();
		if (strcmp(t[1], "abs") == 0) {
			if (parse_u64(t[2], &a))
				BAD_ARGS();
			want = (unsigned long)a;
		} else if (strcmp(t[1], "inc") == 0) {
			if (parse_i64(t[2], &inc))
				BAD_ARGS();
			if ((inc > 0 && cur + (unsigned long)inc < cur) ||
			    (inc < 0 && (unsigned long)-inc > cur)) {
				reply_status("ENOMEM"); /* glibc's sbrk overflow check */
				out_s(" brk=");
				out_x(cur);
				reply_end();
				return;
			}
			want = cur + (unsigned long)inc;
		} else {
			BAD_ARGS();
		}
		got = (unsigned long)syscall(SYS_brk, want);
		reply_status(got == want ? "OK" : "ENOMEM");
		out_s(" brk=");
		out_x(got);
	} else if (strcmp(t[0], "setrlimit") == 0) {
		struct rlimit rl;
		if (n != 3 || parse_rlim(t[1], &rl.rlim_cur) || parse_rlim(t[2], &rl.rlim_max))
			BAD_ARGS();
		err = setrlimit(RLIMIT_MEMLOCK, &rl) ? errno : 0;
		reply_status(errno_name(err));
	} else if (strcmp(t[0], "capset") == 0) {
		/* capset <ipc 0|1|-> <sysres 0|1|->: '-' leaves that capability as it is. */
		int caps[2] = { CAP_IPC_LOCK, CAP_SYS_RESOURCE };
		int i;
		if (n != 3)
			BAD_ARGS();
		for (i = 0; i < 2 && !err; i++) {
			if (strcmp(t[1 + i], "-") == 0)
				continue;
			err = cap_set_effective(caps[i], t[1 + i][0] == '1');
			if (err < 0) {
				reply_unsupported(i == 0 ? "capset cannot raise CAP_IPC_LOCK: not in the permitted set"
							 : "capset cannot raise CAP_SYS_RESOURCE: not in the permitted set");
				return;
			}
		}
		reply_status(errno_name(err));
	} else if (strcmp(t[0], "growstack") == 0) {
		unsigned long start = stack_start();
		if (n != 2 || parse_u64(t[1], &a))
			BAD_ARGS();
		if (!start) {
			out_s("E no [stack] in /proc/self/maps");
			reply_end();
			return;
		}
		if (a > 0)
			grow_stack_to(start, (start - (unsigned long)a) & ~(PAGE - 1));
		reply_status("OK");
	} else {
		out_s("U unknown operation ");
		out_s(t[0]);
		reply_end();
		return;
	}
	reply_end();
}

/*
 * worker <slot> <nslots> <controller pid> init <rlim_cur|-> <rlim_max|-> <capipc> <capsysres>
 * worker <slot> <nslots> <controller pid> exec
 */
static int worker_main(int argc, char **argv)
{
	unsigned long long slot, nslots, ctl;
	if (argc < 6 || parse_u64(argv[2], &slot) || parse_u64(argv[3], &nslots) ||
	    parse_u64(argv[4], &ctl) || slot >= MAX_SLOTS)
		return 2;
	ctl_pid = (int)ctl;
	strncpy(nslotstr, argv[3], sizeof nslotstr - 1);
	strncpy(ctlstr, argv[4], sizeof ctlstr - 1);
	become_slot((int)slot);

	if (strcmp(argv[5], "init") == 0) {
		struct rlimit rl;
		int want_ipc, want_res, e;
		if (argc != 10)
			return 2;
		getrlimit(RLIMIT_MEMLOCK, &rl);
		if (strcmp(argv[6], "-") != 0 && parse_rlim(argv[6], &rl.rlim_cur))
			return 2;
		if (strcmp(argv[7], "-") != 0 && parse_rlim(argv[7], &rl.rlim_max))
			return 2;
		if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
			pretouch_stack();
			reply_unsupported("initial RLIMIT_MEMLOCK cannot be set (raising the hard limit needs CAP_SYS_RESOURCE)");
			return 0;
		}
		want_ipc = argv[8][0] == '1';
		want_res = argv[9][0] == '1';
		/* Effective set only: the capability stays permitted, so a later "capset" step can
		 * raise it again, as the model allows. */
		e = cap_set_effective(CAP_IPC_LOCK, want_ipc);
		if (e == 0)
			e = cap_set_effective(CAP_SYS_RESOURCE, want_res);
		if (e != 0) {
			pretouch_stack();
			reply_unsupported(e == -1 ? "requested capability is not in the permitted set" : "capset failed");
			return 0;
		}
	} else if (strcmp(argv[5], "exec") != 0) {
		return 2;
	}
	pretouch_stack();
	reply_layout();
	for (;;)
		serve_one(read_command());
}

/* ------------------------------------------------------------------------------------------- */
/* The controller.                                                                              */

struct slot {
	long pid;    /* scenario pid */
	int real;    /* real pid, 0 before start */
	int pidfd;
	int alive;
};

static struct slot slots[MAX_SLOTS];
static int nslots;
static long long deadline_ms;
static char *reply;        /* reply being assembled (malloc'd: the controller is never a worker) */
static size_t reply_len, reply_cap;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_workers(void)
{
	int i;
	for (i = 0; i < nslots; i++)
		if (slots[i].real > 0 && slots[i].alive)
			kill(slots[i].real, SIGKILL);
}

static void on_alarm(int sig)
{
	static const char msg[] = "FATAL timeout (hard limit)\n";
	(void)sig;
	kill_workers();
	write_all(1, msg, sizeof msg - 1);
	_exit(3);
}

static void fatal(const char *a, const char *b)
{
	out_s("FATAL ");
	out_s(a);
	if (b)
		out_s(b);
	out_c('\n');
	out_flush();
	kill_workers();
	exit(3);
}

static int slot_of(long pid)
{
	int i;
	for (i = 0; i < nslots; i++)
		if (slots[i].pid == pid)
			return i;
	return -1;
}

/*
 * Waits for slot s's reply (lines up to a "." line) or its death. Returns 1 with the reply in
 * `reply`, 0 when the worker died first (*status from waitpid).
 */
static int await_reply(int s, int *status)
{
	int rfd = CFD_BASE + 2 * s + 1;
	reply_len = 0;
	for (;;) {
		struct pollfd pf[2] = { { rfd, POLLIN, 0 }, { slots[s].pidfd, POLLIN, 0 } };
		long long left = deadline_ms - now_ms();
		int pr;
		if (left <= 0)
			fatal("timeout waiting for a worker", NULL);
		pr = poll(pf, 2, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			fatal("poll failed", NULL);
		if (pf[0].revents & POLLIN) {
			ssize_t r;
			if (reply_cap - reply_len < 4096) {
				reply_cap = reply_cap ? reply_cap * 2 : 65536;
				reply = realloc(reply, reply_cap);
				if (!reply)
					fatal("out of memory", NULL);
			}
			r = read(rfd, reply + reply_len, reply_cap - reply_len - 1);
			if (r > 0) {
				reply_len += (size_t)r;
				reply[reply_len] = '\0';
				if ((reply_len == 2 && memcmp(reply, ".\n", 2) == 0) ||
				    (reply_len >= 3 && memcmp(reply + reply_len - 3, "\n.\n", 3) == 0))
					return 1;
			}
			continue;
		}
		if (pf[1].revents & POLLIN) {
			/* Dead. Anything it wrote is already in the pipe: poll saw no more of it. */
			if (waitpid(slots[s].real, status, 0) < 0)
				*status = 0;
			slots[s].alive = 0;
			return 0;
		}
	}
}

static void start_tracking(int s, int real)
{
	slots[s].real = real;
	slots[s].alive = 1;
	slots[s].pidfd = (int)syscall(SYS_pidfd_open, real, 0);
	if (slots[s].pidfd < 0)
		fatal("pidfd_open failed", NULL);
}

/* Prints the worker's reply, whose first line is "R <errno> <lck> <size> k=v...", as
 * "<prefix> errno=<..> lck=<..> size=<..> k=v..." followed by its M lines. */
static void print_reply(const char *prefix)
{
	char *p = reply, *nl;
	int first = 1;
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (strcmp(p, ".") == 0)
			break;
		if (first) {
			char *t[16];
			int n = tokenize(p, t, 16), i;
			first = 0;
			out_s(prefix);
			if (n >= 1 && strcmp(t[0], "U") == 0) {
				out_s(" unsupported=");
				for (i = 1; i < n; i++) {
					if (i > 1)
						out_c('_');
					out_s(t[i]);
				}
			} else if (n >= 1 && strcmp(t[0], "E") == 0) {
				out_s(" error=");
				for (i = 1; i < n; i++) {
					if (i > 1)
						out_c('_');
					out_s(t[i]);
				}
			} else if (n >= 4 && strcmp(t[0], "R") == 0) {
				out_s(" errno=");
				out_s(t[1]);
				out_s(" lck=");
				out_s(t[2]);
				out_s(" size=");
				out_s(t[3]);
				for (i = 4; i < n; i++) {
					out_c(' ');
					out_s(t[i]);
				}
			} else {
				out_s(" error=malformed_reply");
			}
			out_c('\n');
			continue;
		}
		out_s(p);
		out_c('\n');
	}
	out_flush();
}

static const char *reply_kind(void)
{
	if (reply[0] == 'U')
		return "U";
	if (reply[0] == 'E')
		return "E";
	return "R";
}

static unsigned long reply_field(const char *key)
{
	char *p = strstr(reply, key);
	char *nl = strchr(reply, '\n');
	if (!p || (nl && p > nl))
		return 0;
	return strtoul(p + strlen(key), NULL, 0);
}

static void print_death(const char *prefix, int status)
{
	out_s(prefix);
	if (WIFSIGNALED(status)) {
		out_s(" signal=");
		out_s(signal_name(WTERMSIG(status)));
	} else {
		out_s(" exited=");
		out_u((unsigned long long)WEXITSTATUS(status));
	}
	out_c('\n');
	out_flush();
}

static char self_exe[4096];

static void finish(int code)
{
	int i, st;
	out_s("DONE\n");
	out_flush();
	kill_workers();
	for (i = 0; i < nslots; i++)
		if (slots[i].real > 0 && slots[i].alive)
			waitpid(slots[i].real, &st, 0);
	exit(code);
}

/*
 * The program on stdin (one item per line; '#' lines and blank lines are ignored):
 *   P <pid> <rlim_cur|inf|-> <rlim_max|inf|-> <capIpcLock 0|1> <capSysResource 0|1>
 *   S <pid> <op> <args...>          one scenario step, in order (ops: see serve_one)
 * For fork/vfork/clone the argument is the child's scenario pid.
 */
static int controller_main(int argc, char **argv)
{
	char *prog = NULL, *p, *nl, *next;
	size_t len = 0, cap = 0;
	long long timeout_ms = 30000;
	int i, st;
	struct rlimit nofile;
	char **steps = NULL;
	int nsteps = 0, stepcap = 0;
	struct sigaction sa;

	if (argc >= 2 && parse_i64(argv[1], &timeout_ms))
		fatal("usage: lockline-real-helper [timeout_ms]", NULL);
	deadline_ms = now_ms() + timeout_ms;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Backstop for anything that could block outside poll() (a full pipe, a stuck read). */
	alarm((unsigned)(timeout_ms / 1000 + 2));

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < CFD_BASE + 2 * MAX_SLOTS + 16) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	{
		ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
		if (n <= 0)
			fatal("readlink /proc/self/exe failed", NULL);
		self_exe[n] = '\0';
	}

	for (;;) {
		ssize_t r;
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			prog = realloc(prog, cap);
			if (!prog)
				fatal("out of memory", NULL);
		}
		r = read(0, prog + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (!prog)
		fatal("empty program", NULL);
	prog[len] = '\0';

	out_s("HELLO lockline-real 1 pagesize=");
	out_u((unsigned long long)sysconf(_SC_PAGESIZE));
	out_c('\n');
	out_flush();

	/* Pass 1: slots for initial processes (P) and for every fork/vfork/clone child. */
	for (p = prog; *p; p = next) {
		nl = strchr(p, '\n');
		if (nl) {
			*nl = '\0';
			next = nl + 1;
		} else {
			next = p + strlen(p);
		}
		if (*p == 'P' || *p == 'S') {
			if (nsteps == stepcap) {
				stepcap = stepcap ? stepcap * 2 : 64;
				steps = realloc(steps, sizeof *steps * (size_t)stepcap);
				if (!steps)
					fatal("out of memory", NULL);
			}
			steps[nsteps++] = p;
		} else if (*p && *p != '#') {
			fatal("bad program line: ", p);
		}
	}
	for (i = 0; i < nsteps; i++) {
		char line[512], *t[12];
		int n;
		long long pid = -1;
		strncpy(line, steps[i], sizeof line - 1);
		line[sizeof line - 1] = '\0';
		n = tokenize(line, t, 12);
		if (n < 2 || parse_i64(t[1], &pid))
			fatal("bad program line: ", steps[i]);
		if (t[0][0] == 'P') {
			if (n != 6)
				fatal("bad P line: ", steps[i]);
		} else if (n >= 4 && (strcmp(t[2], "fork") == 0 || strcmp(t[2], "vfork") == 0 ||
				      strcmp(t[2], "clone") == 0)) {
			if (parse_i64(t[3], &pid))
				fatal("bad fork line: ", steps[i]);
		} else {
			continue;
		}
		if (slot_of((long)pid) >= 0)
			continue; /* pid reused: the step will be reported as unsupported */
		if (nslots == MAX_SLOTS)
			fatal("too many processes", NULL);
		slots[nslots].pid = (long)pid;
		slots[nslots].pidfd = -1;
		nslots++;
	}

	/* All pipes, at fixed numbers, before any worker exists. */
	for (i = 0; i < nslots; i++) {
		int c[2], r[2];
		if (pipe(c) || pipe(r))
			fatal("pipe failed", NULL);
		if (dup2(c[0], WFD_BASE + 2 * i) < 0 || dup2(r[1], WFD_BASE + 2 * i + 1) < 0 ||
		    dup3(c[1], CFD_BASE + 2 * i, O_CLOEXEC) < 0 || dup3(r[0], CFD_BASE + 2 * i + 1, O_CLOEXEC) < 0)
			fatal("dup failed (RLIMIT_NOFILE too low?)", NULL);
		close(c[0]);
		close(c[1]);
		close(r[0]);
		close(r[1]);
	}
	utoa((unsigned long)nslots, nslotstr);
	utoa((unsigned long)getpid(), ctlstr);

	/* Start the initial processes. */
	for (i = 0; i < nsteps; i++) {
		char line[512], *t[12], prefix[64];
		int s, pid;
		if (steps[i][0] != 'P')
			continue;
		strncpy(line, steps[i], sizeof line - 1);
		line[sizeof line - 1] = '\0';
		tokenize(line, t, 12);
		s = slot_of(strtol(t[1], NULL, 10));
		pid = fork();
		if (pid < 0)
			fatal("fork failed", NULL);
		if (pid == 0) {
			char sbuf[16];
			char *av[] = { "lockline-real-helper", "worker", sbuf, nslotstr, ctlstr, "init",
				       t[2], t[3], t[4], t[5], 0 };
			int devnull = open("/dev/null", O_RDWR);
			utoa((unsigned long)s, sbuf);
			dup2(devnull, 0);
			dup2(devnull, 1);
			/* The same layout on every run (no ASLR), so a failing scenario replays exactly
			 * and a layout-dependent size computed from one run holds for the next. */
			personality(ADDR_NO_RANDOMIZE);
			execve(self_exe, av, empty_env);
			_exit(127);
		}
		start_tracking(s, pid);
		strcpy(prefix, "INIT ");
		strcat(prefix, t[1]);
		if (!await_reply(s, &st)) {
			print_death(prefix, st);
			fatal("initial process died before reporting its layout", NULL);
		}
		print_reply(prefix);
		if (strcmp(reply_kind(), "R") != 0)
			finish(0);
	}
	/* The workers hold their own ends; the controller needs only its own. */
	for (i = 0; i < nslots; i++) {
		close(WFD_BASE + 2 * i);
		close(WFD_BASE + 2 * i + 1);
	}

	/* Run the steps. */
	{
		int si = 0;
		for (i = 0; i < nsteps; i++) {
			char line[512], cmd[512], *t[12], prefix[96], num[24];
			int n, s, k, child;
			const char *op;
			if (steps[i][0] != 'S')
				continue;
			strncpy(line, steps[i], sizeof line - 1);
			line[sizeof line - 1] = '\0';
			n = tokenize(line, t, 12);
			op = n >= 3 ? t[2] : "?";
			utoa((unsigned long)si, num);
			strcpy(prefix, "STEP ");
			strcat(prefix, num);
			strcat(prefix, " ");
			strncat(prefix, t[1], 20);
			strcat(prefix, " ");
			strncat(prefix, op, 20);
			si++;
			s = slot_of(strtol(t[1], NULL, 10));
			if (n < 3 || s < 0) {
				out_s(prefix);
				out_s(" unsupported=unknown_pid\n");
				finish(0);
			}
			if (!slots[s].alive) {
				out_s(prefix);
				out_s(slots[s].real ? " dead\n" : " unsupported=pid_not_started\n");
				if (!slots[s].real)
					finish(0);
				out_flush();
				continue;
			}
			if (strcmp(op, "vfork") == 0 || strcmp(op, "clone") == 0) {
				out_s(prefix);
				out_s(strcmp(op, "vfork") == 0
					      ? " unsupported=vfork_(the_parent_would_block_until_the_child_execs_or_exits)\n"
					      : " unsupported=clone_(threads_sharing_the_mm)\n");
				finish(0);
			}
			cmd[0] = '\0';
			if (strcmp(op, "fork") == 0) {
				k = n == 4 ? slot_of(strtol(t[3], NULL, 10)) : -1;
				if (k < 0 || slots[k].real) {
					out_s(prefix);
					out_s(" unsupported=child_pid_reused\n");
					finish(0);
				}
				utoa((unsigned long)k, num);
				strcpy(cmd, "fork ");
				strcat(cmd, num);
			} else {
				int j;
				k = -1;
				for (j = 2; j < n; j++) {
					if (strlen(cmd) + strlen(t[j]) + 2 >= sizeof cmd)
						fatal("step too long: ", steps[i]);
					if (j > 2)
						strcat(cmd, " ");
					strcat(cmd, t[j]);
				}
			}
			strcat(cmd, "\n");
			write_all(CFD_BASE + 2 * s, cmd, strlen(cmd));
			if (!await_reply(s, &st)) {
				if (strcmp(op, "exit") == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
					out_s(prefix);
					out_s(" errno=OK\n");
					out_flush();
				} else {
					print_death(prefix, st);
				}
				continue;
			}
			child = k >= 0 ? (int)reply_field(" child=") : 0; /* before print_reply splits it */
			print_reply(prefix);
			if (strcmp(reply_kind(), "R") != 0)
				finish(0);
			if (k >= 0) {
				if (child > 0) {
					char cprefix[64];
					strcpy(cprefix, "CHILD ");
					strncat(cprefix, t[3], 20);
					start_tracking(k, child);
					if (!await_reply(k, &st)) {
						print_death(cprefix, st);
					} else {
						print_reply(cprefix);
					}
				}
			}
		}
	}
	finish(0);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* --probe: can this machine run the harness? Prints "ok" or "fail <reason>" lines.             */

static int probe_child(void)
{
	struct rlimit rl;
	void *a, *b;
	if (!cap_effective(CAP_IPC_LOCK)) {
		out_s("fail CAP_IPC_LOCK is not in the effective set (the harness must turn it on and off)\n");
		return 1;
	}
	if (cap_set_effective(CAP_IPC_LOCK, 0) != 0 || cap_effective(CAP_IPC_LOCK)) {
		out_s("fail capset(2) cannot drop CAP_IPC_LOCK\n");
		return 1;
	}
	if (cap_set_effective(CAP_IPC_LOCK, 1) != 0 || !cap_effective(CAP_IPC_LOCK)) {
		out_s("fail capset(2) cannot raise CAP_IPC_LOCK again\n");
		return 1;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		out_s("fail getrlimit(RLIMIT_MEMLOCK)\n");
		return 1;
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 8 * 1024 * 1024) {
		out_s("fail RLIMIT_MEMLOCK hard limit is below 8 MiB\n");
		return 1;
	}
	rl.rlim_cur = rl.rlim_max = 65536;
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		out_s("fail setrlimit(RLIMIT_MEMLOCK) cannot lower the limit\n");
		return 1;
	}
	a = mmap((void *)0x10000000, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	b = mmap((void *)0x10000000, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (a != (void *)0x10000000 || b != MAP_FAILED || errno != EEXIST) {
		out_s("fail MAP_FIXED_NOREPLACE is not honoured\n");
		return 1;
	}
	if (syscall(SYS_mlock2, a, 0, 0) != 0) {
		out_s("fail mlock2(2) is not available\n");
		return 1;
	}
	if (prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0) {
		out_s("fail prctl(PR_CAPBSET_DROP) is not permitted (CAP_SETPCAP)\n");
		return 1;
	}
	return 0;
}

static int probe_main(void)
{
	int pid, st, fd;
	if (sysconf(_SC_PAGESIZE) != (long)PAGE) {
		out_s("fail page size is not 4096\n");
		out_flush();
		return 1;
	}
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0) {
		out_s("fail pidfd_open(2) is not available\n");
		out_flush();
		return 1;
	}
	close(fd);
	out_flush();
	/* Capability and limit changes happen in a throw-away child; a grandchild made with
	 * CLONE_PARENT checks that the controller can be every worker's parent. */
	pid = fork();
	if (pid == 0) {
		long r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
		if (r == 0)
			_exit(0);
		if (r < 0) {
			out_s("fail clone(CLONE_PARENT) failed\n");
			out_flush();
			_exit(1);
		}
		st = probe_child();
		out_flush();
		_exit(st);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	/* The CLONE_PARENT grandchild must be ours to reap. */
	if (waitpid(-1, &st, 0) < 0) {
		out_s("fail CLONE_PARENT child was not reparented to the controller\n");
		out_flush();
		return 1;
	}
	out_s("ok\n");
	out_flush();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "worker") == 0)
		return worker_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "--probe") == 0)
		return probe_main();
	return controller_main(argc, argv);
}
