#!/bin/sh
# accessd postrm (deb: remove | purge | upgrade ...) / %postun (rpm: 0 erase, 1 upgrade).
# Keeps /var/lib/accessd: a package manager does not delete a credential
# store. Says so, and how to wipe it.
set -e
case "$1" in
remove | purge | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ -d /var/lib/accessd ]; then
	cat <<'MSG'
accessd removed. Kept /var/lib/accessd (the credential store and the sealed
root key) and the accessd user: a package manager does not delete them.
Reinstalling the package finds the store again. To wipe it for good (the
recovery key cannot bring it back afterwards):
    rm -rf /var/lib/accessd /etc/accessd/tls
MSG
fi
exit 0
