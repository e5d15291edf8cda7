#!/usr/bin/env bash
# Installs what engage needs on Debian or Ubuntu, and checks what it cannot install.
#
#   - ClickHouse server and client from the distribution's packages (18.16 on Debian 12).
#     engage runs its own server from a config it generates under .data/ (internal/dev/clickhouseserver), so
#     the system service is never started and is left disabled: it would take port 9000,
#     the embedded server's default.
#   - ZooKeeper (Debian's zookeeper package, Java), which replicated ClickHouse tables need:
#     `make run-cluster` and the cluster tests run their own standalone server under .data/
#     (internal/dev/zookeeper). The package installs no system service.
#   - Go >= 1.26, which Debian does not package; we only say how to get it.
#
# Idempotent: one line per check or action, exit 0 when everything is present.
set -euo pipefail

readonly GO_MIN_MINOR=26 # Go 1.x
readonly POLICY=/usr/sbin/policy-rc.d
readonly POLICY_BACKUP=/usr/sbin/policy-rc.d.engage-backup

say() { printf 'install-deps: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		say "need root for: $*; run as root or install sudo"
		exit 1
	fi
}

# Debian puts the server in /usr/sbin, outside an unprivileged user's PATH. An upstream
# all-in-one "clickhouse" binary counts for both.
have_server() {
	command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] ||
		[ -x /usr/bin/clickhouse-server ] || command -v clickhouse >/dev/null 2>&1
}
have_client() {
	command -v clickhouse-client >/dev/null 2>&1 || command -v clickhouse >/dev/null 2>&1
}

# policy-rc.d answering 101 forbids maintainer scripts to start services; the package's
# postinst would otherwise start clickhouse-server. An existing policy that allows starts is
# moved aside for the install and put back afterwards.
forbid_service_starts() {
	if [ -e "$POLICY" ] && { "$POLICY" clickhouse-server start >/dev/null 2>&1; [ $? -eq 101 ]; }; then
		return
	fi
	if [ -e "$POLICY" ]; then
		as_root mv "$POLICY" "$POLICY_BACKUP"
	fi
	as_root sh -c "printf '#!/bin/sh\n# engage install-deps: no service starts during install\nexit 101\n' >'$POLICY' && chmod 755 '$POLICY'"
	trap restore_policy EXIT
}
restore_policy() {
	as_root rm -f "$POLICY"
	if [ -e "$POLICY_BACKUP" ]; then
		as_root mv "$POLICY_BACKUP" "$POLICY"
	fi
}

install_clickhouse() {
	forbid_service_starts
	say "apt-get update"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	say "apt-get install -y clickhouse-server clickhouse-client"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q clickhouse-server clickhouse-client; then
		say "could not install ClickHouse from the distribution; install it from https://clickhouse.com/docs/install"
		exit 1
	fi
	# The package enables the unit on first install; undo that, so the system server does not
	# appear at the next boot. Recording it as disabled also keeps upgrades from enabling it.
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		as_root deb-systemd-helper disable clickhouse-server.service >/dev/null 2>&1 || true
	fi
	if [ -e /etc/init.d/clickhouse-server ] && command -v update-rc.d >/dev/null 2>&1; then
		as_root update-rc.d clickhouse-server disable >/dev/null 2>&1 || true
	fi
	say "clickhouse-server system service not started, and disabled"
}

check_clickhouse() {
	if have_server && have_client; then
		say "ClickHouse present"
	else
		install_clickhouse
		if ! have_server || ! have_client; then
			say "ClickHouse still missing after apt-get install"
			exit 1
		fi
		say "ClickHouse installed"
	fi
	# Not an error: CLICKHOUSE_ADDR can point engage at that server instead.
	if (exec 3<>/dev/tcp/127.0.0.1/9000) 2>/dev/null; then
		say "note: something already listens on 127.0.0.1:9000 (a system ClickHouse?); the embedded server needs that port unless CLICKHOUSE_ADDR is set"
	fi
}

# The jars the package installs; internal/dev/zookeeper runs them with java.
have_zookeeper() {
	[ -r /usr/share/java/zookeeper.jar ] && [ -r /usr/share/java/slf4j-simple.jar ] && command -v java >/dev/null 2>&1
}

check_zookeeper() {
	if have_zookeeper; then
		say "ZooKeeper present"
		return
	fi
	say "apt-get install -y zookeeper libslf4j-java"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q zookeeper libslf4j-java || ! have_zookeeper; then
		say "could not install ZooKeeper from the distribution (needed by the cluster mode and its tests)"
		exit 1
	fi
	say "ZooKeeper installed"
}

check_go() {
	if ! command -v go >/dev/null 2>&1; then
		say "Go is not installed: engage needs Go >= 1.$GO_MIN_MINOR from https://go.dev/dl/ (Debian's golang package is too old)"
		return 1
	fi
	local v minor
	v=$(go env GOVERSION 2>/dev/null || true)
	if [[ $v =~ ^go1\.([0-9]+) ]]; then
		minor=${BASH_REMATCH[1]}
		if ((minor < GO_MIN_MINOR)); then
			say "Go $v is too old: engage needs Go >= 1.$GO_MIN_MINOR from https://go.dev/dl/"
			return 1
		fi
		say "Go $v present"
	else
		say "Go version ${v:-unknown} not recognised; engage needs Go >= 1.$GO_MIN_MINOR"
	fi
}

status=0
check_clickhouse
check_zookeeper
check_go || status=1
exit "$status"
