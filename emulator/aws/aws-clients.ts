/**
 * AWS SDK v3 clients pointed at a moto server, each pinned to one simulated account.
 *
 * moto keeps a separate backend per account; the `x-moto-account-id` request header picks it per
 * request, which lets one server stand in for the forensic, security and member accounts at once.
 */
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingClient } from "@aws-sdk/client-elastic-load-balancing";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { IAMClient } from "@aws-sdk/client-iam";
import { KMSClient } from "@aws-sdk/client-kms";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { STSClient } from "@aws-sdk/client-sts";

export const DEFAULT_REGION = "eu-west-1";

/** moto accepts any keys; fixed ones keep runs reproducible and never reach a real account. */
export const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" } as const;

export const ACCOUNT_HEADER = "x-moto-account-id";

export interface MotoClientConfig {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    /** S3 only (other clients ignore it): virtual-hosted names like bucket.localhost do not resolve. */
    forcePathStyle: boolean;
}

/** Constructor config for any SDK client talking to the moto server at `endpoint`. */
export function clientConfig(endpoint: string, region: string = DEFAULT_REGION): MotoClientConfig {
    return { endpoint, region, credentials: { ...TEST_CREDENTIALS }, forcePathStyle: true };
}

type Handler = (args: { request: unknown }) => Promise<unknown>;

/** The one form of MiddlewareStack.add that forAccount uses (declared here rather than importing smithy's types). */
interface BuildStep {
    add(middleware: (next: Handler) => Handler, options: { step: "build"; name: string; override: boolean }): void;
}

/**
 * Pins every call made through `client` (any SDK v3 client) to moto account `accountId` and returns
 * the same client. Calling it again on the same client replaces the account.
 */
export function forAccount<T extends { middlewareStack: { add: (...args: never[]) => void } }>(client: T, accountId: string): T {
    if (!/^\d{12}$/.test(accountId)) {
        throw new Error(`account id must be 12 digits, got "${accountId}"`);
    }
    (client.middlewareStack as unknown as BuildStep).add(
        (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> } | undefined;
            if (request?.headers) {
                request.headers[ACCOUNT_HEADER] = accountId;
            }
            return next(args);
        },
        // "build" runs after serialization (the request exists) and before signing.
        { step: "build", name: "motoAccountId", override: true },
    );
    return client;
}

export interface AccountClients {
    s3: S3Client;
    kms: KMSClient;
    sts: STSClient;
    ec2: EC2Client;
    autoScaling: AutoScalingClient;
    elbv2: ElasticLoadBalancingV2Client;
    elb: ElasticLoadBalancingClient;
    iam: IAMClient;
    dynamodb: DynamoDBClient;
    sfn: SFNClient;
    sns: SNSClient;
    sqs: SQSClient;
    events: EventBridgeClient;
}

/** Every client the project uses, for `accountId` on the moto server at `endpoint`. */
export function clientsFor(endpoint: string, accountId: string, region: string = DEFAULT_REGION): AccountClients {
    const config = clientConfig(endpoint, region);
    return {
        s3: forAccount(new S3Client(config), accountId),
        kms: forAccount(new KMSClient(config), accountId),
        sts: forAccount(new STSClient(config), accountId),
        ec2: forAccount(new EC2Client(config), accountId),
        autoScaling: forAccount(new AutoScalingClient(config), accountId),
        elbv2: forAccount(new ElasticLoadBalancingV2Client(config), accountId),
        elb: forAccount(new ElasticLoadBalancingClient(config), accountId),
        iam: forAccount(new IAMClient(config), accountId),
        dynamodb: forAccount(new DynamoDBClient(config), accountId),
        sfn: forAccount(new SFNClient(config), accountId),
        sns: forAccount(new SNSClient(config), accountId),
        sqs: forAccount(new SQSClient(config), accountId),
        events: forAccount(new EventBridgeClient(config), accountId),
    };
}

/**
 * An S3 client for presigning as `accountId`'s root (the harness): presigned URLs cannot carry the account
 * header, so the harness key names its account (`test-<account>`, which the strict layer knows).
 */
export async function presigningS3Client(endpoint: string, accountId: string): Promise<S3Client> {
    return new S3Client({
        endpoint, region: DEFAULT_REGION, forcePathStyle: true,
        credentials: harnessCredentials(accountId),
        // Otherwise the SDK signs a checksum of an empty body into presigned URLs.
        requestChecksumCalculation: "WHEN_REQUIRED",
    });
}

/** The harness's credentials for `accountId` without the account header: the key names the account. */
export function harnessCredentials(accountId: string): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: `test-${accountId}`, secretAccessKey: TEST_CREDENTIALS.secretAccessKey };
}
