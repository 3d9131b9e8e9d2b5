/**
 * Decides each authorization request as AWS would, with @cloud-copilot/iam-simulate: the caller's
 * identity policies (inline and attached, its permissions boundary and session policy), the resource's
 * policy, and the request context AWS sends (the principal's global keys here, the request's own keys
 * from the operation table). A denial names the deciding statement, or says that no Allow matched.
 */
import { getDenialReasons, isConditionKeyArray, runSimulation, Simulation, typeForContextKey } from "@cloud-copilot/iam-simulate";
import { AuthRequest, ContextValues, EmulatorState, Principal } from "./types";

/** What the root user may do: everything its account's resource policies and key policies allow. */
const ROOT_IDENTITY = { Version: "2012-10-17", Statement: [{ Sid: "RootUser", Effect: "Allow", Action: "*", Resource: "*" }] };

export interface Decision {
    allowed: boolean;
    request: AuthRequest;
    /** Explicit or implicit denial, and by which policy and statement. */
    reason?: string;
}

/** A policy document given as text, parsed once; an unparsable one counts as absent (and is reported). */
function parsePolicy(text: string | undefined): object | undefined {
    if (!text) {
        return undefined;
    }
    try {
        return JSON.parse(text) as object;
    } catch {
        return undefined;
    }
}

const principalType: Record<Principal["kind"], string> = {
    "root": "Account", "user": "User", "assumed-role": "AssumedRole", "anonymous": "Anonymous", "service": "Service",
};

/** The keys AWS adds to every request from the caller and the moment (IAM User Guide, "AWS global condition context keys"). */
export function globalContext(principal: Principal, state: EmulatorState, request: AuthRequest, region: string, now: Date): ContextValues {
    const org = state.organizationOf(principal.account);
    const resourceOrg = request.resourceAccount ? state.organizationOf(request.resourceAccount) : undefined;
    if (principal.kind === "service") {
        // A service principal assuming a role: the service's own keys, set by whoever issues the credentials.
        return { "aws:PrincipalIsAWSService": "true", "aws:PrincipalServiceName": principal.arn, "aws:SecureTransport": "true" };
    }
    const context: ContextValues = {
        "aws:PrincipalArn": principal.roleArn ?? principal.arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principalType[principal.kind],
        "aws:PrincipalIsAWSService": "false",
        // Every AWS endpoint is HTTPS; the emulator's loopback HTTP stands in for that TLS connection.
        "aws:SecureTransport": "true",
        "aws:CurrentTime": now.toISOString().replace(/\.\d{3}Z$/, "Z"),
        "aws:EpochTime": String(Math.floor(now.getTime() / 1000)),
        "aws:RequestedRegion": region,
    };
    if (org) {
        context["aws:PrincipalOrgID"] = org;
    }
    if (request.resourceAccount) {
        context["aws:ResourceAccount"] = request.resourceAccount;
    }
    if (resourceOrg) {
        context["aws:ResourceOrgID"] = resourceOrg;
    }
    if (principal.sourceInstanceArn) {
        context["ec2:SourceInstanceARN"] = principal.sourceInstanceArn;
    }
    // True for a call a service makes for the caller (S3 or EBS calling KMS), false for the caller's own.
    context["aws:ViaAWSService"] = request.why ? "true" : "false";
    return context;
}

/** The principal's identity-side policies as iam-simulate takes them. */
async function identitySide(principal: Principal, state: EmulatorState): Promise<Pick<Simulation, "identityPolicies" | "permissionBoundaryPolicies" | "sessionPolicy">> {
    switch (principal.kind) {
        case "root":
            return { identityPolicies: [{ name: "root", policy: ROOT_IDENTITY }] };
        case "user":
            return { identityPolicies: (await state.userPolicies(principal.arn)).flatMap((p) => (parsePolicy(p.document) ? [{ name: p.name, policy: parsePolicy(p.document) }] : [])) };
        case "assumed-role": {
            const role = principal.roleArn ? await state.role(principal.roleArn) : undefined;
            const identityPolicies = (role?.policies ?? []).flatMap((p) => {
                const policy = parsePolicy(p.document);
                return policy ? [{ name: p.name, policy }] : [];
            });
            const boundary = parsePolicy(role?.permissionsBoundary);
            return {
                identityPolicies,
                ...(boundary ? { permissionBoundaryPolicies: [{ name: "permissions-boundary", policy: boundary }] } : {}),
                ...(principal.sessionPolicy ? { sessionPolicy: parsePolicy(principal.sessionPolicy) } : {}),
            };
        }
        default:
            return { identityPolicies: [] };
    }
}

/** One line naming what decided a denial. */
function denialReason(analysis: Parameters<typeof getDenialReasons>[0], identityPolicyCount: number): string {
    const reasons = getDenialReasons(analysis);
    const explicit = reasons.find((r) => r.denialType === "Explicit");
    if (explicit && explicit.denialType === "Explicit") {
        return `explicit Deny in the ${explicit.policyType} policy${explicit.policyIdentifier ? ` ${explicit.policyIdentifier}` : ""}, statement ${explicit.statementId ?? `#${explicit.statementIndex}`}`;
    }
    const kinds = [...new Set(reasons.map((r) => r.policyType))];
    if (kinds.length === 0) {
        return "no Allow matched";
    }
    const what = kinds.map((k) => (k === "identity" && identityPolicyCount === 0 ? "identity (the principal has no policies)" : k));
    return `no Allow matched in the ${what.join(" or ")} policy`;
}

/**
 * A request whose single-valued key carries several values (ec2:Add/userId when a snapshot is shared with
 * two accounts) is one authorization per value, as AWS evaluates it; iam-simulate would keep the first.
 */
async function perValue(request: AuthRequest): Promise<AuthRequest[]> {
    for (const [key, value] of Object.entries(request.context)) {
        if (!Array.isArray(value) || value.length < 2) {
            continue;
        }
        let type: Awaited<ReturnType<typeof typeForContextKey>> | undefined;
        try {
            type = await typeForContextKey(key);
        } catch {
            continue;
        }
        if (!isConditionKeyArray(type)) {
            return value.map((one) => ({ ...request, context: { ...request.context, [key]: one } }));
        }
    }
    return [request];
}

/** Decides one request. Validation errors of a policy or context are denials that say so (fail closed). */
export async function decide(principal: Principal, request: AuthRequest, state: EmulatorState, region: string, now = new Date()): Promise<Decision> {
    const parts = await perValue(request);
    if (parts.length > 1) {
        for (const part of parts) {
            const decision = await decide(principal, part, state, region, now);
            if (!decision.allowed) {
                return { ...decision, request };
            }
        }
        return { allowed: true, request };
    }
    const identity = await identitySide(principal, state);
    const resourcePolicy = parsePolicy(request.resourcePolicy);
    const simulation: Simulation = {
        request: {
            principal: principal.arn,
            action: request.action,
            resource: { resource: request.resource, accountId: request.resourceAccount ?? principal.account },
            contextVariables: { ...globalContext(principal, state, request, region, now), ...request.context },
        },
        ...identity,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(resourcePolicy ? { resourcePolicy } : {}),
    };
    const result = await runSimulation(simulation, {});
    if (result.resultType === "error") {
        return { allowed: false, request, reason: `the request could not be evaluated: ${result.errors.message}` };
    }
    if (result.overallResult === "Allowed") {
        return { allowed: true, request };
    }
    const analysis = result.resultType === "single" ? result.result.analysis : result.results[0]?.analysis;
    return { allowed: false, request, reason: analysis ? denialReason(analysis, identity.identityPolicies.length) : "no Allow matched" };
}

/** Decides every request; the first denial (in order) is the answer, as AWS stops at the first. */
export async function decideAll(principal: Principal, requests: AuthRequest[], state: EmulatorState, region: string, now = new Date()): Promise<Decision | undefined> {
    for (const request of requests) {
        const decision = await decide(principal, request, state, region, now);
        if (!decision.allowed) {
            return decision;
        }
    }
    return undefined;
}
