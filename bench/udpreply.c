/*
 * udpreply: the bench's UDP "wait" service program.
 *
 * Started by a super-server with a bound datagram socket on fd 0, it reads one datagram,
 * sends the same bytes back to whoever sent it, and exits. It reads exactly one: a wait
 * dgram child that read none would leave the datagram queued and make the server spawn
 * again for it at once.
 */
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
	char buf[65536];
	struct sockaddr_storage from;
	socklen_t len = sizeof from;
	ssize_t n = recvfrom(0, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
	if (n < 0)
		return 1;
	if (sendto(0, buf, (size_t)n, 0, (struct sockaddr *)&from, len) != n)
		return 1;
	return 0;
}
