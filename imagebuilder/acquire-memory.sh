#!/usr/bin/env bash
# acquire-memory.sh: capture the physical memory of this (suspect) Linux host and stream it to the
# evidence bucket through presigned S3 multipart UploadPart URLs. Run by SSM Run Command as root.
#
# No AWS credentials, no AWS CLI, nothing written to the host's disks: tools are staged in a
# memory-backed directory, the image is never stored whole (one part at a time is buffered in the
# staging tmpfs), and the SHA-256 of the whole stream is computed on the way.
#
# Tools needed: bash (with /dev/tcp, as every mainstream distro builds it), coreutils (head, tee,
# sha256sum, md5sum, base64, mktemp, mkfifo, stat, tr, cut), sed, grep, and curl (python3 is the fallback
# HTTP client when curl is absent). jq is NOT needed.
#
# ---------------------------------------------------------------------------------------------
# Inputs (environment variables). Every URL is a credential: none is ever printed or logged.
#
#   IRF_INDEX_URL          required. Presigned GET of the module store's index.json.
#   IRF_MODULE_URLS        optional. Newline-separated lines "<arch>/<kernel-release>=<presigned GET>"
#                          for the LiME modules the engine knows (key lime/<arch>/<kernel-release>/lime.ko).
#                          <arch> is x86_64 or arm64. Only the line for this host's exact kernel is used.
#   IRF_AVML_URL_<arch>    optional. Presigned GET of the pinned AVML binary for <arch>
#                          (IRF_AVML_URL_x86_64, IRF_AVML_URL_arm64).
#   IRF_AVML_SHA256_<arch> optional. Expected SHA-256 (hex) of that binary. When index.json also has one,
#                          both must agree; at least one of them must exist or AVML is not run.
#   IRF_PART_URLS          Newline-separated presigned UploadPart URLs, in part order (1, 2, ...). Required
#                          unless IRF_SESSION_URL provides them.
#   IRF_SESSION_URL        optional. Presigned GET of a session file that carries the long lists instead of
#                          the environment (a Run Command's parameters are size-limited): lines
#                          "part <presigned UploadPart URL>" in part order and "module <arch>/<kernel-release>=<URL>".
#                          Used for IRF_PART_URLS / IRF_MODULE_URLS when those are unset.
#   IRF_PART_SIZE          required. Bytes per part (every part but the last; S3 wants >= 5 MiB).
#   IRF_LIME_PORT          optional, default 4444. LiME's TCP port, bound to 127.0.0.1 only.
#   IRF_MIN_BYTES          optional, default 65536. A capture smaller than this is reported as failed.
#   IRF_CONNECT_TIMEOUT    optional, default 120. Seconds to wait for LiME's listener.
#   IRF_STAGING_DIRS       optional, colon-separated candidate parent directories for the staging dir.
#                          Default "/dev/shm:/run": each default is used only if it is a tmpfs/ramfs (never
#                          the host's disks). Directories given here explicitly are trusted as memory-backed
#                          (the tests use this to point the script at directories they control).
#   IRF_HTTP_CLIENT        optional: "curl" or "python3" to force the HTTP client (default: curl if present).
#   IRF_UPLOAD_CONCURRENCY optional, default 2. Parts hashed and uploaded at once while the next is read.
#
# index.json (written by the module factory; any JSON whitespace; objects must stay flat):
#   {"modules":[{"arch":"x86_64","kernelRelease":"6.1.0-18-amd64","path":"lime/x86_64/6.1.0-18-amd64/lime.ko",
#                "sha256":"<hex>","version":"1.12.0"}, ...],
#    "avml":[{"arch":"x86_64","path":"avml/x86_64/avml","sha256":"<hex>","version":"0.14.0"}, ...]}
#   A module entry is an object with "kernelRelease"; an AVML entry is one without it.
#
# Staging and noexec: the .ko only needs to be readable (insmod reads the file), so any staging dir
# works for LiME, even a noexec one. AVML must be executed, so it is copied to the first candidate
# where an exec probe really runs (a CIS-style noexec /dev/shm is skipped for it; /run usually allows
# exec). Running AVML through the dynamic loader to dodge noexec is deliberately not done.
#
# Streaming: LiME is loaded with "path=tcp:PORT format=lime localhostonly=1 timeout=0" (timeout=0: never
# zero-fill slow ranges) in the background (its init blocks until the dump is sent) and read through
# bash's /dev/tcp/127.0.0.1/PORT. AVML cannot write to a socket or stdout in a documented way, so it is
# given a FIFO in the staging dir as its output file (uncompressed LiME format, written sequentially) and
# the script reads the FIFO. Either stream is tee'd into sha256sum (through a FIFO) and cut into parts
# with head -c; each part gets its own MD5, sent as Content-MD5 (S3 verifies it and Object Lock requires an
# integrity header; unlike x-amz-checksum-*, it need not be signed into a presigned URL, and S3 refuses an
# unsigned x-amz-* header), and a search for the kernel banner "Linux version " (also across part boundaries).
#
# Output: exactly one JSON line on stdout, also on failure:
#   {"tool":"lime|avml|null","toolVersion":"...|null","kernelRelease":"...","arch":"x86_64|arm64","bytes":N,
#    "sha256":"<hex>|null","bannerSeen":true|false,"minBytes":N,
#    "partCount":N,"errors":["..."]}
# Diagnostics go to stderr. The line stays short whatever the image size (SSM returns only the first 24,000
# characters of stdout): the engine reads the parts' ETags and checksums from S3 (ListParts) and completes
# the upload in every case where parts were uploaded, so that a rejected capture is still kept as evidence.
#
# Exit codes:
#   0  captured and uploaded; bytes >= IRF_MIN_BYTES and the kernel banner was seen
#   2  bad or missing input
#   3  no acquisition tool could be started (index unavailable, no/invalid module and AVML unusable)
#   4  capture smaller than IRF_MIN_BYTES (uploaded parts are still listed)
#   5  capture complete but no kernel banner in it (uploaded parts are still listed)
#   6  a part upload failed (after retries)
#   7  the stream is larger than the presigned parts allow (IRF_PART_URLS x IRF_PART_SIZE)
#   8  no usable staging directory
#   1  anything else (including a signal)
# ---------------------------------------------------------------------------------------------
set -uo pipefail
umask 077
export LC_ALL=C

readonly BANNER='Linux version '

# --- result state (printed by the EXIT trap) ---
TOOL=""
TOOL_VERSION=""
KERNEL_RELEASE=""
ARCH=""
STREAM_SHA=""
BYTES=0
BANNER_SEEN=false
ERRORS=()
PART_COUNT=0

# --- runtime state ---
STAGE=""          # staging dir (.ko, parts, fifos)
EXEC_STAGE=""     # staging dir for AVML (may equal STAGE)
LIME_LOADED=false
INSMOD_PID=""
AVML_PID=""
WATCHDOG_PID=""
SUM_PID=""
CANDIDATES=()

log() { printf 'acquire-memory: %s\n' "$*" >&2; }
err() { ERRORS+=("$*"); log "error: $*"; }

json_str() { # JSON string literal of $1
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    s=$(printf '%s' "$s" | tr -d '\000-\037')
    printf '"%s"' "$s"
}
json_or_null() { if [[ -n $1 ]]; then json_str "$1"; else printf 'null'; fi; }

emit_json() {
    local errors="" e first=true
    for e in ${ERRORS[@]+"${ERRORS[@]}"}; do
        if $first; then first=false; else errors+=","; fi
        errors+=$(json_str "$e")
    done
    printf '{"tool":%s,"toolVersion":%s,"kernelRelease":%s,"arch":%s,"bytes":%s,"sha256":%s,"bannerSeen":%s,"minBytes":%s,"partCount":%s,"errors":[%s]}\n' \
        "$(json_or_null "$TOOL")" "$(json_or_null "$TOOL_VERSION")" "$(json_or_null "$KERNEL_RELEASE")" \
        "$(json_or_null "$ARCH")" "$BYTES" "$(json_or_null "$STREAM_SHA")" "$BANNER_SEEN" "${MIN_BYTES:-0}" \
        "$PART_COUNT" "$errors"
}

kill_bg() { # pid...
    local p
    for p in "$@"; do
        [[ -n $p ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    return 0
}

unload_lime() {
    if $LIME_LOADED; then
        if rmmod lime >&2 2>/dev/null; then
            LIME_LOADED=false
        else
            err "rmmod lime failed"
        fi
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM HUP
    { exec 3<&-; } 2>/dev/null
    kill_bg "$WATCHDOG_PID" "$AVML_PID" "$SUM_PID"
    if [[ -n $INSMOD_PID ]]; then
        kill "$INSMOD_PID" 2>/dev/null
        local _
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$INSMOD_PID" 2>/dev/null || break
            sleep 0.5
        done
    fi
    unload_lime
    [[ -n $EXEC_STAGE && $EXEC_STAGE != "$STAGE" ]] && rm -rf -- "$EXEC_STAGE"
    [[ -n $STAGE ]] && rm -rf -- "$STAGE"
    emit_json
    exit "$rc"
}
trap on_exit EXIT
trap 'err "interrupted by a signal"; exit 1' INT TERM HUP

die() { # code message
    err "$2"
    exit "$1"
}

is_uint() { [[ $1 =~ ^(0|[1-9][0-9]*)$ ]]; }

# ------------------------------------------------------------------ HTTP
HTTP=""
choose_http() {
    case "${IRF_HTTP_CLIENT:-}" in
        curl | python3) HTTP=$IRF_HTTP_CLIENT ;;
        "") if command -v curl >/dev/null 2>&1; then HTTP=curl; elif command -v python3 >/dev/null 2>&1; then HTTP=python3; fi ;;
        *) die 2 "IRF_HTTP_CLIENT must be curl or python3" ;;
    esac
    [[ -n $HTTP ]] || die 2 "neither curl nor python3 is available"
    command -v "$HTTP" >/dev/null 2>&1 || die 2 "$HTTP is not available"
}

# The URL is passed on stdin (python3) or through a curl config on stdin, never on a command line
# (which other users could read in /proc) and never echoed.
http_get() { # url outfile
    local url=$1 out=$2
    if [[ $HTTP == curl ]]; then
        printf 'url = "%s"\n' "$url" | curl -q -fsS --retry 3 --connect-timeout 20 -o "$out" -K - 2>/dev/null
    else
        printf '%s' "$url" | python3 -c '
import sys, urllib.request, shutil
with urllib.request.urlopen(sys.stdin.read(), timeout=60) as r, open(sys.argv[1], "wb") as f:
    shutil.copyfileobj(r, f, 1 << 20)
' "$out" 2>/dev/null
    fi
}

http_put_part() { # file url md5b64 -> prints the ETag (without quotes)
    local file=$1 url=$2 b64=$3 headers etag
    if [[ $HTTP == curl ]]; then
        headers="$file.headers"
        printf 'url = "%s"\n' "$url" |
            curl -q -fsS --retry 3 --retry-all-errors --connect-timeout 20 -T "$file" \
                -H "Content-MD5: $b64" -H "Content-Type: application/octet-stream" \
                -D "$headers" -o /dev/null -K - 2>/dev/null || return 1
        etag=$(grep -i '^etag:' "$headers" | tail -n 1 | cut -d: -f2- | tr -d ' \r"')
    else
        etag=$(printf '%s' "$url" | python3 -c '
import sys, urllib.request
with open(sys.argv[1], "rb") as f:
    data = f.read()
req = urllib.request.Request(sys.stdin.read(), data=data, method="PUT",
    headers={"Content-MD5": sys.argv[2], "Content-Type": "application/octet-stream"})
with urllib.request.urlopen(req, timeout=300) as r:
    print(r.headers.get("ETag", "").strip("\""))
' "$file" "$b64" 2>/dev/null) || return 1
    fi
    [[ -n $etag ]] || return 1
    printf '%s' "$etag"
}

# ------------------------------------------------------------------ helpers
sha256_hex() { sha256sum "$1" | cut -d' ' -f1; }
md5_hex() { md5sum "$1" | cut -d' ' -f1; }
hex_to_b64() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')" | base64 -w0; }

# Prints the flat JSON objects of index.json one per line, with "key" : "value" normalised to "key":"value".
index_objects() {
    tr -d '\n\r' <"$1" | sed 's/"[[:space:]]*:[[:space:]]*"/":"/g' | sed 's/[{}]/\n/g' | grep -F '"arch":"'
}
json_field() { # line key
    printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" | head -n 1
}

can_exec_in() { # dir
    local probe="$1/.irf-exec-probe"
    printf '#!/bin/sh\nexit 0\n' >"$probe" 2>/dev/null || return 1
    chmod 700 "$probe" && "$probe" 2>/dev/null
    local rc=$?
    rm -f -- "$probe"
    return $rc
}

memory_backed() { # dir
    case "$(stat -f -c %T "$1" 2>/dev/null)" in tmpfs | ramfs) return 0 ;; *) return 1 ;; esac
}

choose_staging() {
    local list=${IRF_STAGING_DIRS:-} explicit=true c
    if [[ -z $list ]]; then
        list=/dev/shm:/run
        explicit=false
    fi
    IFS=: read -r -a CANDIDATES <<<"$list"
    local usable=()
    for c in ${CANDIDATES[@]+"${CANDIDATES[@]}"}; do
        [[ -n $c && -d $c && -w $c ]] || continue
        if ! $explicit && ! memory_backed "$c"; then
            log "skipping $c: not memory-backed"
            continue
        fi
        usable+=("$c")
    done
    CANDIDATES=(${usable[@]+"${usable[@]}"})
    for c in ${CANDIDATES[@]+"${CANDIDATES[@]}"}; do
        STAGE=$(mktemp -d "$c/irf-mem.XXXXXX" 2>/dev/null) && break
        STAGE=""
    done
    [[ -n $STAGE ]] || die 8 "no writable memory-backed staging directory (tried ${list})"
}

choose_exec_staging() {
    local c
    if can_exec_in "$STAGE"; then
        EXEC_STAGE=$STAGE
        return 0
    fi
    log "staging dir is noexec; looking for an exec-able one for AVML"
    for c in ${CANDIDATES[@]+"${CANDIDATES[@]}"}; do
        local d
        d=$(mktemp -d "$c/irf-avml.XXXXXX" 2>/dev/null) || continue
        if can_exec_in "$d"; then
            EXEC_STAGE=$d
            return 0
        fi
        rm -rf -- "$d"
    done
    return 1
}

# ------------------------------------------------------------------ tools
# On success, fd 3 (LiME) or the FIFO $SOURCE_FIFO (AVML) carries the image.
SOURCE_FIFO=""

try_lime() {
    local line key url="" entry expected ko
    while IFS= read -r line; do
        key=${line%%=*}
        if [[ $key == "$ARCH/$KERNEL_RELEASE" ]]; then
            url=${line#*=}
            break
        fi
    done <<<"${IRF_MODULE_URLS:-}"
    entry=$(index_objects "$STAGE/index.json" | grep -F "\"kernelRelease\":\"$KERNEL_RELEASE\"" | grep -F "\"arch\":\"$ARCH\"" | head -n 1)
    if [[ -z $entry ]]; then
        err "no LiME module in the index for $ARCH/$KERNEL_RELEASE"
        return 1
    fi
    if [[ -z $url ]]; then
        err "no module URL given for $ARCH/$KERNEL_RELEASE"
        return 1
    fi
    expected=$(json_field "$entry" sha256)
    ko="$STAGE/lime.ko"
    if ! http_get "$url" "$ko"; then
        err "LiME module download failed"
        return 1
    fi
    if [[ ! $expected =~ ^[0-9a-fA-F]{64}$ || $(sha256_hex "$ko") != "${expected,,}" ]]; then
        err "LiME module SHA-256 does not match the index"
        rm -f -- "$ko"
        return 1
    fi
    TOOL_VERSION=$(json_field "$entry" version)

    insmod "$ko" "path=tcp:${PORT} format=lime localhostonly=1 timeout=0" >&2 &
    INSMOD_PID=$!
    LIME_LOADED=true
    local deadline=$((SECONDS + CONNECT_TIMEOUT))
    while ((SECONDS < deadline)); do
        if { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; then
            TOOL=lime
            return 0
        fi
        if ! kill -0 "$INSMOD_PID" 2>/dev/null; then
            local rc=0
            wait "$INSMOD_PID" || rc=$?
            INSMOD_PID=""
            # The module may have been inserted and failed, or never inserted: try to unload either way.
            rmmod lime >/dev/null 2>&1
            LIME_LOADED=false
            err "insmod lime failed (exit $rc)"
            return 1
        fi
        sleep 0.2
    done
    err "LiME listener did not come up within ${CONNECT_TIMEOUT}s"
    kill_bg "$INSMOD_PID"
    INSMOD_PID=""
    unload_lime
    return 1
}

try_avml() {
    local url_var="IRF_AVML_URL_$ARCH" sha_var="IRF_AVML_SHA256_$ARCH" url expected="" from_index="" entry bin
    url=${!url_var:-}
    entry=$(index_objects "$STAGE/index.json" | grep -vF '"kernelRelease"' | grep -F "\"arch\":\"$ARCH\"" | head -n 1)
    [[ -n $entry ]] && from_index=$(json_field "$entry" sha256)
    expected=${!sha_var:-$from_index}
    if [[ -z $url ]]; then
        err "no AVML URL given for $ARCH"
        return 1
    fi
    if [[ -z $expected ]]; then
        err "no SHA-256 known for AVML on $ARCH"
        return 1
    fi
    if [[ -n $from_index && ${from_index,,} != "${expected,,}" ]]; then
        err "AVML SHA-256 in IRF_AVML_SHA256_$ARCH disagrees with the index"
        return 1
    fi
    if ! choose_exec_staging; then
        err "no staging directory allows executing AVML (all noexec)"
        return 1
    fi
    bin="$EXEC_STAGE/avml"
    if ! http_get "$url" "$bin"; then
        err "AVML download failed"
        return 1
    fi
    if [[ $(sha256_hex "$bin") != "${expected,,}" ]]; then
        err "AVML SHA-256 does not match"
        rm -f -- "$bin"
        return 1
    fi
    chmod 700 "$bin"
    TOOL_VERSION=$(json_field "$entry" version)
    if [[ -z $TOOL_VERSION ]]; then
        TOOL_VERSION=$("$bin" --version 2>/dev/null | head -n 1 | sed 's/^avml[[:space:]]*//')
    fi
    SOURCE_FIFO="$STAGE/avml.lime"
    mkfifo "$SOURCE_FIFO" || { err "mkfifo failed"; return 1; }
    rm -f -- "$STAGE/avml.done"
    # AVML opens the FIFO as its output file; that open blocks until the reader opens it.
    "$bin" "$SOURCE_FIFO" >&2 2>"$STAGE/avml.err" &
    AVML_PID=$!
    # If AVML dies before opening the FIFO, the reader would wait forever: once AVML has exited, briefly
    # open the FIFO read-write (never blocks) until the reader is done, which lets the reader see EOF.
    (
        while kill -0 "$AVML_PID" 2>/dev/null; do sleep 0.2; done
        while [[ ! -e $STAGE/avml.done ]]; do
            { exec 9<>"$SOURCE_FIFO"; } 2>/dev/null || break
            exec 9>&-
            sleep 0.5
        done
    ) &
    WATCHDOG_PID=$!
    TOOL=avml
    return 0
}

# ------------------------------------------------------------------ streaming
# Reads the image on stdin, uploads it in parts. Runs in a pipeline subshell: results go to files.
# Hashes and uploads one part file, then removes it; the outcome goes to <file>.ok or <file>.err.
# Runs in the background, so that the next part is read (and the stream keeps flowing) meanwhile.
send_part() { # n file url
    local n=$1 file=$2 url=$3 b64
    b64=$(hex_to_b64 "$(md5_hex "$file")")
    if http_put_part "$file" "$url" "$b64" >/dev/null; then
        : >"$file.ok"
    else
        echo "upload of part $n failed" >"$file.err"
    fi
    rm -f -- "$file" "$file.headers"
}

# Waits for the oldest part in flight; returns 6 (and records why) when it failed.
reap_part() {
    local pid=${INFLIGHT_PIDS[0]} file=${INFLIGHT_FILES[0]}
    INFLIGHT_PIDS=("${INFLIGHT_PIDS[@]:1}")
    INFLIGHT_FILES=("${INFLIGHT_FILES[@]:1}")
    wait "$pid"
    if [[ -e $file.ok ]]; then
        rm -f -- "$file.ok"
        return 0
    fi
    cat "$file.err" >"$STAGE/upload.err" 2>/dev/null || echo "upload of $(basename "$file") failed" >"$STAGE/upload.err"
    return 6
}

upload_parts() {
    local n=0 size total=0 banner=false urls part rc=0
    local tailf="$STAGE/part.tail" concurrency=${IRF_UPLOAD_CONCURRENCY:-2}
    INFLIGHT_PIDS=()
    INFLIGHT_FILES=()
    mapfile -t urls < <(printf '%s\n' "$IRF_PART_URLS" | grep -v '^[[:space:]]*$')
    : >"$tailf"
    while :; do
        part="$STAGE/part.$((n + 1))"
        head -c "$PART_SIZE" >"$part" || { echo "reading the stream failed" >"$STAGE/upload.err"; rc=1; break; }
        size=$(stat -c %s "$part")
        if ((size == 0)); then
            rm -f -- "$part"
            break
        fi
        n=$((n + 1))
        if ((n > ${#urls[@]})); then
            echo "the stream is larger than the ${#urls[@]} presigned parts of $PART_SIZE bytes" >"$STAGE/upload.err"
            rm -f -- "$part"
            rc=7
            break
        fi
        if ! $banner; then
            if grep -aqF "$BANNER" "$part" || { cat "$tailf"; head -c 64 "$part"; } | grep -aqF "$BANNER"; then
                banner=true
                echo true >"$STAGE/banner"
            else
                tail -c 64 "$part" >"$tailf"
            fi
        fi
        # At most $concurrency parts in flight: the staging tmpfs holds concurrency + 1 parts at most.
        while ((${#INFLIGHT_PIDS[@]} >= concurrency)); do
            reap_part || { rc=6; break 2; }
        done
        send_part "$n" "$part" "${urls[n - 1]}" &
        INFLIGHT_PIDS+=("$!")
        INFLIGHT_FILES+=("$part")
        total=$((total + size))
        echo "$total" >"$STAGE/bytes"
        echo "$n" >>"$STAGE/parts"
        ((size == PART_SIZE)) || break
    done
    # Every part in flight ends before the result is known (a failure after a break is recorded too).
    while ((${#INFLIGHT_PIDS[@]} > 0)); do
        reap_part || { ((rc == 0)) && rc=6; }
    done
    return "$rc"
}

stream() {
    local sumfifo="$STAGE/sum.fifo" rc=0 statuses
    mkfifo "$sumfifo" || die 1 "mkfifo failed"
    : >"$STAGE/parts"
    echo 0 >"$STAGE/bytes"
    sha256sum <"$sumfifo" >"$STAGE/stream.sha256" &
    SUM_PID=$!
    if [[ $TOOL == lime ]]; then
        tee "$sumfifo" <&3 | upload_parts
        statuses=("${PIPESTATUS[@]}")
        exec 3<&-
    else
        tee "$sumfifo" <"$SOURCE_FIFO" | upload_parts
        statuses=("${PIPESTATUS[@]}")
        : >"$STAGE/avml.done"
    fi
    rc=${statuses[1]}
    wait "$SUM_PID"
    SUM_PID=""

    PART_COUNT=$(grep -c . "$STAGE/parts")
    BYTES=$(cat "$STAGE/bytes")
    [[ -e $STAGE/banner ]] && BANNER_SEEN=true
    if ((rc == 0)) && ((statuses[0] != 0)); then
        err "reading the $TOOL stream failed (tee exit ${statuses[0]})"
    fi

    # Tool epilogue: LiME's insmod returns once the dump is sent; AVML exits when done.
    if [[ $TOOL == lime ]]; then
        local irc=0
        if ((rc != 0)); then kill_bg "$INSMOD_PID"; else wait "$INSMOD_PID" || irc=$?; fi
        INSMOD_PID=""
        ((irc == 0)) || err "insmod lime exited with $irc"
        unload_lime
    else
        local arc=0
        if ((rc != 0)); then kill_bg "$AVML_PID"; else wait "$AVML_PID" || arc=$?; fi
        AVML_PID=""
        kill_bg "$WATCHDOG_PID"
        WATCHDOG_PID=""
        ((arc == 0)) || err "avml exited with $arc"
    fi

    if ((rc != 0)); then
        # A partial stream has no meaningful whole-stream hash.
        die "$rc" "$(cat "$STAGE/upload.err" 2>/dev/null || echo "upload failed")"
    fi
    STREAM_SHA=$(cut -d' ' -f1 "$STAGE/stream.sha256")
}

# ------------------------------------------------------------------ main
main() {
    [[ -n ${IRF_INDEX_URL:-} ]] || die 2 "IRF_INDEX_URL is required"
    [[ -n ${IRF_PART_URLS:-} || -n ${IRF_SESSION_URL:-} ]] || die 2 "IRF_PART_URLS or IRF_SESSION_URL is required"
    PART_SIZE=${IRF_PART_SIZE:-}
    if ! is_uint "$PART_SIZE" || ((PART_SIZE == 0)); then die 2 "IRF_PART_SIZE must be a positive integer"; fi
    PORT=${IRF_LIME_PORT:-4444}
    if ! is_uint "$PORT" || ((PORT == 0 || PORT > 65535)); then die 2 "IRF_LIME_PORT must be a TCP port"; fi
    MIN_BYTES=${IRF_MIN_BYTES:-65536}
    is_uint "$MIN_BYTES" || die 2 "IRF_MIN_BYTES must be a non-negative integer"
    if ! is_uint "${IRF_UPLOAD_CONCURRENCY:-2}" || ((${IRF_UPLOAD_CONCURRENCY:-2} < 1 || ${IRF_UPLOAD_CONCURRENCY:-2} > 16)); then
        die 2 "IRF_UPLOAD_CONCURRENCY must be from 1 to 16"
    fi
    CONNECT_TIMEOUT=${IRF_CONNECT_TIMEOUT:-120}
    is_uint "$CONNECT_TIMEOUT" || die 2 "IRF_CONNECT_TIMEOUT must be a number of seconds"

    KERNEL_RELEASE=$(uname -r)
    case "$(uname -m)" in
        x86_64 | amd64) ARCH=x86_64 ;;
        aarch64 | arm64) ARCH=arm64 ;;
        *) die 2 "unsupported architecture $(uname -m)" ;;
    esac
    choose_http
    choose_staging

    if [[ -n ${IRF_SESSION_URL:-} ]]; then
        http_get "$IRF_SESSION_URL" "$STAGE/session" || die 2 "session file download failed"
        [[ -n ${IRF_PART_URLS:-} ]] || IRF_PART_URLS=$(sed -n 's/^part //p' "$STAGE/session")
        [[ -n ${IRF_MODULE_URLS:-} ]] || IRF_MODULE_URLS=$(sed -n 's/^module //p' "$STAGE/session")
        rm -f -- "$STAGE/session"
        [[ -n $IRF_PART_URLS ]] || die 2 "the session file lists no part URLs"
    fi
    http_get "$IRF_INDEX_URL" "$STAGE/index.json" || die 3 "module store index download failed"

    if ! try_lime; then
        TOOL_VERSION=""
        log "falling back to AVML"
        try_avml || die 3 "no acquisition tool could be started"
    fi
    log "capturing with $TOOL"
    stream

    if ((BYTES < MIN_BYTES)); then
        die 4 "capture of $BYTES bytes is below the floor of $MIN_BYTES"
    fi
    if ! $BANNER_SEEN; then
        die 5 "no Linux kernel banner in the captured stream"
    fi
    log "captured $BYTES bytes in $PART_COUNT parts"
}

main "$@"
