/* peer.c — which local user is on the other end of a loopback TCP
 * connection: the kernel's socket diagnostics (NETLINK_SOCK_DIAG, what
 * `ss -e` shows) asked for the one socket with that exact address pair.
 * Only the kiosk's browser user (and root) may drive the kiosk: another
 * local account must not take a running PIN change over. */
#include "daemon/web/peer.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int peer_uid(const struct sockaddr *client, const struct sockaddr *server, uid_t *uid)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req;
	union {
		struct nlmsghdr nh;
		char buf[8192];
	} ans;
	int family = client->sa_family;

	if (family != server->sa_family || (family != AF_INET && family != AF_INET6))
		return -EAFNOSUPPORT;
	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = sizeof req;
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (family == AF_INET) {
		const struct sockaddr_in *c = (const void *)client, *s = (const void *)server;
		req.r.id.idiag_sport = c->sin_port;
		req.r.id.idiag_dport = s->sin_port;
		memcpy(req.r.id.idiag_src, &c->sin_addr, 4);
		memcpy(req.r.id.idiag_dst, &s->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *c = (const void *)client, *s = (const void *)server;
		req.r.id.idiag_sport = c->sin6_port;
		req.r.id.idiag_dport = s->sin6_port;
		memcpy(req.r.id.idiag_src, &c->sin6_addr, 16);
		memcpy(req.r.id.idiag_dst, &s->sin6_addr, 16);
	}
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	int rv = -ESRCH;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
		rv = -errno;
		goto out;
	}
	/* the kernel answers at once; bounded all the same */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 200) != 1) {
		rv = -ETIMEDOUT;
		goto out;
	}
	ssize_t n = recv(fd, &ans, sizeof ans, 0);
	if (n < 0) {
		rv = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = &ans.nh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			rv = h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? e->error : -ESRCH;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
			continue;
		const struct inet_diag_msg *m = NLMSG_DATA(h);
		if (m->id.idiag_sport != req.r.id.idiag_sport || m->id.idiag_dport != req.r.id.idiag_dport)
			continue;
		*uid = m->idiag_uid;
		rv = 0;
		break;
	}
out:
	close(fd);
	return rv;
}
