/**
 * The offline AWS the tests, the drill and the bench talk to: moto, behind the strict layer that refuses
 * what AWS would refuse (emulator/strict/), optionally with the SSM host emulator between the two (it runs
 * the commands moto only records). Every client points at `endpoint`:
 *
 *   callers → strict layer → [SSM host emulator] → moto
 *
 * Reads of state for the emulation itself go to moto directly (`moto.endpoint`).
 */
import { MotoServer, StartOptions, startMoto } from "./aws/moto";
import { SsmHost, SsmHostOptions, startSsmHost } from "./host/ssm-host";
import { StrictLayer, startStrictLayer } from "./strict/layer";
import { Organization } from "./strict/state";

export interface EmulatorOptions {
    /** Turn the strict layer's checks off (comparison runs only; `npm test` never does). */
    lenient?: boolean;
    /** The organization of the emulated accounts (aws:PrincipalOrgID). */
    organization?: Organization;
    /** Accounts outside the organization that hold resources. */
    otherAccounts?: string[];
    moto?: StartOptions;
    /** Start the SSM host emulator behind the layer, with these options. */
    ssmHost?: Omit<SsmHostOptions, "motoEndpoint" | "stateEndpoint">;
    /** Refusals and internal errors of the layer. */
    log?: (line: string) => void;
}

export interface Emulator {
    /** What every client uses: the strict layer. */
    readonly endpoint: string;
    readonly moto: MotoServer;
    readonly layer: StrictLayer;
    readonly host?: SsmHost;
    readonly pid: number;
    running(): boolean;
    /** Wipes moto and everything the layer learnt. */
    reset(): Promise<void>;
    /** Stops the layer, the host emulator (and its commands) and moto. */
    stop(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
    const moto = await startMoto(options.moto);
    let host: SsmHost | undefined;
    let layer: StrictLayer | undefined;
    try {
        host = options.ssmHost ? await startSsmHost({ ...options.ssmHost, motoEndpoint: moto.endpoint, stateEndpoint: moto.endpoint }) : undefined;
        layer = await startStrictLayer({
            upstream: host?.endpoint ?? moto.endpoint, motoEndpoint: moto.endpoint, lenient: options.lenient,
            organization: options.organization, otherAccounts: options.otherAccounts, log: options.log,
        });
    } catch (err) {
        await host?.stop();
        await moto.stop();
        throw err;
    }
    const strict = layer;
    host?.useAuthorizer(strict);
    let stopping: Promise<void> | undefined;
    return {
        endpoint: strict.endpoint,
        moto,
        layer: strict,
        host,
        pid: moto.pid,
        running: () => moto.running(),
        async reset() {
            await moto.reset();
            strict.reset();
        },
        stop() {
            stopping ??= (async () => {
                await strict.stop();
                await host?.stop();
                await moto.stop();
            })();
            return stopping;
        },
    };
}
