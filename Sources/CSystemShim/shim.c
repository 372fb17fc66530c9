#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "CSystemShim.h"

int caracal_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
int caracal_unshare_net(void) { return unshare(CLONE_NEWNET); }
int caracal_gettid(void) { return (int)syscall(SYS_gettid); }
