/**
 * One emulator (moto behind the strict layer, emulator/index.ts) shared by every integration spec of a
 * mocha run: every request a spec sends is authenticated and authorized as AWS would.
 *
 *   describe("...", function () {
 *       const moto = useMoto();                        // starts the server before this suite's tests
 *       before(async () => { await moto().reset(); }); // each spec file resets what it relies on
 *   });
 *
 * The server is stopped by the root hook below once "test/support/moto.ts" is in .mocharc.json's
 * "require"; without it, scripts/moto.ts still kills it when the process exits.
 */
import * as fs from "fs";
import { Emulator, startEmulator } from "../../emulator";
import { findMotoPython } from "../../emulator/aws/moto";

/** The simulated accounts (moto keeps a separate backend per account). */
export const FORENSIC = "111122223333";
export const SECURITY = "222233334444";
export const MEMBER = "444455556666";
/** A second member account (the committed security stack's config has it). */
export const OTHER_MEMBER = "555566667777";

/** The organization of the simulated accounts, as the committed stack configs name it. */
export const TEST_ORGANIZATION = { id: "o-a1b2c3d4e5", accounts: [FORENSIC, SECURITY, MEMBER, OTHER_MEMBER] };

let shared: Promise<Emulator> | undefined;

/** The run's server, started on first use (and again if it has died since). */
export async function sharedMoto(): Promise<Emulator> {
    if (shared) {
        const server = await shared;
        if (server.running()) {
            return server;
        }
    }
    // A failed start is kept: every later suite then fails fast with the same message.
    shared = startEmulator({ organization: TEST_ORGANIZATION, log: logRefusal });
    return shared;
}

/** The layer's refusals go to a file (a denial a test expects is no news; an unexpected one is found there). */
function logRefusal(line: string): void {
    if (process.env.IRF_STRICT_LOG) {
        fs.appendFileSync(process.env.IRF_STRICT_LOG, `${line}\n`);
    }
}

/** Stops the shared server, if one was started. */
export async function stopSharedMoto(): Promise<void> {
    const pending = shared;
    shared = undefined;
    const server = await pending?.catch(() => undefined);
    await server?.stop();
}

/**
 * Call inside a `describe`: registers a `before` hook that makes the shared server available and
 * returns a getter for it (usable in later hooks and in tests).
 */
export function useMoto(): () => Emulator {
    let server: Emulator | undefined;
    before("start moto", async function () {
        // A first run may create .cache/moto-venv and pip-install moto.
        this.timeout(15 * 60_000);
        server = await sharedMoto();
    });
    return () => {
        if (!server) {
            throw new Error("moto is not started yet: use the getter in hooks or tests registered after useMoto()");
        }
        return server;
    };
}

/**
 * mocha root hook plugin (loaded through .mocharc.json "require"). In parallel mode root hooks run once per
 * file, so a worker (MOCHA_WORKER_ID set) keeps its server for the files it runs next: the server ends with
 * the worker (scripts/moto.ts's exit hook, and moto-server.py exits once its launcher is gone).
 */
export const mochaHooks = {
    async afterAll(): Promise<void> {
        if (process.env.MOCHA_WORKER_ID === undefined) {
            await stopSharedMoto();
        }
    },
};

/**
 * Runs once before any worker starts: finds (or installs, the first time: .cache/moto-venv) the Python
 * that runs moto, so that parallel workers never race to create the same virtual environment.
 */
export async function mochaGlobalSetup(): Promise<void> {
    await findMotoPython();
}
