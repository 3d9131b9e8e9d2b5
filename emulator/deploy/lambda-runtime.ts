/**
 * Deployed Lambda functions run as Lambda runs them: each in its own sandbox (a worker thread with an
 * environment of its own) holding the credentials of its own execution role, obtained as Lambda obtains
 * them (the role's trust policy must admit lambda.amazonaws.com for this function's account and ARN).
 * So each function's calls are authorized as that role, which is what the strict layer checks.
 */
import * as fs from "fs";
import * as path from "path";
import { Worker } from "worker_threads";
import type { DeployedCallback, LambdaHandler } from "./deployed";
import type { StrictLayer } from "../strict/layer";

export interface FunctionSandbox {
    readonly name: string;
    readonly handler: LambdaHandler;
    stop(): Promise<void>;
}

export interface SandboxOptions {
    /** The endpoint the function's SDK clients use (AWS_ENDPOINT_URL): the strict layer. */
    endpoint: string;
    region: string;
    /** Issues the execution role's credentials; without it, `credentials` are used as given. */
    layer?: Pick<StrictLayer, "serviceCredentials">;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    /** Where the function's console output goes (CloudWatch Logs stands in). */
    log?: fs.WriteStream;
    /** Variables to set or override (e.g. IRF_SETTINGS for a test). */
    environment?: Record<string, string>;
}

/** Starts `cb` in its own sandbox with its role's credentials. */
export async function startFunction(cb: DeployedCallback, options: SandboxOptions): Promise<FunctionSandbox> {
    const account = cb.arn.split(":")[4] ?? "";
    const functionName = cb.arn.split(":").pop() ?? cb.name;
    let credentials = options.credentials;
    if (options.layer) {
        if (!cb.roleArn) {
            throw new Error(`${cb.name}: the stack gives the function no execution role`);
        }
        const issued = await options.layer.serviceCredentials(cb.roleArn, "lambda.amazonaws.com", { account, arn: cb.arn }, functionName);
        credentials = issued;
    }
    if (!credentials) {
        throw new Error(`${cb.name}: no credentials for the function`);
    }
    const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        ...cb.environment,
        ...options.environment,
        AWS_ENDPOINT_URL: options.endpoint,
        AWS_REGION: options.region,
        AWS_DEFAULT_REGION: options.region,
        AWS_LAMBDA_FUNCTION_NAME: functionName,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
    };
    const worker = new Worker(path.join(__dirname, "lambda-worker.js"), {
        workerData: { file: cb.file, name: cb.name }, env, stdout: true, stderr: true,
    });
    // Many sandboxes share one log: write to it rather than pipe (each pipe adds listeners to the stream).
    const log = options.log;
    for (const stream of [worker.stdout, worker.stderr]) {
        stream.on("data", (chunk: Buffer) => log?.write(chunk));
    }
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    let loadError: Error | undefined;
    let next = 0;
    const fail = (err: Error) => {
        for (const p of pending.values()) {
            p.reject(err);
        }
        pending.clear();
    };
    worker.on("message", (m: { type: string; id?: number; result?: unknown; error?: { name: string; message: string; stack?: string } }) => {
        const error = m.error ? Object.assign(new Error(m.error.message), { name: m.error.name, stack: m.error.stack }) : undefined;
        if (m.type === "load-error") {
            loadError = error;
            fail(error as Error);
            return;
        }
        const p = m.id === undefined ? undefined : pending.get(m.id);
        if (p) {
            pending.delete(m.id as number);
            if (error) {
                p.reject(error);
            } else {
                p.resolve(m.result);
            }
        }
    });
    worker.on("error", (err) => fail(err));
    worker.on("exit", (code) => fail(new Error(`${cb.name}: the sandbox exited (code ${code})`)));
    const handler: LambdaHandler = (event, context) => {
        if (loadError) {
            return Promise.reject(loadError);
        }
        const id = next++;
        return new Promise((resolve, reject) => {
            pending.set(id, { resolve, reject });
            worker.postMessage({ id, event: event === undefined ? null : JSON.parse(JSON.stringify(event)), context: context ?? {} });
        });
    };
    let stopping: Promise<void> | undefined;
    return {
        name: cb.name,
        handler,
        stop() {
            stopping ??= worker.terminate().then(() => undefined);
            return stopping;
        },
    };
}
