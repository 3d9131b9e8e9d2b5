/**
 * SSM Run Command for instances that moto only pretends to run: an HTTP server on 127.0.0.1 that sits in
 * front of moto, answers the four SSM calls the engine makes about commands and managed instances itself,
 * and forwards every other request to moto unchanged (method, path, headers including Host, body; both
 * ways streamed).
 *
 *   SendCommand                  AWS-RunShellScript (`commands`) or a Command document of the caller's account
 *                                stored in moto (its aws:runShellScript steps, `{{ parameters }}` filled in and
 *                                checked against their allowedPattern): the lines, joined by newlines, are run by
 *                                bash on this machine, once per target instance, asynchronously
 *   GetCommandInvocation         Pending/InProgress while it runs, then Success/Failed/TimedOut with the exit
 *                                code and the first 24,000 (stdout) and 8,000 (stderr) characters, as SSM keeps
 *   ListCommandInvocations       the same, per instance (CommandPlugins with Details)
 *   DescribeInstanceInformation  the registered managed hosts with their PingStatus (Online, ConnectionLost), InstanceIds
 *                                filters honoured
 *
 * A command reaches a host only while its agent is Online (emulator/host/ssm-agent.ts: after a profile change the
 * agent reconnects only after a delay, and only if the new role and the network let it); until then it is
 * Pending, and past its delivery timeout it ends TimedOut (DeliveryTimedOut), as in SSM. While the script
 * runs, its HTTP requests go through a network gate (`http_proxy`) that refuses what the instance's
 * security groups, routes and VPC endpoints would not let through.
 *
 * What only a real host has comes from PATH shims (emulator/host/host-shims): `uname` reports the host's kernel
 * and machine, `insmod` plays LiME (serves the host's memory image on 127.0.0.1:<path=tcp:PORT>, shows the
 * module in the host's fake /sys and taints its kernel), `rmmod` stops it. Each host has a fake root
 * (IRF_SYSROOT, emulator/host/host-kernel.ts: lockdown, Secure Boot, taint, AVML's sources) and a /dev/shm of its
 * own (IRF_STAGING_DIRS), kept across its commands; each command gets its own work directory and a free
 * LiME port (IRF_LIME_PORT). A host with an `executor` (the lab's QEMU guest) runs its commands itself,
 * with the same network gate as its proxy. Hosts are registered per instance with {@link SsmHost.registerHost}.
 *
 * Calls are attributed to an account as moto does: the `x-moto-account-id` header, else the account of the
 * access key (asked of moto's STS once per key).
 */
import { ChildProcess, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { DescribeIamInstanceProfileAssociationsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { ACCOUNT_HEADER, clientConfig, forAccount } from "../aws/aws-clients";
import { HostKernelState, hostKernelEnv, makeHostRoot } from "./host-kernel";
import { pickPort } from "../aws/moto";
import { EmulatedCopy, copySnapshotResponse, sharedSnapshots } from "../aws/shared-snapshots";
import { Authorizer, NetworkGate, RefusedConnection, RegistrationOptions, SsmAgents, startNetworkGate } from "./ssm-agent";
import { readBody } from "../strict/request";

/** The PATH shims of a suspect host (uname, insmod, rmmod). */
export const HOST_SHIMS = path.join(__dirname, "host-shims");
/** The AVML stand-in a module store holds (not on PATH: the host script downloads and verifies it). */
export const AVML_STAND_IN = path.join(HOST_SHIMS, "store", "avml");

/** PATH for a shimmed host: the shims first, then node (the shims are node scripts), then the system. */
export function shimmedPath(base = process.env.PATH ?? "/usr/bin:/bin"): string {
    return [HOST_SHIMS, path.dirname(process.execPath), base].join(":");
}

/** SSM keeps this much of a command's output. */
export const STDOUT_LIMIT = 24_000;
export const STDERR_LIMIT = 8_000;

const DEFAULT_EXECUTION_TIMEOUT_S = 3600;
const RUN_SHELL_SCRIPT = "AWS-RunShellScript";
const DEFAULT_ACCOUNT = "123456789012";

export interface HostSpec {
    /** What `uname -r` prints (default 6.1.0-test). */
    kernelRelease?: string;
    /** What `uname -m` prints (default x86_64). */
    arch?: string;
    /** The memory image LiME or AVML streams: bytes, or the path of a file. */
    image: Buffer | string;
    /** Is the SSM agent online (default true)? Unmanaged hosts are unknown to every call, as in SSM. */
    managed?: boolean;
    /**
     * Does `insmod` succeed (default true)? false: it fails like a module built for another kernel;
     * "lockdown": the kernel refuses an unsigned module (EPERM), as under Secure Boot.
     */
    limeLoads?: boolean | "lockdown";
    /** What the host script reads of the kernel (lockdown, Secure Boot, taint, AVML's sources...). */
    kernel?: HostKernelState;
    /** A real machine runs this host's commands (no shims, its own kernel, image and tools). */
    executor?: RemoteExecutor;
    /** The account the instance lives in; when set, only calls from that account see it. */
    accountId?: string;
    /** The instance's region (default: the region of the command that reaches it). */
    region?: string;
    /** PlatformName reported by DescribeInstanceInformation (default "Amazon Linux"). */
    platformName?: string;
}

/**
 * A real machine that runs the command instead of bash here with shims (the lab's QEMU guest): it gets
 * the script and the proxy URL its HTTP must use (the instance's network gate, seen from the machine),
 * streams the output back and ends with the script's exit code (null when it was killed).
 */
export interface RemoteExecutor {
    run(job: { id: string; script: string; proxyUrl: string; timeoutSeconds: number }, output: { stdout(text: string): void; stderr(text: string): void }): Promise<{ code: number | null }>;
}

export type InvocationStatus = "Pending" | "InProgress" | "Success" | "Failed" | "TimedOut" | "Cancelled";

export interface Invocation {
    commandId: string;
    instanceId: string;
    accountId: string;
    /** The region of the SendCommand that made it (the instance's). */
    region: string;
    documentName: string;
    comment?: string;
    /** The script as bash ran it (prefix and commands). */
    script: string;
    status: InvocationStatus;
    statusDetails: string;
    /** Exit code; -1 while running or when killed by a signal. */
    responseCode: number;
    stdout: string;
    stderr: string;
    /** Total characters written, of which SSM keeps the first STDOUT_LIMIT / STDERR_LIMIT. */
    stdoutChars: number;
    stderrChars: number;
    requestedAt: Date;
    startedAt?: Date;
    endedAt?: Date;
    /** The command's own directory (script, shim log, staging dir, image file). */
    workDir: string;
    pid?: number;
}

/** A request as the proxy sees it, for fault injection. */
export interface ProxiedCall {
    /** Service from the SigV4 credential scope (header or presigned query), e.g. "s3", "kms", "ec2". */
    service: string;
    /** X-Amz-Target's operation (JSON protocols), else the query's Action, else "". */
    operation: string;
    /** x-moto-account-id, when the request carries it. */
    accountHeader?: string;
    accessKeyId?: string;
    method: string;
    path: string;
    /** The request's headers (lower-case names). */
    headers: http.IncomingHttpHeaders;
}

/** What a fault hook answers instead of the service: an AWS error in the request's protocol. */
export interface InjectedError {
    status: number;
    code: string;
    message: string;
}

export interface SsmHostOptions {
    /** Where forwarded requests go: moto's endpoint, e.g. http://127.0.0.1:5000 */
    motoEndpoint: string;
    /** moto itself, for the emulator's own reads (documents, networks, profiles); default `motoEndpoint`. */
    stateEndpoint?: string;
    /** The SSM agent's reconnection after a profile change. */
    registration?: RegistrationOptions;
    /** How long a connection the instance's network refuses hangs before it drops (default 3 s). */
    unreachableDelayMs?: number;
    /** Consulted for every request, intercepted or forwarded; an answer replaces the service's. */
    fault?: (call: ProxiedCall) => InjectedError | undefined;
    /** Told when an invocation starts and ends. */
    onInvocation?: (invocation: Invocation) => void;
    /** Parent of the per-command work directories (default: a fresh temp directory, removed on stop). */
    workRoot?: string;
}

export interface SsmHost {
    /** `http://127.0.0.1:PORT`: use it as the endpoint of every client (it forwards to moto). */
    readonly endpoint: string;
    readonly port: number;
    registerHost(instanceId: string, spec: HostSpec): void;
    /** The instance is gone (e.g. terminated): its running commands are killed, it is no longer managed. */
    removeHost(instanceId: string): void;
    /** Every invocation so far, oldest first. */
    invocations(): Invocation[];
    /** PIDs of commands still running. */
    runningPids(): number[];
    /** Copies of cross-account shared snapshots made in the copier's account (moto cannot show shares). */
    emulatedCopies(): EmulatedCopy[];
    /** Connections the hosts' networks refused. */
    refusedConnections(): RefusedConnection[];
    /** Lets the agent model ask whether an instance's role may run the SSM agent (the strict layer). */
    useAuthorizer(authorizer: Authorizer): void;
    /** Kills every command it started (by PID, with their process groups) and closes the server. */
    stop(): Promise<void>;
}

interface RegisteredHost extends HostSpec {
    imagePath?: string;
    /** The host's fake root (IRF_SYSROOT), kept across its commands. */
    root?: string;
}

/** The SigV4 scope of a request: `Credential=AKID/date/region/service/aws4_request`. */
function credentialScope(req: http.IncomingMessage): { accessKeyId?: string; region: string; service: string } {
    const auth = String(req.headers.authorization ?? "");
    let credential = /Credential=([^,\s]+)/.exec(auth)?.[1];
    if (!credential) {
        const query = new URL(req.url ?? "/", "http://x").searchParams;
        credential = query.get("X-Amz-Credential") ?? undefined;
    }
    const parts = (credential ? decodeURIComponent(credential) : "").split("/");
    return { accessKeyId: parts[0] || undefined, region: parts[2] ?? "", service: parts[3] ?? "" };
}

function operationOf(req: http.IncomingMessage): string {
    const target = String(req.headers["x-amz-target"] ?? "");
    if (target) {
        return target.slice(target.lastIndexOf(".") + 1);
    }
    return new URL(req.url ?? "/", "http://x").searchParams.get("Action") ?? "";
}

/** writeFileSync for buffers of any size (one write takes at most 2 GiB). */
function writeLarge(file: string, data: Buffer): void {
    const fd = fs.openSync(file, "w");
    try {
        for (let off = 0; off < data.length; off += 1 << 30) {
            fs.writeSync(fd, data.subarray(off, off + (1 << 30)));
        }
    } finally {
        fs.closeSync(fd);
    }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/x-amz-json-1.1", "Content-Length": Buffer.byteLength(text), "x-amzn-RequestId": randomBytes(16).toString("hex") });
    res.end(text);
}

/** An AWS error in the protocol the request used: JSON for X-Amz-Target calls, else S3's, EC2's or the query protocol's XML. */
function sendError(res: http.ServerResponse, req: http.IncomingMessage, service: string, err: InjectedError): void {
    if (req.headers["x-amz-target"]) {
        sendJson(res, err.status, { __type: err.code, message: err.message });
        return;
    }
    const requestId = randomBytes(16).toString("hex");
    const error = `<Code>${err.code}</Code><Message>${err.message}</Message>`;
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n` + (service === "s3"
        ? `<Error>${error}<RequestId>${requestId}</RequestId></Error>`
        : service === "ec2"
            ? `<Response><Errors><Error>${error}</Error></Errors><RequestID>${requestId}</RequestID></Response>`
            : `<ErrorResponse><Error><Type>Sender</Type>${error}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
    res.writeHead(err.status, { "Content-Type": "text/xml", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
}

/** The request fields the four answered operations read (the SDK's JSON, loosely). */
interface SsmRequest {
    DocumentName?: string;
    Comment?: string;
    InstanceIds?: string[];
    InstanceId?: string;
    CommandId?: string;
    Details?: boolean;
    TimeoutSeconds?: number;
    Parameters?: { commands?: string[]; executionTimeout?: string[] } & Record<string, string[] | undefined>;
    Filters?: { Key?: string; Values?: string[] }[];
    InstanceInformationFilterList?: { key?: string; valueSet?: string[] }[];
}

class SsmError extends Error {
    constructor(readonly code: string, message: string) {
        super(message);
    }
}

const epochSeconds = (d: Date | undefined): number | undefined => (d ? d.getTime() / 1000 : undefined);

/** Starts the emulator on a free 127.0.0.1 port in front of the moto server at `options.motoEndpoint`. */
export async function startSsmHost(options: SsmHostOptions): Promise<SsmHost> {
    const moto = new URL(options.motoEndpoint);
    const stateEndpoint = options.stateEndpoint ?? options.motoEndpoint;
    const stateUrl = new URL(stateEndpoint);
    const agents = new SsmAgents(stateEndpoint, options.registration);
    const refused: RefusedConnection[] = [];
    const gates = new Set<NetworkGate>();
    let stopped = false;
    const ownWorkRoot = !options.workRoot;
    const workRoot = options.workRoot ?? fs.mkdtempSync(path.join(os.tmpdir(), "irf-ssm-host-"));
    fs.mkdirSync(workRoot, { recursive: true });
    const hosts = new Map<string, RegisteredHost>();
    const invocations: Invocation[] = [];
    const children = new Map<number, { child: ChildProcess; invocation: Invocation; exited: Promise<void> }>();
    const accountOfKey = new Map<string, Promise<string>>();
    const agent = new http.Agent({ keepAlive: true });

    /** moto's account for an access key: moto maps assumed-role keys to their account and ignores signatures. */
    function accountOf(accessKeyId: string | undefined): Promise<string> {
        if (!accessKeyId) {
            return Promise.resolve(DEFAULT_ACCOUNT);
        }
        let known = accountOfKey.get(accessKeyId);
        if (!known) {
            known = new Promise<string>((resolve) => {
                const body = "Action=GetCallerIdentity&Version=2011-06-15";
                const req = http.request(new URL("/", stateUrl), {
                    method: "POST", agent,
                    headers: {
                        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": Buffer.byteLength(body),
                        "Authorization": `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0`,
                    },
                }, (res) => {
                    readBody(res).then((b) => resolve(/<Account>(\d{12})<\/Account>/.exec(b.toString())?.[1] ?? DEFAULT_ACCOUNT), () => resolve(DEFAULT_ACCOUNT));
                });
                req.on("error", () => resolve(DEFAULT_ACCOUNT));
                req.end(body);
            });
            accountOfKey.set(accessKeyId, known);
        }
        return known;
    }

    function visibleHost(instanceId: string, account: string): RegisteredHost | undefined {
        const host = hosts.get(instanceId);
        if (!host || host.managed === false || (host.accountId && host.accountId !== account)) {
            return undefined;
        }
        return host;
    }

    function finish(invocation: Invocation, status: InvocationStatus, details: string, code: number): void {
        invocation.status = status;
        invocation.statusDetails = details;
        invocation.responseCode = code;
        invocation.endedAt = new Date();
        options.onInvocation?.(invocation);
    }

    async function run(invocation: Invocation, host: RegisteredHost, commands: string[], timeoutSeconds: number): Promise<void> {
        const dir = invocation.workDir;
        const gate = await startNetworkGate({
            instanceId: invocation.instanceId, account: invocation.accountId, region: invocation.region, stateEndpoint,
            unreachableDelayMs: options.unreachableDelayMs, onRefused: (r) => refused.push(r),
        });
        gates.add(gate);
        if (host.executor) {
            await runRemote(invocation, host.executor, gate, commands, timeoutSeconds);
            return;
        }
        // The host's /dev/shm: one per host, so a killed command's leftovers meet the next command.
        const staging = path.join(workRoot, `${invocation.instanceId}.shm`);
        fs.mkdirSync(staging, { recursive: true });
        if (!host.imagePath) {
            host.imagePath = typeof host.image === "string" ? host.image : path.join(workRoot, `${invocation.instanceId}.image`);
            if (typeof host.image !== "string") {
                writeLarge(host.imagePath, host.image);
            }
        }
        host.root ??= makeHostRoot(path.join(workRoot, `${invocation.instanceId}.root`), host.kernel);
        const kernelEnv = hostKernelEnv(host.root, host.kernel);
        const limePort = await pickPort();
        const prefix = [
            ...Object.entries(kernelEnv).map(([k, v]) => `export ${k}='${v}'`),
            `export PATH='${shimmedPath("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")}'`,
            `export IRF_STAGING_DIRS='${staging}'`,
            `export IRF_LIME_PORT=${limePort}`,
            `cd '${dir}'`,
        ];
        invocation.script = [...prefix, ...commands].join("\n") + "\n";
        const scriptFile = path.join(dir, "_script.sh");
        fs.writeFileSync(scriptFile, invocation.script, { mode: 0o700 });
        const env: NodeJS.ProcessEnv = {
            PATH: shimmedPath(), HOME: dir, LANG: "C.UTF-8", TMPDIR: staging,
            FAKE_KERNEL_RELEASE: host.kernelRelease ?? "6.1.0-test",
            FAKE_MACHINE: host.arch ?? "x86_64",
            FAKE_IMAGE: host.imagePath,
            FAKE_LOG: path.join(dir, "host.log"),
            // The host's HTTP leaves through its VPC: curl and python3 honour http_proxy for every URL.
            http_proxy: gate.url, no_proxy: "",
            FAKE_LIME_PIDFILE: path.join(dir, "lime.pid"),
            ...(host.limeLoads === false ? { FAKE_INSMOD_FAIL: "format" } : host.limeLoads === "lockdown" ? { FAKE_INSMOD_FAIL: "lockdown" } : {}),
        };
        // Its own process group, so that stop() reaches whatever the script started.
        const child = spawn("bash", [scriptFile], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
        invocation.pid = child.pid;
        invocation.status = "InProgress";
        invocation.startedAt = new Date();
        options.onInvocation?.(invocation);
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            killGroup(child);
        }, timeoutSeconds * 1000);
        child.stdout?.on("data", (d: Buffer) => {
            const text = d.toString();
            invocation.stdoutChars += text.length;
            if (invocation.stdout.length < STDOUT_LIMIT) {
                invocation.stdout = (invocation.stdout + text).slice(0, STDOUT_LIMIT);
            }
        });
        child.stderr?.on("data", (d: Buffer) => {
            const text = d.toString();
            invocation.stderrChars += text.length;
            if (invocation.stderr.length < STDERR_LIMIT) {
                invocation.stderr = (invocation.stderr + text).slice(0, STDERR_LIMIT);
            }
        });
        const exited = new Promise<void>((resolve) => {
            child.on("error", (err) => {
                clearTimeout(timer);
                void gate.stop().then(() => gates.delete(gate));
                invocation.stderr = `${invocation.stderr}${err.message}`.slice(0, STDERR_LIMIT);
                if (child.pid !== undefined) {
                    children.delete(child.pid);
                }
                finish(invocation, "Failed", "Failed", -1);
                resolve();
            });
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                void gate.stop().then(() => gates.delete(gate));
                if (child.pid !== undefined) {
                    children.delete(child.pid);
                }
                if (invocation.status !== "InProgress") {
                    resolve();
                    return;
                }
                if (timedOut) {
                    finish(invocation, "TimedOut", "ExecutionTimedOut", -1);
                } else if (code === 0) {
                    finish(invocation, "Success", "Success", 0);
                } else {
                    finish(invocation, "Failed", signal ? `Failed (signal ${signal})` : "Failed", code ?? -1);
                }
                resolve();
            });
        });
        if (child.pid !== undefined) {
            children.set(child.pid, { child, invocation, exited });
            liveGroups.add(child.pid);
            installExitHook();
            void exited.then(() => liveGroups.delete(child.pid as number));
        }
    }

    /** A command on a real machine: its HTTP leaves through the same network gate; SSM keeps the same output. */
    async function runRemote(invocation: Invocation, executor: RemoteExecutor, gate: NetworkGate, commands: string[], timeoutSeconds: number): Promise<void> {
        invocation.script = [...commands].join("\n") + "\n";
        invocation.status = "InProgress";
        invocation.startedAt = new Date();
        options.onInvocation?.(invocation);
        const keep = (field: "stdout" | "stderr", limit: number) => (text: string) => {
            invocation[field === "stdout" ? "stdoutChars" : "stderrChars"] += text.length;
            if (invocation[field].length < limit) {
                invocation[field] = (invocation[field] + text).slice(0, limit);
            }
        };
        let code: number | null = null;
        try {
            ({ code } = await executor.run(
                { id: `${invocation.commandId}-${invocation.instanceId}`, script: invocation.script, proxyUrl: gate.url, timeoutSeconds },
                { stdout: keep("stdout", STDOUT_LIMIT), stderr: keep("stderr", STDERR_LIMIT) },
            ));
        } catch (err) {
            keep("stderr", STDERR_LIMIT)(`${(err as Error).message}\n`);
        } finally {
            await gate.stop();
            gates.delete(gate);
        }
        if (invocation.status !== "InProgress") {
            return;
        }
        if (code === 0) {
            finish(invocation, "Success", "Success", 0);
        } else if (code === null) {
            finish(invocation, "TimedOut", "ExecutionTimedOut", -1);
        } else {
            finish(invocation, "Failed", "Failed", code);
        }
    }

    function killGroup(child: ChildProcess): void {
        if (child.pid === undefined || child.exitCode !== null) {
            return;
        }
        try {
            process.kill(-child.pid, "SIGKILL");
        } catch {
            child.kill("SIGKILL");
        }
    }

    /** A Command document of the caller's account, as moto stores it (GetDocument). */
    function getDocument(name: string, account: string, region: string): Promise<CommandDocument> {
        return new Promise((resolve, reject) => {
            const body = JSON.stringify({ Name: name, DocumentFormat: "JSON" });
            const req = http.request(new URL("/", stateUrl), {
                method: "POST", agent,
                headers: {
                    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetDocument", "Content-Length": Buffer.byteLength(body),
                    [ACCOUNT_HEADER]: account,
                    "Authorization": `AWS4-HMAC-SHA256 Credential=test/20260101/${region || "us-east-1"}/ssm/aws4_request, SignedHeaders=host, Signature=0`,
                },
            }, (res) => {
                readBody(res).then((b) => {
                    const answer = JSON.parse(b.toString() || "{}") as { Content?: string; DocumentType?: string };
                    if (res.statusCode !== 200 || !answer.Content) {
                        reject(new SsmError("InvalidDocument", `The specified document does not exist: ${name}`));
                        return;
                    }
                    if (answer.DocumentType && answer.DocumentType !== "Command") {
                        reject(new SsmError("InvalidDocument", `${name} is a ${answer.DocumentType} document, not a Command document`));
                        return;
                    }
                    resolve(JSON.parse(answer.Content) as CommandDocument);
                }, reject);
            });
            req.on("error", reject);
            req.end(body);
        });
    }

    /** The shell lines and timeout a SendCommand asks for: AWS-RunShellScript's `commands`, or a document's runShellScript steps. */
    async function commandsOf(body: SsmRequest, account: string, region: string): Promise<{ commands: string[]; timeoutSeconds: number }> {
        const documentName = String(body.DocumentName ?? "");
        const given = body.Parameters ?? {};
        if (documentName === RUN_SHELL_SCRIPT) {
            const commands = given.commands ?? [];
            if (commands.length === 0) {
                throw new SsmError("InvalidParameters", "Parameters.commands is required");
            }
            return { commands, timeoutSeconds: Number(given.executionTimeout?.[0] ?? DEFAULT_EXECUTION_TIMEOUT_S) };
        }
        const doc = await getDocument(documentName, account, region);
        return renderDocument(doc, given);
    }

    async function sendCommand(body: SsmRequest, account: string, region: string): Promise<unknown> {
        const documentName = String(body.DocumentName ?? "");
        const instanceIds: string[] = body.InstanceIds ?? [];
        if (instanceIds.length === 0) {
            throw new SsmError("ValidationException", "InstanceIds is required");
        }
        const targets = instanceIds.map((id) => ({ id, host: visibleHost(id, account) }));
        if (targets.some((t) => !t.host)) {
            throw new SsmError("InvalidInstanceId", "Instances not in a valid state for account");
        }
        const { commands, timeoutSeconds: executionTimeout } = await commandsOf(body, account, region);
        const commandId = `${randomBytes(4).toString("hex")}-${randomBytes(2).toString("hex")}-${randomBytes(2).toString("hex")}-${randomBytes(2).toString("hex")}-${randomBytes(6).toString("hex")}`;
        const requestedAt = new Date();
        for (const { id, host } of targets) {
            const workDir = path.join(workRoot, `${commandId}-${id}`);
            fs.mkdirSync(workDir, { recursive: true });
            const invocation: Invocation = {
                commandId, instanceId: id, accountId: account, region: host?.region ?? region, documentName, comment: body.Comment, script: "",
                status: "Pending", statusDetails: "Pending", responseCode: -1, stdout: "", stderr: "", stdoutChars: 0, stderrChars: 0,
                requestedAt, workDir,
            };
            invocations.push(invocation);
            // Asynchronous, as the agent is: SendCommand answers before anything runs, and the agent picks the
            // command up once it is online, or never (past the delivery timeout).
            const execution = Number.isFinite(executionTimeout) && executionTimeout > 0 ? executionTimeout : DEFAULT_EXECUTION_TIMEOUT_S;
            deliver(invocation, host as RegisteredHost, commands, execution, Number(body.TimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_S))
                .catch((err: Error) => {
                    invocation.stderr = err.message;
                    finish(invocation, "Failed", "Failed", -1);
                });
        }
        return {
            Command: {
                CommandId: commandId, DocumentName: documentName, Comment: body.Comment, InstanceIds: instanceIds, Targets: [],
                Parameters: body.Parameters, Status: "Pending", StatusDetails: "Pending", RequestedDateTime: epochSeconds(requestedAt),
                TimeoutSeconds: body.TimeoutSeconds, TargetCount: instanceIds.length, CompletedCount: 0, ErrorCount: 0,
            },
        };
    }

    /** Where a host is, for the agent and network models. */
    const whereOf = (invocationOrHost: { instanceId: string; accountId: string; region: string }) =>
        ({ instanceId: invocationOrHost.instanceId, account: invocationOrHost.accountId, region: invocationOrHost.region });

    /** Waits until the host's agent is online, then runs the command; past `deliverySeconds`, DeliveryTimedOut. */
    async function deliver(invocation: Invocation, host: RegisteredHost, commands: string[], executionSeconds: number, deliverySeconds: number): Promise<void> {
        const deadline = invocation.requestedAt.getTime() + deliverySeconds * 1000;
        while (!stopped && hosts.get(invocation.instanceId) === host) {
            if (await agents.status(whereOf(invocation)) === "Online") {
                await run(invocation, host, commands, executionSeconds);
                return;
            }
            if (Date.now() > deadline) {
                finish(invocation, "TimedOut", "DeliveryTimedOut", -1);
                return;
            }
            await new Promise((r) => setTimeout(r, 250));
        }
        if (invocation.status === "Pending") {
            finish(invocation, "Failed", "Undeliverable", -1);
        }
    }

    /**
     * What SSM shows of an invocation: an agent that lost its connection cannot report, so a command that
     * ended since then still shows InProgress until the agent is back.
     */
    async function reported(inv: Invocation): Promise<{ status: InvocationStatus; statusDetails: string; responseCode: number }> {
        const since = agents.disconnectedSince(inv.instanceId);
        const final = !["Pending", "InProgress"].includes(inv.status);
        if (final && since !== undefined && (inv.endedAt?.getTime() ?? 0) > since && inv.statusDetails !== "DeliveryTimedOut"
            && await agents.status(whereOf(inv)) !== "Online") {
            return { status: "InProgress", statusDetails: "InProgress", responseCode: -1 };
        }
        return { status: inv.status, statusDetails: inv.statusDetails, responseCode: inv.responseCode };
    }

    function invocationOf(account: string, commandId: string, instanceId: string): Invocation {
        const found = invocations.find((i) => i.commandId === commandId && i.instanceId === instanceId && i.accountId === account);
        if (!found) {
            throw new SsmError("InvocationDoesNotExist", "");
        }
        return found;
    }

    async function getCommandInvocation(body: SsmRequest, account: string): Promise<unknown> {
        const inv = invocationOf(account, String(body.CommandId ?? ""), String(body.InstanceId ?? ""));
        const shown = await reported(inv);
        const frozen = shown.status !== inv.status;
        return {
            CommandId: inv.commandId, InstanceId: inv.instanceId, Comment: inv.comment, DocumentName: inv.documentName, DocumentVersion: "$DEFAULT",
            PluginName: "aws:runShellScript", ResponseCode: shown.responseCode, Status: shown.status, StatusDetails: shown.statusDetails,
            ExecutionStartDateTime: inv.startedAt?.toISOString() ?? "", ExecutionElapsedTime: "", ExecutionEndDateTime: frozen ? "" : inv.endedAt?.toISOString() ?? "",
            StandardOutputContent: frozen ? "" : inv.stdout, StandardOutputUrl: "", StandardErrorContent: frozen ? "" : inv.stderr, StandardErrorUrl: "",
            CloudWatchOutputConfig: { CloudWatchOutputEnabled: false },
        };
    }

    async function listCommandInvocations(body: SsmRequest, account: string): Promise<unknown> {
        const matching = invocations.filter((i) => i.accountId === account
            && (!body.CommandId || i.commandId === body.CommandId) && (!body.InstanceId || i.instanceId === body.InstanceId));
        return {
            CommandInvocations: await Promise.all(matching.map(async (inv) => {
                const shown = await reported(inv);
                const frozen = shown.status !== inv.status;
                return {
                    CommandId: inv.commandId, InstanceId: inv.instanceId, InstanceName: "", Comment: inv.comment, DocumentName: inv.documentName,
                    DocumentVersion: "$DEFAULT", RequestedDateTime: epochSeconds(inv.requestedAt), Status: shown.status, StatusDetails: shown.statusDetails,
                    StandardOutputUrl: "", StandardErrorUrl: "",
                    CommandPlugins: body.Details ? [{
                        Name: "aws:runShellScript", Status: shown.status, StatusDetails: shown.statusDetails, ResponseCode: shown.responseCode,
                        ResponseStartDateTime: epochSeconds(inv.startedAt), ResponseFinishDateTime: frozen ? undefined : epochSeconds(inv.endedAt),
                        Output: frozen ? "" : inv.stdout.slice(0, 2500), StandardOutputUrl: "", StandardErrorUrl: "",
                    }] : [],
                };
            })),
        };
    }

    async function describeInstanceInformation(body: SsmRequest, account: string, region: string): Promise<unknown> {
        const wanted = new Set<string>();
        let filtered = false;
        for (const f of body.Filters ?? []) {
            if (f.Key === "InstanceIds") {
                filtered = true;
                (f.Values ?? []).forEach((v) => wanted.add(v));
            }
        }
        for (const f of body.InstanceInformationFilterList ?? []) {
            if (f.key === "InstanceIds") {
                filtered = true;
                (f.valueSet ?? []).forEach((v) => wanted.add(v));
            }
        }
        const ids = [...hosts.keys()].filter((id) => visibleHost(id, account) && (!filtered || wanted.has(id)));
        const list = await Promise.all(ids.map(async (id) => {
                const host = hosts.get(id) as RegisteredHost;
                const status = await agents.status({ instanceId: id, account: host.accountId ?? account, region: host.region ?? region });
                return {
                    InstanceId: id, PingStatus: status, LastPingDateTime: Date.now() / 1000, AgentVersion: "3.3.0.0", IsLatestVersion: true,
                    PlatformType: "Linux", PlatformName: host.platformName ?? "Amazon Linux", PlatformVersion: "2023", ResourceType: "EC2Instance",
                    IPAddress: "10.0.0.10", ComputerName: `${id}.ec2.internal`,
                };
            }));
        return { InstanceInformationList: list };
    }

    const handlers: Record<string, (body: SsmRequest, account: string, region: string) => unknown> = {
        "AmazonSSM.SendCommand": sendCommand,
        "AmazonSSM.GetCommandInvocation": getCommandInvocation,
        "AmazonSSM.ListCommandInvocations": listCommandInvocations,
        "AmazonSSM.DescribeInstanceInformation": describeInstanceInformation,
    };

    const shares = sharedSnapshots(stateEndpoint);

    /** Forwards to moto; `body` when the request's body was already read. */
    function forward(req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): void {
        const upstream = http.request({
            host: moto.hostname, port: moto.port, method: req.method, path: req.url, agent,
            // rawHeaders keeps each header's case and order, Host included. Node's server already answered any
            // "Expect: 100-continue", so the body follows without a second handshake.
            headers: withoutHeader(req.rawHeaders, "expect"),
            setHost: false,
        }, (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
            answer.pipe(res);
        });
        upstream.on("error", (err) => {
            if (!res.headersSent) {
                res.writeHead(502, { "Content-Type": "text/plain" });
            }
            res.end(`ssm-host: moto unreachable: ${err.message}`);
        });
        if (body) {
            upstream.end(body);
        } else {
            req.pipe(upstream);
        }
    }

    /** A profile association changed: the instance's agent works on with old credentials, then reconnects. */
    async function observeProfileChange(account: string, region: string, params: URLSearchParams): Promise<void> {
        const action = params.get("Action");
        if (action === "AssociateIamInstanceProfile" && params.get("InstanceId")) {
            agents.profileChanged(params.get("InstanceId") ?? "");
        } else if (action === "ReplaceIamInstanceProfileAssociation" && params.get("AssociationId")) {
            const ec2 = forAccount(new EC2Client(clientConfig(stateEndpoint, region)), account);
            try {
                const found = await ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ AssociationIds: [params.get("AssociationId") ?? ""] }));
                const instanceId = found.IamInstanceProfileAssociations?.[0]?.InstanceId;
                if (instanceId) {
                    agents.profileChanged(instanceId);
                }
            } catch {
                // An unknown association: the call itself fails upstream, nothing changes.
            } finally {
                ec2.destroy();
            }
        }
    }

    /** EC2 query calls: shares are noted, and a copy of a snapshot shared with the caller is made here. */
    async function ec2Call(req: http.IncomingMessage, res: http.ServerResponse, call: ProxiedCall, region: string): Promise<void> {
        const body = await readBody(req);
        const params = new URLSearchParams(body.toString());
        const account = call.accountHeader ?? await accountOf(call.accessKeyId);
        shares.observe(account, region, params);
        await observeProfileChange(account, region, params);
        const copied = await shares.copy(account, region, params);
        if (copied) {
            const text = copySnapshotResponse(copied, randomBytes(16).toString("hex"));
            res.writeHead(200, { "Content-Type": "text/xml;charset=UTF-8", "Content-Length": Buffer.byteLength(text) });
            res.end(text);
            return;
        }
        forward(req, res, body);
    }

    const server = http.createServer((req, res) => {
        const scope = credentialScope(req);
        const call: ProxiedCall = {
            service: scope.service, operation: operationOf(req), accessKeyId: scope.accessKeyId,
            accountHeader: req.headers[ACCOUNT_HEADER] as string | undefined, method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers,
        };
        const injected = options.fault?.(call);
        if (injected) {
            req.resume();
            sendError(res, req, call.service, injected);
            return;
        }
        const handler = handlers[String(req.headers["x-amz-target"] ?? "")];
        if (!handler && call.service === "ec2" && req.method === "POST") {
            ec2Call(req, res, call, scope.region).catch((err: unknown) => {
                sendError(res, req, "ec2", { status: 500, code: "InternalError", message: err instanceof Error ? err.message : String(err) });
            });
            return;
        }
        if (!handler) {
            forward(req, res);
            return;
        }
        (async () => {
            const body = JSON.parse((await readBody(req)).toString() || "{}") as SsmRequest;
            const account = call.accountHeader ?? await accountOf(call.accessKeyId);
            sendJson(res, 200, await handler(body, account, scope.region));
        })().catch((err: unknown) => {
            if (err instanceof SsmError) {
                sendJson(res, 400, { __type: err.code, message: err.message });
            } else {
                sendJson(res, 500, { __type: "InternalServerError", message: err instanceof Error ? err.message : String(err) });
            }
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;

    let stopping: Promise<void> | undefined;
    return {
        endpoint: `http://127.0.0.1:${port}`,
        port,
        registerHost(instanceId, spec) {
            hosts.set(instanceId, { ...spec });
        },
        removeHost(instanceId) {
            hosts.delete(instanceId);
            for (const { child, invocation } of children.values()) {
                if (invocation.instanceId === instanceId && invocation.status === "InProgress") {
                    finish(invocation, "Failed", "Undeliverable", -1);
                    killGroup(child);
                }
            }
        },
        invocations: () => [...invocations],
        runningPids: () => [...children.keys()],
        emulatedCopies: () => shares.copies(),
        refusedConnections: () => [...refused],
        useAuthorizer: (authorizer) => agents.useAuthorizer(authorizer),
        stop() {
            stopping ??= (async () => {
                stopped = true;
                const running = [...children.values()];
                for (const { child } of running) {
                    killGroup(child);
                }
                await Promise.all(running.map((r) => r.exited));
                // Orphans in a killed group linger until they are reaped: wait (briefly) until each group is gone.
                await Promise.all(running.map((r) => groupGone(r.child.pid)));
                await new Promise<void>((resolve) => {
                    server.close(() => resolve());
                    server.closeAllConnections();
                });
                agent.destroy();
                await Promise.all([...gates].map((g) => g.stop()));
                if (ownWorkRoot) {
                    fs.rmSync(workRoot, { recursive: true, force: true });
                }
            })();
            return stopping;
        },
    };
}

/** The parts of an SSM Command document (schema 2.2) the emulator runs. */
interface CommandDocument {
    schemaVersion?: string;
    parameters?: Record<string, { type?: string; default?: string | string[]; allowedPattern?: string; allowedValues?: string[] }>;
    mainSteps?: { action?: string; name?: string; inputs?: { runCommand?: string[] | string; timeoutSeconds?: string | number } }[];
    runtimeConfig?: Record<string, { runCommand?: string[] | string; timeoutSeconds?: string | number }>;
}

/**
 * A Command document's aws:runShellScript steps, with `{{ name }}` replaced by the given parameters or their
 * defaults, each checked against its allowedPattern / allowedValues as SSM does before anything runs.
 */
export function renderDocument(doc: CommandDocument, given: Record<string, string[] | undefined>): { commands: string[]; timeoutSeconds: number } {
    const declared = doc.parameters ?? {};
    for (const name of Object.keys(given)) {
        if (!(name in declared)) {
            throw new SsmError("InvalidParameters", `parameter "${name}" is not declared by the document`);
        }
    }
    const values: Record<string, string> = {};
    for (const [name, spec] of Object.entries(declared)) {
        const raw = given[name] ?? (spec.default === undefined ? undefined : ([] as string[]).concat(spec.default));
        if (raw === undefined) {
            throw new SsmError("InvalidParameters", `parameter "${name}" is required`);
        }
        const value = raw.join(spec.type === "StringList" ? "," : "");
        if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value)) {
            throw new SsmError("InvalidParameters", `parameter "${name}" does not match its allowedPattern`);
        }
        if (spec.allowedValues && !spec.allowedValues.includes(value)) {
            throw new SsmError("InvalidParameters", `parameter "${name}" is not one of its allowedValues`);
        }
        values[name] = value;
    }
    const fill = (text: string): string => text.replace(/\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g, (whole, name: string) => values[name] ?? whole);
    const steps = (doc.mainSteps ?? []).filter((s) => s.action === "aws:runShellScript").map((s) => s.inputs ?? {});
    steps.push(...Object.entries(doc.runtimeConfig ?? {}).filter(([k]) => k === "aws:runShellScript").map(([, v]) => v));
    if (steps.length === 0) {
        throw new SsmError("InvalidDocument", "the document has no aws:runShellScript step (the only plugin this emulator runs)");
    }
    const commands = steps.flatMap((s) => ([] as string[]).concat(s.runCommand ?? []).map(fill));
    const timeouts = steps.map((s) => Number(fill(String(s.timeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_S))));
    return { commands, timeoutSeconds: timeouts.reduce((a, b) => a + (Number.isFinite(b) ? b : DEFAULT_EXECUTION_TIMEOUT_S), 0) };
}

/** Process groups of running commands, killed synchronously if the process exits without stop(). */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
    if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.on("exit", () => {
            for (const pgid of liveGroups) {
                try {
                    process.kill(-pgid, "SIGKILL");
                } catch {
                    // already gone
                }
            }
        });
    }
}

/** Resolves once no process of group `pgid` remains (or after `timeoutMs`). */
async function groupGone(pgid: number | undefined, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (pgid !== undefined && Date.now() < deadline) {
        try {
            process.kill(-pgid, 0);
        } catch {
            return;
        }
        await new Promise((r) => setTimeout(r, 20));
    }
}

/** Node's rawHeaders (a flat name, value, name, value list) without the header `name`. */
function withoutHeader(raw: string[], name: string): string[] {
    const out: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
        if (raw[i].toLowerCase() !== name) {
            out.push(raw[i], raw[i + 1]);
        }
    }
    return out;
}
