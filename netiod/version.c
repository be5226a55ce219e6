/* The version netiod and netioctl report: VERSION and the git commit, made at build time. */
#include "nio_version.h"
#include "netiod.h"

const char nio_version[] = NIO_VERSION;
