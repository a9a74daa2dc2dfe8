#!/bin/bash
# Fetch the kernels pinned in vmtest/kernels.lock into the vmtest cache.
#
# Uses a private apt configuration (sources: vmtest/debian.sources; lists and
# package cache: the vmtest cache dir), so the machine's own apt setup is never
# read or changed. Idempotent: a kernel whose stamp matches the lock is skipped,
# and apt indexes are refreshed only when a pinned version is not in them.
#
# Usage: vmtest/fetch-kernels.sh [LABEL...]   fetch all (or the named) kernels
#        vmtest/fetch-kernels.sh --candidates newest packages per series, to re-pin
#
# Cache layout ($KRETSPAN_VMTEST_CACHE, default ~/.cache/kretspan-vmtest):
#   apt/            private apt lists and package cache
#   debs/           the downloaded .deb files (checked against the lock's sha256)
#   kernels/LABEL/  vmlinuz, config, release, stamp
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock="$here/kernels.lock"
sources="$here/debian.sources"
cache="${KRETSPAN_VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kretspan-vmtest}"

die() { echo "fetch-kernels: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb sha256sum tar; do
	command -v "$tool" >/dev/null || die "missing host tool '$tool' (a Debian host is assumed)"
done

mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs" "$cache/kernels"

# Every Dir:: the commands read points into the cache or /dev/null, so host
# sources, pins and lists stay out of it. Sandbox::User=root: the _apt user
# cannot write into root's home, and apt would warn about it on every run.
apt_opts=(
	-o "Dir::Etc::SourceList=$sources"
	-o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::Etc::Preferences=/dev/null"
	-o "Dir::Etc::PreferencesParts=/dev/null"
	-o "Dir::State::Lists=$cache/apt/lists"
	-o "Dir::Cache=$cache/apt/cache"
	-o "APT::Architecture=amd64"
	-o "Acquire::Languages=none"
	-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
	-o "APT::Sandbox::User=root"
	-q
)

apt_update() {
	echo "fetch-kernels: refreshing private apt indexes" >&2
	apt-get "${apt_opts[@]}" update >&2
}

# lock_entries prints "label package version sha256" for each lock line.
lock_entries() { grep -Ev '^[[:space:]]*(#|$)' "$lock"; }

if [[ "${1:-}" == "--candidates" ]]; then
	# Prints, per series, the newest packages (madison lines) and then a
	# ready-to-paste lock line for the newest one.
	apt_update
	while read -r label _; do
		echo "== $label"
		# Only same-series names: 6.1 must not match 6.12.
		newest=$(apt-cache "${apt_opts[@]}" search --names-only "^linux-image-${label//./\\.}\.[0-9].*-cloud-amd64-unsigned\$" |
			cut -d' ' -f1 | xargs -r apt-cache "${apt_opts[@]}" madison | sort -t'|' -k2,2V | tail -n 4)
		echo "$newest"
		read -r pkg _ version _ <<<"$(tail -n 1 <<<"$newest")"
		sha=$(apt-cache "${apt_opts[@]}" show "$pkg=$version" | awk '/^SHA256:/{print $2; exit}')
		echo "lock line: $label  $pkg  $version  $sha"
	done < <(lock_entries)
	exit 0
fi

updated=0
while read -r label pkg version sha256; do
	if [[ $# -gt 0 && " $* " != *" $label "* ]]; then
		continue
	fi
	dest="$cache/kernels/$label"
	stamp="$pkg $version $sha256"
	if [[ -f "$dest/stamp" && "$(cat "$dest/stamp")" == "$stamp" && -f "$dest/vmlinuz" ]]; then
		echo "fetch-kernels: $label: cached ($pkg $version)"
		continue
	fi

	# apt-get download names the file PKG_VERSION_ARCH.deb with ':' escaped as %3a.
	deb="$cache/debs/${pkg}_${version//:/%3a}_amd64.deb"
	if [[ ! -f "$deb" ]] || ! echo "$sha256  $deb" | sha256sum -c --status; then
		if [[ $updated == 0 ]] && ! apt-cache "${apt_opts[@]}" show "$pkg=$version" >/dev/null 2>&1; then
			apt_update
			updated=1
		fi
		apt-cache "${apt_opts[@]}" show "$pkg=$version" >/dev/null 2>&1 ||
			die "$label: $pkg=$version is no longer in the Debian indexes; re-pin kernels.lock (see --candidates)"
		echo "fetch-kernels: $label: downloading $pkg $version"
		(cd "$cache/debs" && apt-get "${apt_opts[@]}" download "$pkg=$version") ||
			die "$label: downloading $pkg=$version failed (if the mirror answers 404, re-pin kernels.lock; see --candidates)"
		echo "$sha256  $deb" | sha256sum -c --status ||
			die "$label: sha256 of $deb does not match kernels.lock"
	fi

	# Only boot/ is needed: the guest runs from the initramfs on the serial
	# console, so no modules (virtio, filesystems) have to be loaded.
	tmp=$(mktemp -d "$cache/kernels/.extract.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/*'
	release="${pkg#linux-image-}"
	release="${release%-unsigned}"
	[[ -f "$tmp/boot/vmlinuz-$release" ]] || die "$label: $deb has no boot/vmlinuz-$release"
	mkdir -p "$tmp/out"
	mv "$tmp/boot/vmlinuz-$release" "$tmp/out/vmlinuz"
	mv "$tmp/boot/config-$release" "$tmp/out/config"
	echo "$release" >"$tmp/out/release"
	echo "$stamp" >"$tmp/out/stamp"
	rm -rf "$dest"
	mv "$tmp/out" "$dest"
	rm -rf "$tmp"
	echo "fetch-kernels: $label: ready in $dest (uname -r: $release)"
done < <(lock_entries)
