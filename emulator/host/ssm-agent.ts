/**
 * What a suspect host's network and SSM agent allow at a given moment, for the SSM host emulator:
 *
 * - **The network gate**: the host script's HTTP client is given this gate as its proxy (`http_proxy`),
 *   which lets a request through only when the instance could open that connection now, given its
 *   security groups, its subnet's route table and NACL and the VPC's endpoints (emulator/strict/network.ts). A
 *   refused connection looks like a timeout: nothing answers, then the connection drops.
 * - **The agent's registration**: an instance is Online in SSM while its agent holds working credentials
 *   and reaches the ssm and ec2messages endpoints. After an instance profile change the agent keeps its
 *   old credentials until they refresh (`credentialRefreshMs`), loses its connection, and registers again
 *   after `reRegisterMs` (default 60 s), if the new profile's role lets it and the network reaches SSM.
 *
 * Hosts whose instance moto does not know are modelled without either (always reachable and Online).
 */
import * as http from "http";
import { AddressInfo } from "net";
import { DescribeIamInstanceProfileAssociationsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetInstanceProfileCommand, IAMClient } from "@aws-sdk/client-iam";
import { GetBucketLocationCommand, S3Client } from "@aws-sdk/client-s3";
import { clientConfig, forAccount } from "../aws/aws-clients";
import { Destination, InstanceNetwork, reach, readInstanceNetwork, ssmAgentReachable } from "../strict/network";
import type { Decision } from "../strict/authorize";
import type { AuthRequest, Principal } from "../strict/types";

/** What decides whether a role may do something (the strict layer). */
export interface Authorizer {
    authorize(principal: Principal, request: AuthRequest, region: string): Promise<Decision>;
}

export interface RegistrationOptions {
    /** How long an agent works on with its old credentials after a profile change (default 5 s). */
    credentialRefreshMs?: number;
    /** How long after a profile change the agent registers again (default 60 s). */
    reRegisterMs?: number;
}

export type PingStatus = "Online" | "ConnectionLost";

/** A connection the gate refused, for the emulator's record. */
export interface RefusedConnection {
    at: string;
    instanceId: string;
    destination: string;
    reason: string;
}

interface Where {
    instanceId: string;
    account: string;
    region: string;
}

const errorName = (err: unknown): string => (err as { name?: string }).name ?? "";

/** The instance's network now, or undefined when moto does not know the instance (not modelled). */
async function networkOf(stateEndpoint: string, where: Where): Promise<InstanceNetwork | undefined> {
    const ec2 = forAccount(new EC2Client(clientConfig(stateEndpoint, where.region)), where.account);
    try {
        return await readInstanceNetwork(ec2, where.instanceId);
    } catch (err) {
        if (errorName(err) === "InvalidInstanceID.NotFound" || /not found|does not exist/i.test((err as Error).message ?? "")) {
            return undefined;
        }
        throw err;
    } finally {
        ec2.destroy();
    }
}

export class SsmAgents {
    private readonly changedAt = new Map<string, number>();
    private readonly statusCache = new Map<string, { at: number; value: PingStatus }>();
    private authorizer?: Authorizer;

    constructor(private readonly stateEndpoint: string, private readonly options: RegistrationOptions = {}) {}

    useAuthorizer(authorizer: Authorizer): void {
        this.authorizer = authorizer;
    }

    /** The instance's profile changed now (seen as the EC2 call passed). */
    profileChanged(instanceId: string, at = Date.now()): void {
        this.changedAt.set(instanceId, at);
        this.statusCache.delete(instanceId);
    }

    /** When the agent lost its connection after the last profile change (undefined: it has not). */
    disconnectedSince(instanceId: string): number | undefined {
        const changed = this.changedAt.get(instanceId);
        return changed === undefined ? undefined : changed + (this.options.credentialRefreshMs ?? 5_000);
    }

    async status(where: Where): Promise<PingStatus> {
        const cached = this.statusCache.get(where.instanceId);
        if (cached && Date.now() - cached.at < 500) {
            return cached.value;
        }
        const value = await this.evaluate(where);
        this.statusCache.set(where.instanceId, { at: Date.now(), value });
        return value;
    }

    private async evaluate(where: Where): Promise<PingStatus> {
        const changed = this.changedAt.get(where.instanceId);
        const elapsed = changed === undefined ? Infinity : Date.now() - changed;
        const refresh = this.options.credentialRefreshMs ?? 5_000;
        const reRegister = this.options.reRegisterMs ?? 60_000;
        if (elapsed >= refresh && elapsed < reRegister) {
            return "ConnectionLost";
        }
        const net = await networkOf(this.stateEndpoint, where);
        if (!net) {
            return "Online";
        }
        if (!ssmAgentReachable(net).reachable) {
            return "ConnectionLost";
        }
        // Still on the old credentials (elapsed < refresh), the old role's permissions stand as they were.
        return elapsed < refresh || await this.roleRunsAgent(where) ? "Online" : "ConnectionLost";
    }

    /** Does the instance's current profile let its agent register and take commands? */
    private async roleRunsAgent(where: Where): Promise<boolean> {
        const roleArn = await this.profileRole(where);
        if (!roleArn) {
            return false;
        }
        if (!this.authorizer) {
            return true;
        }
        const instanceArn = `arn:aws:ec2:${where.region}:${where.account}:instance/${where.instanceId}`;
        const principal: Principal = {
            kind: "assumed-role", arn: `arn:aws:sts::${where.account}:assumed-role/${roleArn.split("/").pop()}/${where.instanceId}`,
            account: where.account, roleArn, sessionName: where.instanceId, sourceInstanceArn: instanceArn,
        };
        // The agent's own calls (AmazonSSMManagedInstanceCore grants them): registering, and fetching commands.
        const needs: AuthRequest[] = [
            { action: "ssm:UpdateInstanceInformation", resource: instanceArn, resourceAccount: where.account, context: {} },
            { action: "ec2messages:GetMessages", resource: "*", context: {} },
        ];
        for (const request of needs) {
            if (!(await this.authorizer.authorize(principal, request, where.region)).allowed) {
                return false;
            }
        }
        return true;
    }

    private async profileRole(where: Where): Promise<string | undefined> {
        const ec2 = forAccount(new EC2Client(clientConfig(this.stateEndpoint, where.region)), where.account);
        const iam = forAccount(new IAMClient(clientConfig(this.stateEndpoint, "us-east-1")), where.account);
        try {
            const association = (await ec2.send(new DescribeIamInstanceProfileAssociationsCommand({
                Filters: [{ Name: "instance-id", Values: [where.instanceId] }],
            }))).IamInstanceProfileAssociations?.find((a) => a.State === "associated" || a.State === "associating");
            const profileName = association?.IamInstanceProfile?.Arn?.split("/").pop();
            if (!profileName) {
                return undefined;
            }
            const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName }));
            return profile.InstanceProfile?.Roles?.[0]?.Arn;
        } catch (err) {
            if (errorName(err) === "NoSuchEntityException" || errorName(err) === "NoSuchEntity") {
                return undefined;
            }
            throw err;
        } finally {
            ec2.destroy();
            iam.destroy();
        }
    }
}

/** The service and region a request is for: its SigV4 scope, and for S3 the bucket's own region. */
async function destinationOf(target: URL, headers: http.IncomingHttpHeaders, bucketRegion: (bucket: string) => Promise<string | undefined>): Promise<Destination> {
    const credential = target.searchParams.get("X-Amz-Credential") ?? /Credential=([^,\s]+)/.exec(String(headers.authorization ?? ""))?.[1] ?? "";
    const [, , scopeRegion = "us-east-1", service = "s3"] = decodeURIComponent(credential).split("/");
    if (service !== "s3") {
        return { service, region: scopeRegion };
    }
    const bucket = decodeURIComponent(target.pathname.split("/")[1] ?? "");
    return { service, region: (await bucketRegion(bucket)) ?? scopeRegion };
}

export interface NetworkGate {
    /** `http://127.0.0.1:PORT`: the host script's `http_proxy`. */
    readonly url: string;
    stop(): Promise<void>;
}

export interface GateOptions extends Where {
    stateEndpoint: string;
    /** How long a refused connection hangs before it drops (a client's connect timeout; default 3 s). */
    unreachableDelayMs?: number;
    onRefused?: (refused: RefusedConnection) => void;
}

/** Starts the network gate of one instance (one per command it runs). */
export async function startNetworkGate(options: GateOptions): Promise<NetworkGate> {
    const regions = new Map<string, Promise<string | undefined>>();
    const bucketRegion = (bucket: string) => {
        let known = regions.get(bucket);
        if (!known) {
            const s3 = new S3Client({ ...clientConfig(options.stateEndpoint, "us-east-1") });
            known = s3.send(new GetBucketLocationCommand({ Bucket: bucket }))
                .then((out) => out.LocationConstraint || "us-east-1", () => undefined)
                .finally(() => s3.destroy());
            regions.set(bucket, known);
        }
        return known;
    };
    const agent = new http.Agent({ keepAlive: true });
    const held = new Set<NodeJS.Timeout>();

    async function admit(req: http.IncomingMessage): Promise<{ target: URL; refused?: string }> {
        const target = new URL(req.url ?? "/", "http://invalid");
        // Only loopback traffic leaves this machine's emulation: anything else is a network the host cannot reach.
        if (target.hostname !== "127.0.0.1") {
            return { target, refused: `${target.hostname} is not an emulated endpoint` };
        }
        const destination = await destinationOf(target, req.headers, bucketRegion);
        const net = await networkOf(options.stateEndpoint, options);
        if (!net) {
            return { target };
        }
        const verdict = reach(net, destination);
        return verdict.reachable ? { target } : { target, refused: `${destination.service} in ${destination.region}: ${verdict.reason}` };
    }

    const server = http.createServer((req, res) => {
        admit(req).then(({ target, refused }) => {
            if (refused) {
                options.onRefused?.({ at: new Date().toISOString(), instanceId: options.instanceId, destination: `${req.method} ${target.host}${target.pathname}`, reason: refused });
                req.resume();
                // No SYN-ACK ever comes: the client waits, then gives up.
                const timer = setTimeout(() => {
                    held.delete(timer);
                    req.socket.destroy();
                }, options.unreachableDelayMs ?? 3_000);
                held.add(timer);
                return;
            }
            const headers = { ...req.headers };
            delete headers["proxy-connection"];
            delete headers["proxy-authorization"];
            const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: `${target.pathname}${target.search}`, headers, agent }, (answer) => {
                res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
                answer.pipe(res);
            });
            upstream.on("error", () => req.socket.destroy());
            req.pipe(upstream);
        }, () => req.socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    let stopping: Promise<void> | undefined;
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        stop() {
            stopping ??= new Promise<void>((resolve) => {
                held.forEach((t) => clearTimeout(t));
                server.close(() => resolve());
                server.closeAllConnections();
                agent.destroy();
            });
            return stopping;
        },
    };
}
