/* Policers: meter a packet, then pass, drop or re-mark it according to its colour. */
#include <string.h>

#include "qos.h"

int qos_action_parse(const char *s)
{
	int dscp;

	if (strcmp(s, "pass") == 0)
		return QOS_ACT_PASS;
	if (strcmp(s, "drop") == 0)
		return QOS_ACT_DROP;
	dscp = qos_dscp_parse(s);
	return dscp < 0 ? -3 : dscp;
}

bool qos_police(struct qos_policer *pol, struct nio_pkt *p, uint64_t now)
{
	enum qos_color pre = pol->color_aware ? qos_dscp_color(p->dscp) : QOS_GREEN;
	enum qos_color col = qos_meter_color(&pol->meter, p->len, pre, now);
	int act = pol->action[col];

	pol->colored[col]++;
	if (act == QOS_ACT_DROP) {
		pol->dropped++;
		return false;
	}
	if (act >= 0 && act != p->dscp && qos_remark(p, (uint8_t)act) == 0)
		pol->marked++;
	return true;
}
