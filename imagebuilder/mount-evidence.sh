#!/bin/bash
# Mounts a case's evidence volumes read-only under /cases/<case-id>/<volume-id>/<partition>, at every boot
# of the analysis workstation (mounts do not survive the stop that idle-stop makes).
#
#   ext2/3/4  -t ext4 -o ro,noload              no journal replay
#   xfs       -t xfs  -o ro,norecovery,nouuid   no log replay; the evidence may carry this host's UUID
#   ntfs      -t ntfs-3g -o ro                  vfat, exfat: -o ro
#
# Every evidence block device is set read-only (blockdev --setro) before it is probed. LVM members,
# encrypted, swap and unknown content are listed in MOUNTS.txt and left alone: activating them writes.
# Settings come from /etc/ir-forensics/workstation.env (CASE_ID, EVIDENCE_DISKS), written by user data.
set -euo pipefail

env_file="${IRF_ENV_FILE:-/etc/ir-forensics/workstation.env}"
# shellcheck source=/dev/null
. "$env_file"
: "${CASE_ID:?CASE_ID is not set in $env_file}"
: "${EVIDENCE_DISKS:?EVIDENCE_DISKS is not set in $env_file}"
cases_root="${IRF_CASES_ROOT:-/cases}"
wait_seconds="${IRF_DISK_WAIT_SECONDS:-300}"
case_dir="$cases_root/$CASE_ID"
report="$case_dir/MOUNTS.txt"
failures=0

log() { echo "ir-forensics-mount-evidence: $*" >&2; }

record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$report"
}

# The disk that holds / is the workstation's own; every other disk is evidence.
root_disk() {
  local source parent
  source="$(findmnt -no SOURCE /)"
  parent="$(lsblk -no PKNAME "$source" | head -n1)"
  if [ -n "$parent" ]; then
    echo "/dev/$parent"
  else
    echo "$source"
  fi
}

evidence_disks() {
  local root name type
  root="$(root_disk)"
  while read -r name type; do
    if [ "$type" = "disk" ] && [ "$name" != "$root" ]; then
      echo "$name"
    fi
  done < <(lsblk -dnpo NAME,TYPE)
}

# EBS volumes on Nitro report their volume id (without the dash) as the NVMe serial number.
volume_name() {
  local serial
  serial="$(lsblk -dno SERIAL "$1" | tr -d '[:space:]')"
  if [[ "$serial" =~ ^vol([0-9a-f]{8,17})$ ]]; then
    echo "vol-${BASH_REMATCH[1]}"
  else
    basename "$1"
  fi
}

mount_one() {
  local device="$1" target="$2" fstype options type
  blockdev --setro "$device"
  fstype="$(blkid -p -o value -s TYPE "$device" || true)"
  case "$fstype" in
    ext2 | ext3 | ext4) type=ext4 options=ro,noload ;;
    xfs) type=xfs options=ro,norecovery,nouuid ;;
    ntfs) type=ntfs-3g options=ro ;;
    vfat | exfat) type="$fstype" options=ro ;;
    LVM2_member | crypto_LUKS | swap)
      record "-" "$device" "$fstype" "not mounted: activate or open by hand, read-only"
      return 0
      ;;
    *)
      record "-" "$device" "${fstype:-unknown}" "not mounted: no filesystem recognised"
      return 0
      ;;
  esac
  if mountpoint -q "$target"; then
    record "$target" "$device" "$fstype" "$options (already mounted)"
    return 0
  fi
  mkdir -p "$target"
  if mount -t "$type" -o "$options" "$device" "$target"; then
    record "$target" "$device" "$fstype" "$options"
  else
    record "-" "$device" "$fstype" "mount -t $type -o $options failed"
    failures=$((failures + 1))
  fi
}

mkdir -p "$case_dir"
printf 'mountpoint\tdevice\tfilesystem\toptions\n' >"$report"

# Evidence volumes are attached at launch; give slow attachments time to appear.
deadline=$(($(date +%s) + wait_seconds))
mapfile -t disks < <(evidence_disks)
while [ "${#disks[@]}" -lt "$EVIDENCE_DISKS" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 5
  mapfile -t disks < <(evidence_disks)
done
if [ "${#disks[@]}" -lt "$EVIDENCE_DISKS" ]; then
  log "expected $EVIDENCE_DISKS evidence disks, found ${#disks[@]}"
  failures=$((failures + 1))
fi

for disk in "${disks[@]}"; do
  volume="$(volume_name "$disk")"
  blockdev --setro "$disk"
  mapfile -t parts < <(lsblk -lnpo NAME,TYPE "$disk" | awk '$2 == "part" { print $1 }')
  if [ "${#parts[@]}" -eq 0 ]; then
    mount_one "$disk" "$case_dir/$volume/disk"
  else
    for part in "${parts[@]}"; do
      mount_one "$part" "$case_dir/$volume/$(basename "$part")"
    done
  fi
done

log "$(($(wc -l <"$report") - 1)) entries in $report"
exit $((failures > 0))
