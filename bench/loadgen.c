/*
 * loadgen: the benchmark client for pyinetd's bench/run.py.
 *
 * One thread, one epoll set, C operations in flight at all times, so the client spends a
 * few syscalls per operation and is never the slowest party in a spawn-per-connection
 * test. It talks to loopback addresses only and refuses anything else. Bounded by a
 * count and a duration; prints one JSON object on stdout and nothing else there.
 *
 *   TCP op: connect, write the payload (if any), shutdown(SHUT_WR) (if asked), read to
 *           EOF, compare the reply (if asked).
 *   UDP op: send a numbered datagram on a connected socket, wait for the same bytes back,
 *           retransmit with a doubling timeout, give up after a bounded number of tries.
 *
 * Usage: loadgen -m tcp|udp -a ADDR -p PORT [-c CONC] [-d SECONDS] [-n COUNT]
 *                [-P PAYLOAD] [-H] [-e EXPECT | -E MINBYTES] [-t OP_TIMEOUT]
 *                [-r RTO] [-R RETRIES] [-g GRACE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 4096
#define MAXCONC 1024

enum state { IDLE, CONNECTING, READING, WAITING_UDP, BACKOFF };

struct slot {
	int fd;
	enum state st;
	uint32_t gen;
	double t_start;
	double deadline; /* op timeout, retransmit time or end of back-off; 0 = none */
	double rto;
	int tries;
	uint32_t seq;
	size_t rlen;      /* bytes received (may exceed what fits in rbuf) */
	char rbuf[RBUF];
	char sbuf[64];
	size_t slen;
};

enum fail_kind { F_REFUSED, F_RESET, F_TIMEOUT, F_MISMATCH, F_ADDRNOTAVAIL, F_OTHER, F_N };
static const char *fail_names[F_N] = {"refused", "reset",         "timeout",
                                      "mismatch", "addrnotavail", "other"};

static struct {
	int udp;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int conc;
	double duration;
	long count;
	const char *payload;
	size_t payload_len;
	int half_close;
	const char *expect;
	size_t expect_len;
	long expect_min;
	double op_timeout;
	double rto;
	int retries;
	double grace;
} cfg = {.conc = 1, .duration = 2.0, .count = 1000000, .expect_min = -1,
         .op_timeout = 5.0, .rto = 0.25, .retries = 4, .grace = 2.0};

static struct slot slots[MAXCONC];
static int ep;
static long started, completed, failures, stale, retransmits, fails[F_N];
static uint32_t *lat_us;
static size_t lat_n, lat_cap;
static double t0, t_last;
static int stopping;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(2);
}

static int parse_addr(const char *host, int port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&cfg.addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cfg.addr;
	memset(&cfg.addr, 0, sizeof cfg.addr);
	if (port <= 0 || port > 65535)
		return -1;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		/* 127.0.0.0/8 is the whole IPv4 loopback net; nothing else may be hit. */
		if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
			return -1;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		cfg.addrlen = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			return -1;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		cfg.addrlen = sizeof *a6;
		return 0;
	}
	return -1;
}

static void record_latency(double dt)
{
	if (lat_n == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 65536;
		lat_us = realloc(lat_us, lat_cap * sizeof *lat_us);
		if (!lat_us)
			die("out of memory");
	}
	double us = dt * 1e6;
	lat_us[lat_n++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static enum fail_kind kind_of(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return F_REFUSED;
	case ECONNRESET:
	case EPIPE:
		return F_RESET;
	case ETIMEDOUT:
		return F_TIMEOUT;
	case EADDRNOTAVAIL:
		return F_ADDRNOTAVAIL;
	default:
		return F_OTHER;
	}
}

static void start_op(struct slot *s, double t);

static void end_op(struct slot *s, double t, int ok, enum fail_kind why)
{
	if (!cfg.udp && s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->gen++;
	if (ok) {
		completed++;
		t_last = t;
		record_latency(t - s->t_start);
	} else {
		failures++;
		fails[why]++;
	}
	s->st = IDLE;
	s->deadline = 0;
	if (!ok) {
		/* A refused or exhausted peer fails at once; pausing keeps the failure count
		 * meaningful instead of spinning through millions of instant errors. */
		s->st = BACKOFF;
		s->deadline = t + 0.01;
		return;
	}
	start_op(s, t);
}

static int reply_ok(const struct slot *s)
{
	if (cfg.udp)
		return s->rlen == s->slen && memcmp(s->rbuf, s->sbuf, s->slen) == 0;
	if (cfg.expect)
		return s->rlen == cfg.expect_len && memcmp(s->rbuf, cfg.expect, cfg.expect_len) == 0;
	if (cfg.expect_min >= 0)
		return (long)s->rlen >= cfg.expect_min;
	return 1;
}

static void tcp_read(struct slot *s, double t)
{
	for (;;) {
		char tmp[RBUF];
		ssize_t n = read(s->fd, tmp, sizeof tmp);
		if (n > 0) {
			size_t room = s->rlen < RBUF ? RBUF - s->rlen : 0;
			memcpy(s->rbuf + s->rlen, tmp, (size_t)n < room ? (size_t)n : room);
			s->rlen += (size_t)n;
			continue;
		}
		if (n == 0) {
			int ok = reply_ok(s);
			end_op(s, t, ok, F_MISMATCH);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return;
		end_op(s, t, 0, kind_of(errno));
		return;
	}
}

static void tcp_connected(struct slot *s, double t)
{
	if (cfg.payload_len) {
		ssize_t n = write(s->fd, cfg.payload, cfg.payload_len);
		if (n != (ssize_t)cfg.payload_len) {
			end_op(s, t, 0, n < 0 ? kind_of(errno) : F_OTHER);
			return;
		}
	}
	if (cfg.half_close && shutdown(s->fd, SHUT_WR) < 0) {
		end_op(s, t, 0, kind_of(errno));
		return;
	}
	s->st = READING;
	tcp_read(s, t);
}

static void udp_send(struct slot *s, double t)
{
	if (send(s->fd, s->sbuf, s->slen, 0) < 0 && errno != EAGAIN && errno != ENOBUFS) {
		end_op(s, t, 0, kind_of(errno));
		return;
	}
	s->deadline = t + s->rto;
	if (s->deadline > s->t_start + cfg.op_timeout)
		s->deadline = s->t_start + cfg.op_timeout;
}

static void start_op(struct slot *s, double t)
{
	if (stopping || started >= cfg.count || t >= t0 + cfg.duration) {
		s->st = IDLE;
		s->deadline = 0;
		return;
	}
	started++;
	s->t_start = t;
	s->rlen = 0;
	s->tries = 0;
	if (cfg.udp) {
		s->seq++;
		/* The number makes each datagram unique, so a late answer to a retransmitted
		 * copy of an earlier request is recognised and dropped, not taken as this one. */
		int n = snprintf(s->sbuf, sizeof s->sbuf, "u%04x-%012x\n", (unsigned)(s - slots),
		                 (unsigned)s->seq);
		s->slen = (size_t)n;
		s->rto = cfg.rto;
		s->st = WAITING_UDP;
		udp_send(s, t);
		return;
	}
	int fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket() failed (fd limit?)");
	s->fd = fd;
	s->gen++;
	s->deadline = t + cfg.op_timeout;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
	                         .data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)(s - slots)};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
	if (connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) == 0) {
		tcp_connected(s, t);
		return;
	}
	if (errno == EINPROGRESS) {
		s->st = CONNECTING;
		return;
	}
	end_op(s, t, 0, kind_of(errno));
}

static void on_event(struct slot *s, uint32_t events, double t)
{
	if (cfg.udp) {
		for (;;) {
			ssize_t n = recv(s->fd, s->rbuf, RBUF, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return;
				/* ICMP port unreachable reported on the connected socket. */
				if (s->st == WAITING_UDP)
					end_op(s, t, 0, kind_of(errno));
				return;
			}
			s->rlen = (size_t)n;
			if (s->st == WAITING_UDP && reply_ok(s))
				end_op(s, t, 1, F_OTHER);
			else
				stale++;
		}
	}
	if (s->st == CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			end_op(s, t, 0, kind_of(err));
			return;
		}
		tcp_connected(s, t);
		return;
	}
	if (s->st == READING)
		tcp_read(s, t);
}

static void on_timers(double t)
{
	for (int i = 0; i < cfg.conc; i++) {
		struct slot *s = &slots[i];
		if (s->deadline == 0 || t < s->deadline)
			continue;
		switch (s->st) {
		case BACKOFF:
			s->deadline = 0;
			start_op(s, t);
			break;
		case WAITING_UDP:
			if (t - s->t_start >= cfg.op_timeout || s->tries >= cfg.retries) {
				end_op(s, t, 0, F_TIMEOUT);
			} else {
				s->tries++;
				retransmits++;
				s->rto *= 2;
				udp_send(s, t);
			}
			break;
		case CONNECTING:
		case READING:
			end_op(s, t, 0, F_TIMEOUT);
			break;
		default:
			s->deadline = 0;
		}
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	if (lat_n == 0)
		return -1;
	size_t i = (size_t)(p * (double)(lat_n - 1) + 0.5);
	return lat_us[i] / 1000.0;
}

static void usage(void)
{
	die("usage: loadgen -m tcp|udp -a ADDR -p PORT [-c CONC] [-d SEC] [-n COUNT] "
	    "[-P PAYLOAD] [-H] [-e EXPECT | -E MINBYTES] [-t OP_TIMEOUT] [-r RTO] [-R RETRIES] "
	    "[-g GRACE]");
}

int main(int argc, char **argv)
{
	const char *host = NULL;
	int port = 0, opt;
	const char *mode = "tcp";
	while ((opt = getopt(argc, argv, "m:a:p:c:d:n:P:He:E:t:r:R:g:")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'a': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': cfg.conc = atoi(optarg); break;
		case 'd': cfg.duration = atof(optarg); break;
		case 'n': cfg.count = atol(optarg); break;
		case 'P': cfg.payload = optarg; cfg.payload_len = strlen(optarg); break;
		case 'H': cfg.half_close = 1; break;
		case 'e': cfg.expect = optarg; cfg.expect_len = strlen(optarg); break;
		case 'E': cfg.expect_min = atol(optarg); break;
		case 't': cfg.op_timeout = atof(optarg); break;
		case 'r': cfg.rto = atof(optarg); break;
		case 'R': cfg.retries = atoi(optarg); break;
		case 'g': cfg.grace = atof(optarg); break;
		default: usage();
		}
	}
	if (!host || (strcmp(mode, "tcp") && strcmp(mode, "udp")))
		usage();
	cfg.udp = strcmp(mode, "udp") == 0;
	if (parse_addr(host, port) < 0)
		die("refusing: the address must be a loopback address (127.0.0.0/8 or ::1)");
	if (cfg.conc < 1 || cfg.conc > MAXCONC || cfg.duration <= 0 || cfg.duration > 600 ||
	    cfg.count < 1 || cfg.op_timeout <= 0 || cfg.rto <= 0 || cfg.retries < 0 ||
	    cfg.grace < 0 || cfg.grace > 60)
		usage();
	if (cfg.udp && cfg.payload)
		die("udp mode sends its own numbered 18-byte datagrams; -P is for tcp");

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < cfg.conc; i++) {
		slots[i].fd = -1;
		if (!cfg.udp)
			continue;
		int fd = socket(cfg.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) < 0)
			die("udp socket/connect");
		slots[i].fd = fd;
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
	}

	t0 = now();
	t_last = t0;
	for (int i = 0; i < cfg.conc; i++)
		start_op(&slots[i], t0);

	long unfinished = 0;
	struct epoll_event evs[256];
	for (;;) {
		double t = now();
		if (!stopping && (t >= t0 + cfg.duration || started >= cfg.count))
			stopping = 1;
		int busy = 0;
		double next = t0 + cfg.duration + cfg.grace;
		for (int i = 0; i < cfg.conc; i++) {
			struct slot *s = &slots[i];
			if (s->st == BACKOFF && stopping) {
				s->st = IDLE;
				s->deadline = 0;
			}
			if (s->st != IDLE && s->st != BACKOFF)
				busy++;
			if (s->deadline && s->deadline < next)
				next = s->deadline;
		}
		if (stopping && busy == 0)
			break;
		if (stopping && t >= t0 + cfg.duration + cfg.grace) {
			unfinished = busy;
			break;
		}
		if (!stopping && t0 + cfg.duration < next)
			next = t0 + cfg.duration;
		int ms = (int)((next - t) * 1000.0) + 1;
		if (ms < 0)
			ms = 0;
		int n = epoll_wait(ep, evs, 256, ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		t = now();
		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64;
			struct slot *s = &slots[d & 0xffffffffu];
			/* An event queued for a socket this slot has already closed. */
			if (!cfg.udp && (uint32_t)(d >> 32) != s->gen)
				continue;
			on_event(s, evs[i].events, t);
		}
		on_timers(t);
	}

	double elapsed = (completed ? t_last : now()) - t0;
	if (elapsed <= 0)
		elapsed = 1e-9;
	qsort(lat_us, lat_n, sizeof *lat_us, cmp_u32);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	             (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("{\"mode\": \"%s\", \"concurrency\": %d, \"elapsed_s\": %.6f, \"started\": %ld, "
	       "\"completed\": %ld, \"failures\": %ld, \"unfinished\": %ld, \"ops_per_s\": %.1f, "
	       "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"retransmits\": %ld, "
	       "\"stale_replies\": %ld, \"client_cpu_s\": %.4f, \"failure_kinds\": {",
	       cfg.udp ? "udp" : "tcp", cfg.conc, elapsed, started, completed, failures, unfinished,
	       (double)completed / elapsed, pct(0.50), pct(0.99), pct(1.0), retransmits, stale,
	       cpu);
	int first = 1;
	for (int k = 0; k < F_N; k++) {
		if (!fails[k])
			continue;
		printf("%s\"%s\": %ld", first ? "" : ", ", fail_names[k], fails[k]);
		first = 0;
	}
	printf("}}\n");
	return 0;
}
