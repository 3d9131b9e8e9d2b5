#!/usr/bin/env bash
# acquire-memory.sh: capture the physical memory of this (suspect) Linux host and stream it to the
# evidence bucket through presigned S3 multipart UploadPart URLs. Run by SSM Run Command as root.
#
# No AWS credentials, no AWS CLI, nothing written to the host's disks: tools are staged in a
# memory-backed directory, the image is never stored whole (a few parts at a time are held in memory),
# and the SHA-256 of the whole stream is computed on the way.
#
# Tools needed: bash (with /dev/tcp, as every mainstream distro builds it), coreutils (head, tee,
# sha256sum, md5sum, base64, mktemp, mkfifo, stat, tr, cut), sed, grep, and curl or python3. python3
# (3.6 or later, standard library only) is also the streamer when present; without it the coreutils
# streamer is used. jq is NOT needed.
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
#   IRF_STREAMER           optional: "python3" or "coreutils" (default: python3 when a usable one exists).
#   IRF_SYSROOT            tests only: a directory standing in for / where the script reads the kernel's
#                          state (/sys/module/lime, /sys/kernel/security/lockdown, EFI variables,
#                          /proc/sys/kernel/tainted, AVML's sources). Unset on real hosts.
#
# index.json (written by the module factory; any JSON whitespace; objects must stay flat):
#   {"modules":[{"arch":"x86_64","kernelRelease":"6.1.0-18-amd64","path":"lime/x86_64/6.1.0-18-amd64/lime.ko",
#                "sha256":"<hex>","version":"1.9.1"}, ...],
#    "avml":[{"arch":"x86_64","path":"avml/x86_64/avml","sha256":"<hex>","version":"0.20.0"}, ...]}
#   A module entry is an object with "kernelRelease"; an AVML entry is one without it.
#
# Staging and noexec: the .ko only needs to be readable (insmod reads the file), so any staging dir
# works for LiME, even a noexec one. AVML must be executed: it goes to the first candidate where an exec
# probe really runs. When every candidate is noexec (a CIS-style /dev/shm, and /run, which Debian's and
# Ubuntu's initramfs mount noexec), the script mounts a private tmpfs of its own inside the staging dir:
# a new mount has its own flags, lives in RAM and is unmounted at exit. Running AVML through the dynamic
# loader to dodge noexec is deliberately not done.
#
# Streaming: LiME is loaded with "path=tcp:PORT format=lime localhostonly=1 timeout=0" (timeout=0: never
# zero-fill slow ranges) in the background (its init blocks until the dump is sent) and read through
# bash's /dev/tcp/127.0.0.1/PORT. AVML 0.20 (one binary with subcommands since microsoft/avml#810) runs
# as `avml acquire --source SRC FIFO`: the source is probed once here, in AVML's own order for a stream
# (/proc/kcore, /dev/crash, /dev/mem: Snapshot::probe_single_source in src/snapshot.rs), because without
# --source `acquire` tries /dev/crash, /proc/kcore and /dev/mem in turn and rewrites its output file for
# each, which in a FIFO would splice a failed attempt into the stream. (`acquire /dev/stdout` would probe
# once too, but 0.20 opens its destination with O_NOFOLLOW, and /dev/stdout is a symlink.) The script
# reads the FIFO. Either stream is cut into parts; each part gets its own MD5, sent as Content-MD5 (S3
# verifies it and Object Lock requires an integrity header; unlike x-amz-checksum-*, it need not be signed
# into a presigned URL, and S3 refuses an unsigned x-amz-* header); the whole stream is hashed with
# SHA-256 and searched for the kernel banner "Linux version " (also across part boundaries). The python3
# streamer reads every byte once into a part buffer in memory, hashes the stream in one thread and the
# parts' MD5s in the uploader threads (hashlib releases the GIL, so both cores work), and PUTs from the
# buffer over kept-alive connections: at most IRF_UPLOAD_CONCURRENCY + 2 parts are held, none in the
# staging dir. The coreutils streamer tees the stream into sha256sum (through a FIFO) and cuts parts
# into the staging tmpfs with head -c (at most IRF_UPLOAD_CONCURRENCY + 1 there), uploaded by curl.
# Every stage runs in the background and the script waits for them, so a signal (SSM's cancel or
# timeout) is acted on at once, not when the dump ends.
#
# LiME and the kernel: the script loads LiME only when no module named lime is loaded, and unloads only
# the module it loaded itself. A staging dir left by a killed run (its owner process gone, same boot) is
# removed, with the LiME it had loaded. Kernel lockdown (Secure Boot) refuses unsigned modules: it is
# detected, reported, and AVML is used. Loading LiME taints the kernel (out-of-tree, unsigned); the taint
# flags before and after are reported, so the case can say so.
#
# Output: exactly one JSON line on stdout, also on failure and after a signal:
#   {"tool":"lime|avml|null","toolVersion":"...|null","source":"lime|/proc/kcore|/dev/crash|/dev/mem|null",
#    "kernelRelease":"...","arch":"x86_64|arm64","bytes":N,"sha256":"<hex>|null","bannerSeen":true|false,
#    "minBytes":N,"partCount":N,"lockdown":"none|integrity|confidentiality|null","secureBoot":true|false|null,
#    "taint":{"before":N,"after":N}|null,"errors":["..."]}
# "bytes" and "partCount" count the parts S3 confirmed, in order from part 1 (what was really uploaded).
# "sha256" is the SHA-256 of the whole stream, and null unless the tool delivered all of it.
# Diagnostics go to stderr. The line stays short whatever the image size (SSM returns only the first 24,000
# characters of stdout): the engine reads the parts' ETags and checksums from S3 (ListParts) and completes
# the upload in every case where parts were uploaded, so that a rejected capture is still kept as evidence.
#
# Exit codes:
#   0  captured and uploaded; bytes >= IRF_MIN_BYTES and the kernel banner was seen
#   2  bad or missing input
#   3  no acquisition tool could be started, or the tool delivered nothing (index unavailable, no/invalid
#      module, insmod refused, AVML unusable or failed before any byte)
#   4  capture smaller than IRF_MIN_BYTES (uploaded parts are still listed)
#   5  capture complete but no kernel banner in it (uploaded parts are still listed)
#   6  a part upload failed (after retries)
#   7  the stream is larger than the presigned parts allow (IRF_PART_URLS x IRF_PART_SIZE)
#   8  no usable staging directory
#   9  the tool failed during the capture (uploaded parts are still listed)
#   1  anything else (including a signal)
# ---------------------------------------------------------------------------------------------
set -uo pipefail
umask 077
export LC_ALL=C

readonly BANNER='Linux version '
readonly SYSROOT=${IRF_SYSROOT:-}
readonly SECURE_BOOT_VAR=SecureBoot-8be4df61-93ca-11d2-aa0d-e98c0101ec3f

# --- result state (printed by the EXIT trap) ---
TOOL=""
TOOL_VERSION=""
SOURCE=""
KERNEL_RELEASE=""
ARCH=""
STREAM_SHA=""
BYTES=0
BANNER_SEEN=false
ERRORS=()
PART_COUNT=0
LOCKDOWN=""
SECURE_BOOT=""
TAINT_BEFORE=""
TAINT_AFTER=""

# --- runtime state ---
STAGE=""          # staging dir (.ko, parts, fifos)
EXEC_STAGE=""     # staging dir for AVML (may equal STAGE)
EXEC_MOUNT=""     # a private tmpfs mounted for AVML, when every candidate was noexec
LIME_LOADED=false # this run loaded the lime module (and only then unloads it)
INSMOD_PID=""
AVML_PID=""
WATCHDOG_PID=""
SUM_PID=""
TEE_PID=""
UPLOAD_PID=""
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
    local errors="" e first=true taint=null
    for e in ${ERRORS[@]+"${ERRORS[@]}"}; do
        if $first; then first=false; else errors+=","; fi
        errors+=$(json_str "$e")
    done
    if [[ -n $TAINT_BEFORE ]]; then
        taint=$(printf '{"before":%s,"after":%s}' "$TAINT_BEFORE" "${TAINT_AFTER:-null}")
    fi
    printf '{"tool":%s,"toolVersion":%s,"source":%s,"kernelRelease":%s,"arch":%s,"bytes":%s,"sha256":%s,"bannerSeen":%s,"minBytes":%s,"partCount":%s,"lockdown":%s,"secureBoot":%s,"taint":%s,"errors":[%s]}\n' \
        "$(json_or_null "$TOOL")" "$(json_or_null "$TOOL_VERSION")" "$(json_or_null "$SOURCE")" "$(json_or_null "$KERNEL_RELEASE")" \
        "$(json_or_null "$ARCH")" "$BYTES" "$(json_or_null "$STREAM_SHA")" "$BANNER_SEEN" "${MIN_BYTES:-0}" \
        "$PART_COUNT" "$(json_or_null "$LOCKDOWN")" "${SECURE_BOOT:-null}" "$taint" "$errors"
}

# Every process this script started, children before parents' siblings (from /proc: no ps needed).
descendants() { # pid
    local f line pid rest ppid self=$BASHPID
    local -A children=()
    for f in /proc/[0-9]*/stat; do
        read -r line <"$f" 2>/dev/null || continue
        pid=${line%% *}
        rest=${line##*) }
        read -r _ ppid _ <<<"$rest"
        [[ $pid == "$self" ]] && continue
        children[$ppid]+=" $pid"
    done
    local queue=("$1") next p
    while ((${#queue[@]} > 0)); do
        next=()
        for p in "${queue[@]}"; do
            for pid in ${children[$p]:-}; do
                printf '%s\n' "$pid"
                next+=("$pid")
            done
        done
        queue=(${next[@]+"${next[@]}"})
    done
}

# Ends everything the script started: TERM first (insmod's TERM interrupts LiME's init), then KILL.
stop_children() {
    local pids p _
    mapfile -t pids < <(descendants $$)
    ((${#pids[@]} > 0)) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=false
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=true && break; done
        $alive || break
        sleep 0.5
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    return 0
}

lime_present() { [[ -d $SYSROOT/sys/module/lime ]]; }

# LiME exposes its parameters read-only (module_param(path, charp, S_IRUGO) in LiME's main.c): the loaded
# module is the one a run started when its path is that run's. Unknown when sysfs does not show it.
lime_path_is() { # path
    local loaded
    read -r loaded <"$SYSROOT/sys/module/lime/parameters/path" 2>/dev/null || return 0
    [[ $loaded == "$1" ]]
}

unload_lime() {
    if $LIME_LOADED && lime_present; then
        if rmmod lime >&2 2>/dev/null; then
            LIME_LOADED=false
        else
            err "rmmod lime failed"
        fi
    fi
}

# The parts S3 confirmed, in order from part 1: what was really uploaded.
count_uploaded() {
    local n=1 size total=0
    [[ -n $STAGE && -d $STAGE/done ]] || return 0
    while [[ -e $STAGE/done/$n ]]; do
        read -r size <"$STAGE/done/$n"
        total=$((total + size))
        n=$((n + 1))
    done
    PART_COUNT=$((n - 1))
    BYTES=$total
    [[ -e $STAGE/banner ]] && BANNER_SEEN=true
    return 0
}

release_exec_mount() {
    if [[ -n $EXEC_MOUNT ]]; then
        umount "$EXEC_MOUNT" 2>/dev/null || umount -l "$EXEC_MOUNT" 2>/dev/null || err "could not unmount $EXEC_MOUNT"
        EXEC_MOUNT=""
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM HUP
    { exec 3<&-; } 2>/dev/null
    stop_children
    count_uploaded
    if [[ -n $TAINT_BEFORE && -z $TAINT_AFTER ]]; then TAINT_AFTER=$(read_taint); fi
    unload_lime
    release_exec_mount
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

# ------------------------------------------------------------------ the kernel's state
read_taint() {
    local t
    read -r t <"$SYSROOT/proc/sys/kernel/tainted" 2>/dev/null && is_uint "$t" && printf '%s' "$t"
}

# Kernel lockdown (the bracketed mode of /sys/kernel/security/lockdown) and the EFI SecureBoot variable
# (4 attribute bytes, then 1 when Secure Boot is on). A host booted without EFI has no Secure Boot.
read_security_state() {
    local modes
    if read -r modes <"$SYSROOT/sys/kernel/security/lockdown" 2>/dev/null; then
        LOCKDOWN=$(sed -n 's/.*\[\([a-z]*\)\].*/\1/p' <<<"$modes")
    fi
    local var="$SYSROOT/sys/firmware/efi/efivars/$SECURE_BOOT_VAR"
    if [[ -r $var ]]; then
        case "$(od -An -tu1 -j4 -N1 "$var" 2>/dev/null | tr -d ' ')" in
            1) SECURE_BOOT=true ;;
            0) SECURE_BOOT=false ;;
        esac
    elif [[ ! -d $SYSROOT/sys/firmware/efi ]]; then
        SECURE_BOOT=false
    fi
}

# A staging dir records its owner (PID, start time, boot id). One whose owner is gone was left by a killed
# run: its LiME (if it had loaded one, in this boot) is unloaded and the dir removed.
owner_stamp() { # pid
    local line rest start boot
    read -r line <"/proc/$1/stat" 2>/dev/null || return 1
    rest=${line##*) }
    # Field 22 (starttime) is the 20th after the comm.
    start=$(cut -d' ' -f20 <<<"$rest")
    read -r boot <"$SYSROOT/proc/sys/kernel/random/boot_id" 2>/dev/null || boot=unknown
    printf '%s %s %s\n' "$1" "$start" "$boot"
}

owner_alive() { # stamp file
    local pid start boot now_stamp
    read -r pid start boot <"$1" 2>/dev/null || return 1
    now_stamp=$(owner_stamp "$pid") || return 1
    [[ $now_stamp == "$pid $start $boot" ]]
}

same_boot() { # stamp file
    local boot current
    read -r _ _ boot <"$1" 2>/dev/null || return 1
    read -r current <"$SYSROOT/proc/sys/kernel/random/boot_id" 2>/dev/null || current=unknown
    [[ $boot == "$current" ]]
}

clean_stale_staging() {
    local c d
    for c in ${CANDIDATES[@]+"${CANDIDATES[@]}"}; do
        for d in "$c"/irf-mem.*; do
            [[ -d $d && -f $d/owner ]] || continue
            owner_alive "$d/owner" && continue
            if [[ -e $d/lime.loading ]] && same_boot "$d/owner" && lime_present && lime_path_is "$(cat "$d/lime.loading")"; then
                if rmmod lime >&2 2>/dev/null; then
                    log "unloaded the LiME module a killed run left loaded"
                else
                    err "a killed run left LiME loaded and rmmod lime failed"
                fi
            fi
            if [[ -d $d/exec ]]; then umount "$d/exec" 2>/dev/null || umount -l "$d/exec" 2>/dev/null; fi
            rm -rf -- "$d" && log "removed the staging dir of a killed run ($d)"
        done
    done
    return 0
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
    clean_stale_staging
    for c in ${CANDIDATES[@]+"${CANDIDATES[@]}"}; do
        STAGE=$(mktemp -d "$c/irf-mem.XXXXXX" 2>/dev/null) && break
        STAGE=""
    done
    [[ -n $STAGE ]] || die 8 "no writable memory-backed staging directory (tried ${list})"
    owner_stamp $$ >"$STAGE/owner"
    mkdir "$STAGE/done"
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
    # Every candidate is noexec: a tmpfs of our own (RAM only, exec allowed, private to this run).
    mkdir -m 700 "$STAGE/exec" || return 1
    if mount -t tmpfs -o size=64m,mode=0700,nosuid,nodev irf-avml "$STAGE/exec" 2>/dev/null; then
        EXEC_MOUNT="$STAGE/exec"
        if can_exec_in "$EXEC_MOUNT"; then
            EXEC_STAGE=$EXEC_MOUNT
            log "staging AVML in a private tmpfs ($EXEC_MOUNT)"
            return 0
        fi
        release_exec_mount
    fi
    return 1
}

# ------------------------------------------------------------------ tools
# On success, fd 3 (LiME) or the FIFO $SOURCE_FIFO (AVML) carries the image.
SOURCE_FIFO=""

# Why insmod failed, in one line: its own message, and what lockdown says about it.
insmod_failure() { # exit code, stderr file
    local msg
    msg=$(grep -v '^[[:space:]]*$' "$2" 2>/dev/null | tail -n 1)
    if grep -qi 'operation not permitted' <<<"$msg" && [[ -n $LOCKDOWN && $LOCKDOWN != none ]]; then
        printf 'insmod lime refused: kernel lockdown (%s) forbids unsigned modules (Secure Boot: %s): %s' \
            "$LOCKDOWN" "${SECURE_BOOT:-unknown}" "$msg"
    elif [[ -n $msg ]]; then
        printf 'insmod lime failed (exit %s): %s' "$1" "$msg"
    else
        printf 'insmod lime failed (exit %s)' "$1"
    fi
}

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
    if lime_present; then
        err "a lime module that this script did not load is already loaded (rmmod lime by hand to let the capture use LiME)"
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

    TAINT_BEFORE=$(read_taint)
    # Written before insmod: a run killed from here on may have left LiME loaded, with this path.
    echo "tcp:${PORT}" >"$STAGE/lime.loading"
    insmod "$ko" "path=tcp:${PORT} format=lime localhostonly=1 timeout=0" >&2 2>"$STAGE/insmod.err" &
    INSMOD_PID=$!
    local deadline=$((SECONDS + CONNECT_TIMEOUT))
    while ((SECONDS < deadline)); do
        if { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; then
            # Nothing was loaded before (checked above): the listening module is ours.
            LIME_LOADED=true
            TAINT_AFTER=$(read_taint)
            TOOL=lime
            SOURCE=lime
            return 0
        fi
        if ! kill -0 "$INSMOD_PID" 2>/dev/null; then
            local rc=0
            wait "$INSMOD_PID" || rc=$?
            INSMOD_PID=""
            cat "$STAGE/insmod.err" >&2 2>/dev/null
            # A module that initialised and failed is unloaded; one that never loaded is not there.
            lime_present && LIME_LOADED=true
            unload_lime
            err "$(insmod_failure "$rc" "$STAGE/insmod.err")"
            return 1
        fi
        sleep 0.2
    done
    err "LiME listener did not come up within ${CONNECT_TIMEOUT}s"
    kill "$INSMOD_PID" 2>/dev/null
    wait "$INSMOD_PID" 2>/dev/null
    INSMOD_PID=""
    lime_present && LIME_LOADED=true
    unload_lime
    return 1
}

# AVML's own choice for a stream, made once (Snapshot::probe_single_source, avml 0.20.0 src/snapshot.rs):
# /proc/kcore when readable and larger than 0x2000 bytes, else /dev/crash, else /dev/mem.
probe_avml_source() {
    local kcore="$SYSROOT/proc/kcore"
    if [[ -r $kcore ]] && (($(stat -c %s "$kcore" 2>/dev/null || echo 0) > 0x2000)) && { : <"$kcore"; } 2>/dev/null; then
        printf '/proc/kcore'
    elif { : <"$SYSROOT/dev/crash"; } 2>/dev/null; then
        printf '/dev/crash'
    elif { : <"$SYSROOT/dev/mem"; } 2>/dev/null; then
        printf '/dev/mem'
    else
        return 1
    fi
}

try_avml() {
    local url_var="IRF_AVML_URL_$ARCH" sha_var="IRF_AVML_SHA256_$ARCH" url expected="" from_index="" entry bin src
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
    if ! src=$(probe_avml_source); then
        err "AVML has no memory source to read (/proc/kcore, /dev/crash and /dev/mem are closed${LOCKDOWN:+; lockdown: $LOCKDOWN})"
        return 1
    fi
    if ! choose_exec_staging; then
        err "no staging directory allows executing AVML (all noexec, and no private tmpfs could be mounted)"
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
    "$bin" acquire --source "$src" "$SOURCE_FIFO" >&2 2>"$STAGE/avml.err" &
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
    SOURCE=$src
    return 0
}

# ------------------------------------------------------------------ streaming
# Two streamers, with the same results in the staging dir (done/<n>, banner, stream.sha256, upload.err)
# and the same exit codes. python3 (the default wherever python3 >= 3.6 is installed: stock Amazon Linux,
# Ubuntu, Debian cloud images and RHEL have it) reads each byte once and hashes on two cores; coreutils
# (IRF_STREAMER=coreutils, or no python3) cuts parts into the staging tmpfs with tee and head.
STREAMER=""
choose_streamer() {
    local python_ok=false
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import sys, hashlib, http.client, ssl, threading; sys.exit(sys.version_info < (3, 6))' 2>/dev/null; then
        python_ok=true
    fi
    case "${IRF_STREAMER:-}" in
        python3) $python_ok || die 2 "IRF_STREAMER=python3 but no python3 >= 3.6 with hashlib, http.client and ssl" ;;
        coreutils) ;;
        "") ;;
        *) die 2 "IRF_STREAMER must be python3 or coreutils" ;;
    esac
    STREAMER=${IRF_STREAMER:-}
    if [[ -z $STREAMER ]]; then
        if $python_ok; then STREAMER=python3; else STREAMER=coreutils; fi
    fi
}

read -r -d '' STREAMER_PY <<'PY' || true
# The streamer of acquire-memory.sh (IRF_STREAMER=python3). argv: part size, uploads at once, staging dir;
# the part URLs on fd 4; the image on stdin. Each byte is read once into a part buffer, and
# from there hashed into the whole-stream SHA-256 (one thread, in order), MD5-summed and PUT (uploader
# threads), searched for the kernel banner. hashlib and socket I/O release the GIL, so the two hashes run
# on two cores. At most concurrency + 2 parts are in memory; nothing touches a disk.
# Results, as the coreutils path leaves them: done/<n> (the part's size, once S3 confirmed it), banner,
# stream.sha256 (only when the whole stream was read and every part confirmed), upload.err; exit 0, 6 (a
# part failed after retries), 7 (more parts than URLs) or 1 (reading the stream failed).
import base64, hashlib, http.client, os, queue, sys, threading, time, urllib.parse, urllib.request

PART_SIZE, CONCURRENCY, STAGE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BANNER = b"Linux version "
with os.fdopen(4) as listing:  # the part URLs, one per line, in part order
    URLS = [u.strip() for u in listing.read().splitlines() if u.strip()]
ATTEMPTS = 4  # as curl --retry 3: waits of 1, 2 and 4 s between tries

failure = []
failure_lock = threading.Lock()
in_memory = threading.BoundedSemaphore(CONCURRENCY + 2)
uploads, hashing = queue.Queue(), queue.Queue()


def record(name, text):
    tmp = os.path.join(STAGE, name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(STAGE, name))


def fail(code, message):
    with failure_lock:
        if not failure:
            failure.append(code)
            record("upload.err", message + "\n")


def md5(data):
    try:  # FIPS-mode OpenSSL refuses MD5 unless it is declared a non-security use (Python 3.9 and later)
        return hashlib.md5(data, usedforsecurity=False)
    except TypeError:
        return hashlib.md5(data)


class Part:
    def __init__(self, number, data):
        self.number, self.data, self.users = number, data, 2
        self.lock = threading.Lock()

    def release(self):  # by the hasher and by the uploader: the buffer is freed after both
        with self.lock:
            self.users -= 1
            last = self.users == 0
        if last:
            self.data = None
            in_memory.release()


whole = hashlib.sha256()


def hasher():
    while True:
        part = hashing.get()
        if part is None:
            return
        whole.update(part.data)
        part.release()


PROXIES = urllib.request.getproxies()  # http_proxy, https_proxy, no_proxy: the host's way out, as curl takes it


def proxy_for(target):
    proxy = PROXIES.get(target.scheme)
    if proxy and not urllib.request.proxy_bypass(target.hostname or ""):
        return urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    return None


def proxy_auth(via):
    if not via.username:
        return {}
    token = f"{urllib.parse.unquote(via.username)}:{urllib.parse.unquote(via.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(token.encode()).decode()}


def connect(target):
    """A connection for URLs like `target`: direct, or through the proxy the environment names (a plain
    connection for http, a CONNECT tunnel for https), as urllib and curl go."""
    via = proxy_for(target)
    if via is None:
        kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        return kind(target.netloc, timeout=300)
    if target.scheme == "http":
        return http.client.HTTPConnection(via.hostname, via.port or 80, timeout=300)
    conn = http.client.HTTPSConnection(via.hostname, via.port or 80, timeout=300)
    conn.set_tunnel(target.hostname, target.port or 443, headers=proxy_auth(via))
    return conn


def request_target(target):
    """What the request line names, and the headers a plain http proxy wants (absolute form, RFC 9112 3.2.2)."""
    via = proxy_for(target)
    if via is not None and target.scheme == "http":
        return target.geturl(), proxy_auth(via)
    return target.path + ("?" + target.query if target.query else ""), {}


def put(connections, url, data, content_md5):
    target = urllib.parse.urlsplit(url)
    path, extra = request_target(target)
    reason = "no attempt"
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(2 ** (attempt - 1))
        conn = connections.get(target.netloc)
        try:
            if conn is None:
                conn = connections[target.netloc] = connect(target)
            conn.request("PUT", path, body=data, headers={
                "Content-MD5": content_md5, "Content-Type": "application/octet-stream", "Content-Length": str(len(data)), **extra})
            response = conn.getresponse()
            response.read()
            if response.status == 200 and response.getheader("ETag", "").strip('" '):
                return None
            reason = f"HTTP {response.status}"
            if response.will_close:
                connections.pop(target.netloc, None)
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            reason = type(e).__name__
            connections.pop(target.netloc, None)
            if conn is not None:
                conn.close()
    return reason


def uploader():
    connections = {}
    while True:
        part = uploads.get()
        if part is None:
            return
        try:
            if failure:
                continue  # after a failure no further part is started
            content_md5 = base64.b64encode(md5(part.data).digest()).decode()
            reason = put(connections, URLS[part.number - 1], part.data, content_md5)
            if reason is None:
                record(f"done/{part.number}", f"{len(part.data)}\n")
            else:
                fail(6, f"upload of part {part.number} failed ({reason})")
        finally:
            part.release()


threads = [threading.Thread(target=hasher)] + [threading.Thread(target=uploader) for _ in range(CONCURRENCY)]
for t in threads:
    t.start()
source = os.fdopen(0, "rb", buffering=0)
number, tail, banner = 0, b"", False
try:
    while True:
        in_memory.acquire()
        if failure:
            in_memory.release()
            break
        buffer = bytearray(PART_SIZE)
        view, size = memoryview(buffer), 0
        while size < PART_SIZE:
            n = source.readinto(view[size:])
            if not n:
                break
            size += n
        if size == 0:
            in_memory.release()
            break
        number += 1
        if number > len(URLS):
            in_memory.release()
            fail(7, f"the stream is larger than the {len(URLS)} presigned parts of {PART_SIZE} bytes")
            break
        data = view[:size]
        if not banner:
            if BANNER in tail + bytes(data[:64]) or buffer.find(BANNER, 0, size) >= 0:
                banner = True
                record("banner", "true\n")
            else:
                tail = bytes(data[-64:])
        part = Part(number, data)
        hashing.put(part)
        uploads.put(part)
        if size < PART_SIZE:
            break
except OSError:
    fail(1, "reading the stream failed")
finally:
    source.close()  # LiME sees the connection close; AVML sees its reader go
    hashing.put(None)
    for _ in range(CONCURRENCY):
        uploads.put(None)
    for t in threads:
        t.join()
if not failure:
    record("stream.sha256", whole.hexdigest() + "  -\n")
sys.exit(failure[0] if failure else 0)
PY

# Hashes and uploads one part file, then removes it. A confirmed part leaves done/<n> (its size) and
# <file>.ok; a failed one <file>.err. Runs in the background, so that the stream keeps flowing meanwhile.
send_part() { # n file url
    local n=$1 file=$2 url=$3 b64 size
    size=$(stat -c %s "$file")
    b64=$(hex_to_b64 "$(md5_hex "$file")")
    if http_put_part "$file" "$url" "$b64" >/dev/null; then
        echo "$size" >"$STAGE/done/$n"
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

# Reads the image on stdin and uploads it in parts (a background job: results go to files).
upload_parts() {
    local n=0 size banner=false urls part rc=0
    local tailf="$STAGE/part.tail" concurrency=$CONCURRENCY
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
        ((size == PART_SIZE)) || break
    done
    # Every part in flight ends before the result is known (a failure after a break is recorded too).
    while ((${#INFLIGHT_PIDS[@]} > 0)); do
        reap_part || { ((rc == 0)) && rc=6; }
    done
    return "$rc"
}

# The python3 streamer: one background process reads the tool's stream (LiME's socket or AVML's FIFO).
# It runs in the background so that `wait` returns at once when a signal comes, and the trap ends it.
stream_python() {
    local rc=0
    # The part URLs reach it through a pipe on fd 4: never argv, and not the environment either, where
    # one variable may hold at most 128 KiB (MAX_ARG_STRLEN) and a large host's URLs run to megabytes.
    if [[ $TOOL == lime ]]; then
        python3 -c "$STREAMER_PY" "$PART_SIZE" "$CONCURRENCY" "$STAGE" <&3 3<&- 4< <(printf '%s\n' "$IRF_PART_URLS" 3<&-) &
        UPLOAD_PID=$!
        exec 3<&-
    else
        python3 -c "$STREAMER_PY" "$PART_SIZE" "$CONCURRENCY" "$STAGE" <"$SOURCE_FIFO" 4< <(printf '%s\n' "$IRF_PART_URLS") &
        UPLOAD_PID=$!
    fi
    wait "$UPLOAD_PID" || rc=$?
    UPLOAD_PID=""
    # The streamer stopped early: stop the tool rather than let it block on a reader that is gone.
    ((rc == 0)) || kill "$INSMOD_PID" "$AVML_PID" 2>/dev/null
    [[ $TOOL == avml ]] && : >"$STAGE/avml.done"
    count_uploaded
    return "$rc"
}

# The coreutils streamer: tee (stream -> sha256sum and the part cutter) and the cutter run in the
# background, for the same reason.
stream_coreutils() {
    local sumfifo="$STAGE/sum.fifo" partfifo="$STAGE/part.fifo" rc=0 tee_rc=0
    mkfifo "$sumfifo" "$partfifo" || die 1 "mkfifo failed"
    # Only tee holds LiME's socket (fd 3): when tee ends, LiME sees the connection close.
    sha256sum <"$sumfifo" >"$STAGE/stream.sha256" 3<&- &
    SUM_PID=$!
    upload_parts <"$partfifo" 3<&- &
    UPLOAD_PID=$!
    if [[ $TOOL == lime ]]; then
        tee "$sumfifo" <&3 >"$partfifo" &
        TEE_PID=$!
        exec 3<&-
    else
        tee "$sumfifo" <"$SOURCE_FIFO" >"$partfifo" &
        TEE_PID=$!
    fi
    wait "$UPLOAD_PID" || rc=$?
    UPLOAD_PID=""
    if ((rc != 0)); then
        # The cutter stopped early: stop the tool so tee sees the end of its input.
        kill "$INSMOD_PID" "$AVML_PID" 2>/dev/null
    fi
    wait "$TEE_PID" || tee_rc=$?
    TEE_PID=""
    [[ $TOOL == avml ]] && : >"$STAGE/avml.done"
    wait "$SUM_PID"
    SUM_PID=""
    count_uploaded
    if ((rc == 0 && tee_rc != 0)); then
        err "reading the $TOOL stream failed (tee exit $tee_rc)"
    fi
    return "$rc"
}

stream() {
    local rc=0
    if [[ $STREAMER == python3 ]]; then
        stream_python || rc=$?
    else
        stream_coreutils || rc=$?
    fi

    # Tool epilogue: LiME's insmod returns once the dump is sent; AVML exits when done.
    local trc=0 why=""
    if [[ $TOOL == lime ]]; then
        wait "$INSMOD_PID" || trc=$?
        INSMOD_PID=""
        ((trc == 0 || rc != 0)) || why="insmod lime exited with $trc"
        unload_lime
    else
        wait "$AVML_PID" || trc=$?
        AVML_PID=""
        kill "$WATCHDOG_PID" 2>/dev/null
        wait "$WATCHDOG_PID" 2>/dev/null
        WATCHDOG_PID=""
        if ((trc != 0 && rc == 0)); then
            # AVML ends its error chain with the root cause ("    1: locked down /proc/kcore").
            why="avml exited with $trc: $(grep -v '^[[:space:]]*$' "$STAGE/avml.err" 2>/dev/null | tail -n 1 | sed 's/^[[:space:]]*\([0-9]*:[[:space:]]*\)\{0,1\}//')"
            why=${why%: }
        fi
    fi

    if ((rc != 0)); then
        # A partial stream has no meaningful whole-stream hash.
        die "$rc" "$(cat "$STAGE/upload.err" 2>/dev/null || echo "upload failed")"
    fi
    if [[ -n $why ]]; then
        # The tool did not deliver the whole image: what was uploaded stays listed, without a stream hash.
        if ((BYTES == 0)); then die 3 "$why"; fi
        die 9 "$why"
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
    CONCURRENCY=${IRF_UPLOAD_CONCURRENCY:-2}
    CONNECT_TIMEOUT=${IRF_CONNECT_TIMEOUT:-120}
    is_uint "$CONNECT_TIMEOUT" || die 2 "IRF_CONNECT_TIMEOUT must be a number of seconds"

    KERNEL_RELEASE=$(uname -r)
    case "$(uname -m)" in
        x86_64 | amd64) ARCH=x86_64 ;;
        aarch64 | arm64) ARCH=arm64 ;;
        *) die 2 "unsupported architecture $(uname -m)" ;;
    esac
    read_security_state
    choose_http
    choose_streamer
    choose_staging

    if [[ -n ${IRF_SESSION_URL:-} ]]; then
        http_get "$IRF_SESSION_URL" "$STAGE/session" || die 2 "session file download failed"
        [[ -n ${IRF_PART_URLS:-} ]] || IRF_PART_URLS=$(sed -n 's/^part //p' "$STAGE/session")
        [[ -n ${IRF_MODULE_URLS:-} ]] || IRF_MODULE_URLS=$(sed -n 's/^module //p' "$STAGE/session")
        rm -f -- "$STAGE/session"
        [[ -n $IRF_PART_URLS ]] || die 2 "the session file lists no part URLs"
        # Kept out of every child's environment: one variable may hold at most 128 KiB.
        export -n IRF_PART_URLS IRF_MODULE_URLS
    fi
    http_get "$IRF_INDEX_URL" "$STAGE/index.json" || die 3 "module store index download failed"

    if ! try_lime; then
        TOOL_VERSION=""
        log "falling back to AVML"
        try_avml || die 3 "no acquisition tool could be started"
    fi
    log "capturing with $TOOL${SOURCE:+ from $SOURCE} ($STREAMER streamer)"
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
