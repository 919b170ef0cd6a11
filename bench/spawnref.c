/*
 * spawnref: the machine's own limit for a spawn-per-request super-server.
 *
 * The least work a super-server can do per request and still be one: no config, no
 * logging, no limits, no access checks. It binds one loopback socket and, for each
 * request, forks a child that puts the socket on fds 0, 1 and 2 and execs the program.
 * bench/run.py drives it with the same client as the real daemons, so their figures can
 * be read as a fraction of this one. It only binds loopback addresses.
 *
 *   spawnref tcp ADDR PORT PROGRAM [ARGV0 ARGS...]   nowait stream: accept, fork, exec
 *   spawnref udp ADDR PORT PROGRAM [ARGV0 ARGS...]   wait dgram: the bound socket itself
 *                                                    goes to the child; the next datagram
 *                                                    waits until that child has exited
 *
 * It prints "ready PORT" on stdout once listening (PORT 0 asks the kernel for one) and
 * runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *msg)
{
	fprintf(stderr, "spawnref: %s: %s\n", msg, strerror(errno));
	exit(2);
}

static void child(int sock, char **argv)
{
	/* The client sees EOF only once every copy of the socket is closed: the copies dup2
	 * makes on 0-2 lose FD_CLOEXEC, every other fd here has it and goes at exec. */
	dup2(sock, 0);
	dup2(sock, 1);
	dup2(sock, 2);
	if (sock > 2)
		close(sock);
	execv(argv[0], argv + 1);
	_exit(127);
}

int main(int argc, char **argv)
{
	if (argc < 5 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
		fprintf(stderr, "usage: spawnref tcp|udp ADDR PORT PROGRAM [ARGV0 ARGS...]\n");
		return 2;
	}
	int udp = strcmp(argv[1], "udp") == 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
	if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1 || (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "spawnref: refusing: ADDR must be an IPv4 loopback address\n");
		return 2;
	}
	/* argv for execv: PROGRAM then ARGV0 ARGS...; with no ARGV0 the program name is used. */
	char **exec_argv = argv + 4;
	char *fallback[3];
	if (argc == 5) {
		fallback[0] = argv[4];
		fallback[1] = argv[4];
		fallback[2] = NULL;
		exec_argv = fallback;
	}

	int s = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	int one = 1;
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("socket");
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	/* 128 is openbsd-inetd's default backlog; the same queue keeps the comparison fair. */
	if (!udp && listen(s, 128) < 0)
		die("listen");
	socklen_t alen = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &alen);
	printf("ready %d\n", ntohs(a.sin_port));
	fflush(stdout);

	for (;;) {
		if (udp) {
			struct pollfd p = {.fd = s, .events = POLLIN};
			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				die("poll");
			}
			pid_t pid = fork();
			if (pid == 0)
				child(s, exec_argv);
			if (pid < 0) {
				perror("spawnref: fork");
				continue;
			}
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			continue;
		}
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				perror("spawnref: accept");
			continue;
		}
		pid_t pid = fork();
		if (pid == 0)
			child(c, exec_argv);
		if (pid < 0)
			perror("spawnref: fork");
		close(c);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
