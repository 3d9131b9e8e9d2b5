/**
 * Starts and stops a local moto server (Python) for integration tests, the drill and benchmarks.
 *
 *   node -r ts-node/register/transpile-only scripts/moto.ts     prints the endpoint; Ctrl-C stops it
 *
 * Python with moto is found by findMotoPython(); emulator/aws/moto-server.py configures the server.
 * Environment: IRF_MOTO_PYTHON (interpreter to use), IRF_MOTO_VERBOSE=1 (per-request logging),
 * IRF_MOTO_SFN_EXECUTE=false (Step Functions stub instead of real execution).
 */
import { ChildProcess, execFile, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { cachePath } from "../paths";

/** The moto release the project is tested against (see the research notes on its bugs). */
export const MOTO_VERSION = "5.2.1";
export const MOTO_REQUIREMENT = `moto[server]==${MOTO_VERSION}`;

export const LAUNCHER = path.join(__dirname, "moto-server.py");
export const DEFAULT_VENV = cachePath("moto-venv");

const HOST = "127.0.0.1";
const INSTALL_HINT =
    `Install it with: python3 -m pip install "${MOTO_REQUIREMENT}" ` +
    `(or into a virtualenv at .cache/moto-venv), or set IRF_MOTO_PYTHON to a Python interpreter that has it.`;
// Prints the real interpreter path (skips shims such as pyenv's on every start) and moto's version.
const PROBE = "import sys, importlib.metadata as m, moto, moto.server, flask; print(sys.executable); print(m.version('moto'))";

// Ports that Node's fetch (undici) refuses; tests may use fetch against the endpoint.
const BAD_PORTS = new Set([1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

interface ExecResult {
    ok: boolean;
    stdout: string;
    /** Why it failed: spawn error or the tail of stderr. */
    reason: string;
}

function run(file: string, args: string[], timeoutMs: number, tailLines = 4): Promise<ExecResult> {
    return new Promise((resolve) => {
        execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: serverEnv({}) }, (err, stdout, stderr) => {
            if (!err) {
                resolve({ ok: true, stdout: String(stdout), reason: "" });
                return;
            }
            const code = (err as NodeJS.ErrnoException).code;
            const output = `${String(stdout)}\n${String(stderr)}`.trim().split("\n").slice(-tailLines).join("\n");
            resolve({ ok: false, stdout: String(stdout), reason: code === "ENOENT" ? `${file}: not found` : output || err.message });
        });
    });
}

interface Probe {
    executable: string;
    version: string;
}

async function probe(python: string): Promise<Probe | string> {
    // The last line of a failed import names the missing module.
    const res = await run(python, ["-c", PROBE], 60_000, 1);
    if (!res.ok) {
        return res.reason;
    }
    const [executable, version] = res.stdout.trim().split("\n");
    return { executable: executable || python, version: version ?? "unknown" };
}

function accept(found: Probe, source: string, log: (line: string) => void): string {
    if (found.version !== MOTO_VERSION) {
        log(`moto: ${source} has moto ${found.version}; the project is tested with ${MOTO_VERSION}`);
    }
    return found.executable;
}

export interface FindOptions {
    /** Where the fallback virtualenv lives (default .cache/moto-venv in the project). */
    venvDir?: string;
    /** Progress and warnings (default: stderr). */
    log?: (line: string) => void;
}

/**
 * A Python interpreter that can run moto's server, in this order: $IRF_MOTO_PYTHON (must work, no
 * fallback), python3, the project's virtualenv (created and filled with the pinned moto when absent).
 * Throws with install instructions when none works; never returns something unusable.
 */
export async function findMotoPython(options: FindOptions = {}): Promise<string> {
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const venvDir = options.venvDir ?? DEFAULT_VENV;

    const explicit = process.env.IRF_MOTO_PYTHON;
    if (explicit) {
        const found = await probe(explicit);
        if (typeof found === "string") {
            throw new Error(`IRF_MOTO_PYTHON=${explicit} cannot import moto's server (${found}). ` +
                `Install it there with: ${explicit} -m pip install "${MOTO_REQUIREMENT}", or unset IRF_MOTO_PYTHON.`);
        }
        return accept(found, `IRF_MOTO_PYTHON=${explicit}`, log);
    }

    const system = await probe("python3");
    if (typeof system !== "string") {
        return accept(system, "python3", log);
    }

    // Processes started together (mocha's workers, the lab beside the tests) make the virtualenv one at a time.
    return withInstallLock(`${venvDir}.lock`, () => venvMotoPython(venvDir, system, log));
}

/** Runs `fn` holding a lock directory (mkdir is atomic); a lock older than 20 minutes is a dead run's. */
async function withInstallLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
    fs.mkdirSync(path.dirname(lockDir), { recursive: true });
    for (;;) {
        try {
            fs.mkdirSync(lockDir);
            break;
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
                throw err;
            }
            const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
            if (age > 20 * 60_000) {
                fs.rmSync(lockDir, { recursive: true, force: true });
            } else {
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
        }
    }
    try {
        return await fn();
    } finally {
        fs.rmSync(lockDir, { recursive: true, force: true });
    }
}

async function venvMotoPython(venvDir: string, system: string, log: (line: string) => void): Promise<string> {
    const venvPython = path.join(venvDir, process.platform === "win32" ? "Scripts/python.exe" : "bin/python");
    if (!fs.existsSync(venvPython)) {
        log(`moto: python3 cannot run moto (${system}); creating ${venvDir}`);
        const created = await run("python3", ["-m", "venv", venvDir], 120_000);
        if (!created.ok) {
            throw new Error(`No Python with moto found: python3 cannot import moto (${system}) and ` +
                `"python3 -m venv ${venvDir}" failed (${created.reason}). ${INSTALL_HINT}`);
        }
    } else {
        const found = await probe(venvPython);
        if (typeof found !== "string") {
            return accept(found, venvDir, log);
        }
    }
    // A fresh venv, or one left half-installed by an interrupted run: pip install is idempotent.
    log(`moto: installing ${MOTO_REQUIREMENT} into ${venvDir} (one time)`);
    const installed = await run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", MOTO_REQUIREMENT], 900_000);
    if (!installed.ok) {
        throw new Error(`No Python with moto found: python3 cannot import moto (${system}) and ` +
            `installing "${MOTO_REQUIREMENT}" into ${venvDir} failed (${installed.reason}). ${INSTALL_HINT}`);
    }
    const found = await probe(venvPython);
    if (typeof found === "string") {
        throw new Error(`Installed "${MOTO_REQUIREMENT}" into ${venvDir} but it still cannot import moto's server (${found}). ${INSTALL_HINT}`);
    }
    return accept(found, venvDir, log);
}

// One lookup per process and IRF_MOTO_PYTHON value (a failed lookup is retried next time).
const pythonCache = new Map<string, Promise<string>>();

function cachedMotoPython(): Promise<string> {
    const key = process.env.IRF_MOTO_PYTHON ?? "";
    let found = pythonCache.get(key);
    if (!found) {
        found = findMotoPython();
        pythonCache.set(key, found);
        found.catch(() => pythonCache.delete(key));
    }
    return found;
}

export interface StartOptions {
    /** Python interpreter with moto (default: findMotoPython()). */
    python?: string;
    /** How long to wait for the server to answer (default 30 s). */
    timeoutMs?: number;
    /** Folder for the server's log (default: a fresh temp folder). */
    logDir?: string;
    /** Extra environment for the server, e.g. INITIAL_NO_AUTH_ACTION_COUNT. MOTO_ACCOUNT_ID is always removed. */
    env?: NodeJS.ProcessEnv;
    /** Per-request logging in the log file (default: $IRF_MOTO_VERBOSE === "1"). */
    verbose?: boolean;
    /** Ports to try when the chosen one turns out to be taken (default 3). */
    attempts?: number;
}

export interface MotoServer {
    /** `http://127.0.0.1:PORT` */
    readonly endpoint: string;
    readonly port: number;
    readonly pid: number;
    /** The server's stdout and stderr (tracebacks of moto's 500 answers land here). */
    readonly logFile: string;
    /** Milliseconds from spawn to the first answer. */
    readonly startupMs: number;
    /** Settles when the server process ends, for whatever reason. */
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    running(): boolean;
    /** Wipes all of moto's state (every account and region). */
    reset(): Promise<void>;
    /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. Safe to call twice. */
    stop(): Promise<void>;
}

export interface ControlResponse {
    status: number;
    body: string;
}

/** A call to moto's control API (`/moto-api/...`) over node:http, without keep-alive. */
export function controlRequest(endpoint: string, method: "GET" | "POST", urlPath: string, body?: string, timeoutMs = 10_000): Promise<ControlResponse> {
    return new Promise((resolve, reject) => {
        const req = http.request(new URL(urlPath, endpoint), {
            method,
            agent: false,
            headers: body === undefined ? {} : { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body) },
            timeout: timeoutMs,
        }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(body);
    });
}

/** Servers started by this process: killed synchronously if the process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
    if (exitHookInstalled) {
        return;
    }
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const child of live) {
            child.kill("SIGKILL");
        }
    });
}

function serverEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    // It would pin every request to one account, defeating the x-moto-account-id header.
    delete env.MOTO_ACCOUNT_ID;
    return env;
}

function isBadPort(port: number): boolean {
    return port < 1024 || BAD_PORTS.has(port);
}

/** A port that was free on 127.0.0.1 a moment ago (the server may still lose a race for it). */
export async function pickPort(): Promise<number> {
    for (let i = 0; i < 20; i++) {
        const port = await new Promise<number>((resolve, reject) => {
            const server = net.createServer();
            server.once("error", reject);
            server.listen(0, HOST, () => {
                const { port: chosen } = server.address() as net.AddressInfo;
                server.close(() => resolve(chosen));
            });
        });
        if (!isBadPort(port)) {
            return port;
        }
    }
    throw new Error("could not find a free port on 127.0.0.1 outside fetch's bad-port list");
}

function tail(file: string, lines = 30): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

class PortTaken extends Error {}

/** Starts a moto server on a free loopback port and resolves once it answers. */
export async function startMoto(options: StartOptions = {}): Promise<MotoServer> {
    const python = options.python ?? await cachedMotoPython();
    const attempts = options.attempts ?? 3;
    const logDir = options.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "irf-moto-"));
    fs.mkdirSync(logDir, { recursive: true });
    for (let attempt = 1; ; attempt++) {
        const port = await pickPort();
        try {
            return await launch(python, port, logDir, options);
        } catch (err) {
            if (!(err instanceof PortTaken)) {
                throw err;
            }
            if (attempt >= attempts) {
                throw new Error(`moto server could not get a free port in ${attempts} attempts; last: ${err.message}`, { cause: err });
            }
        }
    }
}

async function launch(python: string, port: number, logDir: string, options: StartOptions): Promise<MotoServer> {
    const endpoint = `http://${HOST}:${port}`;
    const logFile = path.join(logDir, `moto-${port}.log`);
    // Echoed by GET /moto-api/config: proves the server answering on the port is ours.
    const launchId = randomBytes(8).toString("hex");
    const verbose = options.verbose ?? process.env.IRF_MOTO_VERBOSE === "1";
    const env = serverEnv({
        ...options.env,
        MOTO_PORT: String(port),
        IRF_MOTO_LAUNCH_ID: launchId,
        IRF_MOTO_PARENT_PID: String(process.pid),
        IRF_MOTO_VERBOSE: verbose ? "1" : "0",
        PYTHONUNBUFFERED: "1",
    });

    const started = Date.now();
    const out = fs.openSync(logFile, "a");
    let child: ChildProcess;
    try {
        child = spawn(python, [LAUNCHER, "-H", HOST, "-p", String(port)], { env, stdio: ["ignore", out, out] });
    } finally {
        fs.closeSync(out);
    }

    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once("exit", (code, signal) => {
            exitInfo = { code, signal };
            live.delete(child);
            resolve(exitInfo);
        });
        // Kept for the child's lifetime: an unheard "error" event would crash the host process.
        child.on("error", (err) => {
            // Spawning failed (e.g. the interpreter vanished): there will be no "exit".
            if (child.pid === undefined && !exitInfo) {
                spawnError = err;
                exitInfo = { code: null, signal: null };
                resolve(exitInfo);
            }
        });
    });
    if (child.pid !== undefined) {
        live.add(child);
        installExitHook();
    }
    // The server must not keep a test run alive; the exit hook and the launcher's parent watch end it.
    child.unref();

    const kill = async (): Promise<void> => {
        if (exitInfo) {
            return;
        }
        child.ref(); // keep the event loop alive until the exit is seen
        child.kill("SIGTERM");
        let timer: NodeJS.Timeout | undefined;
        const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), 5_000); })]);
        clearTimeout(timer);
        if (!gone && !exitInfo) {
            child.kill("SIGKILL");
            await exited;
        }
    };

    const deadline = started + (options.timeoutMs ?? 30_000);
    for (;;) {
        if (exitInfo) {
            const log = tail(logFile);
            if (spawnError) {
                throw new Error(`could not start ${python}: ${spawnError.message}`);
            }
            if (/Address already in use|Errno 98|EADDRINUSE/i.test(log)) {
                throw new PortTaken(`port ${port} was taken (log ${logFile})`);
            }
            const how = exitInfo.signal ? `signal ${exitInfo.signal}` : `code ${exitInfo.code}`;
            throw new Error(`moto server exited during start (${how}); log ${logFile}:\n${log}`);
        }
        const answer = await controlRequest(endpoint, "GET", "/moto-api/config", undefined, 1_000).catch(() => undefined);
        if (answer && answer.status >= 200 && answer.status < 300) {
            let id: unknown;
            try {
                id = JSON.parse(answer.body)?.lambda?.irf_launch_id;
            } catch {
                id = undefined;
            }
            if (id === launchId) {
                break;
            }
            // Another server holds this port; ours cannot bind it.
            await kill();
            throw new PortTaken(`port ${port} answers for another server`);
        }
        if (Date.now() > deadline) {
            await kill();
            throw new Error(`moto server did not answer on ${endpoint} within ${options.timeoutMs ?? 30_000} ms; log ${logFile}:\n${tail(logFile)}`);
        }
        await Promise.race([sleep(100), exited]);
    }
    const startupMs = Date.now() - started;

    let stopping: Promise<void> | undefined;
    const pid = child.pid as number;
    return {
        endpoint,
        port,
        pid,
        logFile,
        startupMs,
        exited,
        running: () => exitInfo === undefined,
        async reset() {
            // Resetting a server that holds many accounts' resources takes seconds, longer on a loaded machine.
            const res = await controlRequest(endpoint, "POST", "/moto-api/reset", undefined, 120_000);
            if (res.status !== 200) {
                throw new Error(`moto reset failed: HTTP ${res.status} ${res.body.slice(0, 200)}`);
            }
        },
        stop() {
            stopping ??= kill();
            return stopping;
        },
    };
}

async function serve(): Promise<void> {
    const server = await startMoto();
    console.log(server.endpoint);
    console.error(`moto: pid ${server.pid}, ready in ${server.startupMs} ms, log ${server.logFile}; Ctrl-C stops it`);
    // The child is unref'd; this keeps the CLI alive until a signal or the server's own exit.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let stopRequested = false;
    const shutdown = (signal: string): void => {
        stopRequested = true;
        console.error(`moto: ${signal}, stopping`);
        server.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    const { code, signal } = await server.exited;
    if (!stopRequested) {
        clearInterval(keepAlive);
        console.error(`moto: server exited on its own (${signal ?? `code ${code}`}); log ${server.logFile}`);
        process.exit(1);
    }
}

/** `npm run moto`: starts moto on a free 127.0.0.1 port and keeps it up until Ctrl-C. */
export function cli(): void {
    serve().catch((err: unknown) => {
        console.error(err instanceof Error ? err.message : err);
        process.exit(1);
    });
}
