/**
 * The strict layer: an HTTP server on 127.0.0.1 between every caller and moto that refuses what AWS
 * would refuse. Each request is authenticated (SigV4 or a presigned URL, recomputed with the SDK's
 * signer against the secret of the credentials moto issued), its payload checked as S3 checks it, and
 * authorized with iam-simulate against the caller's policies, the resource's policy and the request
 * context AWS sends (emulator/strict/operations.ts says what each operation asks). Only then is it
 * forwarded, in the caller's account. Answers that create credentials (AssumeRole, CreateAccessKey)
 * are read on the way back, so that the keys moto issued are known by their owner.
 *
 *   const layer = await startStrictLayer({ upstream: moto.endpoint, motoEndpoint: moto.endpoint });
 *   // point every client at layer.endpoint
 *
 * `lenient: true` forwards everything unchecked (for comparison only); the account mapping stays.
 * Every refusal is counted by rule and logged with the request, the principal and what decided it.
 */
import { randomBytes } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { DescribeIamInstanceProfileAssociationsCommand } from "@aws-sdk/client-ec2";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { ACCOUNT_HEADER, clientsFor } from "../aws/aws-clients";
import { decide, decideAll, Decision } from "./authorize";
import { CredentialStore, DEFAULT_ACCOUNT, parseAssumeRoleResponse, parseCreateAccessKeyResponse } from "./credentials";
import { authorizationRequests } from "./operations";
import { parseRequest, readBody } from "./request";
import { checkPayload, errorResponse, verifySignature } from "./signature";
import { MotoState, Organization } from "./state";
import { AuthRequest, AwsRequest, NotFound, Principal, Refusal } from "./types";

/** IAM's quotas the layer applies (IAM User Guide, "IAM and AWS STS quotas"; the attachment quota at its default). */
export const IAM_QUOTAS = { rolePolicySize: 10_240, policySize: 6_144, policiesPerRole: 10 } as const;

export interface StrictLayerOptions {
    /** Where accepted requests go (moto, or an emulator in front of it). */
    upstream: string;
    /** moto itself, for reading state (never through the layer). */
    motoEndpoint: string;
    /** Forward everything unchecked: for comparing with the strict run only. */
    lenient?: boolean;
    organization?: Organization;
    /** Accounts outside the organization that the emulator holds resources of. */
    otherAccounts?: string[];
    /** Where each refusal is logged (default: nowhere; refusals are kept in `refusals()`). */
    log?: (line: string) => void;
    /** The clock requests are judged by (default: the wall clock). */
    now?: () => Date;
}

/** One refused request, for the log and the drill's report. */
export interface RefusalRecord {
    at: string;
    rule: string;
    code: string;
    operation: string;
    principal: string;
    action?: string;
    resource?: string;
    reason: string;
}

export interface LayerStats {
    /** Requests seen, by `service:Operation`. */
    requests: Record<string, number>;
    /** Refusals, by rule (signature rules, payload rules, authorization). */
    refused: Record<string, number>;
    /** Requests of the harness (each account's root) the table does not map: forwarded, counted. */
    harnessUnmapped: Record<string, number>;
    /** Requests of the deployed code (every known principal but the harness), by `service:Operation`: signed
     *  with a header (the Lambdas, the state machine) and presigned (a host using the URLs it was given). */
    deployed: { signed: Record<string, number>; presigned: Record<string, number> };
    /**
     * Requests of a session named for one instance (the engine names its member sessions after the case,
     * which names the instance) that name another instance, in a parameter (policy documents aside) or a resource ARN: by
     * operation, with the first 20 in full. Empty when every case touched only its own instance.
     */
    foreignInstance: { byOperation: Record<string, number>; samples: string[] };
    forwarded: number;
}

function emptyStats(): LayerStats {
    return { requests: {}, refused: {}, harnessUnmapped: {}, deployed: { signed: {}, presigned: {} }, foreignInstance: { byOperation: {}, samples: [] }, forwarded: 0 };
}

export interface IssuedCredentials {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken: string;
    expiration: Date;
}

export interface StrictLayer {
    readonly endpoint: string;
    readonly port: number;
    readonly lenient: boolean;
    readonly state: MotoState;
    stats(): LayerStats;
    refusals(): RefusalRecord[];
    /** Forget issued credentials, cached state and counters (after moto's reset). */
    reset(): void;
    /**
     * Credentials of `roleArn` as an AWS service obtains them for a resource (Lambda for a function's
     * execution role): the role's trust policy must admit the service with that source account and ARN.
     */
    serviceCredentials(roleArn: string, service: string, source: { account: string; arn?: string }, sessionName: string): Promise<IssuedCredentials>;
    /** The credentials an instance's profile gives it (IMDS), carrying ec2:SourceInstanceARN. */
    instanceCredentials(account: string, region: string, instanceId: string): Promise<IssuedCredentials>;
    /** Who an access key belongs to (undefined: the layer does not know it). */
    principalOf(accessKeyId: string): Principal | undefined;
    /** Is `action` on `resource` allowed for this principal (for emulated services that do not go through HTTP)? */
    authorize(principal: Principal, request: AuthRequest, region: string): Promise<Decision>;
    stop(): Promise<void>;
}

const READ_PREFIXES = /^(Describe|Get|List|Head|Lookup|Query|Scan|Receive|Select)/;

/** AWS's access-denied answer per protocol (S3 AccessDenied, EC2 UnauthorizedOperation, query AccessDenied, JSON AccessDeniedException). */
function deniedCode(req: AwsRequest): { code: string; status: number } {
    switch (req.protocol) {
        case "rest-xml": return { code: "AccessDenied", status: 403 };
        case "ec2": return { code: "UnauthorizedOperation", status: 403 };
        case "query": return { code: "AccessDenied", status: 403 };
        default: return { code: "AccessDeniedException", status: 400 };
    }
}

function send(res: http.ServerResponse, answer: { status: number; headers: Record<string, string>; body: string }): void {
    res.writeHead(answer.status, { ...answer.headers, "Content-Length": Buffer.byteLength(answer.body), "x-amzn-RequestId": randomBytes(16).toString("hex") });
    res.end(answer.body);
}

const bump = (counts: Record<string, number>, key: string) => {
    counts[key] = (counts[key] ?? 0) + 1;
};

/** Headers to forward: the caller's, minus what the layer decides (the account) and hop-by-hop ones. */
function forwardHeaders(raw: string[], account: string): string[] {
    const out: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i].toLowerCase();
        if (name !== ACCOUNT_HEADER && name !== "expect") {
            out.push(raw[i], raw[i + 1]);
        }
    }
    out.push(ACCOUNT_HEADER, account);
    return out;
}

/** Operations whose answers the layer reads (credentials, upload encryption). */
const READ_ANSWER = new Set(["sts:AssumeRole", "iam:CreateAccessKey", "s3:CreateMultipartUpload"]);

export async function startStrictLayer(options: StrictLayerOptions): Promise<StrictLayer> {
    const upstream = new URL(options.upstream);
    const agent = new http.Agent({ keepAlive: true });
    const state = new MotoState(options.motoEndpoint, options.organization, [...(options.otherAccounts ?? []), DEFAULT_ACCOUNT]);
    const store = new CredentialStore();
    const now = options.now ?? (() => new Date());
    let stats: LayerStats = emptyStats();
    let refusals: RefusalRecord[] = [];

    function refuse(res: http.ServerResponse, req: AwsRequest, record: Omit<RefusalRecord, "at" | "operation">, status: number, message: string): void {
        const entry: RefusalRecord = { at: now().toISOString(), operation: `${req.service}:${req.operation}`, ...record };
        refusals.push(entry);
        if (refusals.length > 5000) {
            refusals = refusals.slice(-5000);
        }
        bump(stats.refused, record.rule);
        options.log?.(`strict: REFUSED ${entry.operation} (${record.rule}, ${record.code}) by ${record.principal}`
            + `${record.action ? `: ${record.action} on ${record.resource}` : ""}: ${record.reason}`);
        send(res, errorResponse(req, { code: record.code, message, status }));
    }

    /** Reads what an answer tells the layer: new credentials, a new upload's encryption. */
    function learn(req: AwsRequest, principal: Principal, status: number, headers: http.IncomingHttpHeaders, body: Buffer): void {
        if (status !== 200) {
            return;
        }
        const op = `${req.service}:${req.operation}`;
        if (op === "sts:AssumeRole") {
            const issued = parseAssumeRoleResponse(body.toString("utf8"));
            const roleArn = String(req.params.RoleArn ?? "");
            if (issued) {
                store.add({
                    accessKeyId: issued.accessKeyId, secretAccessKey: issued.secretAccessKey, sessionToken: issued.sessionToken, expiresAt: issued.expiration,
                    principal: {
                        kind: "assumed-role", arn: issued.assumedRoleArn, account: roleArn.split(":")[4] ?? DEFAULT_ACCOUNT, roleArn,
                        sessionName: String(req.params.RoleSessionName ?? ""), expiresAt: issued.expiration,
                        ...(req.params.Policy ? { sessionPolicy: String(req.params.Policy) } : {}),
                        ...(principal.kind === "assumed-role" ? { chained: true } : {}),
                    },
                });
            }
        } else if (op === "iam:CreateAccessKey") {
            const key = parseCreateAccessKeyResponse(body.toString("utf8"));
            if (key) {
                store.add({
                    accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey,
                    principal: { kind: "user", arn: `arn:aws:iam::${principal.account}:user/${key.userName}`, account: principal.account },
                });
            }
        } else if (op === "s3:CreateMultipartUpload") {
            const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(body.toString("utf8"))?.[1];
            if (uploadId) {
                state.recordUpload(String(req.params.Bucket ?? ""), uploadId, {
                    algorithm: headers["x-amz-server-side-encryption"] as string | undefined,
                    keyArn: headers["x-amz-server-side-encryption-aws-kms-key-id"] as string | undefined,
                    bucketKey: headers["x-amz-server-side-encryption-bucket-key-enabled"] === "true",
                });
            }
        }
    }

    function forward(incoming: http.IncomingMessage, res: http.ServerResponse, req: AwsRequest, principal: Principal | undefined, account: string, touched: string[]): void {
        stats.forwarded++;
        const op = `${req.service}:${req.operation}`;
        const upstreamReq = http.request({
            host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, agent,
            headers: forwardHeaders(incoming.rawHeaders, account), setHost: false,
        }, (answer) => {
            const status = answer.statusCode ?? 502;
            const mutating = !READ_PREFIXES.test(req.operation) && req.method !== "GET" && req.method !== "HEAD";
            if (mutating && status < 300) {
                for (const a of new Set([account, ...touched])) {
                    state.touched(a, req.service);
                }
            }
            if (principal && READ_ANSWER.has(op)) {
                readBody(answer).then((body) => {
                    learn(req, principal, status, answer.headers, body);
                    res.writeHead(status, answer.statusMessage, answer.rawHeaders);
                    res.end(body);
                }, () => res.destroy());
                return;
            }
            res.writeHead(status, answer.statusMessage, answer.rawHeaders);
            answer.pipe(res);
        });
        upstreamReq.on("error", (err) => {
            if (!res.headersSent) {
                res.writeHead(502, { "Content-Type": "text/plain" });
            }
            res.end(`strict layer: upstream unreachable: ${err.message}`);
        });
        upstreamReq.end(req.body);
    }

    /** The AWS rules outside IAM that the layer applies before authorization. */
    async function preconditions(req: AwsRequest, principal: Principal): Promise<void> {
        const op = `${req.service}:${req.operation}`;
        if (op === "sts:AssumeRole") {
            const duration = Number(req.params.DurationSeconds ?? 3600);
            // Role chaining caps a session at one hour (IAM User Guide, "Role chaining").
            if (principal.kind === "assumed-role" && duration > 3600) {
                throw new Refusal("role-chaining", "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
            }
            const role = await state.role(String(req.params.RoleArn ?? ""));
            if (role && duration > role.maxSessionSeconds) {
                throw new Refusal("session-duration", "ValidationError",
                    `The requested DurationSeconds exceeds the MaxSessionDuration set for this role (${role.maxSessionSeconds}).`);
            }
        }
        if (req.service === "s3" && (req.operation === "PutObject" || req.operation === "UploadPart")) {
            const bucket = await state.bucket(String(req.params.Bucket ?? ""));
            const integrity = ["content-md5", "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1",
                "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm", "x-amz-trailer"].some((h) => req.headers[h] !== undefined);
            // S3 User Guide, "Using S3 Object Lock": uploads into a bucket with Object Lock need an integrity header.
            if (bucket?.objectLock && !integrity) {
                throw new Refusal("object-lock-integrity", "InvalidRequest",
                    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters");
            }
        }
    }

    /**
     * IAM's size and count quotas, which moto does not apply (it does refuse a sixth policy version): the
     * aggregate of a role's inline policies, a managed policy's size, the managed policies attached to a role
     * (IAM User Guide, "IAM and AWS STS quotas": 10,240 and 6,144 characters, white space not counted; 10
     * attached by default). Checked once the request is authorized, as AWS answers AccessDenied first.
     */
    async function quotas(req: AwsRequest, principal: Principal): Promise<void> {
        if (req.service !== "iam") {
            return;
        }
        const size = (doc: string) => doc.replace(/\s/g, "").length;
        const param = (name: string) => String(req.params[name] ?? "");
        if (req.operation === "PutRolePolicy") {
            const role = await state.roleByName(principal.account, param("RoleName"));
            const others = (role?.inlinePolicies ?? []).filter((p) => p.name !== param("PolicyName")).reduce((n, p) => n + size(p.document), 0);
            if (role && others + size(param("PolicyDocument")) > IAM_QUOTAS.rolePolicySize) {
                throw new Refusal("iam-role-policy-size", "LimitExceeded",
                    `Maximum policy size of ${IAM_QUOTAS.rolePolicySize} bytes exceeded for role ${role.name}`, 409);
            }
        }
        if ((req.operation === "CreatePolicy" || req.operation === "CreatePolicyVersion") && size(param("PolicyDocument")) > IAM_QUOTAS.policySize) {
            throw new Refusal("iam-policy-size", "LimitExceeded", `Cannot exceed quota for PolicySize: ${IAM_QUOTAS.policySize}`, 409);
        }
        if (req.operation === "AttachRolePolicy") {
            const role = await state.roleByName(principal.account, param("RoleName"));
            const attached = role?.attachedPolicyArns ?? [];
            if (role && !attached.includes(param("PolicyArn")) && attached.length >= IAM_QUOTAS.policiesPerRole) {
                throw new Refusal("iam-policies-per-role", "LimitExceeded", `Cannot exceed quota for PoliciesPerRole: ${IAM_QUOTAS.policiesPerRole}`, 409);
            }
        }
    }

    function noteForeignInstances(op: string, principal: Principal, params: Record<string, unknown>, requests: AuthRequest[]): void {
        // Session names are cut at 64 characters: the instance id in one may be a prefix of the real id.
        const own = /i-[0-9a-f]{8,17}/.exec(principal.sessionName ?? "")?.[0];
        if (!own) {
            return;
        }
        // A policy document is left out: the revocation policy a role shares lists every instance revoked from
        // it, and each case rewrites it whole (a dropped entry shows on that instance, judged at the end).
        const { PolicyDocument: _document, ...otherParams } = params;
        const named = [JSON.stringify(otherParams), ...requests.map((r) => r.resource)].join(" ").match(/\bi-[0-9a-f]{8,17}\b/g) ?? [];
        const foreign = [...new Set(named)].filter((id) => !id.startsWith(own));
        if (foreign.length > 0) {
            bump(stats.foreignInstance.byOperation, op);
            if (stats.foreignInstance.samples.length < 20) {
                stats.foreignInstance.samples.push(`${op} by ${principal.arn} names ${foreign.join(", ")}`);
            }
        }
    }

    async function handle(incoming: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const body = await readBody(incoming);
        const req = parseRequest(incoming.method ?? "GET", incoming.url ?? "/", incoming.headers, body);
        const op = `${req.service}:${req.operation}`;
        bump(stats.requests, op);
        const accountHeader = incoming.headers[ACCOUNT_HEADER] as string | undefined;
        if ((incoming.url ?? "").startsWith("/moto-api/")) {
            forward(incoming, res, req, undefined, accountHeader ?? DEFAULT_ACCOUNT, []);
            return;
        }
        const credential = req.signature ? store.lookup(req.signature.accessKeyId, accountHeader) : undefined;
        if (credential && !credential.principal.harness) {
            bump(req.headers.authorization ? stats.deployed.signed : stats.deployed.presigned, op);
        }
        if (options.lenient) {
            forward(incoming, res, req, credential?.principal, credential?.principal.account ?? accountHeader ?? DEFAULT_ACCOUNT, []);
            return;
        }
        const who = credential?.principal.arn ?? (req.signature ? `unknown key ${req.signature.accessKeyId}` : "anonymous");
        let principal: Principal;
        try {
            if (!req.signature) {
                throw new Refusal("unsigned", req.protocol === "rest-xml" ? "AccessDenied" : "MissingAuthenticationToken",
                    req.protocol === "rest-xml" ? "Access Denied" : "Request is missing Authentication Token", 403);
            }
            await verifySignature(req, credential && {
                accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey,
                sessionToken: credential.sessionToken, expiresAt: credential.expiresAt,
            }, now());
            principal = (credential as NonNullable<typeof credential>).principal;
            if (req.service === "s3") {
                checkPayload(req);
            }
            await preconditions(req, principal);
        } catch (err) {
            if (err instanceof Refusal) {
                refuse(res, req, { rule: err.rule, code: err.code, principal: who, reason: err.message }, err.status, err.message);
                return;
            }
            throw err;
        }

        let requests: AuthRequest[];
        try {
            requests = await authorizationRequests({ req, principal, region: req.region, state });
        } catch (err) {
            if (err instanceof NotFound) {
                send(res, errorResponse(req, { code: err.code, message: err.message, status: err.status }));
                return;
            }
            if (err instanceof Refusal && err.rule === "unmapped-operation" && principal.harness) {
                // The harness setting the emulator up: not under test, forwarded and counted.
                bump(stats.harnessUnmapped, op);
                forward(incoming, res, req, principal, principal.account, []);
                return;
            }
            if (err instanceof Refusal) {
                refuse(res, req, { rule: err.rule, code: err.code, principal: principal.arn, reason: err.message }, err.status, err.message);
                return;
            }
            throw err;
        }
        noteForeignInstances(op, principal, req.params, requests);
        const denied = await decideAll(principal, requests, state, req.region, now());
        if (denied) {
            const { code, status } = deniedCode(req);
            const message = `User: ${principal.arn} is not authorized to perform: ${denied.request.action} on resource: ${denied.request.resource}`
                + ` because ${denied.reason}`;
            refuse(res, req, {
                rule: `authorization${denied.request.why ? "-implied" : ""}`, code, principal: principal.arn,
                action: denied.request.action, resource: denied.request.resource, reason: `${denied.reason}${denied.request.why ? ` (${denied.request.why})` : ""}`,
            }, status, message);
            return;
        }
        try {
            await quotas(req, principal);
        } catch (err) {
            if (err instanceof Refusal) {
                refuse(res, req, { rule: err.rule, code: err.code, principal: principal.arn, reason: err.message }, err.status, err.message);
                return;
            }
            throw err;
        }
        forward(incoming, res, req, principal, principal.account, requests.map((r) => r.resourceAccount ?? "").filter(Boolean));
    }

    const server = http.createServer((incoming, res) => {
        handle(incoming, res).catch((err: unknown) => {
            options.log?.(`strict: internal error on ${incoming.method} ${incoming.url}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
            if (!res.headersSent) {
                res.writeHead(500, { "Content-Type": "text/plain" });
            }
            res.end(`strict layer: ${err instanceof Error ? err.message : String(err)}`);
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;

    /** AssumeRole in moto as the role's account root (moto issues the keys), registered as the role's session. */
    async function issue(roleArn: string, sessionName: string, extra: Partial<Principal>): Promise<IssuedCredentials> {
        const account = roleArn.split(":")[4] ?? DEFAULT_ACCOUNT;
        const c = clientsFor(options.motoEndpoint, account);
        try {
            const out = await c.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName.slice(0, 64), DurationSeconds: 3600 }));
            const cred = out.Credentials;
            if (!cred?.AccessKeyId || !cred.SecretAccessKey || !cred.SessionToken || !cred.Expiration) {
                throw new Error(`moto issued no credentials for ${roleArn}`);
            }
            store.add({
                accessKeyId: cred.AccessKeyId, secretAccessKey: cred.SecretAccessKey, sessionToken: cred.SessionToken, expiresAt: cred.Expiration,
                principal: {
                    kind: "assumed-role", arn: out.AssumedRoleUser?.Arn ?? "", account, roleArn, sessionName, expiresAt: cred.Expiration, ...extra,
                },
            });
            return { accessKeyId: cred.AccessKeyId, secretAccessKey: cred.SecretAccessKey, sessionToken: cred.SessionToken, expiration: cred.Expiration };
        } finally {
            Object.values(c).forEach((client) => client.destroy());
        }
    }

    async function trusted(roleArn: string, service: string, context: Record<string, string>): Promise<void> {
        const role = await state.role(roleArn);
        if (!role) {
            throw new Error(`${service} cannot assume ${roleArn}: no such role`);
        }
        const decision = await decide({ kind: "service", arn: service, account: role.account }, {
            action: "sts:AssumeRole", resource: role.arn, resourceAccount: role.account, context, resourcePolicy: role.trustPolicy,
        }, state, "us-east-1", now());
        if (!decision.allowed) {
            throw new Error(`${service} cannot assume ${roleArn}: its trust policy refuses (${decision.reason})`);
        }
    }

    let stopping: Promise<void> | undefined;
    return {
        endpoint: `http://127.0.0.1:${port}`,
        port,
        lenient: options.lenient === true,
        state,
        stats: () => JSON.parse(JSON.stringify(stats)) as LayerStats,
        refusals: () => [...refusals],
        reset() {
            store.clear();
            state.reset();
            stats = emptyStats();
            refusals = [];
        },
        async serviceCredentials(roleArn, service, source, sessionName) {
            await trusted(roleArn, service, { "aws:SourceAccount": source.account, ...(source.arn ? { "aws:SourceArn": source.arn } : {}) });
            return issue(roleArn, sessionName, source.arn ? { sourceArn: source.arn } : {});
        },
        async instanceCredentials(account, region, instanceId) {
            const c = clientsFor(options.motoEndpoint, account, region);
            try {
                const assoc = (await c.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({
                    Filters: [{ Name: "instance-id", Values: [instanceId] }, { Name: "state", Values: ["associated"] }],
                }))).IamInstanceProfileAssociations?.[0];
                const profileName = assoc?.IamInstanceProfile?.Arn?.split("/").pop();
                const profile = profileName ? await state.instanceProfile(account, profileName) : undefined;
                const roleArn = profile?.roleArns[0];
                if (!roleArn) {
                    throw new Error(`instance ${instanceId} has no instance profile with a role`);
                }
                await trusted(roleArn, "ec2.amazonaws.com", { "aws:SourceAccount": account });
                return issue(roleArn, instanceId, { sourceInstanceArn: `arn:aws:ec2:${region}:${account}:instance/${instanceId}` });
            } finally {
                Object.values(c).forEach((client) => client.destroy());
            }
        },
        principalOf: (accessKeyId) => store.lookup(accessKeyId)?.principal,
        authorize: (principal, request, region) => decide(principal, request, state, region, now()),
        stop() {
            stopping ??= new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
                agent.destroy();
                state.destroy();
            });
            return stopping;
        },
    };
}
