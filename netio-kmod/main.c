// SPDX-License-Identifier: GPL-2.0
/* netio.ko: module init and exit, and teardown when a bound NIC goes away. */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <net/genetlink.h>

#include "netio.h"

static int nio_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (event == NETDEV_UNREGISTER)
		nio_nics_teardown(dev);
	return NOTIFY_DONE;
}

static struct notifier_block nio_netdev_nb = {
	.notifier_call = nio_netdev_event,
};

static int __init nio_init(void)
{
	int err;

	err = nio_bind_init();
	if (err)
		return err;
	err = register_netdevice_notifier(&nio_netdev_nb);
	if (err)
		goto err_notifier;
	err = nio_dev_init();
	if (err)
		goto err_dev;
	err = nio_genl_init();
	if (err)
		goto err_genl;
	pr_info("ABI %u loaded\n", NIO_ABI_VERSION);
	return 0;

err_genl:
	nio_dev_uninit();
err_dev:
	unregister_netdevice_notifier(&nio_netdev_nb);
err_notifier:
	nio_bind_uninit();
	return err;
}

/* No file is open (each holds the module), so only ownerless bindings can remain. */
static void __exit nio_exit(void)
{
	nio_genl_uninit();
	nio_dev_uninit();
	unregister_netdevice_notifier(&nio_netdev_nb);
	rtnl_lock();
	nio_nics_teardown(NULL);
	rtnl_unlock();
	nio_bind_uninit();
	/* claims are freed with call_rcu: their callbacks live in this module */
	rcu_barrier();
	pr_info("unloaded\n");
}

module_init(nio_init);
module_exit(nio_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("netio: claimed flows to user-space rings");
MODULE_VERSION(NETIO_VERSION); /* VERSION, by Kbuild */
MODULE_ALIAS_GENL_FAMILY(NETIO_GENL_NAME);
