#ifndef CARACAL_CNFTNL_SHIM_H
#define CARACAL_CNFTNL_SHIM_H
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/udata.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>

/* Macros Swift cannot import. */
static inline uint32_t caracal_nlmsg_align(uint32_t len) { return NLMSG_ALIGN(len); }
static inline uint32_t caracal_nft_msg(uint16_t type) { return (NFNL_SUBSYS_NFTABLES << 8) | type; }
#endif
