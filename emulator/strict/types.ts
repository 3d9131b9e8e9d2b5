/**
 * The strict layer's shared vocabulary: a request as AWS receives it, who sent it, what AWS authorizes
 * for it, and the emulator state those decisions read. The layer (emulator/strict/layer.ts) sits between
 * every caller and moto and refuses what AWS would refuse; these types are what its parts exchange.
 */

/** Wire protocols of the services the project calls. */
export type Protocol = "query" | "ec2" | "json" | "rest-xml";

/** How the request was signed. */
export interface SignatureInfo {
    kind: "header" | "presigned";
    accessKeyId: string;
    /** The credential scope's date (YYYYMMDD), region and service. */
    scopeDate: string;
    region: string;
    service: string;
    /** X-Amz-Date (header or query), e.g. 20261202T101500Z. */
    amzDate: string;
    /** Lower-case header names the signature covers, in the order given. */
    signedHeaders: string[];
    signature: string;
    /** Presigned only: X-Amz-Expires in seconds. */
    expiresSeconds?: number;
    /** X-Amz-Security-Token (header or query), for session credentials. */
    securityToken?: string;
}

/** One HTTP request, parsed far enough to authenticate and authorize it. */
export interface AwsRequest {
    method: string;
    /** Raw path, percent-encoded as received (no query). */
    rawPath: string;
    /** Decoded path. */
    path: string;
    /** Query parameters in order of appearance (decoded). */
    query: [string, string][];
    /** Lower-case header names; repeated headers joined with ",". */
    headers: Record<string, string>;
    body: Buffer;
    /** undefined: unsigned (anonymous). */
    signature?: SignatureInfo;
    /** Signing service (from the scope), else guessed from the path or headers. */
    service: string;
    region: string;
    protocol: Protocol;
    /** The API operation, e.g. PutObject, DescribeInstances, AssumeRole, GetParameter. "" when unknown. */
    operation: string;
    /**
     * The operation's input: query/ec2 protocols the flat form parameters (`TagSpecification.1.Tag.1.Key`);
     * JSON protocols the parsed body; S3 `{ Bucket, Key }` plus every query parameter (the headers are in `headers`).
     */
    params: Record<string, unknown>;
}

/** Who sent a request, as AWS identifies the caller. */
export interface Principal {
    /** "service": an AWS service principal (lambda.amazonaws.com) assuming a role; its `arn` is the service name. */
    kind: "root" | "user" | "assumed-role" | "anonymous" | "service";
    /** The principal's ARN as AWS reports it (GetCallerIdentity): root, user, or assumed-role session ARN. */
    arn: string;
    account: string;
    /** Assumed roles: the role's ARN (`arn:aws:iam::<account>:role/<path><name>`), what aws:PrincipalArn holds. */
    roleArn?: string;
    sessionName?: string;
    /** A session policy passed to AssumeRole (it narrows the role's permissions). */
    sessionPolicy?: string;
    /** When the credentials stop working (session credentials). */
    expiresAt?: Date;
    /** Instance-profile credentials: the instance's ARN (ec2:SourceInstanceARN). */
    sourceInstanceArn?: string;
    /** Credentials of a service acting for a resource (a Lambda function's execution role): aws:SourceArn. */
    sourceArn?: string;
    /** The session was made from another role session (role chaining caps it at one hour). */
    chained?: boolean;
    /** The harness's own credentials: each account's root, used to set the emulator up. */
    harness?: boolean;
}

/** Context key values as iam-simulate takes them. */
export type ContextValues = Record<string, string | string[]>;

/** One authorization AWS makes for a request: an action on a resource, with the context it sends. */
export interface AuthRequest {
    /** e.g. `s3:PutObject`, `kms:GenerateDataKey`. */
    action: string;
    /** The resource ARN in the Service Authorization Reference's format, or `*` for actions that take none. */
    resource: string;
    /** The account that owns the resource (whose resource policy applies); undefined for `*`. */
    resourceAccount?: string;
    /** Context keys specific to this request (global principal keys are added by the authorizer). */
    context: ContextValues;
    /**
     * Whose permission is checked: the caller's (default) or, for a call a service makes on the caller's
     * behalf (S3 or EBS calling KMS), still the caller's but with the service's context (kms:ViaService).
     */
    why?: string;
    /**
     * The resource policy to evaluate (bucket, key, topic, queue, bus, or the role's trust policy for
     * sts:AssumeRole), JSON; undefined: the resource has none. iam-simulate applies each service's rule
     * (a key policy or trust policy must itself allow; elsewhere an Allow on either side suffices in-account).
     */
    resourcePolicy?: string;
}

/** The resource a request names could not be found: AWS answers with the service's not-found error. */
export class NotFound extends Error {
    constructor(readonly code: string, message: string, readonly status = 404) {
        super(message);
    }
}

/** A request AWS would refuse before authorization (bad parameters, wrong signature, limits). */
export class Refusal extends Error {
    constructor(readonly rule: string, readonly code: string, message: string, readonly status = 400) {
        super(message);
    }
}

/** An S3 bucket as the rules need it. */
export interface BucketFacts {
    name: string;
    account: string;
    region: string;
    policy?: string;
    /** Default encryption. */
    encryption?: { algorithm: "aws:kms" | "AES256"; keyArn?: string; bucketKey: boolean };
    objectLock: boolean;
}

/** A KMS key as the rules need it. */
export interface KeyFacts {
    arn: string;
    keyId: string;
    account: string;
    region: string;
    policy: string;
    aliases: string[];
    /** "AWS" for AWS managed keys (aws/ebs, aws/s3): never usable from another account. */
    manager: "CUSTOMER" | "AWS";
    enabled: boolean;
}

/** An EBS snapshot as the rules need it. */
export interface SnapshotFacts {
    snapshotId: string;
    /** The account that owns it (snapshot ARNs name no account, the owner is this). */
    account: string;
    region: string;
    encrypted: boolean;
    kmsKeyId?: string;
    volumeId?: string;
    tags: Record<string, string>;
    /** createVolumePermission user ids. */
    sharedWith: string[];
}

/** An IAM role as the rules need it. */
export interface RoleFacts {
    arn: string;
    name: string;
    path: string;
    account: string;
    trustPolicy: string;
    /** Inline and attached (managed) policy documents, by name. */
    policies: { name: string; document: string }[];
    /** The inline ones alone (IAM's aggregate inline size quota), when known. */
    inlinePolicies?: { name: string; document: string }[];
    /** ARNs of the attached managed policies (IAM's attachment quota), when known. */
    attachedPolicyArns?: string[];
    permissionsBoundary?: string;
    maxSessionSeconds: number;
    tags: Record<string, string>;
}

/**
 * What the rules read of the emulator's state (moto, asked as each account's root). Every lookup is of
 * the account and region given; undefined: no such resource.
 */
export interface EmulatorState {
    /** The organization the accounts belong to, when one is modelled. */
    organizationOf(account: string): string | undefined;
    /** Accounts the emulator knows of (where a resource named without an account is looked for). */
    accounts(): string[];
    bucket(name: string): Promise<BucketFacts | undefined>;
    /** A key by id, ARN, alias name (`alias/x`) or alias ARN, in `account`/`region`. */
    key(account: string, region: string, keyIdOrAlias: string): Promise<KeyFacts | undefined>;
    /** The AWS managed key of a service (`aws/ebs`, `aws/s3`) in `account`/`region`. */
    awsManagedKey(account: string, region: string, alias: "aws/ebs" | "aws/s3"): Promise<KeyFacts>;
    /** A snapshot by id in any known account (the owner is found), in `region`. */
    snapshot(region: string, snapshotId: string): Promise<SnapshotFacts | undefined>;
    /** Tags of an EC2 resource (instance, volume, security group, network interface, vpc, subnet, snapshot). */
    ec2Tags(account: string, region: string, resourceId: string): Promise<Record<string, string>>;
    /** The volumes of an instance with their encryption (CreateSnapshots covers them). */
    instanceVolumes(account: string, region: string, instanceId: string): Promise<{ volumeId: string; encrypted: boolean; kmsKeyId?: string }[]>;
    role(arn: string): Promise<RoleFacts | undefined>;
    /** An IAM user's policies (for IAM user credentials). */
    userPolicies(arn: string): Promise<{ name: string; document: string }[]>;
    topicPolicy(arn: string): Promise<string | undefined>;
    queuePolicy(account: string, region: string, queueUrlOrName: string): Promise<string | undefined>;
    busPolicy(account: string, region: string, busName: string): Promise<string | undefined>;
    /** Tags of an SSM document (ssm:resourceTag on documents). */
    ssmDocumentTags(account: string, region: string, name: string): Promise<Record<string, string>>;
    /** A role by name (its ARN carries its path). */
    roleByName(account: string, name: string): Promise<RoleFacts | undefined>;
    /** An instance profile by name, with the ARNs of its roles. */
    instanceProfile(account: string, name: string): Promise<{ arn: string; path: string; roleArns: string[] } | undefined>;
    /** The instance of an instance profile association (ReplaceIamInstanceProfileAssociation names only the association). */
    profileAssociation(account: string, region: string, associationId: string): Promise<{ instanceId: string; profileArn?: string } | undefined>;
    /** How a multipart upload is encrypted (recorded when the layer saw CreateMultipartUpload). */
    uploadEncryption(bucket: string, uploadId: string): Promise<{ algorithm?: string; keyArn?: string; bucketKey: boolean } | undefined>;
    /** How an object (version) is encrypted. */
    objectEncryption(bucket: string, key: string, versionId?: string): Promise<{ algorithm?: string; keyArn?: string; bucketKey: boolean } | undefined>;
    /** An Auto Scaling group's ARN (it carries a generated id). */
    autoScalingGroupArn(account: string, region: string, name: string): Promise<string | undefined>;
    /**
     * An AMI by id in any known account or public (image ARNs name no account): its owner, whether it is
     * public, the accounts its launchPermission names, and its tags (RunInstances is authorized on it).
     */
    image(region: string, imageId: string): Promise<{ account: string; public: boolean; sharedWith: string[]; tags: Record<string, string> } | undefined>;
    /** The VPC id of a subnet, security group or network interface of `account` (the ec2:Vpc key). */
    vpcOf(account: string, region: string, resourceId: string): Promise<string | undefined>;
    /** The ARN of the permissions boundary set on a role or user (`arn:aws:iam::<account>:role/<path><name>`), for iam:PermissionsBoundary. */
    permissionsBoundaryArn(entityArn: string): Promise<string | undefined>;
}
