#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages aaf-sync's demo and tests need
# (slapd, ldap-utils; openssh-server and openssh-client for the SFTP tests;
# libssl-dev and pkg-config to build the ssh2 crate; python3-jsonschema to
# check subject exports against schema/subject-export.schema.json) when they
# are missing.
# Uses sudo when not root.
set -euo pipefail
need=()
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || need+=(gcc)
python3 -c 'import jsonschema' >/dev/null 2>&1 || need+=(python3-jsonschema)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing ${need[*]}" >&2
  $sudo apt-get update -qq
  # noninteractive: the package's debconf questions get their defaults; the
  # system slapd it sets up is not used (ours run from a temp dir)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup)" >&2; exit 1; }
