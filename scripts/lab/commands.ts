/** Commands the lab runs on this machine: asynchronous (the emulator shares this process), never through a shell. */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface RunResult {
    stdout: string;
    stderr: string;
    ms: number;
}

/** Runs a command to its end; rejects with the command and the tail of its stderr when it fails. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<RunResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout?.on("data", (d: Buffer) => { stdout += d.toString(); });
        child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-64 * 1024); });
        child.on("error", (err) => reject(new Error(`${command}: ${err.message}`)));
        child.on("close", (code, signal) => {
            if (code === 0) {
                resolve({ stdout, stderr, ms: Date.now() - started });
            } else {
                const tail = stderr.trim().split("\n").slice(-3).join(" | ");
                reject(Object.assign(new Error(`${command} ${args.slice(0, 3).join(" ")}… exited with ${code ?? signal}${tail ? `: ${tail}` : ""}`), { code, stdout, stderr }));
            }
        });
        if (child.stdin) {
            child.stdin.on("error", () => undefined);
            child.stdin.end(options.input);
        }
    });
}

/** Whether a command exists on PATH. */
export function has(command: string): boolean {
    return (process.env.PATH ?? "").split(":").some((dir) => { try { fs.accessSync(path.join(dir, command), fs.constants.X_OK); return true; } catch { return false; } });
}
