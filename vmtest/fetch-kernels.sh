#!/bin/bash
# Fetch the kernels pinned in vmtest/kernels.lock into the vmtest cache, and
# for kernels of another architecture than amd64 the busybox pinned in
# vmtest/busybox.lock.
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
#   busybox/ARCH/   busybox, stamp
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock="$here/kernels.lock"
busybox_lock="$here/busybox.lock"
sources="$here/debian.sources"
cache="${KRETSPAN_VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kretspan-vmtest}"

die() { echo "fetch-kernels: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb sha256sum tar; do
	command -v "$tool" >/dev/null || die "missing host tool '$tool' (a Debian host is assumed)"
done

mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs" "$cache/kernels" "$cache/busybox"

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
	-o "APT::Architectures=amd64,arm64"
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

# lock_entries FILE prints the lines of a lock file that are neither comments nor blank:
# "label package version sha256" (kernels.lock) or "arch package version sha256" (busybox.lock).
lock_entries() { grep -Ev '^[[:space:]]*(#|$)' "$1"; }

# kernel_arch: Debian names the architecture last (linux-image-...-cloud-arm64-unsigned).
kernel_arch() { local name=${1%-unsigned}; echo "${name##*-}"; }

# fetch_deb PKG VERSION ARCH SHA256 LABEL: the .deb into the cache, checked; prints its path.
# Refreshes the indexes when they lack the version; once they are refreshed, that happens only
# for a version Debian has dropped, which ends the run. (It runs in $(...): it can set no flag.)
fetch_deb() {
	local pkg=$1 version=$2 arch=$3 sha256=$4 label=$5
	# apt-get download names the file PKG_VERSION_ARCH.deb with ':' escaped as %3a.
	local deb="$cache/debs/${pkg}_${version//:/%3a}_${arch}.deb"
	if [[ ! -f "$deb" ]] || ! echo "$sha256  $deb" | sha256sum -c --status; then
		if ! apt-cache "${apt_opts[@]}" show "$pkg:$arch=$version" >/dev/null 2>&1; then
			apt_update
		fi
		apt-cache "${apt_opts[@]}" show "$pkg:$arch=$version" >/dev/null 2>&1 ||
			die "$label: $pkg:$arch=$version is no longer in the Debian indexes; re-pin it (see --candidates)"
		echo "fetch-kernels: $label: downloading $pkg:$arch $version" >&2
		(cd "$cache/debs" && apt-get "${apt_opts[@]}" download "$pkg:$arch=$version" >&2) ||
			die "$label: downloading $pkg:$arch=$version failed (if the mirror answers 404, re-pin it; see --candidates)"
		echo "$sha256  $deb" | sha256sum -c --status ||
			die "$label: sha256 of $deb does not match its lock"
	fi
	echo "$deb"
}

if [[ "${1:-}" == "--candidates" ]]; then
	# Prints, per series, the newest packages (madison lines) and then a
	# ready-to-paste lock line for the newest one.
	apt_update
	while read -r label pkg _; do
		echo "== $label"
		arch=$(kernel_arch "$pkg")
		series=${label#"$arch"-}
		# Only same-series names: 6.1 must not match 6.12.
		newest=$(apt-cache "${apt_opts[@]}" search --names-only "^linux-image-${series//./\\.}\.[0-9].*-cloud-$arch-unsigned\$" |
			sed "s/ .*/:$arch/" | xargs -r apt-cache "${apt_opts[@]}" madison | sort -t'|' -k2,2V | tail -n 4)
		echo "$newest"
		read -r pkg _ version _ <<<"$(tail -n 1 <<<"$newest")"
		sha=$(apt-cache "${apt_opts[@]}" show "$pkg=$version" | awk '/^SHA256:/{print $2; exit}')
		echo "lock line: $label  ${pkg%:*}  $version  $sha"
	done < <(lock_entries "$lock")
	exit 0
fi

# is_cached DEST STAMP FILE: DEST holds FILE, extracted for the pin STAMP.
is_cached() { [[ -f "$1/stamp" && "$(cat "$1/stamp")" == "$2" && -f "$1/$3" ]]; }

# install_extracted TMP DEST STAMP: TMP/out, stamped with the pin, becomes DEST; TMP goes.
install_extracted() {
	echo "$3" >"$1/out/stamp"
	rm -rf "$2"
	mv "$1/out" "$2"
	rm -rf "$1"
}

declare -A arches=()
while read -r label pkg version sha256; do
	if [[ $# -gt 0 && " $* " != *" $label "* ]]; then
		continue
	fi
	arch=$(kernel_arch "$pkg")
	arches[$arch]=1
	dest="$cache/kernels/$label"
	stamp="$pkg $version $sha256"
	if is_cached "$dest" "$stamp" vmlinuz; then
		echo "fetch-kernels: $label: cached ($pkg $version)"
		continue
	fi
	deb=$(fetch_deb "$pkg" "$version" "$arch" "$sha256" "$label")

	# Only boot/ is needed: the guest runs from the initramfs on the serial
	# console, so no modules (virtio, filesystems) have to be loaded. arm64's
	# vmlinuz is a plain Image, which QEMU boots as it is.
	tmp=$(mktemp -d "$cache/kernels/.extract.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/*'
	release="${pkg#linux-image-}"
	release="${release%-unsigned}"
	[[ -f "$tmp/boot/vmlinuz-$release" ]] || die "$label: $deb has no boot/vmlinuz-$release"
	mkdir -p "$tmp/out"
	mv "$tmp/boot/vmlinuz-$release" "$tmp/out/vmlinuz"
	mv "$tmp/boot/config-$release" "$tmp/out/config"
	echo "$release" >"$tmp/out/release"
	install_extracted "$tmp" "$dest" "$stamp"
	echo "fetch-kernels: $label: ready in $dest (uname -r: $release)"
done < <(lock_entries "$lock")

# The host's busybox-static serves amd64 guests; other architectures get theirs here.
while read -r arch pkg version sha256; do
	[[ -n "${arches[$arch]:-}" ]] || continue
	dest="$cache/busybox/$arch"
	stamp="$pkg $version $sha256"
	if is_cached "$dest" "$stamp" busybox; then
		echo "fetch-kernels: busybox for $arch: cached ($pkg $version)"
		continue
	fi
	deb=$(fetch_deb "$pkg" "$version" "$arch" "$sha256" "busybox for $arch")
	tmp=$(mktemp -d "$cache/busybox/.extract.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp"
	# bookworm's package has /bin/busybox, trixie's /usr/bin/busybox.
	bin=
	for candidate in "$tmp/bin/busybox" "$tmp/usr/bin/busybox"; do
		[[ -f "$candidate" ]] && bin=$candidate && break
	done
	[[ -n "$bin" ]] || die "busybox for $arch: $deb has no bin/busybox or usr/bin/busybox"
	mkdir -p "$tmp/out"
	mv "$bin" "$tmp/out/busybox"
	install_extracted "$tmp" "$dest" "$stamp"
	echo "fetch-kernels: busybox for $arch: ready in $dest"
done < <(lock_entries "$busybox_lock")
