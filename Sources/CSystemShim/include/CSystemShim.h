#ifndef CARACAL_CSYSTEMSHIM_H
#define CARACAL_CSYSTEMSHIM_H
// GNU-only syscalls that Swift's Glibc module does not import, because it is
// not built with _GNU_SOURCE (see shared/knowledge/swift-on-linux.md).

/// setns(2) restricted to network namespaces. Returns 0 or -1 with errno set.
int caracal_setns_net(int fd);
/// unshare(CLONE_NEWNET) for the calling thread. Returns 0 or -1 with errno.
int caracal_unshare_net(void);
/// The kernel thread id of the caller.
int caracal_gettid(void);
/// 1 when `fd` is a network namespace (ioctl NS_GET_NSTYPE == CLONE_NEWNET),
/// 0 when it is something else, -1 with errno when the ioctl fails.
int caracal_is_netns_fd(int fd);
/// eventfd(0, EFD_CLOEXEC): a descriptor that one write makes readable
/// (wakes a thread waiting in poll). Returns the fd or -1 with errno.
int caracal_wake_fd(void);

#endif
