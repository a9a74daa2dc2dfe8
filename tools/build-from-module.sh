# Sourced by tools/*/build.sh: builds a program from a small Go module of its own (its go.mod
# pins the version) into the user's cache, once. Call build_from_module after setting:
#
#   NAME      short name: the cache file is NAME-VERSION, the log prefix [NAME-build], and
#             NAME_BIN, NAME_REBUILD, NAME_PROGRESS_INTERVAL (upper case) the overrides
#   VERSION   the version of MODULE that go.mod must pin
#   MODULE    the module whose pinned version is checked
#   PACKAGE   the package to build (a path, or . for the module's own main)
#   NOTE      what the first build costs, for the log
#   and optionally the array GO_BUILD_ARGS (-ldflags, -tags, ...).
#
# Progress goes to stderr; the only line on stdout is the binary path, so callers can do
# bin=$(tools/NAME/build.sh). With --path, build.sh prints where the binary is or would be, and
# builds nothing.

build_from_module() {
	local here upper bin interval rebuild
	here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
	upper=${NAME^^}
	bin_var=${upper}_BIN rebuild_var=${upper}_REBUILD interval_var=${upper}_PROGRESS_INTERVAL
	bin=${!bin_var:-${XDG_CACHE_HOME:-$HOME/.cache}/kretspan/$NAME-$VERSION}
	rebuild=${!rebuild_var:-}
	interval=${!interval_var:-30}

	if [[ ${1:-} == --path ]]; then
		printf '%s\n' "$bin"
		return 0
	fi
	if [[ -x $bin && -z $rebuild ]]; then
		log "using cached $bin"
		printf '%s\n' "$bin"
		return 0
	fi

	local pinned
	pinned=$(cd "$here" && go list -m -f '{{.Version}}' "$MODULE")
	if [[ $pinned != "$VERSION" ]]; then
		log "error: tools/$NAME/go.mod pins $MODULE $pinned, build.sh expects $VERSION"
		return 1
	fi

	log "building $MODULE $VERSION into $bin"
	log "NOTE: $NOTE; later builds reuse the Go build cache"
	log "progress: one 'compiled' line per package (go build -v), plus an elapsed-time line every ${interval}s"

	mkdir -p "$(dirname "$bin")"
	tmp=$(mktemp "$bin.tmp.XXXXXX")
	start=$(date +%s)

	# Heartbeat: an elapsed-time line every $interval seconds, so quiet phases (downloads, the
	# final link) still show that the build is alive. Its sleep is killed with it, so no stray
	# process keeps the caller's stdout/stderr open.
	(
		trap 'kill "$nap" 2>/dev/null; wait "$nap"; exit 0' TERM
		while :; do
			sleep "$interval" &
			nap=$!
			wait "$nap"
			log "... still building, $(($(date +%s) - start))s elapsed"
		done
	) >/dev/null &
	ticker=$!
	trap 'kill "$ticker" 2>/dev/null || true; wait "$ticker" 2>/dev/null || true; rm -f "$tmp"' EXIT

	# go build -v prints each package as it is compiled (stderr): prefix and count the lines. The
	# process substitution ends with "__EXIT__ N", N being go build's status.
	local n=0 status=1 line
	while IFS= read -r line; do
		if [[ $line == __EXIT__* ]]; then
			status=${line#__EXIT__ }
			continue
		fi
		n=$((n + 1))
		printf '[%s-build] %4d %4ds %s\n' "$NAME" "$n" "$(($(date +%s) - start))" "$line" >&2
	done < <(
		cd "$here" && CGO_ENABLED=0 go build -v -trimpath "${GO_BUILD_ARGS[@]}" -o "$tmp" "$PACKAGE" 2>&1
		echo "__EXIT__ $?"
	)
	if [[ $status != 0 ]]; then
		log "error: go build failed (exit $status) after $(($(date +%s) - start))s"
		return "$status"
	fi

	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin"
	log "done in $(($(date +%s) - start))s: $bin ($(du -h "$bin" | cut -f1))"
	printf '%s\n' "$bin"
}

log() { printf '[%s-build] %s\n' "$NAME" "$*" >&2; }
