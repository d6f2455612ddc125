#!/usr/bin/env bash
# Installs, when missing, the Debian packages the real-cluster test needs beside the provided
# binaries (../shared/tools/kubernetes/README.md): etcd-server (the API server's store),
# containernetworking-plugins (the pods' bridge), iptables and conntrack (the kubelet), socat
# (kubectl port-forward) and libseccomp2 (the SpinKube shim links it). Debian/Ubuntu (apt-get);
# uses sudo when not root. .ci/run calls it.
#
# Usage: scripts/ci/cluster-deps.sh
set -euo pipefail

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "cluster-deps: unknown argument '$1'" >&2; exit 2 ;;
esac

wanted=(etcd-server containernetworking-plugins iptables conntrack socat libseccomp2)
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${package}")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  echo "cluster-deps: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
dpkg-query -W -f='${Package} ${Version}\n' "${wanted[@]}"
