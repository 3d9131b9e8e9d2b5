/**
 * The lab's suspect host: a Debian kernel from Debian's packages booted in QEMU on a debootstrap root, whose
 * PID 1 (guest-init.sh) plays the SSM agent. The guest reaches exactly two loopback ports of this machine,
 * through QEMU user networking with `restrict=on` and `guestfwd`: the agent channel (10.0.2.100:8001) and the
 * instance's network path (10.0.2.100:3128, relayed to the SSM host emulator's network gate of the running
 * command, so that the guest's HTTP meets the same security groups and routes as a shimmed host's).
 */
import { ChildProcess, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { RemoteExecutor } from "../../emulator/host/ssm-host";
import { run } from "./commands";

const INIT = path.join(__dirname, "guest-init.sh");
/**
 * Packages of the guest's root beyond minbase: what the host script and the planted shells need, python3
 * included (stock cloud images have it, and the host script streams with it when present).
 */
export const GUEST_PACKAGES = ["bash", "curl", "kmod", "coreutils", "procps", "iproute2", "python3"];
const SUITE = "bookworm";
const MIRROR = "http://deb.debian.org/debian";

/** The root filesystem image, built once per package list and init script (`.cache/lab/rootfs-<key>.ext4`). */
export async function guestRoot(cacheDir: string, log: (line: string) => void): Promise<string> {
    const key = createHash("sha256").update(JSON.stringify([SUITE, GUEST_PACKAGES, fs.readFileSync(INIT, "utf8")])).digest("hex").slice(0, 16);
    const image = path.join(cacheDir, `rootfs-${key}.ext4`);
    if (fs.existsSync(image)) {
        return image;
    }
    const tree = path.join(cacheDir, `rootfs-${key}.d`);
    fs.rmSync(tree, { recursive: true, force: true });
    log(`lab: debootstrap ${SUITE} (minbase + ${GUEST_PACKAGES.join(",")})`);
    await run("debootstrap", ["--variant=minbase", `--include=${GUEST_PACKAGES.join(",")}`, SUITE, tree, MIRROR]);
    fs.copyFileSync(INIT, path.join(tree, "sbin", "irf-lab-init"));
    fs.chmodSync(path.join(tree, "sbin", "irf-lab-init"), 0o755);
    for (const junk of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
        fs.rmSync(path.join(tree, junk), { recursive: true, force: true });
        fs.mkdirSync(path.join(tree, junk), { recursive: true });
    }
    // mkfs.ext4 -d fills the file system from the tree: no loop mount.
    const partial = `${image}.partial`;
    await run("mkfs.ext4", ["-q", "-F", "-L", "irf-lab-root", "-d", tree, partial, "768M"]);
    fs.renameSync(partial, image);
    fs.rmSync(tree, { recursive: true, force: true });
    return image;
}

export interface GuestOptions {
    kernel: string;
    initrd: string;
    root: string;
    ramMiB: number;
    /** Extra kernel arguments (e.g. `lockdown=integrity`, `irf.shm=noexec`). */
    append?: string;
    consoleLog: string;
    log: (line: string) => void;
}

/** What the guest said about itself at boot. */
export interface GuestInfo {
    kernelRelease: string;
    lockdown: string;
    tainted: number;
    mounts: string;
    /** "System RAM" ranges of /proc/iomem, inclusive. */
    ramRanges: { start: bigint; end: bigint }[];
    la57: boolean;
    accel: "kvm" | "tcg";
    bootMs: number;
}

interface Job {
    id: string;
    script: string;
    proxyPort: number;
    state: "queued" | "running" | "cancel";
    stdout?: string;
    stderr?: string;
    done: (code: number | null) => void;
}

export interface Guest extends RemoteExecutor {
    info: GuestInfo;
    stop(): Promise<void>;
}

/** Whether this machine's KVM can run a stock kernel (PVM, as on these machines, cannot). */
function kvmUsable(): boolean {
    try {
        fs.accessSync("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
    } catch {
        return false;
    }
    return !fs.existsSync("/sys/module/kvm_pvm");
}

async function listen(server: net.Server): Promise<number> {
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
}

/** Boots the guest and resolves once its agent has reported in. */
export async function bootGuest(options: GuestOptions): Promise<Guest> {
    const jobs: Job[] = [];
    const byId = new Map<string, Job>();
    const waiters: ((job: Job) => void)[] = [];
    let booted: ((info: string) => void) | undefined;
    const bootReport = new Promise<string>((resolve) => { booted = resolve; });
    let relayTarget = 0;

    const readAll = (req: http.IncomingMessage) => new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
    const agent = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://guest");
        const parts = url.pathname.split("/").filter(Boolean);
        void (async () => {
            if (parts[0] === "booted") {
                booted?.((await readAll(req)).toString());
                res.end();
            } else if (parts[0] === "next") {
                const job = jobs.shift() ?? await new Promise<Job | undefined>((resolve) => {
                    const waiter = (j: Job) => { clearTimeout(timer); resolve(j); };
                    // A long poll: answered empty after 25 s (the guest's curl waits 40 s).
                    const timer = setTimeout(() => {
                        waiters.splice(waiters.indexOf(waiter), 1);
                        resolve(undefined);
                    }, 25_000);
                    waiters.push(waiter);
                });
                if (!job) {
                    res.writeHead(204).end();
                    return;
                }
                job.state = "running";
                relayTarget = job.proxyPort;
                res.writeHead(200, { "x-irf-job": job.id }).end(job.script);
            } else if (parts[0] === "state") {
                res.end(byId.get(parts[1] ?? "")?.state ?? "unknown");
            } else if (parts[0] === "done") {
                const job = byId.get(parts[1] ?? "");
                const body = (await readAll(req)).toString();
                if (job && parts[2] === "stdout") {
                    job.stdout = body;
                } else if (job && parts[2] === "stderr") {
                    job.stderr = body;
                } else if (job && parts[2] === "exit") {
                    const code = Number(url.searchParams.get("code"));
                    byId.delete(job.id);
                    job.done(job.state === "cancel" ? null : code);
                }
                res.end();
            } else {
                res.writeHead(404).end();
            }
        })().catch(() => res.destroy());
    });
    // The instance's network path: every guest connection to 10.0.2.100:3128 goes to the gate of the command that runs.
    const relay = net.createServer((guestSide) => {
        const gateSide = net.connect(relayTarget, "127.0.0.1");
        guestSide.pipe(gateSide).pipe(guestSide);
        const close = () => { guestSide.destroy(); gateSide.destroy(); };
        guestSide.on("error", close);
        gateSide.on("error", close);
    });
    const agentPort = await listen(agent);
    const relayPort = await listen(relay);

    const started = Date.now();
    const accel: "kvm" | "tcg" = kvmUsable() ? "kvm" : "tcg";
    const args = [
        "-accel", accel, "-cpu", accel === "kvm" ? "host" : "max,la57=off", "-smp", "2", "-m", String(options.ramMiB),
        "-nodefaults", "-display", "none", "-vga", "none", "-no-reboot",
        "-kernel", options.kernel, "-initrd", options.initrd,
        "-append", `root=/dev/vda ro console=ttyS0 init=/sbin/irf-lab-init panic=-1 net.ifnames=0 ${options.append ?? ""}`.trim(),
        "-drive", `file=${options.root},if=virtio,format=raw,snapshot=on`,
        "-netdev", `user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:8001-cmd:socat - TCP:127.0.0.1:${agentPort},guestfwd=tcp:10.0.2.100:3128-cmd:socat - TCP:127.0.0.1:${relayPort}`,
        "-device", "virtio-net-pci,netdev=n0",
        "-serial", `file:${options.consoleLog}`,
    ];
    options.log(`lab: booting ${path.basename(options.kernel)} (${accel}, ${options.ramMiB} MiB${options.append ? `, ${options.append}` : ""})`);
    const qemu: ChildProcess = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
    let qemuErr = "";
    qemu.stderr?.on("data", (d: Buffer) => { qemuErr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => qemu.on("exit", (code) => resolve(code)));
    const closeServers = async () => {
        await Promise.all([agent, relay].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    };
    const report = await Promise.race([
        bootReport,
        exited.then((code) => { throw new Error(`QEMU exited with ${code} before the guest booted: ${qemuErr.trim().split("\n").pop() ?? ""}`); }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the guest did not boot within 300 s (see its console log)")), 300_000)),
    ]).catch(async (err: Error) => {
        qemu.kill("SIGKILL");
        await closeServers();
        throw err;
    });
    const line = (name: string) => report.split("\n").filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1));
    const info: GuestInfo = {
        kernelRelease: line("uname")[0] ?? "",
        lockdown: /\[(\w+)\]/.exec(line("lockdown")[0] ?? "")?.[1] ?? "unknown",
        tainted: Number(line("tainted")[0] ?? "0"),
        mounts: line("mounts")[0] ?? "",
        ramRanges: line("iomem").map((l) => {
            const [start, end] = l.split(" : ")[0].split("-");
            return { start: BigInt(`0x${start}`), end: BigInt(`0x${end}`) };
        }),
        la57: Number(line("la57")[0] ?? "0") > 0,
        accel,
        bootMs: Date.now() - started,
    };

    return {
        info,
        run(job, output) {
            const proxyPort = Number(new URL(job.proxyUrl).port);
            return new Promise((resolve) => {
                const entry: Job = {
                    id: job.id.replace(/[^A-Za-z0-9-]/g, "-"), script: job.script, proxyPort, state: "queued",
                    done: (code) => {
                        clearTimeout(timer);
                        output.stdout(entry.stdout ?? "");
                        output.stderr(entry.stderr ?? "");
                        resolve({ code });
                    },
                };
                const timer = setTimeout(() => { entry.state = "cancel"; }, job.timeoutSeconds * 1000);
                byId.set(entry.id, entry);
                const waiter = waiters.shift();
                if (waiter) {
                    waiter(entry);
                } else {
                    jobs.push(entry);
                }
            });
        },
        async stop() {
            if (qemu.exitCode === null) {
                qemu.kill("SIGTERM");
                const done = await Promise.race([exited, new Promise<"late">((resolve) => setTimeout(() => resolve("late"), 5_000))]);
                if (done === "late") {
                    qemu.kill("SIGKILL");
                    await exited;
                }
            }
            for (const waiter of waiters.splice(0)) {
                waiter({ id: "poweroff", script: "", proxyPort: 0, state: "queued", done: () => undefined });
            }
            await closeServers();
        },
    };
}
