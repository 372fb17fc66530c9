#ifndef CARACAL_CMNL_SHIM_H
#define CARACAL_CMNL_SHIM_H
// Socket headers must come before any linux/*.h, or the kernel's socket
// structs clash with glibc's.
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/veth.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>
#include <unistd.h>
#include <sys/syscall.h>

// Function-like macros are not imported into Swift.
static inline size_t caracal_mnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }
static inline size_t caracal_mnl_align(size_t len) { return MNL_ALIGN(len); }
static inline size_t caracal_nlmsg_align(size_t len) { return NLMSG_ALIGN(len); }
static inline size_t caracal_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }

// recvmmsg(2) and struct mmsghdr are GNU-only in glibc's headers; the layout
// is the kernel's. Receives many datagrams (ACKs) in one system call;
// `wait_for_one` sets MSG_WAITFORONE (block for the first, then take what is queued).
struct caracal_mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
static inline int caracal_recvmmsg(int fd, struct caracal_mmsghdr *vec, unsigned int count, int wait_for_one) {
    return (int)syscall(SYS_recvmmsg, fd, vec, count, wait_for_one ? 0x10000 : 0, (void *)0);
}
#endif
