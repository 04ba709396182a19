#!/bin/sh
# accessd postinst (deb: configure [OLD-VERSION]) / %post (rpm: 1 install, 2 upgrade).
# Creates the users and directories, reloads systemd where it runs, never
# starts accessd before `accessd init`, and restarts it on an upgrade only
# if it was running.
set -e

case "$1" in
configure) [ -n "$2" ] && upgrade=1 || upgrade=0 ;;  # deb
[0-9]*) [ "$1" -ge 2 ] && upgrade=1 || upgrade=0 ;;   # rpm
*) exit 0 ;;                                          # deb abort-*
esac

# Users and groups: accessd (member of tss for /dev/tpmrm0 and of
# accessd-admin), accessd-admin (may use the admin socket).
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/accessd.conf
else
	getent group tss >/dev/null || groupadd --system tss
	getent group accessd-admin >/dev/null || groupadd --system accessd-admin
	getent passwd accessd >/dev/null ||
		useradd --system --user-group --home-dir /var/lib/accessd --no-create-home \
			--shell /usr/sbin/nologin --comment "accessd access manager" accessd
	usermod -a -G tss,accessd-admin accessd
fi

# Directories: /var/lib/accessd 0700 accessd, /etc/accessd/tls 0750 root:accessd.
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/accessd.conf
else
	install -d -m 0700 -o accessd -g accessd /var/lib/accessd
	install -d -m 0755 -o root -g root /etc/accessd
	install -d -m 0750 -o root -g accessd /etc/accessd/tls
fi

# The config is shipped 0644 root:root (the group does not exist when the
# package is unpacked); it becomes 0640 root:accessd, read by the service
# through its group. A file the operator gave another group is left alone.
if [ -f /etc/accessd/accessd.toml ] && [ "$(stat -c %G /etc/accessd/accessd.toml)" = root ]; then
	chgrp accessd /etc/accessd/accessd.toml
	chmod 0640 /etc/accessd/accessd.toml
fi

if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi

if [ "$upgrade" = 1 ]; then
	# Restart only what was running; a stopped service stays stopped.
	if [ -d /run/systemd/system ]; then
		if command -v deb-systemd-invoke >/dev/null 2>&1; then
			deb-systemd-invoke try-restart accessd.service >/dev/null || true
		else
			systemctl try-restart accessd.service >/dev/null 2>&1 || true
		fi
	fi
	exit 0
fi

if [ ! -e /var/lib/accessd/seal/root.sealed ]; then
	cat <<'MSG'

accessd is installed and NOT started: it needs a sealed root key first.
Next steps (see accessd(8)):
  1. TLS: install the certificate as /etc/accessd/tls/server.crt and the key
     as /etc/accessd/tls/server.key, then
       chown accessd /etc/accessd/tls/server.key && chmod 0600 /etc/accessd/tls/server.key
  2. Edit /etc/accessd/accessd.toml (at least issuer; seal.device if not /dev/tpmrm0).
  3. sudo -u accessd accessd init     # prints the recovery key and admin password ONCE
  4. sudo -u accessd accessd check    # every host finding, with its fix
  5. systemctl enable --now accessd
  6. accessctl status                 # as root or a member of accessd-admin

MSG
fi
exit 0
