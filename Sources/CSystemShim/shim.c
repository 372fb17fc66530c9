#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "CSystemShim.h"

int caracal_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
int caracal_unshare_net(void) { return unshare(CLONE_NEWNET); }
int caracal_gettid(void) { return (int)syscall(SYS_gettid); }

#include <sys/ioctl.h>
#include <linux/nsfs.h>

int caracal_is_netns_fd(int fd) {
    int type = ioctl(fd, NS_GET_NSTYPE);
    if (type < 0) return -1;
    return type == CLONE_NEWNET ? 1 : 0;
}

#include <sys/eventfd.h>

int caracal_wake_fd(void) { return eventfd(0, EFD_CLOEXEC); }
