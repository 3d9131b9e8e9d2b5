#!/usr/bin/env bash
# build-modules.sh: build LiME kernel modules and Volatility 3 symbol tables (ISF) on a short-lived
# builder instance launched from a fleet AMI, upload them to the module store, and power off. Run as
# root from the instance's user data (the module factory's launcher writes the environment below).
#
# Kernels covered: the AMI's running kernel and every newer kernel of the same flavour that the
# distribution's repositories offer (a patched fleet is covered before it reboots), newest first, at most
# IRF_MAX_KERNELS besides the running one; plus IRF_WANT_KERNELS (a kernel the engine met without a module;
# listed as "notOffered" when this distribution does not publish it); minus IRF_SKIP_KERNELS (already in the
# index with the current tool versions).
#
# Per kernel: headers from the distribution (kernel-devel / linux-headers), LiME built against them and
# checked with modinfo (vermagic must name that kernel), and, where the distribution publishes debug
# symbols (Amazon Linux / RHEL-family debuginfo repositories, Ubuntu ddebs, Debian debug archive), an ISF
# from dwarf2json of the debug vmlinux, xz-compressed. Otherwise the symbols are recorded "unavailable"
# with the reason.
#
# Tools are built from source at pinned commits: the clone must resolve to exactly IRF_*_COMMIT (git ids
# are content hashes) or the build stops; dwarf2json's Go dependencies are checked by its go.sum.
#
# Uploads (objects in the store's KMS-encrypted bucket, by the instance profile's credentials from IMDSv2,
# SigV4-signed here with openssl so that no AWS CLI is needed on the AMI):
#   lime/<arch>/<kernel-release>/lime.ko
#   symbols/<arch>/<kernel-release>.json.xz
#   builds/<build-id>/report.json      last: what was built and what failed; the factory's indexer
#                                       verifies every file's SHA-256 and merges the report into index.json.
#
# Termination: the instance is launched with shutdown behaviour "terminate". A hard limit is scheduled
# first (shutdown +IRF_MAX_MINUTES), and the EXIT trap powers off after the report, on success and failure.
#
# Inputs (environment):
#   IRF_BUCKET, IRF_BUCKET_REGION   required. The module store.
#   IRF_BUILD_ID                    required. Names builds/<build-id>/report.json ([A-Za-z0-9._-]).
#   IRF_SOURCE_AMI, IRF_SOURCE_REGION  required. Recorded in the report.
#   IRF_LIME_REPO, IRF_LIME_COMMIT, IRF_LIME_VERSION                  required.
#   IRF_DWARF2JSON_REPO, IRF_DWARF2JSON_COMMIT, IRF_DWARF2JSON_VERSION  required.
#   IRF_LIME_SOURCE_DIR   optional. LiME's source from a local directory instead of the pinned clone (a
#                         checkout with src/, or the sources themselves, e.g. Debian's lime-forensics-dkms);
#                         IRF_LIME_COMMIT is then recorded as given, not checked against a clone.
#   IRF_DWARF2JSON_BIN    optional. A dwarf2json binary to use instead of building the pinned clone, or
#                         "none": no symbol tables (each kernel's symbols are recorded unavailable, with why).
#   IRF_MAX_KERNELS    optional, default 6.    IRF_MAX_MINUTES  optional, default 120.
#   IRF_SKIP_KERNELS, IRF_WANT_KERNELS        optional, space-separated kernel releases.
# Test hooks (never set on a builder): IRF_ROOT (prefix of host paths such as /etc/os-release, /boot,
# /lib/modules), IRF_WORK_DIR, IRF_S3_ENDPOINT (path-style endpoint), AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (instead of IMDS), IRF_IMDS_ENDPOINT.
#
# Exit codes: 0 every selected kernel built (symbols may be unavailable), 1 some kernel failed,
# 2 bad input, 3 the build could not start (tools, checksum, package manager), 4 the report upload failed.
set -uo pipefail
umask 022
export LC_ALL=C

ROOT=${IRF_ROOT:-}
WORK=${IRF_WORK_DIR:-/var/tmp/irf-build}
IMDS=${IRF_IMDS_ENDPOINT:-http://169.254.169.254}
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)

ARCH=""
RUNNING=""
DIST_ID=""
CODENAME=""
DISTRIBUTION=""
FAMILY=""
ERRORS=()
RESULTS=()   # one JSON object per kernel
SKIPPED=()
NOT_OFFERED=()
REPORT_UPLOADED=false

log() { printf '%s build-modules: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# Free text for the report and index: no braces, quotes, backslashes or control characters.
clean() { printf '%s' "$*" | tr -d '{}"\134' | tr '\000-\037\177' ' ' | cut -c1-1000; }
err() {
    log "ERROR: $*"
    ERRORS+=("$(clean "$*")")
}
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
sha256_hex() { sha256sum "$1" | cut -d' ' -f1; }

# ------------------------------------------------------------------ S3 uploads (SigV4, no AWS CLI)
CRED_KEY=""
CRED_SECRET=""
CRED_TOKEN=""

load_credentials() {
    if [[ -n ${AWS_ACCESS_KEY_ID:-} && -n ${AWS_SECRET_ACCESS_KEY:-} ]]; then
        CRED_KEY=$AWS_ACCESS_KEY_ID CRED_SECRET=$AWS_SECRET_ACCESS_KEY CRED_TOKEN=${AWS_SESSION_TOKEN:-}
        return 0
    fi
    local token role doc
    token=$(curl -sS --fail -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 900' "$IMDS/latest/api/token") || return 1
    role=$(curl -sS --fail -m 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/iam/security-credentials/") || return 1
    doc=$(curl -sS --fail -m 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/iam/security-credentials/${role%%$'\n'*}") || return 1
    CRED_KEY=$(json_string "$doc" AccessKeyId)
    CRED_SECRET=$(json_string "$doc" SecretAccessKey)
    CRED_TOKEN=$(json_string "$doc" Token)
    [[ -n $CRED_KEY && -n $CRED_SECRET ]]
}

json_string() { # json key: the first "key" : "value" (values without quotes or backslashes)
    printf '%s' "$1" | tr -d '\n' | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
hmac_hex() { # hex-key data
    printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" | sed 's/^.*= *//'
}
sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# Object keys hold [A-Za-z0-9._~/+-]; '+' must be percent-encoded in the path.
uri_path() { printf '%s' "$1" | sed 's/+/%2B/g'; }

# Prints the Authorization header value for an S3 request (SigV4, signed headers host, x-amz-*).
sigv4_authorization() { # method canonical-path host payload-sha256 amz-date region key secret token
    local method=$1 path=$2 host=$3 payload=$4 amzdate=$5 region=$6 key=$7 secret=$8 token=$9
    local day=${amzdate%%T*} headers signed creq scope sts k
    headers="host:$host"$'\n'"x-amz-content-sha256:$payload"$'\n'"x-amz-date:$amzdate"$'\n'
    signed="host;x-amz-content-sha256;x-amz-date"
    if [[ -n $token ]]; then
        headers+="x-amz-security-token:$token"$'\n'
        signed+=";x-amz-security-token"
    fi
    creq="$method"$'\n'"$path"$'\n'$'\n'"$headers"$'\n'"$signed"$'\n'"$payload"
    scope="$day/$region/s3/aws4_request"
    sts="AWS4-HMAC-SHA256"$'\n'"$amzdate"$'\n'"$scope"$'\n'"$(sha256_of "$creq")"
    k=$(hmac_hex "$(hex_of "AWS4$secret")" "$day")
    k=$(hmac_hex "$k" "$region")
    k=$(hmac_hex "$k" "s3")
    k=$(hmac_hex "$k" "aws4_request")
    printf 'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' "$key" "$scope" "$signed" "$(hmac_hex "$k" "$sts")"
}

s3_put() { # file key
    local file=$1 key=$2 base host path payload amzdate auth attempt
    if [[ -n ${IRF_S3_ENDPOINT:-} ]]; then
        base=${IRF_S3_ENDPOINT%/}
        host=${base#*://}
        path="/$IRF_BUCKET/$(uri_path "$key")"
    else
        host="$IRF_BUCKET.s3.$IRF_BUCKET_REGION.amazonaws.com"
        base="https://$host"
        path="/$(uri_path "$key")"
    fi
    payload=$(sha256_hex "$file")
    for attempt in 1 2 3 4; do
        # Instance profile credentials rotate: take fresh ones for every attempt.
        if ! load_credentials; then
            log "no credentials (attempt $attempt)"
            ((attempt < 4)) && sleep $((attempt * 5))
            continue
        fi
        amzdate=$(date -u +%Y%m%dT%H%M%SZ)
        auth=$(sigv4_authorization PUT "$path" "$host" "$payload" "$amzdate" "$IRF_BUCKET_REGION" "$CRED_KEY" "$CRED_SECRET" "$CRED_TOKEN")
        local extra=()
        [[ -n $CRED_TOKEN ]] && extra=(-H "x-amz-security-token: $CRED_TOKEN")
        if curl -sS --fail -m 600 -X PUT -T "$file" \
            -H "Authorization: $auth" -H "x-amz-date: $amzdate" -H "x-amz-content-sha256: $payload" \
            ${extra[@]+"${extra[@]}"} -o /dev/null "$base$path"; then
            return 0
        fi
        log "upload of $key failed (attempt $attempt)"
        ((attempt < 4)) && sleep $((attempt * 5))
    done
    return 1
}

# ------------------------------------------------------------------ host facts
detect_host() {
    local os_release="$ROOT/etc/os-release" ID="" VERSION_ID="" ID_LIKE="" VERSION_CODENAME=""
    [[ -r $os_release ]] || { err "no $os_release"; return 1; }
    # shellcheck disable=SC1090
    . "$os_release"
    DISTRIBUTION=$(clean "$ID $VERSION_ID")
    case " $ID $ID_LIKE " in
        *" amzn "* | *" rhel "* | *" fedora "* | *" centos "*) FAMILY=rpm ;;
        *" debian "* | *" ubuntu "*) FAMILY=deb ;;
        *) err "unsupported distribution $ID (supported: Amazon Linux, RHEL family, Ubuntu, Debian)"; return 1 ;;
    esac
    DIST_ID=$ID
    CODENAME=$VERSION_CODENAME
    case "$(uname -m)" in
        x86_64) ARCH=x86_64 ;;
        aarch64 | arm64) ARCH=arm64 ;;
        *) err "unsupported architecture $(uname -m)"; return 1 ;;
    esac
    RUNNING=$(uname -r)
}

pkg_install() { # packages...
    if [[ $FAMILY == rpm ]]; then
        if command -v dnf >/dev/null; then dnf -y -q install "$@"; else yum -y -q install "$@"; fi
    else
        DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends "$@"
    fi
}

# Kernel releases of the running kernel's flavour that the repositories offer.
available_kernels() {
    if [[ $FAMILY == rpm ]]; then
        # kernel-devel's version-release.arch is the kernel release (uname -r) on the RHEL family.
        local q=(repoquery)
        command -v dnf >/dev/null && q=(dnf -q repoquery)
        "${q[@]}" --qf '%{version}-%{release}.%{arch}' "kernel-devel.$(uname -m)" 2>/dev/null
    else
        # 6.8.0-1012-aws -> flavour "aws"; 6.1.0-18-cloud-amd64 -> "cloud-amd64".
        local flavour
        flavour=$(printf '%s' "$RUNNING" | sed -E 's/^[0-9.]+-[0-9]+-//')
        apt-cache search --names-only "^linux-headers-[0-9.]+-[0-9]+-${flavour}\$" 2>/dev/null |
            cut -d' ' -f1 | sed 's/^linux-headers-//'
    fi | grep -E '^[A-Za-z0-9._+~-]+$' | sort -u
}

in_list() { # word list...
    local w=$1 x
    shift
    for x in "$@"; do [[ $x == "$w" ]] && return 0; done
    return 1
}

# The kernels to build, one per line: the running one, wanted ones, then the newest newer ones.
select_kernels() {
    local offered newer=() k skip=() want=()
    read -r -a skip <<<"${IRF_SKIP_KERNELS:-}"
    read -r -a want <<<"${IRF_WANT_KERNELS:-}"
    offered=$(available_kernels)
    while IFS= read -r k; do
        [[ -n $k && $k != "$RUNNING" ]] || continue
        # sort -V: newer than the running kernel.
        if [[ $(printf '%s\n%s\n' "$RUNNING" "$k" | sort -V | tail -n 1) == "$k" ]]; then
            newer+=("$k")
        fi
    done <<<"$offered"
    {
        printf '%s\n' "$RUNNING"
        printf '%s\n' ${want[@]+"${want[@]}"}
        printf '%s\n' ${newer[@]+"${newer[@]}"} | sort -rV | head -n "${IRF_MAX_KERNELS:-6}"
    } | awk 'NF && !seen[$0]++' | while IFS= read -r k; do
        if in_list "$k" ${skip[@]+"${skip[@]}"}; then
            printf 'skip %s\n' "$k"
        elif [[ $k != "$RUNNING" ]] && ! grep -qxF -- "$k" <<<"$offered"; then
            # A kernel the engine asked for that this distribution does not publish: another AMI's build will have it.
            printf 'absent %s\n' "$k"
        else
            printf 'build %s\n' "$k"
        fi
    done
}

# ------------------------------------------------------------------ tools
LIME_SRC=""
DWARF2JSON=""
DWARF2JSON_PROBLEM=""

clone_pinned() { # repo commit dir
    git clone --quiet "$1" "$3" || return 1
    git -C "$3" checkout --quiet --detach "$2" 2>/dev/null || return 1
    local head
    head=$(git -C "$3" rev-parse HEAD) || return 1
    if [[ $head != "$2" ]]; then
        err "$1 resolved to $head, not the pinned commit $2"
        return 1
    fi
}

prepare_tools() {
    local base=(git make gcc xz tar)
    # Cloud images ship without (or with stale) apt lists: nothing is installable before an update.
    [[ $FAMILY == deb ]] && { DEBIAN_FRONTEND=noninteractive apt-get -q update >&2 || log "apt-get update failed"; }
    if [[ $FAMILY == rpm ]]; then base+=(elfutils-libelf-devel golang); else base+=(build-essential libelf-dev xz-utils golang-go); fi
    pkg_install "${base[@]}" || log "some build packages did not install; continuing with what is there"
    LIME_SRC="$WORK/lime"
    if [[ -n ${IRF_LIME_SOURCE_DIR:-} ]]; then
        local from=$IRF_LIME_SOURCE_DIR
        [[ -f $from/src/Makefile ]] || from=$(dirname "$from/x")
        [[ -f $from/Makefile || -f $from/src/Makefile ]] || { err "IRF_LIME_SOURCE_DIR holds no LiME Makefile"; return 1; }
        rm -rf -- "$LIME_SRC" && mkdir -p "$LIME_SRC/src" || return 1
        if [[ -f $from/src/Makefile ]]; then cp -R "$from/src/." "$LIME_SRC/src/"; else cp -R "$from/." "$LIME_SRC/src/"; fi || return 1
        log "LiME source from $IRF_LIME_SOURCE_DIR"
    else
        clone_pinned "$IRF_LIME_REPO" "$IRF_LIME_COMMIT" "$LIME_SRC" || { err "LiME source at $IRF_LIME_COMMIT unavailable"; return 1; }
    fi
    local d2j="$WORK/dwarf2json"
    if [[ ${IRF_DWARF2JSON_BIN:-} == none ]]; then
        DWARF2JSON_PROBLEM="no dwarf2json on this builder (IRF_DWARF2JSON_BIN=none)"
    elif [[ -n ${IRF_DWARF2JSON_BIN:-} ]]; then
        if [[ -x $IRF_DWARF2JSON_BIN ]]; then DWARF2JSON=$IRF_DWARF2JSON_BIN; else DWARF2JSON_PROBLEM="IRF_DWARF2JSON_BIN is not an executable"; fi
    elif ! command -v go >/dev/null; then
        DWARF2JSON_PROBLEM="no Go toolchain to build dwarf2json on this distribution"
    elif ! clone_pinned "$IRF_DWARF2JSON_REPO" "$IRF_DWARF2JSON_COMMIT" "$d2j"; then
        err "dwarf2json source at $IRF_DWARF2JSON_COMMIT unavailable"
        return 1
    elif ! (cd "$d2j" && GOFLAGS=-mod=readonly GOPATH="$WORK/go" GOCACHE="$WORK/go-cache" go build -o "$WORK/bin/dwarf2json" .); then
        DWARF2JSON_PROBLEM="dwarf2json did not build"
    else
        DWARF2JSON="$WORK/bin/dwarf2json"
    fi
    [[ -z $DWARF2JSON_PROBLEM ]] || log "symbols unavailable for every kernel: $DWARF2JSON_PROBLEM"
}

# ------------------------------------------------------------------ per kernel
kernel_headers() { # kernel-release -> prints the build directory
    local kr=$1 d
    if [[ $FAMILY == rpm ]]; then pkg_install "kernel-devel-$kr" >&2; else pkg_install "linux-headers-$kr" >&2; fi
    for d in "$ROOT/lib/modules/$kr/build" "$ROOT/usr/src/kernels/$kr" "$ROOT/usr/src/linux-headers-$kr"; do
        [[ -f $d/Makefile ]] && { printf '%s' "$d"; return 0; }
    done
    return 1
}

build_lime() { # kernel-release kdir out.ko
    local kr=$1 kdir=$2 out=$3 src="$WORK/build/$1/lime"
    rm -rf -- "$src" && mkdir -p "$src" && cp -R "$LIME_SRC/src/." "$src/" || return 1
    make -s -C "$kdir" M="$src" modules >&2 || return 1
    [[ -s $src/lime.ko ]] || return 1
    strip --strip-unneeded "$src/lime.ko" 2>/dev/null || true
    local vermagic
    vermagic=$(modinfo -F vermagic "$src/lime.ko") || return 1
    if [[ ${vermagic%% *} != "$kr" ]]; then
        err "lime.ko for $kr has vermagic '$(clean "$vermagic")'"
        return 1
    fi
    mv -- "$src/lime.ko" "$out"
}

# Installs the kernel's debug vmlinux and sets VMLINUX, or sets SYMBOLS_REASON and returns 1.
VMLINUX=""
SYMBOLS_REASON=""
debug_vmlinux() { # kernel-release
    local kr=$1 f
    VMLINUX="" SYMBOLS_REASON=""
    case "$FAMILY/$DIST_ID" in
        rpm/*)
            if ! { command -v dnf >/dev/null && dnf -y -q --enablerepo='*debuginfo*' install "kernel-debuginfo-$kr" >&2; } &&
                ! { command -v yum >/dev/null && yum -y -q --enablerepo='*debuginfo*' install "kernel-debuginfo-$kr" >&2; }; then
                SYMBOLS_REASON="kernel-debuginfo-$kr is not in this AMI's debuginfo repositories (RHEL needs an entitlement for them)"
                return 1
            fi
            f="$ROOT/usr/lib/debug/lib/modules/$kr/vmlinux"
            ;;
        deb/ubuntu)
            if ! enable_ubuntu_ddebs || ! { pkg_install "linux-image-unsigned-$kr-dbgsym" >&2 || pkg_install "linux-image-$kr-dbgsym" >&2; }; then
                SYMBOLS_REASON="no dbgsym package for $kr on ddebs.ubuntu.com"
                return 1
            fi
            f="$ROOT/usr/lib/debug/boot/vmlinux-$kr"
            ;;
        deb/debian)
            if ! enable_debian_debug || ! pkg_install "linux-image-$kr-dbg" >&2; then
                SYMBOLS_REASON="no linux-image-$kr-dbg package in the Debian debug archive"
                return 1
            fi
            f="$ROOT/usr/lib/debug/boot/vmlinux-$kr"
            [[ -f $f ]] || f="$ROOT/usr/lib/debug/lib/modules/$kr/vmlinux"
            ;;
        *)
            SYMBOLS_REASON="no debug symbol repository is known for $DIST_ID"
            return 1
            ;;
    esac
    [[ -f $f ]] || { SYMBOLS_REASON="the debug package for $kr has no vmlinux"; return 1; }
    VMLINUX=$f
}

DDEBS_READY=""
enable_ubuntu_ddebs() {
    [[ -n $DDEBS_READY ]] && return "$DDEBS_READY"
    DDEBS_READY=1
    pkg_install ubuntu-dbgsym-keyring >&2 || return 1
    printf 'deb http://ddebs.ubuntu.com %s main restricted universe multiverse\ndeb http://ddebs.ubuntu.com %s-updates main restricted universe multiverse\n' \
        "$CODENAME" "$CODENAME" >"$ROOT/etc/apt/sources.list.d/ddebs.list" || return 1
    apt-get -q update >&2 || return 1
    DDEBS_READY=0
}

DEBUG_READY=""
enable_debian_debug() {
    [[ -n $DEBUG_READY ]] && return "$DEBUG_READY"
    DEBUG_READY=1
    printf 'deb http://deb.debian.org/debian-debug %s-debug main\n' "$CODENAME" >"$ROOT/etc/apt/sources.list.d/debian-debug.list" || return 1
    apt-get -q update >&2 || return 1
    DEBUG_READY=0
}

banner_of() { # kernel-release [vmlinux]
    local kr=$1 vmlinux=${2:-} b=""
    if [[ $kr == "$RUNNING" && -r $ROOT/proc/version ]]; then
        b=$(head -n 1 "$ROOT/proc/version")
    elif [[ -n $vmlinux ]]; then
        b=$(grep -a -o -m 1 "Linux version $kr [[:print:]]*" "$vmlinux" | head -n 1)
    fi
    # Without the image, the banner's known prefix (the reader matches modules by release, not banner).
    [[ $b == "Linux version $kr "* ]] || b="Linux version $kr"
    clean "$b"
}

build_kernel() { # kernel-release
    local kr=$1 kdir out="$WORK/out/$1" lime_key sym_key lime_sha reason="" banner
    local symbols_status=unavailable symbols_json=""
    mkdir -p "$out"
    if ! kdir=$(kernel_headers "$kr"); then
        kernel_failed "$kr" headers "headers for $kr are not installable from the repositories"
        return 1
    fi
    if ! build_lime "$kr" "$kdir" "$out/lime.ko"; then
        kernel_failed "$kr" lime "LiME did not build against $kr"
        return 1
    fi
    VMLINUX=""
    if [[ -n $DWARF2JSON_PROBLEM ]]; then
        reason=$DWARF2JSON_PROBLEM
    elif debug_vmlinux "$kr"; then
        local map=()
        [[ -f $ROOT/boot/System.map-$kr ]] && map=(--system-map "$ROOT/boot/System.map-$kr")
        if "$DWARF2JSON" linux --elf "$VMLINUX" ${map[@]+"${map[@]}"} 2>"$out/dwarf2json.err" | xz -T0 -6 >"$out/symbols.json.xz" &&
            [[ -s $out/symbols.json.xz ]] && xz -t "$out/symbols.json.xz"; then
            symbols_status=available
        else
            reason="dwarf2json failed: $(tail -n 1 "$out/dwarf2json.err")"
        fi
    else
        reason=$SYMBOLS_REASON
    fi
    banner=$(banner_of "$kr" "$VMLINUX")
    lime_key="lime/$ARCH/$kr/lime.ko"
    lime_sha=$(sha256_hex "$out/lime.ko")
    if [[ $symbols_status == available ]]; then
        sym_key="symbols/$ARCH/$kr.json.xz"
        s3_put "$out/symbols.json.xz" "$sym_key" || { kernel_failed "$kr" upload "upload of $sym_key failed"; return 1; }
        symbols_json=$(printf '"symbolsStatus":"available","symbolsPath":"%s","symbolsSha256":"%s","dwarf2jsonVersion":"%s"' \
            "$sym_key" "$(sha256_hex "$out/symbols.json.xz")" "$IRF_DWARF2JSON_VERSION")
    else
        symbols_json=$(printf '"symbolsStatus":"unavailable","symbolsReason":"%s"' "$(clean "${reason:-unknown}")")
        log "symbols for $kr unavailable: ${reason:-unknown}"
    fi
    s3_put "$out/lime.ko" "$lime_key" || { kernel_failed "$kr" upload "upload of $lime_key failed"; return 1; }
    RESULTS+=("$(printf '{"kernelRelease":"%s","status":"built","path":"%s","sha256":"%s","version":"%s","banner":"%s","builtAt":"%s",%s}' \
        "$kr" "$lime_key" "$lime_sha" "$IRF_LIME_VERSION" "$banner" "$(now)" "$symbols_json")")
    log "built $kr (symbols $symbols_status)"
}

kernel_failed() { # kernel-release step reason
    log "FAILED $1 at $2: $3"
    RESULTS+=("$(printf '{"kernelRelease":"%s","status":"failed","step":"%s","reason":"%s"}' "$1" "$2" "$(clean "$3")")")
}

# ------------------------------------------------------------------ report and exit
join_by_comma() { local IFS=,; printf '%s' "$*"; }

write_report() { # file
    local errors=() e s=() n=()
    for e in ${ERRORS[@]+"${ERRORS[@]}"}; do errors+=("\"$e\""); done
    for e in ${SKIPPED[@]+"${SKIPPED[@]}"}; do s+=("\"$e\""); done
    for e in ${NOT_OFFERED[@]+"${NOT_OFFERED[@]}"}; do n+=("\"$e\""); done
    printf '{"schemaVersion":1,"buildId":"%s","sourceAmi":"%s","sourceRegion":"%s","arch":"%s","distribution":"%s","runningKernel":"%s",' \
        "$IRF_BUILD_ID" "$(clean "${IRF_SOURCE_AMI:-}")" "$(clean "${IRF_SOURCE_REGION:-}")" "$ARCH" "$DISTRIBUTION" "$(clean "$RUNNING")" >"$1"
    printf '"tools":{"lime":"%s","limeCommit":"%s","dwarf2json":"%s","dwarf2jsonCommit":"%s"},' \
        "$(clean "${IRF_LIME_VERSION:-}")" "$(clean "${IRF_LIME_COMMIT:-}")" "$(clean "${IRF_DWARF2JSON_VERSION:-}")" "$(clean "${IRF_DWARF2JSON_COMMIT:-}")" >>"$1"
    printf '"startedAt":"%s","finishedAt":"%s","kernels":[%s],"skipped":[%s],"notOffered":[%s],"errors":[%s]}\n' \
        "$STARTED_AT" "$(now)" "$(join_by_comma ${RESULTS[@]+"${RESULTS[@]}"})" "$(join_by_comma ${s[@]+"${s[@]}"})" \
        "$(join_by_comma ${n[@]+"${n[@]}"})" \
        "$(join_by_comma ${errors[@]+"${errors[@]}"})" >>"$1"
}

finish() {
    local rc=$?
    trap - EXIT
    if [[ ${IRF_BUILD_ID:-} =~ ^[A-Za-z0-9._-]{1,128}$ && -n ${IRF_BUCKET:-} && -n ${IRF_BUCKET_REGION:-} ]] &&
        mkdir -p "$WORK" && write_report "$WORK/report.json"; then
        if s3_put "$WORK/report.json" "builds/$IRF_BUILD_ID/report.json"; then
            REPORT_UPLOADED=true
        else
            log "ERROR: the build report could not be uploaded"
        fi
    fi
    $REPORT_UPLOADED || ((rc != 0)) || rc=4
    log "done (exit $rc); powering off"
    # Shutdown behaviour "terminate": powering off ends the instance and its volumes.
    shutdown -h now "ir-forensics module build finished" >&2 || poweroff >&2 || true
    exit "$rc"
}

check_inputs() {
    local v
    for v in IRF_BUCKET IRF_BUCKET_REGION IRF_BUILD_ID IRF_SOURCE_AMI IRF_SOURCE_REGION IRF_LIME_REPO IRF_LIME_COMMIT IRF_LIME_VERSION \
        IRF_DWARF2JSON_REPO IRF_DWARF2JSON_COMMIT IRF_DWARF2JSON_VERSION; do
        [[ -n ${!v:-} ]] || { err "$v is required"; return 1; }
    done
    [[ $IRF_BUILD_ID =~ ^[A-Za-z0-9._-]{1,128}$ ]] || { err "IRF_BUILD_ID has characters other than A-Za-z0-9._-"; return 1; }
    [[ $IRF_LIME_COMMIT =~ ^[0-9a-f]{40}$ && $IRF_DWARF2JSON_COMMIT =~ ^[0-9a-f]{40}$ ]] || { err "tool commits must be 40 hex digits"; return 1; }
    [[ ${IRF_MAX_KERNELS:-6} =~ ^[0-9]+$ && ${IRF_MAX_MINUTES:-120} =~ ^[0-9]+$ ]] || { err "IRF_MAX_KERNELS and IRF_MAX_MINUTES must be integers"; return 1; }
}

main() {
    trap finish EXIT
    trap 'exit 1' INT TERM
    check_inputs || exit 2
    # The hard limit, before anything can hang.
    shutdown -h "+${IRF_MAX_MINUTES:-120}" "ir-forensics module build time limit" >&2 || err "could not schedule the time limit"
    mkdir -p "$WORK/bin" "$WORK/out" "$WORK/build" || { err "cannot create $WORK"; exit 3; }
    detect_host || exit 3
    log "building on $DISTRIBUTION $ARCH, running kernel $RUNNING"
    prepare_tools || exit 3
    local action kr failed=0
    while read -r action kr; do
        [[ $kr =~ ^[A-Za-z0-9._+~-]{1,128}$ ]] || { err "ignoring a malformed kernel release"; continue; }
        if [[ $action == skip ]]; then
            SKIPPED+=("$kr")
        elif [[ $action == absent ]]; then
            NOT_OFFERED+=("$kr")
        else
            build_kernel "$kr" || failed=1
        fi
    done < <(select_kernels)
    exit "$failed"
}

# Run unless sourced (the tests source it to check the signing functions).
if ! (return 0 2>/dev/null); then
    main "$@"
fi
