#!/bin/sh
# accessd prerm (deb: remove | upgrade ...) / %preun (rpm: 0 erase, 1 upgrade).
# On removal, stop the service and its sockets; on upgrade, leave them
# running (postinst restarts the service if it was running).
set -e
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	if command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke stop accessd.service accessd.socket accessd-admin.socket >/dev/null || true
	else
		systemctl stop accessd.service accessd.socket accessd-admin.socket >/dev/null 2>&1 || true
	fi
fi
exit 0
