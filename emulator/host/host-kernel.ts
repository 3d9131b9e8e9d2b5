/**
 * The kernel state of an emulated suspect host, as files under a fake root (IRF_SYSROOT): what
 * imagebuilder/acquire-memory.sh reads from /proc and /sys on a real host, and what the insmod/rmmod
 * shims (emulator/host/host-shims) change. One root per host, kept across commands, so that what a killed run
 * leaves behind (a loaded lime module, a raised taint) is still there for the next one, as on a host.
 */
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Memory sources AVML 0.20 can read (its `--source` values). */
export type AvmlSource = "/proc/kcore" | "/dev/crash" | "/dev/mem";

export interface HostKernelState {
    /** Kernel lockdown mode (/sys/kernel/security/lockdown); default "none". */
    lockdown?: "none" | "integrity" | "confidentiality";
    /** Booted with EFI (default true); Secure Boot on (default false). */
    efi?: boolean;
    secureBoot?: boolean;
    /** /proc/sys/kernel/tainted at boot (default 0). */
    taint?: number;
    /**
     * Sources AVML can open. Default: /proc/kcore, unless lockdown is "confidentiality" (which closes it);
     * /dev/mem is closed under any lockdown (kernel_lockdown(7)).
     */
    avmlSources?: AvmlSource[];
    /** A lime module someone else loaded, with this `path` parameter (e.g. a responder's "/tmp/mem.lime"). */
    limeLoadedWithPath?: string;
}

const SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-e98c0101ec3f";
const LOCKDOWN_MODES = ["none", "integrity", "confidentiality"] as const;

/** The sources a host in this state lets AVML open. */
export function avmlSources(state: HostKernelState): AvmlSource[] {
    if (state.avmlSources) {
        return state.avmlSources;
    }
    return state.lockdown === "confidentiality" ? [] : ["/proc/kcore"];
}

/** Creates the fake root (once) and returns its path. */
export function makeHostRoot(dir: string, state: HostKernelState = {}): string {
    if (fs.existsSync(path.join(dir, "proc"))) {
        return dir;
    }
    const write = (rel: string, content: string | Buffer) => {
        const file = path.join(dir, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
    };
    write("proc/sys/kernel/tainted", `${state.taint ?? 0}\n`);
    write("proc/sys/kernel/random/boot_id", `${randomUUID()}\n`);
    const mode = state.lockdown ?? "none";
    write("sys/kernel/security/lockdown", `${LOCKDOWN_MODES.map((m) => (m === mode ? `[${m}]` : m)).join(" ")}\n`);
    if (state.efi !== false) {
        // An EFI variable: 4 bytes of attributes (NV, BS, RT), then the value.
        write(`sys/firmware/efi/efivars/${SECURE_BOOT_VAR}`, Buffer.from([0x06, 0, 0, 0, state.secureBoot ? 1 : 0]));
    }
    fs.mkdirSync(path.join(dir, "sys/module"), { recursive: true });
    for (const source of avmlSources(state)) {
        const file = path.join(dir, source);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        // /proc/kcore's size is physical memory + a header: AVML wants more than 0x2000 bytes.
        fs.writeFileSync(file, "");
        fs.truncateSync(file, source === "/proc/kcore" ? 1 << 30 : 0);
    }
    if (state.limeLoadedWithPath) {
        write("sys/module/lime/parameters/path", `${state.limeLoadedWithPath}\n`);
    }
    return dir;
}

/** The environment the shims need for this host (the fake root and AVML's sources). */
export function hostKernelEnv(root: string, state: HostKernelState = {}): Record<string, string> {
    return { IRF_SYSROOT: root, FAKE_AVML_SOURCES: avmlSources(state).join(",") };
}
