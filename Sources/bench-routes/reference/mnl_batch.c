// Reference for `make bench-routes`: the practical limit for programming
// routes from user space. Sends batched RTM_NEWROUTE / RTM_DELROUTE through
// libmnl, many messages per sendto() and NLM_F_ACK only on the last of each
// send (errors still come back for any failing message), and times a full
// RTM_GETROUTE dump filtered on the protocol. Built by scripts/bench/routes.sh:
//   cc -O2 -o mnl_batch mnl_batch.c -lmnl
// Usage: mnl_batch add|del|dump COUNT IFINDEX PROTO   (prints seconds)
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#define PER_SEND 1024

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int errors;

static int count_cb(const struct nlmsghdr *nlh, void *data) {
	(void)nlh;
	(*(long *)data)++;
	return MNL_CB_OK;
}

static int wait_ack(struct mnl_socket *nl, unsigned last_seq, unsigned portid, char *buf, size_t len) {
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, len);
		if (n < 0) { perror("recv"); return -1; }
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		int rem = (int)n;
		while (mnl_nlmsg_ok(nlh, rem)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
				if (err->error) errors++;
				if (nlh->nlmsg_seq == last_seq) return 0;
			}
			nlh = mnl_nlmsg_next(nlh, &rem);
		}
	}
	(void)portid;
}

int main(int argc, char **argv) {
	if (argc < 5) { fprintf(stderr, "usage: %s add|del|dump COUNT IFINDEX PROTO\n", argv[0]); return 2; }
	const char *mode = argv[1];
	long count = atol(argv[2]);
	unsigned ifindex = atoi(argv[3]);
	unsigned char proto = atoi(argv[4]);
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) { perror("mnl_socket"); return 1; }
	int one = 1;
	setsockopt(mnl_socket_get_fd(nl), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(nl), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	unsigned portid = mnl_socket_get_portid(nl);
	size_t rbuf_len = 256 * 1024;
	char *rbuf = malloc(rbuf_len);
	double start = now();

	if (strcmp(mode, "dump") == 0) {
		char req[MNL_SOCKET_BUFFER_SIZE];
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
		nlh->nlmsg_type = RTM_GETROUTE;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		nlh->nlmsg_seq = 1;
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = AF_INET;
		rtm->rtm_protocol = proto;
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) { perror("send"); return 1; }
		long routes = 0;
		for (;;) {
			ssize_t n = mnl_socket_recvfrom(nl, rbuf, rbuf_len);
			if (n < 0) { perror("recv"); return 1; }
			int ret = mnl_cb_run(rbuf, n, 1, portid, count_cb, &routes);
			if (ret <= MNL_CB_STOP) break;
		}
		printf("%.6f %ld\n", now() - start, routes);
		return routes == count ? 0 : 1;
	}

	int add = strcmp(mode, "add") == 0;
	size_t bsize = PER_SEND * 128;
	char *buf = malloc(bsize * 2);
	unsigned seq = 1;
	for (long i = 0; i < count; ) {
		struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf, bsize);
		long in_send = 0;
		for (; i < count && in_send < PER_SEND; i++, in_send++) {
			struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(b));
			nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
			nlh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
			nlh->nlmsg_seq = seq++;
			struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
			rtm->rtm_family = AF_INET;
			rtm->rtm_dst_len = 32;
			rtm->rtm_table = RT_TABLE_MAIN;
			rtm->rtm_protocol = proto;
			rtm->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
			rtm->rtm_type = RTN_UNICAST;
			uint32_t dst = htonl(0x0a000000u + (uint32_t)i);
			mnl_attr_put_u32(nlh, RTA_DST, dst);
			if (add) mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
			if (in_send == PER_SEND - 1 || i == count - 1) nlh->nlmsg_flags |= NLM_F_ACK;
			mnl_nlmsg_batch_next(b);
		}
		if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0) { perror("send"); return 1; }
		mnl_nlmsg_batch_stop(b);
		if (wait_ack(nl, seq - 1, portid, rbuf, rbuf_len) < 0) return 1;
	}
	printf("%.6f %d\n", now() - start, errors);
	return errors ? 1 : 0;
}
