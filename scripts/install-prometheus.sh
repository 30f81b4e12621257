#!/usr/bin/env bash
# Install promtool and prometheus from Debian's "prometheus" package when missing, without
# starting the packaged service (a policy-rc.d denies service starts during the install).
set -euo pipefail
if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: promtool missing and not root: install Debian's 'prometheus' package (apt-get install prometheus)" >&2
  exit 2
fi
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created=1
fi
trap '[ "$created" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
