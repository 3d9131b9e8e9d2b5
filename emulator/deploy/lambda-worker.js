// One deployed Lambda function's sandbox (emulator/deploy/lambda-runtime.ts starts it as a worker thread): it loads
// the function's generated module with the function's own environment (its execution role's credentials
// among it) and answers invocations posted by the parent. Plain JavaScript: a worker does not run ts-node.
"use strict";
const { parentPort, workerData } = require("worker_threads");

let handler;
try {
    const mod = require(workerData.file);
    if (typeof mod.handler !== "function") {
        throw new Error(`${workerData.name}: the generated module exports no handler`);
    }
    handler = mod.handler;
} catch (err) {
    parentPort.postMessage({ type: "load-error", error: { name: err.name, message: err.message, stack: err.stack } });
}

parentPort.on("message", async ({ id, event, context }) => {
    try {
        const result = await handler(event, context);
        parentPort.postMessage({ type: "result", id, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
    } catch (err) {
        const error = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : { name: "Error", message: String(err) };
        parentPort.postMessage({ type: "error", id, error });
    }
});
