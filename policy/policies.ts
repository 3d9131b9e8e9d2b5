/**
 * The project's own invariants, checked by `pulumi preview --policy-pack policy` on the resources the
 * program is about to create (CrossGuard). Plain data in, violations out: the pack (index.ts) and the
 * unit tests run the same checks. Values Pulumi does not know yet at preview (an ARN not created yet) are
 * not judged here; the stacks' own tests check those documents whole.
 */
import * as pulumi from "@pulumi/pulumi";
import { ReportViolation, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";

/** What a check sees of a resource: its type token, logical name and input properties. */
export interface CheckedResource {
    type: string;
    name: string;
    props: Record<string, unknown>;
}

export interface PackConfig {
    /** `ir-forensics:analysisNetwork.access` of the stack (eic unless set to ssm). */
    analysisAccess: string;
}

type Statement = { Sid?: string; Effect?: string; Action?: unknown; Principal?: unknown; Condition?: unknown };

const T = {
    bucket: "aws:s3/bucket:Bucket",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    role: "aws:iam/role:Role",
    endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
    kmsKey: "aws:kms/key:Key",
};

/** Where each resource type keeps its IAM documents. */
const DOCUMENTS: Record<string, string[]> = {
    "aws:iam/rolePolicy:RolePolicy": ["policy"],
    "aws:iam/policy:Policy": ["policy"],
    [T.bucketPolicy]: ["policy"],
    [T.kmsKey]: ["policy"],
    [T.role]: ["assumeRolePolicy"],
    "aws:sns/topicPolicy:TopicPolicy": ["policy"],
    "aws:sqs/queuePolicy:QueuePolicy": ["policy"],
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": ["policy"],
};

/** Interface endpoints the analysis network may have, in `ssm` access mode only. */
const SSM_ENDPOINT_SERVICES = ["ssm", "ssmmessages", "ec2messages"];

const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A policy document property: parsed when it is known JSON, undefined while Pulumi does not know it. */
function documentOf(value: unknown): { Statement?: unknown } | undefined {
    if (typeof value === "string") {
        try {
            return JSON.parse(value) as { Statement?: unknown };
        } catch {
            return undefined;
        }
    }
    return value && typeof value === "object" ? value as { Statement?: unknown } : undefined;
}

function statementsOf(r: CheckedResource): Array<{ property: string; statement: Statement }> {
    return (DOCUMENTS[r.type] ?? []).flatMap((property) =>
        list(documentOf(r.props[property])?.Statement).map((statement) => ({ property, statement: statement as Statement })));
}

/** The one account-root delegation a key policy needs: `kms:*` to `arn:...:iam::<account>:root`. */
function isKeyRootDelegation(r: CheckedResource, s: Statement): boolean {
    const principals = list((s.Principal as { AWS?: unknown } | undefined)?.AWS);
    return r.type === T.kmsKey && list(s.Action).every((a) => a === "kms:*") &&
        principals.length > 0 && principals.every((p) => typeof p === "string" && /^arn:aws[a-z-]*:iam::\d{12}:root$/.test(p));
}

/** Allow statements that grant every action of a service (or all): only a key's root delegation may. */
export function wildcardAllows(resources: CheckedResource[]): string[] {
    return resources.flatMap((r) => statementsOf(r)
        .filter(({ statement: s }) => s.Effect === "Allow" && list(s.Action).some((a) => a === "*" || (typeof a === "string" && /^[\w-]+:\*$/.test(a))))
        .filter(({ statement: s }) => !isKeyRootDelegation(r, s))
        .map(({ property, statement: s }) => `${r.name} (${property}${s.Sid ? `, ${s.Sid}` : ""}) allows ${list(s.Action).join(", ")}`));
}

/** Trust statements that let an AWS principal (another account, a role, anyone) assume a role without a condition. */
export function unconditionedTrusts(resources: CheckedResource[]): string[] {
    return resources.filter((r) => r.type === T.role).flatMap((r) => statementsOf(r)
        .filter(({ statement: s }) => s.Effect === "Allow" && (s.Principal === "*" || (s.Principal as { AWS?: unknown } | undefined)?.AWS !== undefined))
        .filter(({ statement: s }) => !s.Condition || Object.keys(s.Condition as object).length === 0)
        .map(({ statement: s }) => `${r.name} trusts ${JSON.stringify(s.Principal)} without a condition`));
}

/** Buckets without all four public-access blocks, and resource policies that allow everyone unconditionally. */
export function publicAccess(resources: CheckedResource[]): string[] {
    const problems: string[] = [];
    const blocks = resources.filter((r) => r.type === T.publicAccessBlock);
    for (const bucket of resources.filter((r) => r.type === T.bucket)) {
        const block = blocks.find((b) => b.props.bucket !== undefined && (b.props.bucket === bucket.props.bucket || b.props.bucket === bucket.props.id));
        const all = block && ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every((k) => block.props[k] === true);
        if (bucket.props.bucket !== undefined && !all) {
            problems.push(`${bucket.name} lacks a public access block with all four settings on`);
        }
    }
    for (const r of resources.filter((x) => x.type !== T.role)) {
        for (const { statement: s } of statementsOf(r)) {
            const everyone = s.Principal === "*" || list((s.Principal as { AWS?: unknown } | undefined)?.AWS).includes("*");
            if (s.Effect === "Allow" && everyone && !s.Condition) {
                problems.push(`${r.name} allows everyone${s.Sid ? ` (${s.Sid})` : ""}`);
            }
        }
    }
    return problems;
}

/** The evidence bucket: Object Lock, SSE-KMS by default, and a bucket policy that refuses plain HTTP. */
export function evidenceBucketProblems(resources: CheckedResource[]): string[] {
    const evidence = resources.find((r) => r.type === T.bucket && r.name === "evidence-bucket");
    if (!evidence) {
        return [];
    }
    const problems: string[] = [];
    if (evidence.props.objectLockEnabled !== true) {
        problems.push("the evidence bucket has no Object Lock");
    }
    const ofBucket = (type: string) => resources.filter((r) => r.type === type && r.props.bucket !== undefined && r.props.bucket === evidence.props.bucket);
    const kms = ofBucket(T.encryption).some((e) => list(e.props.rules).some((rule) =>
        (rule as { applyServerSideEncryptionByDefault?: { sseAlgorithm?: string } }).applyServerSideEncryptionByDefault?.sseAlgorithm === "aws:kms"));
    if (evidence.props.bucket !== undefined && !kms) {
        problems.push("the evidence bucket is not encrypted with SSE-KMS by default");
    }
    const policies = ofBucket(T.bucketPolicy);
    const tlsOnly = policies.some((p) => list(documentOf(p.props.policy)?.Statement).some((s) => {
        const st = s as Statement & { Condition?: { Bool?: Record<string, unknown> } };
        return st.Effect === "Deny" && String(st.Condition?.Bool?.["aws:SecureTransport"]) === "false";
    }));
    if (evidence.props.bucket !== undefined && policies.every((p) => documentOf(p.props.policy) !== undefined) && !tlsOnly) {
        problems.push("the evidence bucket's policy does not deny requests without TLS");
    }
    return problems;
}

/** Interface endpoints: none unless the analysis network's access mode is ssm, and then only SSM's. */
export function interfaceEndpoints(resources: CheckedResource[], config: PackConfig): string[] {
    return resources.filter((r) => r.type === T.endpoint && r.props.vpcEndpointType === "Interface").flatMap((r) => {
        const service = String(r.props.serviceName ?? "").split(".").pop() ?? "";
        if (config.analysisAccess !== "ssm") {
            return [`${r.name}: an interface endpoint (${service}), but analysisNetwork.access is ${config.analysisAccess}`];
        }
        return SSM_ENDPOINT_SERVICES.includes(service) ? [] : [`${r.name}: an interface endpoint for ${service}, not one of ${SSM_ENDPOINT_SERVICES.join(", ")}`];
    });
}

/** The stack's access mode, as the program reads it (`PULUMI_CONFIG` in a policy pack too). */
export function packConfig(): PackConfig {
    const network = new pulumi.Config("ir-forensics").getObject<{ access?: string }>("analysisNetwork");
    return { analysisAccess: network?.access ?? "eic" };
}

function stackPolicy(name: string, description: string, check: (resources: CheckedResource[]) => string[]): StackValidationPolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
            for (const problem of check(args.resources.map((r) => ({ type: r.type, name: r.name, props: r.props })))) {
                reportViolation(problem);
            }
        },
    };
}

export const POLICIES: StackValidationPolicy[] = [
    stackPolicy("evidence-bucket-protected", "The evidence bucket has Object Lock, SSE-KMS by default and a TLS-only policy", evidenceBucketProblems),
    stackPolicy("no-wildcard-allows", "No Allow statement grants `*` or `service:*`, except a key policy's delegation to its account", wildcardAllows),
    stackPolicy("conditioned-trust", "Every trust of an AWS principal carries a condition", unconditionedTrusts),
    stackPolicy("no-public-access", "Every bucket blocks public access; no resource policy allows everyone unconditionally", publicAccess),
    stackPolicy("analysis-network-endpoints", "Interface endpoints only in ssm access mode, and only SSM's", (resources) => interfaceEndpoints(resources, packConfig())),
];
